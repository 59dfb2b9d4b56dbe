"""Controller-channel TLS: the context, the dpid rule, the per-connection handshake.

The certificates come from ``scripts/pki`` (the operator's tool). The
handshake tests run ``accept_tls`` on real loopback sockets with the stdlib's
ssl (no eventlet): every connection, not only the first, must be served.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from op25b_app.openflow import tls

import tls_support
from tls_support import CLOSED, DATA, HANDSHAKE_FAILED

DPID = 0x1
OTHER = 0x2


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tls_support.make_pki(tmp_path_factory.mktemp("pki"), "0x1", "0000000000000002",
                                "host-a=0x3,4")


@pytest.fixture(scope="module")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tls_support.make_pki(tmp_path_factory.mktemp("foreign"), "0x1")


def _files(pki: Path, ca: bool = True) -> tls.TlsFiles:
    return tls.TlsFiles(str(pki / "controller.key"), str(pki / "controller.crt"),
                        str(pki / "ca.crt") if ca else None)


def _cert(cn: str, *sans: tuple[str, str]) -> dict[str, Any]:
    return {"subject": ((("organizationName", "op25b"),), (("commonName", cn),)),
            "subjectAltName": sans}


# --- options and context ---------------------------------------------------

def test_no_tls_options_mean_plain_tcp() -> None:
    assert tls.TlsFiles.from_options(None, None, None) is None


@pytest.mark.parametrize("key, cert, ca", [("k", None, None), (None, "c", None),
                                           (None, None, "ca"), ("k", None, "ca")])
def test_half_a_tls_configuration_is_refused(key: str | None, cert: str | None,
                                             ca: str | None) -> None:
    with pytest.raises(tls.TlsConfigError, match="--ctl-privkey and --ctl-cert"):
        tls.TlsFiles.from_options(key, cert, ca)


def test_context_requires_tls12_and_a_ca_signed_switch(pki: Path) -> None:
    context = tls.build_server_context(_files(pki))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_context_without_ca_encrypts_but_does_not_verify(pki: Path) -> None:
    assert tls.build_server_context(_files(pki, ca=False)).verify_mode == ssl.CERT_NONE


def test_missing_file_names_the_option(pki: Path, tmp_path: Path) -> None:
    files = tls.TlsFiles(str(pki / "controller.key"), str(tmp_path / "nope.crt"), None)
    with pytest.raises(tls.TlsConfigError, match="--ctl-cert .*nope.crt"):
        tls.build_server_context(files)
    files = tls.TlsFiles(str(pki / "controller.key"), str(pki / "controller.crt"),
                         str(tmp_path / "ca.pem"))
    with pytest.raises(tls.TlsConfigError, match="--ca-certs"):
        tls.build_server_context(files)


def test_key_that_does_not_match_the_certificate_is_refused(pki: Path) -> None:
    files = tls.TlsFiles(str(pki / "switch-0000000000000001.key"),
                         str(pki / "controller.crt"), None)
    with pytest.raises(tls.TlsConfigError, match="do not load"):
        tls.build_server_context(files)


# --- the dpid rule -----------------------------------------------------------

@pytest.mark.parametrize("cert, dpids", [
    (_cert("dpid:0000000000000001"), {1}),
    (_cert("dpid:000000000000ABCD"), {0xABCD}),
    # ovs-pki req+sign dpid:... switch writes "NAME id:UUID" in CN and DNS SAN.
    (_cert("dpid:0000000000000001 id:333a694b-2959-4a1d-8518-531d909d4ac0",
           ("DNS", "dpid:0000000000000001 id:333a694b")), {1}),
    (_cert("edge-1", ("DNS", "dpid:0000000000000002"), ("URI", "dpid:0000000000000003")),
     {2, 3}),
    (_cert("dpid:1"), set()),  # not 16 digits
    (_cert("dpid:00000000000000001"), set()),
    (_cert("xdpid:0000000000000001"), set()),
    (_cert("edge-1", ("email", "dpid:0000000000000001")), set()),
    ({}, set()),
    (None, set()),
])
def test_certificate_dpids(cert: dict[str, Any] | None, dpids: set[int]) -> None:
    assert tls.certificate_dpids(cert) == dpids


def test_identity_refusal_names_what_the_certificate_allows() -> None:
    assert tls.identity_refusal(_cert("dpid:0000000000000001"), DPID) is None
    reason = tls.identity_refusal(_cert("dpid:0000000000000001"), OTHER)
    assert reason is not None and "0000000000000001" in reason
    assert "names no datapath id" in (tls.identity_refusal(_cert("edge-1"), DPID) or "")
    assert tls.describe_subject(_cert("dpid:0000000000000001")) == \
        "organizationName=op25b,commonName=dpid:0000000000000001"
    assert tls.describe_subject(None) == "(no certificate)"


# --- every connection is served with the one context -------------------------

class Server:
    """A loopback listener running ``accept_tls`` for each connection in a thread."""

    def __init__(self, context: ssl.SSLContext) -> None:
        from op25b_app.openflow.listener import accept_tls

        self.accepted: list[Any] = []
        self.read_after_close: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._accept_tls = accept_tls
        self.context = context
        threading.Thread(target=self._loop, daemon=True).start()

    def _handle(self, wrapped: Any, _address: Any) -> None:
        self.accepted.append(wrapped.getpeercert())
        with wrapped:
            wrapped.recv(64)
            wrapped.sendall(tls_support.OF13_HELLO)
            # What Ryu does to close: half-close, then read until the peer hangs up.
            wrapped.shutdown(socket.SHUT_WR)
            # Eventlet's TLS socket raises ValueError on a read once the TLS
            # state is gone (version() is then None); the stdlib's reads raw TCP.
            self.read_after_close.append(str(wrapped.version()))

    def _loop(self) -> None:
        while True:
            try:
                conn, address = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._accept_tls,
                             args=(self.context, self._handle, conn, address),
                             daemon=True).start()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def server(pki: Path) -> Any:
    srv = Server(tls.build_server_context(_files(pki)))
    yield srv
    srv.close()


def test_every_connection_completes_its_handshake(server: Server, pki: Path) -> None:
    for name in ("switch-0000000000000001", "switch-0000000000000002",
                 "switch-0000000000000001", "switch-host-a"):
        assert tls_support.outcome(tls_support.client_context(pki, name), server.port) == DATA
    # One host certificate (Open vSwitch has one per host) names all its bridges.
    assert [tls.certificate_dpids(c) for c in server.accepted] == [{1}, {2}, {1}, {3, 4}]
    # A half-closed connection is still readable (SSLSocket.shutdown would drop TLS).
    tls_support.wait_until(lambda: len(server.read_after_close) == 4, 10)
    assert "None" not in server.read_after_close


@pytest.mark.parametrize("case", ["no client certificate", "another CA", "TLS 1.1"])
def test_refused_handshakes_are_logged_with_the_peer(
        case: str, server: Server, pki: Path, foreign_pki: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    contexts = {
        "no client certificate": tls_support.client_context(pki, None),
        "another CA": tls_support.client_context(foreign_pki, "switch-0000000000000001"),
        "TLS 1.1": tls_support.client_context(pki, "switch-0000000000000001",
                                              max_version=ssl.TLSVersion.TLSv1_1),
    }
    # The foreign client does not trust our controller either: let it try anyway.
    contexts["another CA"].verify_mode = ssl.CERT_NONE
    with caplog.at_level(logging.WARNING, logger="op25b.tls"):
        result = tls_support.outcome(contexts[case], server.port)
        tls_support.wait_until(lambda: "refused" in caplog.text, 10)
    assert result in (HANDSHAKE_FAILED, CLOSED)
    assert server.accepted == []
    assert "TLS handshake from 127.0.0.1:" in caplog.text
    # ...and the next switch is still served.
    good = tls_support.client_context(pki, "switch-0000000000000001")
    assert tls_support.outcome(good, server.port) == DATA


def test_plain_tcp_on_the_tls_port_is_refused(server: Server, pki: Path) -> None:
    assert tls_support.plain_outcome(server.port) == CLOSED
    assert server.accepted == []


def test_a_silent_peer_is_dropped_after_the_handshake_timeout(
        server: Server, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from op25b_app.openflow import listener

    monkeypatch.setattr(listener, "HANDSHAKE_TIMEOUT", 0.5)
    with caplog.at_level(logging.WARNING, logger="op25b.tls"), \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        assert sock.recv(64) == b""  # the controller hung up on its own
        tls_support.wait_until(lambda: "timed out" in caplog.text, 5)
    assert "TLS handshake from 127.0.0.1:" in caplog.text and "timed out" in caplog.text
