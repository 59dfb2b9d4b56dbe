"""Listening: UDP sockets for IPv4 and IPv6 addresses, and the /metrics HTTP server."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from prometheus_client import CollectorRegistry, start_http_server

from op25b_app.radius.config import ConfigError


def split_host_port(text: str, what: str = "listen") -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` -> (host, port); ``ConfigError`` names a bad one."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ConfigError(f"{what} address {text!r}: not IP:PORT or [IPv6]:PORT") from None
    if not sep or not 0 <= number <= 65535:
        raise ConfigError(f"{what} address {text!r}: port must be 0..65535")
    return host, number


def bind_udp(text: str) -> socket.socket:
    """A UDP socket bound to ``text`` (an IPv6 one takes IPv6 only)."""
    host, port = split_host_port(text)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # A BNG bursts after a reboot (Accounting-On, then every Start).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def start_metrics(text: str, registry: CollectorRegistry) -> Callable[[], None]:
    """Serve ``registry`` at ``http://text/metrics``; returns how to stop it."""
    host, port = split_host_port(text, "metrics_listen")
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
