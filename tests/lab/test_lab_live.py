"""Live, database-driven changes on a running lab (real controller, real OVS).

Every wait polls with a generous cap; the speed targets live in
scripts/bench_live.py.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from op25b_app.core import constants
from tests.lab import labkit, ofctl_parse, scenario
from topologies.isp import CORE_SWITCH, EDGE_DPID as EDGE_SWITCH_DPID, EDGE_SWITCH

CAP = 30  # seconds: generous upper bound for a change to reach the switch


@pytest.fixture(scope="module", params=["auto", "off"], ids=["bundles", "ordered"])
def live(lab_ready, request):
    """The live lab twice: updates in atomic bundles (OVS takes them), and in the
    adds-barrier-deletes order a switch without bundles gets."""
    with labkit.example_lab(extra_args=["--op25b-reconcile-interval", "2",
                                        "--op25b-bundles", request.param]) as lab:
        wanted = ("updates in atomic bundles" if request.param == "auto"
                  else "updates as adds, barrier, deletes")
        labkit.wait_for(lambda: f"switch {EDGE_SWITCH_DPID:016x}: {wanted}" in
                        lab.controller.log(), CAP, what=wanted)
        yield lab


def ext(family: int = 4) -> str:
    return labkit.ip_of("ext", family)


def until_tcp(lab, src: str, dst: str, port: int, want: str) -> None:
    labkit.wait_for(lambda: lab.tcp(src, dst, port, timeout=1.0) == want, CAP, interval=0.2,
                    what=f"{src} -> {dst}:{port} {want}")


def wait_in_sync(live) -> None:
    """Until the edge switch holds the database's current revision (from op25b status)."""
    def in_sync() -> bool:
        data = json.loads(op(live, "status", "--json"))
        edge = [r for r in data["switches"] if r["dpid"] == 1 and r["connected"]]
        return bool(edge) and edge[0]["revision_applied"] == data["policy_revision"]

    labkit.wait_for(in_sync, CAP, what="the edge switch at the current revision")


def op(live, *args: str) -> str:
    result = scenario.op25b(live.db_url, *args, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_broadband_to_dialup_and_back(live):
    lab = live.lab
    for family in (4, 6):
        assert lab.tcp("bb1", ext(family), 25) == labkit.TIMEOUT
    op(live, "subscriber", "set-type", "BB-0001", "dialup")
    for family in (4, 6):
        until_tcp(lab, "bb1", ext(family), 25, labkit.CONNECTED)
    op(live, "subscriber", "set-type", "BB-0001", "broadband")
    for family in (4, 6):
        until_tcp(lab, "bb1", ext(family), 25, labkit.TIMEOUT)


def test_mta_added_then_removed(live):
    lab = live.lab
    assert lab.tcp("bb1", ext(), 25) == labkit.TIMEOUT
    op(live, "mta", "add", "--name", "ext-relay", "--prefix", ext())
    until_tcp(lab, "bb1", ext(), 25, labkit.CONNECTED)
    op(live, "mta", "remove", "ext-relay")
    until_tcp(lab, "bb1", ext(), 25, labkit.TIMEOUT)


def test_plain_sql_update_takes_effect(live):
    lab = live.lab
    path = live.db_url.removeprefix("sqlite:///")
    dialup = "(SELECT id FROM connection_types WHERE name = 'dialup')"
    broadband = "(SELECT id FROM connection_types WHERE name = 'broadband')"
    with sqlite3.connect(path, timeout=10) as db:  # an operator's SQL client, no op25b code
        db.execute(f"UPDATE subscribers SET type_id = {dialup} WHERE account = 'BB-0001'")
    until_tcp(lab, "bb1", ext(), 25, labkit.CONNECTED)
    with sqlite3.connect(path, timeout=10) as db:
        db.execute(f"UPDATE subscribers SET type_id = {broadband} WHERE account = 'BB-0001'")
    until_tcp(lab, "bb1", ext(), 25, labkit.TIMEOUT)


def test_a_bad_row_is_quarantined_and_blackholes_nothing(live):
    """Raw SQL writes an unusable prefix on an attachment of another switch. The row
    is left out and named; a switch that comes back with empty tables gets its
    whole policy (its customers reach the web and the MTA, port 25 stays
    blocked), and a valid change elsewhere still arrives."""
    lab = live.lab
    path = live.db_url.removeprefix("sqlite:///")
    op(live, "switch", "add", "--dpid", "0x99", "--name", "edge-far", "--uplink", "1")
    op(live, "subscriber", "add", "--account", "FAR-1", "--type", "broadband",
       "--attach", "0x99:3", "--prefix", "192.0.2.77/32")
    with sqlite3.connect(path, timeout=10) as db:
        db.execute("UPDATE attachments SET prefix = 'not-a-prefix' "
                   "WHERE prefix = '192.0.2.77/32'")
    labkit.wait_for(lambda: "quarantined table 'attachments'" in live.controller.log(), CAP,
                    what="the quarantined row logged")

    def reported():
        data = json.loads(op(live, "status", "--json"))
        quarantine = data["controllers"][0]["quarantine"] or {}
        return any(r["value"] == "not-a-prefix" for r in quarantine.get("rows", []))

    labkit.wait_for(reported, CAP, what="op25b status to name the quarantined row")
    assert re.search(r'op25b_quarantined_rows\{table="attachments"\} 1\.0',
                     live.controller.metrics())
    # The edge switch reboots with empty tables while the row is bad.
    labkit.run(["ovs-ofctl", "-O", "OpenFlow13", "del-flows", EDGE_SWITCH])
    labkit.run(["ovs-vsctl", "del-controller", EDGE_SWITCH])
    labkit.run(["ovs-vsctl", "set-controller", EDGE_SWITCH,
                f"tcp:127.0.0.1:{live.controller.port}"])
    labkit.wait_for(lambda: len(_ours(labkit.dump_flows(EDGE_SWITCH))) > 10, CAP,
                    what="the edge's policy back")
    until_tcp(lab, "bb1", labkit.ip_of("web", 4), 80, labkit.CONNECTED)
    assert lab.tcp("bb1", labkit.ip_of("mta", 4), 25) == labkit.CONNECTED
    assert lab.tcp("bb1", ext(), 25) == labkit.TIMEOUT
    # Changes keep flowing while the row is bad: new1 becomes a dial-up line.
    op(live, "subscriber", "add", "--account", "DU-NEW1", "--type", "dialup", "--attach", "1:5")
    until_tcp(lab, "new1", ext(), 25, labkit.CONNECTED)
    op(live, "subscriber", "remove", "DU-NEW1")
    with sqlite3.connect(path, timeout=10) as db:
        db.execute("DELETE FROM attachments WHERE prefix = 'not-a-prefix'")
    op(live, "subscriber", "remove", "FAR-1")
    op(live, "switch", "remove", "0x99")
    wait_in_sync(live)
    assert json.loads(op(live, "status", "--json"))["controllers"][0]["quarantine"] is None


SYN_STREAM = r"""
import socket, sys, time
dst, family, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
fam = socket.AF_INET6 if family == '6' else socket.AF_INET
end = time.time() + seconds
socks = []
while time.time() < end:
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((dst, 25))
    socks.append(s)
    if len(socks) > 200:
        socks.pop(0).close()
    time.sleep(0.005)
print(len(socks))
"""


def test_no_gap_while_entries_are_replaced(live):
    """A blocked subscriber behind an *exempt* port: any gap would let SYNs through."""
    lab = live.lab
    new1_v4, new1_v6 = labkit.ip_of("new1", 4), labkit.ip_of("new1", 6)
    # Port 5 carries a dial-up pool (exempt, port-wide) and one broadband line
    # (blocked, by address). If op25b ever deleted the broadband entries before
    # adding their replacements, new1's SYNs would fall through to "exempt".
    op(live, "subscriber", "add", "--account", "DU-POOL5", "--type", "dialup",
       "--attach", "1:5")
    op(live, "subscriber", "add", "--account", "BB-NEW1", "--type", "broadband",
       "--attach", "1:5", "--prefix", "10.25.0.30/32", "--prefix", "10.25.0.31/32",
       "--prefix", "fd25::31/128")
    until_tcp(lab, "new1", ext(4), 25, labkit.TIMEOUT)
    assert lab.tcp("new1", ext(6), 25) == labkit.TIMEOUT
    path = live.db_url.removeprefix("sqlite:///")
    script = live.workdir / "synstream.py"
    script.write_text(SYN_STREAM)
    host = lab.host("new1")
    rewrites = [
        # two adjacent /32s become one /31 (in one transaction) ...
        ["DELETE FROM attachments WHERE prefix = '10.25.0.30/32'",
         "UPDATE attachments SET prefix = '10.25.0.30/31', match_key = '1:5:*:10.25.0.30/31' "
         "WHERE prefix = '10.25.0.31/32'"],
        # ... and back again
        ["UPDATE attachments SET prefix = '10.25.0.31/32', match_key = '1:5:*:10.25.0.31/32' "
         "WHERE prefix = '10.25.0.30/31'",
         "INSERT INTO attachments (subscriber_id, switch_id, port, vlan, prefix, match_key) "
         "SELECT subscriber_id, switch_id, port, vlan, '10.25.0.30/32', '1:5:*:10.25.0.30/32' "
         "FROM attachments WHERE prefix = '10.25.0.31/32'"],
        # the IPv6 line gets a VLAN-less /127 instead of its /128 (replaced entry)
        ["UPDATE attachments SET prefix = 'fd25::30/127', match_key = '1:5:*:fd25::30/127' "
         "WHERE prefix = 'fd25::31/128'"],
        ["UPDATE attachments SET prefix = 'fd25::31/128', match_key = '1:5:*:fd25::31/128' "
         "WHERE prefix = 'fd25::30/127'"],
    ]
    seen_flows: list[set] = []
    with lab.capture("ext", f"tcp dst port 25 and (src host {new1_v4} or src host {new1_v6})") \
            as syns:
        streams = [host.popen([labkit.HOST_PYTHON, str(script), ext(f), str(f), "14"],
                              stdout=subprocess.PIPE, text=True) for f in (4, 6)]
        time.sleep(1)
        for _round in range(2):
            for statements in rewrites:
                with sqlite3.connect(path, timeout=10) as db:
                    for sql in statements:
                        db.execute(sql)
                want = "10.25.0.30/31" in statements[-1] and "nw_src=10.25.0.30/31"
                if want:
                    labkit.wait_for(lambda: any(want in f for f in labkit.dump_flows(EDGE_SWITCH)),
                                    CAP, what="the /31 entry")
                else:
                    time.sleep(1.0)
                seen_flows.append(set(labkit.dump_flows(EDGE_SWITCH)))
        sent = [int(p.communicate(timeout=30)[0].strip() or 0) for p in streams]
    assert all(n > 0 for n in sent)
    assert syns == [], f"{len(syns)} SYNs got through during rewrites: {syns[:3]}"
    # The rewrites really replaced entries on the switch.
    assert any(any("nw_src=10.25.0.30/31" in f for f in flows) for flows in seen_flows)
    assert any(any("ipv6_src=fd25::30/127" in f for f in flows) for flows in seen_flows)
    op(live, "subscriber", "remove", "BB-NEW1")
    op(live, "subscriber", "remove", "DU-POOL5")
    wait_in_sync(live)


def _ours(flows: list[str]) -> list[ofctl_parse.OfctlFlow]:
    return [f for f in map(ofctl_parse.parse_line, flows) if constants.is_op25b_cookie(f.cookie)]


def test_reconciliation_repairs_drift_and_leaves_foreign_entries(live):
    flows = _ours(labkit.dump_flows(EDGE_SWITCH))
    victim = next(f for f in flows if f.actions == "drop" and dict(f.match).get("in_port") == 2
                  and dict(f.match).get("eth_type") == constants.ETH_TYPE_IPV4)
    labkit.run(["ovs-ofctl", "-O", "OpenFlow13", "del-flows", "--strict", EDGE_SWITCH,
                f"priority={victim.priority},tcp,in_port=2,tp_dst=25"])
    assert not any(f.match == victim.match for f in _ours(labkit.dump_flows(EDGE_SWITCH)))
    stale_cookie = constants.cookie_for(constants.Band.ATTACHMENT)
    labkit.run(["ovs-ofctl", "-O", "OpenFlow13", "add-flow", EDGE_SWITCH,
                f"cookie={stale_cookie:#x},priority=31999,tcp,in_port=3,tp_dst=26,actions=drop"])
    labkit.run(["ovs-ofctl", "-O", "OpenFlow13", "add-flow", EDGE_SWITCH,
                "cookie=0x1234,priority=31999,tcp,in_port=3,tp_dst=27,actions=drop"])

    def repaired() -> bool:
        now = labkit.dump_flows(EDGE_SWITCH)
        back = any(f.match == victim.match for f in _ours(now))
        stale_gone = not any("tp_dst=26" in f for f in now)
        return back and stale_gone

    labkit.wait_for(repaired, CAP, what="reconciliation")
    assert any("cookie=0x1234" in f and "tp_dst=27" in f for f in labkit.dump_flows(EDGE_SWITCH))
    labkit.run(["ovs-ofctl", "-O", "OpenFlow13", "del-flows", "--strict", EDGE_SWITCH,
                "priority=31999,tcp,in_port=3,tp_dst=27"])


def test_warm_restart_keeps_entries_and_enforces_while_down(live):
    lab = live.lab
    wait_in_sync(live)
    before = {(f.priority, f.match): f for f in _ours(labkit.dump_flows(EDGE_SWITCH))}
    live.controller.stop(signal.SIGKILL)
    try:
        # Fail-secure: entries stay and keep enforcing with no controller.
        assert lab.tcp("bb1", ext(), 25) == labkit.TIMEOUT
        assert lab.tcp("bb1", ext(), 587) == labkit.CONNECTED
    finally:
        live.controller.start()
    labkit.wait_for(lambda: labkit.switch_connected(EDGE_SWITCH), CAP, what="reconnect")
    labkit.wait_for(lambda: re.search(r"switch 0+1: in sync|switch 0+1: policy revision",
                                      live.controller.log().split("instantiating app")[-1]),
                    CAP, what="warm restart sync")
    time.sleep(1)
    after = {(f.priority, f.match): f for f in _ours(labkit.dump_flows(EDGE_SWITCH))}
    assert after.keys() == before.keys()
    for key, old in before.items():
        # Not deleted and re-added: durations kept running, counters kept counting.
        assert after[key].duration >= old.duration, key
        assert after[key].n_packets >= old.n_packets, key
    assert lab.tcp("bb1", ext(), 25) == labkit.TIMEOUT


def test_vswitchd_restart_with_empty_tables_gets_the_policy_back(live):
    lab = live.lab
    count = len(_ours(labkit.dump_flows(EDGE_SWITCH)))
    labkit.run(["ovs-appctl", "-t", "ovs-vswitchd", "exit"], check=False)
    labkit.wait_for(lambda: labkit.run(["ovs-appctl", "-t", "ovs-vswitchd", "version"],
                                       check=False).returncode != 0, CAP, what="vswitchd exit")
    labkit.run(["/usr/share/openvswitch/scripts/ovs-ctl", "--no-ovsdb-server",
                "--system-id=random", "start"], check=False, timeout=120)
    labkit.wait_for(lambda: labkit.switch_connected(EDGE_SWITCH), CAP, what="reconnect")
    labkit.wait_for(lambda: len(_ours(labkit.dump_flows(EDGE_SWITCH))) == count, CAP,
                    what="policy reinstalled")
    for name in ("bb1", "ext"):
        for intf in lab.host(name).intfList():
            lab.host(name).cmd(f"ethtool -K {intf.name} tx off rx off")
    until_tcp(lab, "bb1", ext(), 587, labkit.CONNECTED)
    assert lab.tcp("bb1", ext(), 25) == labkit.TIMEOUT


def _flow_count(bridge: str) -> int:
    out = labkit.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-aggregate", bridge]).stdout
    return int(re.search(r"flow_count=(\d+)", out).group(1))


def test_controller_stays_responsive_through_a_100k_row_change(live):
    """100k subscribers appear and disappear while switches are connected: no disconnect."""
    from op25b_app.db.engine import make_engine
    from scripts import isp_dataset

    lab = live.lab
    ovs_log = "/var/log/openvswitch/ovs-vswitchd.log"
    with open(ovs_log, "rb") as fh:
        log_offset = fh.seek(0, 2)
    controller_log_offset = len(live.controller.log())
    wait_in_sync(live)
    baseline = _flow_count(EDGE_SWITCH)
    engine = make_engine(live.db_url)
    try:
        # Ports 6..45 are not wired in the lab: the entries are real but idle.
        isp_dataset.populate_single_switch(engine, 1, 100_000, existing=True, first_port=6)
    finally:
        engine.dispose()
    labkit.wait_for(lambda: _flow_count(EDGE_SWITCH) >= baseline + 100_000, 300, interval=1,
                    what="100k entries on the edge switch")
    # While and after the big change, the lab kept working and the policy holds.
    assert lab.tcp("bb1", ext(), 25) == labkit.TIMEOUT
    assert lab.tcp("bb1", ext(), 587) == labkit.CONNECTED
    path = live.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("DELETE FROM attachments WHERE subscriber_id IN "
                   "(SELECT id FROM subscribers WHERE account LIKE 'S1-%')")
        db.execute("DELETE FROM subscribers WHERE account LIKE 'S1-%'")
    labkit.wait_for(lambda: _flow_count(EDGE_SWITCH) == baseline, 300, interval=1,
                    what="the 100k entries removed")
    with open(ovs_log, "rb") as fh:
        fh.seek(log_offset)
        new_lines = fh.read().decode(errors="replace").splitlines()
    ours = [line for line in new_lines if EDGE_SWITCH in line or CORE_SWITCH in line]
    problems = [line for line in ours if re.search(
        r"disconnect|inactivity probe|connection closed|Connection reset", line)]
    assert not problems, "\n".join(problems[:5])
    assert "disconnected" not in live.controller.log()[controller_log_offset:]


def test_opt_out_expires_by_itself(live):
    """An opt-out with an expiry ends at that time with nobody writing anything."""
    import datetime as dt

    lab = live.lab
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=8)
    op(live, "subscriber", "exempt", "BB-0001", "--reason", "lab: short opt-out",
       "--until", until.isoformat(timespec="seconds"))
    until_tcp(lab, "bb1", ext(), 25, labkit.CONNECTED)
    labkit.wait_for(lambda: dt.datetime.now(dt.timezone.utc) > until, 30, what="expiry")
    until_tcp(lab, "bb1", ext(), 25, labkit.TIMEOUT)
    until_tcp(lab, "bb1", ext(6), 25, labkit.TIMEOUT)
    assert "policy changes by time" in live.controller.log()


def test_round_trip_cli_api_switch(live, tmp_path):
    """A NOC change through the REST API reaches the switch; the CLI and audit see it."""

    from tests.api.conftest import WRITE_TOKEN, start_api, stop_api, write_config

    lab = live.lab
    api = start_api(live.db_url, write_config(tmp_path / "api.toml"), tmp_path / "api.log")
    try:
        with api.client(WRITE_TOKEN) as client:
            resp = client.patch("/subscribers/BB-0001", json={"type": "dialup"})
            assert resp.status_code == 200, resp.text
            until_tcp(lab, "bb1", ext(), 25, labkit.CONNECTED)
            assert json.loads(op(live, "subscriber", "show", "BB-0001", "--json"))["type"] \
                == "dialup"
            # And back through the CLI; the API reads what the CLI wrote.
            op(live, "subscriber", "set-type", "BB-0001", "broadband")
            until_tcp(lab, "bb1", ext(), 25, labkit.TIMEOUT)
            assert client.get("/subscribers/BB-0001").json()["type"] == "broadband"
        audit = op(live, "audit", "--account", "BB-0001")
        assert "token:tester" in audit
    finally:
        assert stop_api(api) == 0
