"""Compact rendering gives every packet the same action as the full policy, in fewer entries."""

from __future__ import annotations

import dataclasses
import datetime as dt

import netaddr
from hypothesis import given
from hypothesis import strategies as st

from op25b_app.core import constants
from op25b_app.core.compile import compile_policy
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.options import PolicyOptions
from op25b_app.core.snapshot import AttachmentRule, MtaRule, PolicySnapshot, SwitchInfo
from tests.unit.core.flowtable_model import FlowTable, Packet
from tests.unit.core.test_compile_property import (
    DPID,
    NOW,
    PROPERTY,
    _all_packets_for,
    options_strategy,
    packets,
    snapshots,
)


def _compact(snapshot: PolicySnapshot) -> PolicySnapshot:
    switches = dict(snapshot.switches)
    if DPID in switches:
        switches[DPID] = dataclasses.replace(switches[DPID], compact=True)
    return dataclasses.replace(snapshot, switches=switches)


def _action(table: FlowTable, packet: Packet) -> str:
    spec = table.lookup(packet)
    return "miss" if spec is None else str(spec.actions)


@PROPERTY
@given(snapshots(unique_places=True), st.lists(packets(), min_size=1, max_size=25),
       options_strategy, st.sampled_from((constants.MODE_ENFORCE, constants.MODE_MONITOR)))
def test_compact_and_full_give_every_packet_the_same_action(
    snapshot: PolicySnapshot, random_packets: list[Packet], options: PolicyOptions, mode: str,
) -> None:
    snapshot = dataclasses.replace(snapshot, mode=mode)
    full, full_next = compile_policy(snapshot, DPID, NOW, options)
    compact, compact_next = compile_policy(_compact(snapshot), DPID, NOW, options)
    full_table, compact_table = FlowTable(full), FlowTable(compact)  # refuse ambiguity
    for packet in random_packets + _all_packets_for(snapshot):
        assert _action(compact_table, packet) == _action(full_table, packet), (
            packet, sorted(map(str, compact)))
    assert len(compact) <= len(full) + 2 * len(constants.ENCAPSULATIONS) + 12
    assert compact_next == full_next


def _rule(ident: int, port: int, prefix: str | None, blocked: bool,
          vlan: int | None = None) -> AttachmentRule:
    return AttachmentRule(ident, f"A{ident}", DPID, port, vlan,
                          None if prefix is None else netaddr.IPNetwork(prefix),
                          "broadband" if blocked else "business", type_blocked=blocked)


def _snapshot(rules: list[AttachmentRule], mtas: tuple[str, ...] = ()) -> PolicySnapshot:
    switch = SwitchInfo(DPID, "edge1", uplink_ports=frozenset({1}), compact=True)
    return PolicySnapshot(revision=1, switches={DPID: switch}, attachments={DPID: tuple(rules)},
                          mtas=tuple(MtaRule(f"m{i}", netaddr.IPNetwork(p))
                                     for i, p in enumerate(mtas)))


def _band(specs: frozenset[FlowSpec], band: constants.Band) -> list[FlowSpec]:
    return [s for s in specs if constants.band_of(s.cookie) == band]


def test_blocked_attachments_get_no_entry_and_their_ports_a_counted_drop() -> None:
    rules = [_rule(i, 2 + i % 3, f"10.0.{i}.0/24", blocked=True) for i in range(1, 200)]
    specs, _ = compile_policy(_snapshot(rules), DPID, NOW)
    assert _band(specs, constants.Band.ATTACHMENT) == []
    drops = _band(specs, constants.Band.DEFAULT_DROP)
    assert len(drops) == 2 + 3  # the two default drops, one IPv4 drop per port 2..4
    assert all(constants.is_counted(s.cookie) for s in drops)


def test_entry_count_formula() -> None:
    """entries <= uplinks + merged MTA prefixes + 2 * passing + 2 * nested blocked
    + 2 * ports + constant (miss, 2 default drops, 9 guards)."""
    rules = [_rule(i, 2 + i % 4, f"10.{i}.0.0/16", blocked=True) for i in range(1, 100)]
    rules += [_rule(100 + i, 2, f"10.200.0.{i}/32", blocked=False) for i in range(64)]
    rules += [_rule(200, 3, "10.201.0.0/24", blocked=False),
              _rule(201, 3, "10.201.0.7/32", blocked=True)]  # a hole in an exempt /24
    mtas = ("192.0.2.25/32", "192.0.2.24/32")
    specs, _ = compile_policy(_snapshot(rules, mtas), DPID, NOW)
    passing, nested, ports = 65, 1, 4
    merged_mtas = len(netaddr.cidr_merge([netaddr.IPNetwork(m) for m in mtas]))
    assert len(specs) <= 1 + merged_mtas + 2 * passing + 2 * nested + 2 * ports + 12
    attachment = _band(specs, constants.Band.ATTACHMENT)
    # 64 exempt /32s on port 2 merge into one /26; the /24 and its blocked hole stay.
    assert len(attachment) == 3
    assert FlowTable(specs).verdict(
        Packet(3, None, 0x0800, 6, "10.201.0.7", "198.51.100.1", 25)) == "drop"
    assert FlowTable(specs).verdict(
        Packet(3, None, 0x0800, 6, "10.201.0.8", "198.51.100.1", 25)) == "pass"
    assert FlowTable(specs).verdict(
        Packet(2, None, 0x0800, 6, "10.200.0.63", "198.51.100.1", 25)) == "pass"


def test_full_switch_is_unchanged_by_the_new_fields() -> None:
    rules = [_rule(1, 2, "10.0.0.0/24", blocked=True)]
    snapshot = _snapshot(rules)
    full = dataclasses.replace(snapshot, switches={
        DPID: dataclasses.replace(snapshot.switches[DPID], compact=False)})
    specs, _ = compile_policy(full, DPID, NOW)
    assert len(_band(specs, constants.Band.ATTACHMENT)) == 1
    assert dt.timezone.utc is NOW.tzinfo


def test_exempt_prefixes_are_not_merged_below_a_kept_drop() -> None:
    """Merging two exempt /25s into a /24 would put them below a kept blocked /24 on VLAN 10
    (kept because an exempt port-wide VLAN 10 attachment lies under it)."""
    rules = [_rule(1, 5, "10.0.0.0/25", blocked=False),
             _rule(2, 5, "10.0.0.128/25", blocked=False),
             _rule(3, 5, "10.0.0.0/24", blocked=True, vlan=10),
             _rule(4, 5, None, blocked=False, vlan=10)]
    specs, _ = compile_policy(_snapshot(rules), DPID, NOW)
    table = FlowTable(specs)
    for src in ("10.0.0.5", "10.0.0.200"):
        assert table.verdict(Packet(5, 10, 0x0800, 6, src, "198.51.100.1", 25)) == "pass"
    assert table.verdict(Packet(5, 10, 0x0800, 6, "10.0.1.1", "198.51.100.1", 25)) == "pass"
    merged, _ = compile_policy(_snapshot(rules[:2]), DPID, NOW)
    assert len(_band(merged, constants.Band.ATTACHMENT)) == 1  # alone they merge
