"""The fast encoder writes exactly the bytes Ryu's serializer writes.

Ryu stays the reference for the wire format; ``wire`` is only faster. Every
entry of compiled policies (all bands, both families, prefixes and hosts,
VLANs, every action kind) and the bundle wrapping are compared byte for byte.
"""

from __future__ import annotations

import datetime as dt

import netaddr
import pytest

from op25b_app.core.compile import compile_policy
from op25b_app.core.options import PolicyOptions
from op25b_app.core.snapshot import AttachmentRule, MtaRule, PolicySnapshot, SwitchInfo
from op25b_app.openflow import ryu_compat  # noqa: F401 - the eventlet fix first
from op25b_app.openflow import messages, wire
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)


class Datapath:
    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser
    xid = 0


def _rules() -> tuple[AttachmentRule, ...]:
    prefixes = [None, "10.0.0.5/32", "10.1.0.0/24", "2001:db8::/56", "2001:db8:0:1::7/128",
                "0.0.0.0/0"]
    rules = []
    for i, prefix in enumerate(prefixes * 2):
        rules.append(AttachmentRule(
            attachment_id=i + 1, account=f"A{i}", dpid=1, port=2 + i, vlan=None if i % 2 else 7,
            prefix=None if prefix is None else netaddr.IPNetwork(prefix), type_name="t",
            type_blocked=i % 3 != 0, exempt=i % 4 == 0, carries=frozenset({"qinq"} if i == 3
                                                                          else ())))
    return tuple(rules)


def _snapshot(mode: str = "enforce") -> PolicySnapshot:
    return PolicySnapshot(
        revision=1, switches={1: SwitchInfo(1, "e", uplink_ports=frozenset({1, 40}))},
        attachments={1: _rules()},
        mtas=(MtaRule("m4", netaddr.IPNetwork("192.0.2.0/28")),
              MtaRule("m6", netaddr.IPNetwork("2001:db8:ffff::25/128"))), mode=mode)


OPTIONS = [
    PolicyOptions(),
    PolicyOptions(table_id=2, pass_action="goto:5"),
    PolicyOptions(punt_meter=25, block_action="reject"),
    PolicyOptions(punt_meter=25, sample_table=1),
]


@pytest.mark.parametrize("options", OPTIONS, ids=["normal", "goto", "punt", "sample"])
@pytest.mark.parametrize("mode", ["enforce", "monitor"])
@pytest.mark.parametrize("kind", ["add", "modify", "delete"])
def test_every_entry_encodes_like_ryu(options: PolicyOptions, mode: str, kind: str) -> None:
    specs = sorted(compile_policy(_snapshot(mode), 1, NOW, options)[0], key=str)
    ours = [data for data, _ in wire.encode(kind, specs, 1000)]
    theirs = [data for data, _ in messages.ryu_chunks(Datapath(), kind, specs, 1000, limit=1)]
    assert len(ours) == len(specs)
    for spec, mine, reference in zip(specs, ours, theirs, strict=True):
        assert mine == reference, f"{kind} {spec}"


def test_bundle_add_wraps_like_ryu() -> None:
    dp = Datapath()
    spec = sorted(compile_policy(_snapshot(), 1, NOW)[0], key=str)[0]
    [(inner, xid)] = list(wire.encode("add", [spec], 77))
    ours = wire.bundle_add(5, wire.ONF_BF_ATOMIC | wire.ONF_BF_ORDERED, inner)
    flow_mod = messages.flow_add(dp, spec)
    ref = ofproto_v1_3_parser.ONFBundleAddMsg(dp, 5, wire.ONF_BF_ATOMIC | wire.ONF_BF_ORDERED,
                                              flow_mod, [])
    ref.set_xid(77)
    ref.serialize()
    assert ours == bytes(ref.buf) and xid == 77
