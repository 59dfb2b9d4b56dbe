"""TLS clients for the controller-channel tests (unit and lab share them).

Under TLS 1.3 the client's handshake completes before the server has checked
the client's certificate, so a refusal shows only when the client *reads*:
``outcome`` always reads after the handshake and reports what it saw.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PKI = REPO / "scripts" / "pki"

#: What a connection attempt ended with.
HANDSHAKE_FAILED = "handshake failed"
CLOSED = "closed after handshake"
DATA = "data"
#: An OpenFlow 1.3 HELLO (version 4, type 0, length 8, xid 1).
OF13_HELLO = bytes([4, 0, 0, 8, 0, 0, 0, 1])


def make_pki(directory: Path, *dpids: str) -> Path:
    """Run ``scripts/pki`` (the operator's tool) so tests use the real certificates."""
    subprocess.run([str(PKI), str(directory), *dpids], check=True, capture_output=True,
                   timeout=120)
    return directory


def client_context(pki: Path | None, name: str | None,
                   max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A switch-side context: trusts ``pki``'s CA, presents ``name``'s certificate if given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if pki is not None:
        context.load_verify_locations(cafile=str(pki / "ca.crt"))
    else:
        context.verify_mode = ssl.CERT_NONE
    if name is not None and pki is not None:
        context.load_cert_chain(str(pki / f"{name}.crt"), str(pki / f"{name}.key"))
    if max_version is not None:
        # OpenSSL 3 refuses to offer TLS < 1.2 at its default security level;
        # level 0 makes the client really offer it, so the *server* must refuse.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = max_version
    return context


def outcome(context: ssl.SSLContext, port: int, timeout: float = 10.0,
            send: bytes = OF13_HELLO) -> str:
    """Connect to 127.0.0.1:port over TLS, send ``send``, read: what happened."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        try:
            tls_sock = context.wrap_socket(raw)
        except (ssl.SSLError, ConnectionError):
            return HANDSHAKE_FAILED
        with tls_sock:
            try:
                tls_sock.sendall(send)
                data = tls_sock.recv(64)
            except (ssl.SSLError, ConnectionError):
                return CLOSED
            return DATA if data else CLOSED


def plain_outcome(port: int, timeout: float = 10.0) -> str:
    """Plain TCP to a TLS port: send an OpenFlow HELLO, read what comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(OF13_HELLO)
            data = sock.recv(64)
        except ConnectionError:
            return CLOSED
        # A TLS alert (record type 0x15) may come back before the close; an
        # OpenFlow message (version byte 1..6) must not.
        return DATA if data and data[0] < 0x10 else CLOSED


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> None:
    """Poll ``predicate`` until it is truthy; raise TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


def _read_message(sock: ssl.SSLSocket) -> tuple[int, int, bytes]:
    """One OpenFlow message: (type, xid, whole message); type -1 when the peer closed."""
    head = b""
    while len(head) < 8:
        chunk = sock.recv(8 - len(head))
        if not chunk:
            return -1, 0, head
        head += chunk
    length = int.from_bytes(head[2:4], "big")
    body = b""
    while len(head) + len(body) < length:
        chunk = sock.recv(length - len(head) - len(body))
        if not chunk:
            return -1, 0, head + body
        body += chunk
    return head[1], int.from_bytes(head[4:8], "big"), head + body


def claim_dpid(context: ssl.SSLContext, port: int, dpid: int, timeout: float = 15.0) -> str:
    """Act as an OpenFlow 1.3 switch claiming ``dpid``: CLOSED if the controller hangs up.

    Answers HELLO and FEATURES_REQUEST, then reads until the controller
    closes (CLOSED) or asks for something beyond the handshake, the port
    descriptions (DATA: the controller accepted the claim).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with context.wrap_socket(raw) as sock:
            sock.sendall(OF13_HELLO)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    kind, xid, _msg = _read_message(sock)
                except (ssl.SSLError, ConnectionError):
                    return CLOSED
                if kind == -1:
                    return CLOSED
                if kind == 5:  # FEATURES_REQUEST -> FEATURES_REPLY (32 bytes)
                    reply = (bytes([4, 6, 0, 32]) + xid.to_bytes(4, "big")
                             + dpid.to_bytes(8, "big") + bytes(16))
                    sock.sendall(reply)
                elif kind == 18:  # MULTIPART_REQUEST (port descriptions): accepted
                    return DATA
                elif kind == 2:  # ECHO_REQUEST
                    sock.sendall(bytes([4, 3, 0, 8]) + xid.to_bytes(4, "big"))
            raise TimeoutError(f"the controller neither closed nor accepted dpid {dpid:016x}")
