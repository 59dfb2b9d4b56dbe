"""Controller-channel TLS against real Open vSwitch and the real controller process.

Ryu 4.34 served only the first TLS connection; op25b serves every one. Here
one bridge reconnects three times, a second bridge connects beside it, and
what must be refused is: a bridge whose datapath id its certificate does not
name (a real OpenFlow exchange with OVS), no client certificate, a
certificate from another CA, plain TCP on the TLS port and TLS 1.1. Refused
TLS clients always read after the handshake (TLS 1.3 completes the client's
side before the server checks its certificate).

OVS's SSL settings are global to ovs-vswitchd, so the test sets them and
removes them (``del-ssl``) in a finally block; it creates and deletes only its
own bridges (``op25tls*``).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import labkit, scenario
from tests.unit.openflow import tls_support
from tests.unit.openflow.tls_support import CLOSED, DATA, HANDSHAKE_FAILED

#: The bridges this test owns: name -> datapath id (op25tls3's is not in the certificate).
BRIDGES = {"op25tls1": 0x1, "op25tls2": 0x2, "op25tls3": 0x3}
CONNECT_CAP = 30.0
REFUSED = (HANDSHAKE_FAILED, CLOSED)


def vsctl(*args: str) -> str:
    return labkit.run(["ovs-vsctl", "--timeout=10", *args]).stdout.strip()


def add_bridge(name: str, dpid: int) -> None:
    vsctl("--if-exists", "del-br", name)
    vsctl("add-br", name, "--", "set", "bridge", name, "datapath_type=netdev",
          "fail_mode=secure", "protocols=OpenFlow13",
          f"other-config:datapath-id={dpid:016x}")


def connections(log: str, dpid: int) -> int:
    """How many times the controller gave switch ``dpid`` a session."""
    # Not the app's "switch X connected from A while ..." duplicate warning.
    return len(re.findall(rf"switch {dpid:016x} connected(?! from)", log))


def handshake_refusals(log: str) -> int:
    return log.count("TLS handshake from 127.0.0.1:")


@pytest.fixture()
def tls_controller(lab_ready: None) -> Iterator[tuple[labkit.ControllerProcess, Path]]:
    with labkit.temp_workdir() as workdir:
        pki = tls_support.make_pki(workdir / "pki", "ovs-host=0x1,0x2")
        tls_support.make_pki(workdir / "foreign", "0x1")
        db_url = f"sqlite:///{workdir / 'op25b.db'}"
        scenario.op25b(db_url, "db", "init")
        port = labkit.free_port()
        controller = labkit.ControllerProcess(db_url, workdir, port=port, extra_args=[
            "--ofp-ssl-listen-port", str(port),
            "--ctl-privkey", str(pki / "controller.key"),
            "--ctl-cert", str(pki / "controller.crt"),
            "--ca-certs", str(pki / "ca.crt"),
        ])
        try:
            controller.start()
            vsctl("set-ssl", str(pki / "switch-ovs-host.key"),
                  str(pki / "switch-ovs-host.crt"), str(pki / "ca.crt"))
            for name, dpid in BRIDGES.items():
                add_bridge(name, dpid)
            yield controller, workdir
        finally:
            for name in BRIDGES:
                labkit.run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br", name],
                           check=False)
            labkit.run(["ovs-vsctl", "--timeout=10", "del-ssl"], check=False)
            code = controller.stop()
            print(f"--- controller log (exit {code}) ---\n{controller.log()[-8000:]}")


def attach(bridge: str, port: int) -> None:
    vsctl("set-controller", bridge, f"ssl:127.0.0.1:{port}")


def wait_connected(controller: labkit.ControllerProcess, bridge: str, sessions: int) -> None:
    """OVS says connected and the controller made its ``sessions``-th session for it."""
    dpid = BRIDGES[bridge]
    labkit.wait_for(lambda: labkit.switch_connected(bridge)
                    and connections(controller.log(), dpid) >= sessions,
                    CONNECT_CAP, interval=0.3, what=f"{bridge} session {sessions} over TLS")


def test_every_tls_switch_connects_and_impostors_are_refused(
        tls_controller: tuple[labkit.ControllerProcess, Path]) -> None:
    controller, workdir = tls_controller
    port = controller.port
    pki, foreign = workdir / "pki", workdir / "foreign"

    # The first bridge, then two more del-controller/set-controller cycles.
    for cycle in (1, 2, 3):
        attach("op25tls1", port)
        wait_connected(controller, "op25tls1", cycle)
        labkit.wait_for(lambda: labkit.dump_flows("op25tls1"), CONNECT_CAP,
                        what="op25b's entries on op25tls1")
        if cycle < 3:
            vsctl("del-controller", "op25tls1")
            labkit.wait_for(lambda: not labkit.switch_connected("op25tls1"), CONNECT_CAP,
                            what="op25tls1 to disconnect")

    # A second bridge of the same host (same certificate, its dpid named too).
    attach("op25tls2", port)
    wait_connected(controller, "op25tls2", 1)
    assert labkit.dump_flows("op25tls2")

    # A bridge whose datapath id the certificate does not name: a real
    # HELLO/FEATURES exchange, then the controller closes it.
    attach("op25tls3", port)
    labkit.wait_for(lambda: "claims datapath 0000000000000003" in controller.log(),
                    CONNECT_CAP, what="the controller to refuse op25tls3")
    log = controller.log()
    assert re.search(r"refused switch from 127\.0\.0\.1:\d+: it claims datapath "
                     r"0000000000000003 but the certificate is for datapath "
                     r"0000000000000001, 0000000000000002 \(certificate subject "
                     r"organizationName=op25b,commonName=dpid:0000000000000001\)", log)
    assert connections(log, 0x3) == 0
    assert labkit.dump_flows("op25tls3") == []

    # Clients that must not get an OpenFlow channel at all.
    good = tls_support.client_context(pki, "switch-ovs-host")
    no_cert = tls_support.client_context(pki, None)
    other_ca = tls_support.client_context(foreign, "switch-0000000000000001")
    other_ca.verify_mode = ssl.CERT_NONE  # it would not trust us either; let it try
    old = tls_support.client_context(pki, "switch-ovs-host",
                                     max_version=ssl.TLSVersion.TLSv1_1)
    before = handshake_refusals(controller.log())
    assert tls_support.outcome(no_cert, port) in REFUSED
    assert tls_support.outcome(other_ca, port) in REFUSED
    assert tls_support.outcome(old, port) in REFUSED
    assert tls_support.plain_outcome(port) == CLOSED
    # A valid certificate, a wrong claim, from a client speaking OpenFlow itself.
    assert tls_support.claim_dpid(good, port, 0x5) == CLOSED
    assert "claims datapath 0000000000000005" in controller.log()
    labkit.wait_for(lambda: handshake_refusals(controller.log()) >= before + 4, CONNECT_CAP,
                    what="four refused handshakes in the controller log")
    # ...and a valid certificate still gets the controller's OpenFlow HELLO.
    assert tls_support.outcome(good, port) == DATA

    # The bridges that belong are still served after all of that.
    assert labkit.switch_connected("op25tls1") and labkit.switch_connected("op25tls2")
    assert "Traceback" not in controller.log()
