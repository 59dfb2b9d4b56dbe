"""Dynamic subscribers in the lab: RADIUS accounting from radclient moves a real switch.

new1 (port 5 of the edge switch) has no static attachment, so its TCP/25 is
blocked as an unknown sender. A Start for an exempt account with new1's
address opens it within the live-change time, a Stop closes it again, an
Accounting-On from its NAS closes it too, and a broadband session's blocked
SYNs are counted under that session's account.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from op25b_app import __file__ as package_file
from tests.lab import labkit
from tests.lab.test_lab_abuse import packets_of, report, send_syns
from tests.lab.test_lab_live import ext, op, until_tcp
from tests.radius.harness import free_tcp_port, free_udp_port
from topologies.isp import EDGE_DPID, HOSTS_BY_NAME

SECRET = "lab-secret"
NEW1 = HOSTS_BY_NAME["new1"]
#: The live-change time the README promises (poll 0.2 s here; 1 s by default).
LIVE_CHANGE_S = 5.0


@pytest.fixture(scope="module")
def radius_lab(lab_ready):
    with labkit.example_lab() as lab:
        op(lab, "subscriber", "add", "--account", "EX-0001", "--name", "exempt dynamic",
           "--type", "dialup")
        op(lab, "subscriber", "add", "--account", "BB-0009", "--name", "broadband dynamic",
           "--type", "broadband")
        port = free_udp_port()
        config = lab.workdir / "radius.toml"
        config.write_text(
            f'listen = ["127.0.0.1:{port}"]\nmetrics_listen = "127.0.0.1:{free_tcp_port()}"\n'
            f'[[clients]]\nname = "bng-lab"\naddress = "127.0.0.1"\nsecret = "{SECRET}"\n'
            f'dpid = "{EDGE_DPID}"\nport = {NEW1.port}\n')
        log = (lab.workdir / "radius.log").open("wb")
        proc = subprocess.Popen([str(labkit.VENV_BIN / "op25b"), "--db", lab.db_url, "radius",
                                 "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
        lab.radius_port = port  # type: ignore[attr-defined]
        try:
            labkit.wait_for(lambda: "listening on" in (lab.workdir / "radius.log").read_text(),
                            30, what="op25b radius to listen")
            yield lab
        finally:
            proc.terminate()
            assert proc.wait(15) == 0
            print((lab.workdir / "radius.log").read_text()[-3000:])


def acct(lab, *lines: str) -> None:
    result = subprocess.run(["radclient", "-x", "-t", "3", "-r", "3",
                             f"127.0.0.1:{lab.radius_port}", "acct", SECRET],
                            input="\n".join(lines) + "\n", capture_output=True, text=True,
                            timeout=30)
    assert "Received Accounting-Response" in result.stdout, result.stdout + result.stderr


def start(lab, sid: str, account: str) -> float:
    began = time.monotonic()
    acct(lab, "Acct-Status-Type = Start", f'User-Name = "{account}"',
         f'Acct-Session-Id = "{sid}"', f"Framed-IP-Address = {NEW1.ip4}")
    return began


def test_the_worktree_code_runs(radius_lab):
    out = subprocess.run([str(labkit.VENV_BIN / "python"), "-c",
                          "import op25b_app; print(op25b_app.__file__)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == package_file


def test_exempt_session_opens_and_stop_or_accounting_on_close(radius_lab):
    lab = radius_lab.lab
    until_tcp(lab, "new1", ext(), 25, labkit.TIMEOUT)  # unknown sender: blocked
    began = start(radius_lab, "lab-1", "EX-0001")
    until_tcp(lab, "new1", ext(), 25, labkit.CONNECTED)
    assert time.monotonic() - began < LIVE_CHANGE_S
    acct(radius_lab, "Acct-Status-Type = Stop", 'User-Name = "EX-0001"',
         'Acct-Session-Id = "lab-1"')
    until_tcp(lab, "new1", ext(), 25, labkit.TIMEOUT)
    start(radius_lab, "lab-2", "EX-0001")
    until_tcp(lab, "new1", ext(), 25, labkit.CONNECTED)
    acct(radius_lab, "Acct-Status-Type = Accounting-On")
    until_tcp(lab, "new1", ext(), 25, labkit.TIMEOUT)
    assert lab.tcp("new1", ext(), 587) == labkit.CONNECTED


def test_broadband_session_is_counted_under_its_account(radius_lab):
    lab = radius_lab.lab
    start(radius_lab, "lab-3", "BB-0009")
    views = json.loads(op(radius_lab, "session", "who", "--address", NEW1.ip4, "--json"))
    assert [v["account"] for v in views] == ["BB-0009"]
    until_tcp(lab, "new1", ext(), 25, labkit.TIMEOUT)
    time.sleep(2.5)  # the session's entry exists and its counter has been read once
    before = packets_of(report(radius_lab, "suspects", "--threshold", "0"), "BB-0009")
    send_syns(radius_lab, "new1", "ext", 4, 23)
    labkit.wait_for(lambda: packets_of(report(radius_lab, "suspects", "--threshold", "0"),
                                       "BB-0009") >= before + 23, 30, what="SYNs counted")
    time.sleep(2.5)
    rows = report(radius_lab, "suspects", "--threshold", "0")
    assert packets_of(rows, "BB-0009") == before + 23
