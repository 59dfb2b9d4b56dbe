"""Message builders and their inverse: every op25b entry survives the wire.

Each FlowSpec kind is turned into a flow mod with Ryu's real OpenFlow 1.3
parser, serialized, parsed back as a switch would receive it, and presented
to ``readback.parse_flow_stats`` as the flow-stats entry the switch would
report. The round trip must give the same FlowSpec, or the reconciler churns.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from op25b_app.core import constants
from op25b_app.core.actions import DROP, NORMAL, goto, punt, sample
from op25b_app.core.constants import Band
from op25b_app.core.flowspec import FlowSpec
from op25b_app.openflow import ryu_compat  # noqa: F401 - the eventlet fix first
from op25b_app.openflow import messages, readback
from ryu.ofproto import ofproto_parser, ofproto_v1_3, ofproto_v1_3_parser


class Datapath:
    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser

    def __init__(self) -> None:
        self.xid = 100


def decode(buf: bytes) -> list[Any]:
    out, offset = [], 0
    while offset < len(buf):
        version, msg_type, length, xid = struct.unpack_from("!BBHI", buf, offset)
        out.append(ofproto_parser.msg(Datapath(), version, msg_type, length, xid,
                                      bytes(buf[offset:offset + length])))
        offset += length
    return out


SPECS = [
    FlowSpec.make(0, 33000, {"in_port": 1}, NORMAL, constants.cookie_for(Band.UPLINK)),
    FlowSpec.make(0, 32000, {"eth_type": 0x0800, "ip_proto": 6, "ipv4_dst": "10.0.0.0/24",
                             "tcp_dst": 25}, goto(2), constants.cookie_for(Band.MTA)),
    FlowSpec.make(0, 31066, {"in_port": 3, "eth_type": 0x86DD, "vlan_vid": 0x1005,
                             "ip_proto": 6, "ipv6_src": "2001:db8::/56", "tcp_dst": 25},
                  DROP, constants.cookie_for(Band.ATTACHMENT, 7, counted=True)),
    FlowSpec.make(0, 30000, {"eth_type": 0x0800, "ip_proto": 6, "tcp_dst": 25}, punt(25),
                  constants.cookie_for(Band.DEFAULT_DROP, counted=True)),
    FlowSpec.make(0, 31066, {"in_port": 4, "eth_type": 0x0800, "ip_proto": 6,
                             "ipv4_src": "10.1.2.3/32", "tcp_dst": 25}, sample(1),
                  constants.cookie_for(Band.ATTACHMENT, 9, counted=True)),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.actions)
def test_flow_add_round_trips_through_the_wire_and_readback(spec: FlowSpec) -> None:
    dp = Datapath()
    [(chunk, xids)] = messages.build_chunks(dp, "add", [spec], 7)
    [mod] = decode(chunk)
    assert xids == [7] and mod.xid == 7
    assert mod.command == ofproto_v1_3.OFPFC_ADD
    assert (mod.table_id, mod.priority, mod.cookie) == (spec.table, spec.priority, spec.cookie)
    stat = ofproto_v1_3_parser.OFPFlowStats(
        table_id=mod.table_id, priority=mod.priority, cookie=mod.cookie, match=mod.match,
        instructions=mod.instructions, packet_count=0, byte_count=0, duration_sec=0,
        duration_nsec=0, idle_timeout=0, hard_timeout=0, flags=0)
    [(parsed, _)] = list(readback.parse_flow_stats(dp, [stat]))
    assert parsed == spec


def test_sample_writes_the_attachment_id_as_metadata() -> None:
    dp = Datapath()
    [(chunk, _)] = messages.build_chunks(dp, "add", [SPECS[4]], 1)
    [mod] = decode(chunk)
    metadata = [i for i in mod.instructions
                if i.type == ofproto_v1_3.OFPIT_WRITE_METADATA][0]
    assert metadata.metadata == 9


def test_deletes_are_strict_and_limited_to_op25b_cookies() -> None:
    dp = Datapath()
    [(chunk, _)] = messages.build_chunks(dp, "delete", SPECS[:2], 1)
    mods = decode(chunk)
    assert [m.command for m in mods] == [ofproto_v1_3.OFPFC_DELETE_STRICT] * 2
    assert {(m.cookie, m.cookie_mask) for m in mods} == {
        (constants.COOKIE_BASE, constants.COOKIE_MASK)}


def test_modify_strict_matches_the_exact_cookie() -> None:
    dp = Datapath()
    [(chunk, _)] = messages.build_chunks(dp, "modify", [SPECS[2]], 1)
    [mod] = decode(chunk)
    assert mod.command == ofproto_v1_3.OFPFC_MODIFY_STRICT
    assert (mod.cookie, mod.cookie_mask) == (SPECS[2].cookie, 2**64 - 1)


def test_flow_stats_request_slices_by_attachment_bits() -> None:
    dp = Datapath()
    req = messages.flow_stats_request(dp, counted_only=True, slice_index=5)
    slice_mask = (constants.STATS_SLICES - 1) << constants.STATS_SLICE_SHIFT
    assert req.cookie_mask == constants.COOKIE_MASK | constants.COOKIE_COUNTED | slice_mask
    assert req.cookie & slice_mask == 5 << constants.STATS_SLICE_SHIFT


def test_chunks_stay_near_the_size_limit_and_keep_xid_order() -> None:
    dp = Datapath()
    specs = [FlowSpec(0, 31000, (("in_port", p),) + SPECS[3].match, DROP,
                      constants.cookie_for(Band.ATTACHMENT, p, counted=True))
             for p in range(1, 6001)]
    chunks = messages.build_chunks(dp, "add", specs, 1)
    assert len(chunks) > 1
    assert [x for _, xids in chunks for x in xids] == list(range(1, 6001))
    assert all(len(c) < messages.SEND_CHUNK_BYTES + 200 for c, _ in chunks)


def test_meter_and_packet_out_builders() -> None:
    dp = Datapath()
    mod = messages.meter_mod(dp, 25, 10, exists=False)
    assert mod.command == ofproto_v1_3.OFPMC_ADD and mod.meter_id == 25
    assert [(b.rate, b.burst_size) for b in mod.bands] == [(10, 10)]
    assert messages.meter_mod(dp, 25, 10, exists=True).command == ofproto_v1_3.OFPMC_MODIFY
    out = messages.packet_out(dp, 3, b"frame")
    assert out.actions[0].port == 3 and out.data == b"frame"


def test_foreign_instructions_are_not_read_as_op25b_entries() -> None:
    dp = Datapath()
    parser = ofproto_v1_3_parser
    stat = parser.OFPFlowStats(
        table_id=0, priority=5, cookie=constants.COOKIE_BASE, match=parser.OFPMatch(in_port=1),
        instructions=[parser.OFPInstructionActions(
            ofproto_v1_3.OFPIT_APPLY_ACTIONS, [parser.OFPActionOutput(2, 0)])],
        packet_count=0, byte_count=0, duration_sec=0, duration_nsec=0, idle_timeout=0,
        hard_timeout=0, flags=0)
    assert list(readback.parse_flow_stats(dp, [stat]))[0][0] is None


def test_fields_go_on_the_wire_after_their_prerequisites() -> None:
    """OVS answers OFPBMC_BAD_PREREQ when the experimenter ip_frag field comes
    before eth_type, which is where Ryu's keyword form would put it."""
    dp = Datapath()
    spec = FlowSpec.make(0, 30500, {"eth_type": 0x0800, "ip_proto": 6, "ip_frag": "first",
                                    "tcp_dst": 0}, DROP,
                         constants.cookie_for(Band.GUARD, counted=True))
    [(chunk, _)] = messages.build_chunks(dp, "add", [spec], 1)
    [mod] = decode(chunk)
    names = [name for name, _value in mod.match._fields2]
    assert names.index("eth_type") < names.index("ip_proto") < names.index("ip_frag")
    assert dict(mod.match._fields2)["ip_frag"] == (1, 3)
    stat = ofproto_v1_3_parser.OFPFlowStats(
        table_id=0, priority=30500, cookie=mod.cookie, match=mod.match,
        instructions=mod.instructions, packet_count=0, byte_count=0, duration_sec=0,
        duration_nsec=0, idle_timeout=0, hard_timeout=0, flags=0)
    assert list(readback.parse_flow_stats(dp, [stat]))[0][0] == spec
