"""The Ryu side of controller TLS: the listener swap, the dpid check, the app's refusal.

The app's handlers are called with fake events and datapaths: what matters is
that a switch whose certificate does not name its dpid never gets a session,
and that a second connection for a connected dpid is logged as a warning.
"""

from __future__ import annotations

import logging
import types
import weakref
from pathlib import Path
from typing import Any

import pytest

from op25b_app.openflow import ryu_compat
from op25b_app.openflow import tls
from op25b_app.openflow.app import Op25bApp
from op25b_app.openflow.listener import TlsListener

import tls_support


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tls_support.make_pki(tmp_path_factory.mktemp("pki"), "0x1")


def _listener(pki: Path, ca: bool = True) -> TlsListener:
    files = tls.TlsFiles(str(pki / "controller.key"), str(pki / "controller.crt"),
                         str(pki / "ca.crt") if ca else None)
    return TlsListener(tls.build_server_context(files))


class FakeSocket:
    def __init__(self, cert: dict[str, Any] | None) -> None:
        self.cert = cert

    def getpeercert(self) -> dict[str, Any] | None:
        return self.cert


class FakeDatapath:
    def __init__(self, sock: Any, dpid: int | None = None,
                 address: tuple[str, int] = ("192.0.2.9", 40000)) -> None:
        self.socket = sock
        self.address = address
        self.id = dpid
        self.state: Any = None

    @property
    def closed(self) -> bool:
        return self.state == ryu_compat.DEAD_DISPATCHER

    def set_state(self, state: Any) -> None:
        self.state = state


CERT_1 = {"subject": ((("commonName", "dpid:0000000000000001"),),)}


def test_install_replaces_ryus_listener(pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = ryu_compat.OpenFlowController.server_loop
    monkeypatch.setattr(ryu_compat.OpenFlowController, "server_loop", original)
    _listener(pki).install()
    assert ryu_compat.OpenFlowController.server_loop is not original


def test_from_conf_is_none_without_tls_options() -> None:
    assert ryu_compat.CONF.ctl_privkey is None
    assert TlsListener.from_conf() is None


def test_refusal_checks_the_certificate(pki: Path, caplog: pytest.LogCaptureFixture) -> None:
    listener = _listener(pki)
    assert listener.verifies_switches
    assert listener.refusal(FakeDatapath(FakeSocket(CERT_1)), 0x1) is None
    with caplog.at_level(logging.ERROR, logger="op25b.tls"):
        assert listener.refusal(FakeDatapath(FakeSocket(CERT_1)), 0x2) is not None
    assert "refused switch from 192.0.2.9:40000" in caplog.text
    assert "claims datapath 0000000000000002" in caplog.text
    assert "commonName=dpid:0000000000000001" in caplog.text
    # An active (plain) connection cannot prove its dpid under verified TLS.
    assert listener.refusal(FakeDatapath(object()), 0x1) == "not a TLS connection"


def test_without_a_ca_no_dpid_is_bound(pki: Path) -> None:
    listener = _listener(pki, ca=False)
    assert not listener.verifies_switches
    assert listener.refusal(FakeDatapath(FakeSocket({})), 0x2) is None


class FakeEnforcer:
    def __init__(self) -> None:
        self.sessions: dict[int, Any] = {}
        self.connected: list[Any] = []

    def switch_connected(self, dpid: int, dp: Any) -> None:
        self.connected.append(dp)
        self.sessions[dpid] = types.SimpleNamespace(datapath=dp)

    def switch_disconnected(self, dpid: int, dp: Any) -> None:
        pass


def _app(listener: TlsListener | None) -> Any:
    app = types.SimpleNamespace(tls=listener, _refused=weakref.WeakSet(),
                                enforcer=FakeEnforcer())
    app._warn_if_duplicate = types.MethodType(Op25bApp._warn_if_duplicate, app)
    return app


def _features(app: Any, dp: FakeDatapath, dpid: int) -> None:
    ev = types.SimpleNamespace(msg=types.SimpleNamespace(datapath=dp, datapath_id=dpid))
    Op25bApp._features(app, ev)


def _main(app: Any, dp: FakeDatapath) -> None:
    Op25bApp._state_change(app, types.SimpleNamespace(datapath=dp,
                                                      state=ryu_compat.MAIN_DISPATCHER))


def test_a_switch_claiming_another_dpid_gets_no_session(pki: Path) -> None:
    app = _app(_listener(pki))
    impostor = FakeDatapath(FakeSocket(CERT_1), dpid=0x2)
    _features(app, impostor, 0x2)
    _main(app, impostor)
    assert impostor.closed and app.enforcer.connected == []
    honest = FakeDatapath(FakeSocket(CERT_1), dpid=0x1)
    _features(app, honest, 0x1)
    _main(app, honest)
    assert not honest.closed and app.enforcer.connected == [honest]


def test_second_connection_for_a_dpid_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    app = _app(None)
    first = FakeDatapath(object(), dpid=0x1, address=("192.0.2.1", 1000))
    second = FakeDatapath(object(), dpid=0x1, address=("192.0.2.2", 2000))
    with caplog.at_level(logging.WARNING, logger="op25b.app"):
        _features(app, first, 0x1)
        _main(app, first)
        assert caplog.text == ""
        _features(app, second, 0x1)
        _main(app, second)
    assert "switch 0000000000000001 connected from ('192.0.2.2', 2000) while its " \
           "connection from ('192.0.2.1', 1000) is open" in caplog.text
    assert app.enforcer.connected == [first, second]

