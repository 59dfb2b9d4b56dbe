"""OP25B end to end: the traffic matrix on real OVS with real TCP, IPv4 and IPv6."""

from __future__ import annotations

import json

import pytest

from op25b_app.core import constants
from tests.lab import labkit, ofctl_parse, scenario
from topologies.isp import EDGE_DPID, EDGE_SWITCH


@pytest.fixture(scope="module")
def matrix(example_lab):
    return scenario.run_matrix(example_lab.lab)


def test_traffic_matrix_matches_the_policy(matrix):
    wrong = [c for c in matrix if c[4] != c[5]]
    assert not wrong, "\n" + scenario.format_matrix(matrix)
    # Every row and every column was probed over both families.
    assert len(matrix) == len(scenario.ROWS) * len(scenario.COLUMNS) * 2


def _edge_flows() -> list[ofctl_parse.OfctlFlow]:
    return [ofctl_parse.parse_line(line) for line in labkit.dump_flows(EDGE_SWITCH)]


def _drop_counter(in_port: int | None, eth_type: int) -> int:
    """Packets counted by the drop entry for port 25 from ``in_port`` (None = default)."""
    total = 0
    for flow in _edge_flows():
        m = dict(flow.match)
        if flow.actions == "drop" and m.get("tcp_dst") == 25 and m.get("eth_type") == eth_type \
                and m.get("in_port") == in_port:
            total += flow.n_packets
    return total


@pytest.mark.parametrize("src,in_port", [("bb1", 2), ("new1", None)])
@pytest.mark.parametrize("family", [4, 6])
def test_blocked_syn_never_reaches_the_server_and_is_counted(example_lab, src, in_port, family):
    lab = example_lab.lab
    eth_type = constants.ETH_TYPE_IPV4 if family == 4 else constants.ETH_TYPE_IPV6
    before = _drop_counter(in_port, eth_type)
    ext = labkit.ip_of("ext", family)
    src_ip = labkit.ip_of(src, family)
    with lab.capture("ext", f"tcp dst port 25 and src host {src_ip}") as seen:
        assert lab.tcp(src, ext, 25, timeout=1.5) == labkit.TIMEOUT
    assert seen == [], f"the server saw SYNs from {src}: {seen}"
    after = _drop_counter(in_port, eth_type)
    assert after > before, f"drop entry for in_port={in_port} did not count ({before}->{after})"
    # Control: the same capture does see an allowed connection (proves the capture works).
    with lab.capture("ext", f"tcp dst port 587 and src host {src_ip}") as seen587:
        assert lab.tcp(src, ext, 587) == labkit.CONNECTED
    assert any("Flags [S]" in p for p in seen587)


@pytest.mark.parametrize("family", [4, 6])
def test_inbound_mail_and_mta_relay_pass(example_lab, family):
    lab = example_lab.lab
    # External -> broadband customer's own port 25: OP25B is outbound only.
    assert lab.tcp("ext", labkit.ip_of("bb1", family), 25) == labkit.CONNECTED
    # The ISP's relay delivers to the world on port 25.
    assert lab.tcp("mta", labkit.ip_of("ext", family), 25) == labkit.CONNECTED


@pytest.mark.parametrize("family", [4, 6])
def test_ping_and_neighbour_discovery_work_after_install(example_lab, family):
    lab = example_lab.lab
    for src, dst in (("bb1", "ext"), ("du1", "mta"), ("new1", "web"), ("bb2", "bb1")):
        assert lab.ping(src, labkit.ip_of(dst, family)), f"ping IPv{family} {src} -> {dst}"


def test_switch_entries_equal_policy_show(example_lab):
    shown = json.loads(scenario.op25b(example_lab.db_url, "policy", "show", "--dpid",
                                      str(EDGE_DPID), "--json").stdout)
    expected = {ofctl_parse.comparable(e["table"], e["priority"], e["match"], e["actions"],
                                       e["cookie"]) for e in shown["entries"]}
    ours = {(f.cookie, f.table, f.priority, f.match, f.actions) for f in _edge_flows()
            if constants.is_op25b_cookie(f.cookie)}
    assert ours == expected
    assert len(expected) >= 10


def test_no_openflow_error_was_received(example_lab):
    log = example_lab.controller.log()
    assert "rejected" not in log and "OFPET_" not in log
    assert f"switch {EDGE_DPID:016x}: policy revision" in log



def test_status_in_the_database_shows_both_switches_in_sync(example_lab):
    def in_sync():
        data = json.loads(scenario.op25b(example_lab.db_url, "status", "--json").stdout)
        rows = {s["dpid"]: s for s in data["switches"]}
        ok = all(rows.get(d, {}).get("in_sync") for d in (EDGE_DPID, 2))
        return data if ok else None

    data = labkit.wait_for(in_sync, 30, what="status rows for both switches")
    edge = next(s for s in data["switches"] if s["dpid"] == EDGE_DPID)
    assert edge["name"] == EDGE_SWITCH and edge["connected"]
    assert edge["revision_applied"] == data["policy_revision"]
    assert edge["entries"] == len([f for f in _edge_flows() if constants.is_op25b_cookie(f.cookie)])
    assert data["controllers"][0]["revision_loaded"] == data["policy_revision"]
