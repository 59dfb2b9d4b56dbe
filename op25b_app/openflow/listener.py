"""The switch listener under TLS: one context for every connection, and switch identity.

Ryu 4.34's ``OpenFlowController.server_loop`` hands its TLS settings to a
``StreamServer`` that pops them on the first accept, so only the first switch
ever completes a handshake. ``TlsListener.install`` replaces that method: the
listener wraps every accepted socket with the one context built at start-up
(``openflow.tls``), with a handshake timeout, and logs a refused handshake
with the peer's address instead of a traceback.

It also binds certificates to datapath ids: ``refusal`` says why a switch
that just claimed a dpid in FEATURES_REPLY may not be that switch (its
certificate names another one, or none), so the app closes it before any
session exists for it.
"""

from __future__ import annotations

import _socket
import contextlib
import functools
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

from op25b_app.openflow import tls
from op25b_app.openflow.ryu_compat import (
    CONF,
    DEAD_DISPATCHER,
    OFP_SSL_PORT,
    OpenFlowController,
    datapath_connection_factory,
    hub,
)

LOG = logging.getLogger("op25b.tls")

#: Seconds a peer has to finish the TLS handshake (a silent peer must not hold
#: a green thread forever). Ryu's own socket timeout applies afterwards.
HANDSHAKE_TIMEOUT = 10.0


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def accept_tls(context: ssl.SSLContext, handle: Callable[[Any, Any], None],
               sock: Any, address: Any) -> None:
    """Finish the handshake of one accepted socket with ``context``, then hand it to ``handle``.

    A failed handshake (no or wrong client certificate, an old protocol,
    plain TCP on the TLS port, a peer that says nothing) closes the socket
    and is logged with the peer's address; the listener keeps serving.
    """
    sock.settimeout(HANDSHAKE_TIMEOUT)
    try:
        wrapped = context.wrap_socket(sock, server_side=True)
    except (ssl.SSLError, OSError) as error:
        LOG.warning("TLS handshake from %s refused: %s", _peer(address), error)
        with contextlib.suppress(OSError):
            sock.close()
        return
    _shut_down_tcp_only(wrapped)
    handle(wrapped, address)


def _shut_down_tcp_only(wrapped: Any) -> None:
    """Make ``wrapped.shutdown`` half-close the TCP connection, keeping the TLS state.

    Ryu closes a connection by ``shutdown(SHUT_WR)`` and keeps reading until
    the switch hangs up, but ``SSLSocket.shutdown`` discards the TLS state
    first, so Ryu's next read raises ValueError (a traceback for every
    connection the controller closes). The TCP half-close is what Ryu means.
    """
    with contextlib.suppress(AttributeError, TypeError):
        wrapped.shutdown = functools.partial(_socket.socket.shutdown, wrapped)


class TlsListener:
    """The controller's TLS side: the context, the listener, the dpid check."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context

    @property
    def verifies_switches(self) -> bool:
        """Whether switches present CA-signed certificates (and so dpids are bound)."""
        return self.context.verify_mode == ssl.CERT_REQUIRED

    @classmethod
    def from_conf(cls) -> TlsListener | None:
        """Build the context from Ryu's TLS options and install it; None for plain TCP."""
        files = tls.TlsFiles.from_options(CONF.ctl_privkey, CONF.ctl_cert, CONF.ca_certs)
        if files is None:
            return None
        listener = cls(tls.build_server_context(files))
        listener.install()
        if listener.verifies_switches:
            LOG.info("switches must present a certificate from %s naming their datapath id",
                     files.ca_certs)
        else:
            LOG.warning("TLS without --ca-certs: any switch may connect and claim any "
                        "datapath id")
        return listener

    def install(self) -> None:
        """Make Ryu's OpenFlow controller listen with this context (before it starts)."""
        context = self.context
        handler = functools.partial(accept_tls, context, datapath_connection_factory)

        def server_loop(_controller: Any, _tcp_port: int | None, ssl_port: int | None) -> None:
            # With TLS on, Ryu serves only the TLS port (no plain-text side door);
            # an unset --ofp-ssl-listen-port means OpenFlow's registered 6653.
            port = ssl_port or OFP_SSL_PORT
            server = hub.StreamServer((CONF.ofp_listen_host, port), handler)
            LOG.info("OpenFlow over TLS on %s port %d", CONF.ofp_listen_host, port)
            server.serve_forever()

        OpenFlowController.server_loop = server_loop

    def refusal(self, datapath: Any, dpid: int) -> str | None:
        """Why ``datapath`` may not be switch ``dpid`` (None: it may); logs the refusal."""
        if not self.verifies_switches:
            return None
        getpeercert = getattr(datapath.socket, "getpeercert", None)
        cert = getpeercert() if getpeercert is not None else None
        reason = ("not a TLS connection" if getpeercert is None
                  else tls.identity_refusal(cert, dpid))
        if reason is not None:
            LOG.error("refused switch from %s: it claims datapath %016x but %s "
                      "(certificate subject %s)", _peer(datapath.address), dpid, reason,
                      tls.describe_subject(cert))
        return reason

    @staticmethod
    def hang_up(datapath: Any) -> None:
        """Close a switch's connection at once, below TLS.

        Marking the datapath dead ends Ryu's receive loop at its next wake-up;
        shutting the TCP connection down both ways (``accept_tls`` made
        ``shutdown`` act below TLS) wakes it and tells the switch, without
        waiting for the switch to hang up as ``Datapath.close()`` does. Ryu
        then closes the socket itself.
        """
        datapath.set_state(DEAD_DISPATCHER)
        with contextlib.suppress(OSError, AttributeError):
            datapath.socket.shutdown(socket.SHUT_RDWR)


__all__ = ["HANDSHAKE_TIMEOUT", "TlsListener", "accept_tls"]
