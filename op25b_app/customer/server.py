"""Serve the customer's page with uvicorn until SIGINT/SIGTERM, then return.

uvicorn's own signal handling shuts down gracefully and then re-raises the
signal to the handler that was there before, which for a plain process is
death by SIGTERM (exit status -15) or a KeyboardInterrupt traceback. A
service manager should see a clean exit 0 instead, so this server installs
the handlers itself: a signal only asks uvicorn to finish (``handle_exit``,
the same flag uvicorn's handlers set, a second SIGINT forcing it) and
nothing is re-raised afterwards.

``[::]`` means every address of both families. asyncio, which uvicorn listens
through, makes an IPv6 wildcard socket IPv6-only, so customers on IPv4 would
get no page; the socket is made here, dual-stack, and handed to uvicorn.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _PageServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve(app: FastAPI, *, host: str, port: int, tls_cert: Path | None = None,
          tls_key: Path | None = None) -> bool:
    """Run ``app`` on ``host:port`` (HTTPS with the cert and key) until stopped.

    Returns whether the server started (False: uvicorn has logged why, e.g.
    the address is in use). The caller decides whether plain HTTP is allowed.
    """
    config = uvicorn.Config(
        app, host=host, port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        # op25b configures logging; uvicorn's loggers propagate into it.
        log_config=None,
        server_header=False,
        # The page resolves X-Forwarded-For itself, from trusted proxies only.
        proxy_headers=False,
    )
    try:
        sockets = [_dual_stack(port)] if host == "::" else None
    except OSError as error:
        log.error("cannot listen on [::]:%d: %s", port, error)
        return False
    server = _PageServer(config)
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in _STOP_SIGNALS}
    try:
        server.run(sockets=sockets)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sock in sockets or ():
            sock.close()
    return bool(server.started)


def _dual_stack(port: int) -> socket.socket:
    """A listening ``[::]:port`` socket that accepts IPv4 too (as ::ffff:a.b.c.d)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
    except OSError:
        sock.close()
        raise
    return sock
