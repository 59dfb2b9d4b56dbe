"""Flow-stats entries are recognised by their bytes, lazily parsed, never misread.

A switch reports entries with the match fields in its own order; an entry
that differs from every expected one in any byte (another action, another
priority, a field more) must fall through to the full parse, so drift is
still repaired. The entries are built the way OVS sends them back.
"""

from __future__ import annotations

import datetime as dt
import struct

import netaddr
import pytest

from op25b_app.core.actions import NORMAL
from op25b_app.core.compile import compile_policy
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.options import PolicyOptions
from op25b_app.core.snapshot import AttachmentRule, MtaRule, PolicySnapshot, SwitchInfo
from op25b_app.openflow import ryu_compat
from op25b_app.openflow import fastread, readback, wire
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)


class Datapath:
    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser


def _policy(options: PolicyOptions) -> list[FlowSpec]:
    rules = tuple(
        AttachmentRule(attachment_id=i + 1, account=f"A{i}", dpid=1, port=2 + i,
                       vlan=None if i % 2 else 7,
                       prefix=None if p is None else netaddr.IPNetwork(p), type_name="t",
                       type_blocked=i % 3 != 0, exempt=i % 4 == 0)
        for i, p in enumerate([None, "10.0.0.5/32", "10.1.0.0/24", "2001:db8::/56",
                               "2001:db8:0:1::7/128"] * 2))
    snap = PolicySnapshot(revision=1, switches={1: SwitchInfo(1, "e", uplink_ports=frozenset({1}))},
                          attachments={1: rules},
                          mtas=(MtaRule("m4", netaddr.IPNetwork("192.0.2.0/28")),))
    desired, _ = compile_policy(snap, 1, NOW, options)
    return sorted(desired, key=lambda s: (s.table, s.priority, s.cookie, s.match))


def _reported(spec: FlowSpec, packets: int = 0, frag_exact: bool = False) -> bytes:
    """``spec`` as a switch reports it: a flow-stats entry, match fields reversed."""
    encoder = wire.Encoder()
    tlvs = [encoder.tlv(field, value) for field, value in spec.match][::-1]
    if frag_exact:
        tlvs = [t.replace(b"\x00\x01\x35\x02\x01\x03", b"\x00\x01\x34\x01\x01") for t in tlvs]
    length = 4 + sum(map(len, tlvs))
    match = struct.pack("!HH", 1, length) + b"".join(tlvs) + b"\0" * (-length % 8)
    tail = match + encoder.instructions(spec)
    head = struct.pack("!HBxIIHHHH4xQQQ", 48 + len(tail), spec.table, 7, 0, spec.priority,
                       0, 0, 0, spec.cookie, packets, packets * 60)
    return head + tail


OPTIONS = [PolicyOptions(), PolicyOptions(table_id=2, pass_action="goto:5"),
           PolicyOptions(punt_meter=25, block_action="reject"),
           PolicyOptions(punt_meter=25, sample_table=1)]


@pytest.mark.parametrize("options", OPTIONS, ids=["normal", "goto", "punt", "sample"])
def test_every_entry_of_a_policy_is_recognised_whatever_the_field_order(options):
    specs = _policy(options)
    stats = [ryu_compat.LazyFlowStats.parser(_reported(s), 0) for s in specs]
    found, rest = fastread.recognise(stats, specs)
    assert rest == []
    assert found == specs


def test_a_lazy_entry_reads_as_ryus_own_and_parses_to_the_same_spec():
    spec = _policy(PolicyOptions())[-1]
    raw = _reported(spec, packets=3)
    lazy = ryu_compat.LazyFlowStats.parser(raw, 0)
    eager = ofproto_v1_3_parser.OFPFlowStats.parser(raw, 0)
    assert (lazy.cookie, lazy.packet_count, lazy.priority) == (eager.cookie, 3, eager.priority)
    assert lazy.match.to_jsondict() == eager.match.to_jsondict()
    assert [i.to_jsondict() for i in lazy.instructions] == \
        [i.to_jsondict() for i in eager.instructions]
    [(parsed, _stat)] = readback.parse_flow_stats(Datapath, [lazy])
    assert parsed == spec


def test_an_entry_that_differs_in_any_way_goes_to_the_full_parse():
    specs = _policy(PolicyOptions())
    drop = next(s for s in specs if s.actions == "drop" and dict(s.match).get("ipv4_src"))
    other_action = FlowSpec.make(drop.table, drop.priority, dict(drop.match), NORMAL, drop.cookie)
    other_priority = FlowSpec.make(drop.table, drop.priority + 1, dict(drop.match), drop.actions,
                                   drop.cookie)
    more_fields = FlowSpec.make(drop.table, drop.priority, {**dict(drop.match), "tcp_dst": 26},
                                drop.actions, drop.cookie)
    drifted = [other_action, other_priority, more_fields]
    stats = [ryu_compat.LazyFlowStats.parser(_reported(s), 0) for s in drifted]
    found, rest = fastread.recognise(stats, specs)
    assert found == []
    assert [spec for spec, _ in readback.parse_flow_stats(Datapath, rest)] == drifted


def test_stats_without_bytes_and_nothing_expected_are_left_to_parse():
    specs = _policy(PolicyOptions())
    eager = [ofproto_v1_3_parser.OFPFlowStats.parser(_reported(s), 0) for s in specs[:3]]
    assert fastread.recognise(eager, specs) == ([], eager)
    lazy = [ryu_compat.LazyFlowStats.parser(_reported(s), 0) for s in specs[:3]]
    assert fastread.recognise(lazy, ()) == ([], lazy)


def test_the_framework_parses_flow_stats_replies_lazily():
    reply = ofproto_v1_3_parser.OFPFlowStatsReply
    assert reply.cls_stats_body_cls is ryu_compat.LazyFlowStats


def test_a_fragment_match_reported_without_its_full_mask_is_recognised():
    """OVS reports ip_frag=first (value 1, mask 3) in the exact one-byte form."""
    specs = _policy(PolicyOptions())
    frag = [s for s in specs if dict(s.match).get("ip_frag")]
    assert frag
    stats = [ryu_compat.LazyFlowStats.parser(_reported(s, frag_exact=True), 0) for s in frag]
    assert all(b"\x00\x01\x34\x01\x01" in s.raw for s in stats)
    assert fastread.recognise(stats, specs) == (frag, [])
