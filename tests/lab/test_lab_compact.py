"""Compact mode on real OVS: the same traffic matrix as the full policy, in fewer entries.

The example ISP's edge switch is switched to compact mode while the
controller runs (a live change); then the switch must hold exactly what
``op25b policy show`` renders, no entry of a blocked subscriber, and a
blocked SYN must be dropped and counted on its port's drop entry.
"""

from __future__ import annotations

import json

import pytest

from op25b_app.core import constants
from tests.lab import labkit, ofctl_parse, scenario
from topologies.isp import EDGE_DPID, EDGE_SWITCH, HOSTS_BY_NAME


def _edge_flows() -> list[ofctl_parse.OfctlFlow]:
    return [ofctl_parse.parse_line(line) for line in labkit.dump_flows(EDGE_SWITCH)]


def _shown(db_url: str) -> set[tuple[object, ...]]:
    shown = json.loads(scenario.op25b(db_url, "policy", "show", "--dpid", str(EDGE_DPID),
                                      "--json").stdout)
    return {ofctl_parse.comparable(e["table"], e["priority"], e["match"], e["actions"],
                                   e["cookie"]) for e in shown["entries"]}


def _ours() -> set[tuple[object, ...]]:
    return {(f.cookie, f.table, f.priority, f.match, f.actions) for f in _edge_flows()
            if constants.is_op25b_cookie(f.cookie)}


@pytest.fixture(scope="module")
def compact_lab(lab_ready):
    with labkit.example_lab() as example:
        port = HOSTS_BY_NAME["bb1"].port
        for i in range(1, 4):  # more blocked subscribers on bb1's port, by address
            scenario.op25b(example.db_url, "subscriber", "add", "--account", f"BB-01{i:02}",
                           "--type", "broadband", "--attach", f"{EDGE_DPID}:{port}",
                           "--prefix", f"198.18.0.{i}/32")
        full = _shown(example.db_url)
        labkit.wait_for(lambda: _ours() == full, 30, what="the full policy on the switch")
        scenario.op25b(example.db_url, "switch", "set", str(EDGE_DPID), "--compact")
        compact = _shown(example.db_url)
        labkit.wait_for(lambda: _ours() == compact, 30, what="the compact policy on the switch")
        yield example, full, compact


def test_switch_holds_the_compact_policy_and_fewer_entries(compact_lab):
    _example, full, compact = compact_lab
    assert _ours() == compact
    assert len(compact) < len(full)
    blocked = [f for f in _edge_flows() if constants.is_op25b_cookie(f.cookie)
               and constants.band_of(f.cookie) == constants.Band.ATTACHMENT
               and constants.is_counted(f.cookie)]
    assert blocked == []


def test_traffic_matrix_is_unchanged(compact_lab):
    example, _full, _compact = compact_lab
    matrix = scenario.run_matrix(example.lab)
    wrong = [c for c in matrix if c[4] != c[5]]
    assert not wrong, "\n" + scenario.format_matrix(matrix)


@pytest.mark.parametrize("family", [4, 6])
def test_blocked_syn_is_counted_on_its_port_drop(compact_lab, family):
    example, _full, _compact = compact_lab
    port = HOSTS_BY_NAME["bb1"].port
    eth_type = constants.ETH_TYPE_IPV4 if family == 4 else constants.ETH_TYPE_IPV6

    def counted() -> int:
        return sum(f.n_packets for f in _edge_flows()
                   if f.actions == "drop" and dict(f.match).get("in_port") == port
                   and constants.band_of(f.cookie) == constants.Band.DEFAULT_DROP
                   and dict(f.match).get("eth_type") == eth_type
                   and dict(f.match).get("tcp_dst") == 25)

    before = counted()
    src_ip = labkit.ip_of("bb1", family)
    with example.lab.capture("ext", f"tcp dst port 25 and src host {src_ip}") as seen:
        assert example.lab.tcp("bb1", labkit.ip_of("ext", family), 25,
                               timeout=1.5) == labkit.TIMEOUT
    assert seen == []
    assert counted() > before
