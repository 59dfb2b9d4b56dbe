"""compile_policy + a model flow table behave like the written-down semantics.

The REFERENCE below restates OP25B from the product definition, packet by
packet, without flow entries, priorities or policy.py. Hypothesis draws small
snapshots whose prefixes come from a tiny universe (so they nest and overlap
all the time) and packets aimed at them; the compiled table must agree with
the reference on every packet, and must be unambiguous.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import netaddr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.compile import compile_policy, weighted_entry_count
from op25b_app.core.errors import PolicyConflict
from op25b_app.core.snapshot import ROLE_CORE, ROLE_EDGE, AttachmentRule, MtaRule, PolicySnapshot, SwitchInfo
from op25b_app.core.options import PolicyOptions
from tests.unit.core.flowtable_model import FlowTable, Packet

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
DPID = 0xA
OTHER_DPID = 0xB
PORTS = range(1, 7)
VLANS = (None, 10, 20)

V4_PREFIXES = (
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.0.0.0/16",
    "10.0.0.0/24",
    "10.0.0.0/25",
    "10.0.0.128/25",
    "10.0.0.5/32",
    "10.0.1.0/24",
)
V6_PREFIXES = (
    "::/0",
    "2001:db8::/32",
    "2001:db8::/48",
    "2001:db8::/56",
    "2001:db8::/64",
    "2001:db8:0:1::/64",
    "2001:db8::5/128",
)
V4_HOSTS = ("10.0.0.5", "10.0.0.6", "10.0.0.200", "10.0.1.7", "10.1.0.1", "192.0.2.1", "192.0.2.25")
V6_HOSTS = (
    "2001:db8::5",
    "2001:db8::6",
    "2001:db8:0:1::1",
    "2001:db8:0:ff::1",
    "2001:db8:1::1",
    "2001:db9::1",
    "2001:db8:ffff::25",
)
V4_MTAS = ("192.0.2.25/32", "192.0.2.24/31", "192.0.2.0/28", "10.0.0.5/32")
V6_MTAS = ("2001:db8:ffff::25/128", "2001:db8:ffff::/64", "2001:db8::5/128")
OFFSETS = (None, -3600, 0, 1, 3600)  # opt-out expiry relative to NOW (None = never)

ETH_V4, ETH_V6 = 0x0800, 0x86DD
TCP, UDP = 6, 17
ENCAPSULATIONS = {"qinq": (0x8100, 0x88A8, 0x9100), "mpls": (0x8847, 0x8848),
                  "pppoe": (0x8864,)}

# --- the reference ---------------------------------------------------------------------------


def _blocked(rule: AttachmentRule, now: dt.datetime) -> bool:
    exempt_now = rule.exempt and (rule.exempt_until is None or now < rule.exempt_until)
    return rule.type_blocked and not exempt_now


def _specificity(rule: AttachmentRule) -> int:
    prefixlen = -1 if rule.prefix is None else rule.prefix.prefixlen
    return (prefixlen + 1) * 2 + (1 if rule.vlan is not None else 0)


def _rules_for(snapshot: PolicySnapshot, dpid: int) -> Sequence[AttachmentRule]:
    return snapshot.attachments.get(dpid, ()) if dpid in snapshot.switches else ()


def reference_conflict(snapshot: PolicySnapshot, dpid: int, now: dt.datetime) -> bool:
    """Two attachments of an edge switch with the same port, VLAN and prefix,
    unless they are the same account saying the same thing."""
    switch = snapshot.switches.get(dpid)
    if switch is None or switch.role == ROLE_CORE:
        return False
    rules = _rules_for(snapshot, dpid)
    for i, a in enumerate(rules):
        for b in rules[i + 1 :]:
            same_place = (a.port, a.vlan, a.prefix) == (b.port, b.vlan, b.prefix)
            if same_place and (a.account != b.account or _blocked(a, now) != _blocked(b, now)):
                return True
    return False


def reference_verdict(snapshot: PolicySnapshot, dpid: int, now: dt.datetime, packet: Packet) -> str:
    """What OP25B says should happen to ``packet`` entering switch ``dpid``."""
    switch = snapshot.switches.get(dpid)
    if switch is not None and switch.role == ROLE_CORE:
        return "pass"
    uplinks = switch.uplink_ports if switch is not None else frozenset()
    if packet.in_port in uplinks:
        return "pass"
    kind = next((k for k, types in ENCAPSULATIONS.items() if packet.eth_type in types), None)
    if kind is not None:
        # IP hidden behind a second tag, MPLS or PPPoE: only where carried.
        carried = any(kind in rule.carries and rule.port == packet.in_port
                      and (rule.vlan is None or rule.vlan == packet.vlan)
                      for rule in _rules_for(snapshot, dpid))
        return "pass" if carried else "drop"
    if packet.eth_type == ETH_V6 and packet.ip_proto == 0:
        return "drop"  # an extension-header chain the switch could not parse
    if packet.ip_proto == TCP and packet.frag == "first" and packet.dst_port == 0:
        return "drop"  # a TCP first fragment whose ports the switch could not see
    if not (packet.ip_proto == TCP and packet.dst_port == 25):
        return "pass"
    src, dst = netaddr.IPAddress(packet.src), netaddr.IPAddress(packet.dst)
    if any(dst.version == m.prefix.version and dst in m.prefix for m in snapshot.mtas):
        return "pass"
    candidates = [
        rule
        for rule in _rules_for(snapshot, dpid)
        if rule.port == packet.in_port
        and (rule.vlan is None or rule.vlan == packet.vlan)
        and (rule.prefix is None or (rule.prefix.version == src.version and src in rule.prefix))
    ]
    if not candidates:
        return "drop"
    best = max(_specificity(rule) for rule in candidates)
    verdicts = {_blocked(rule, now) for rule in candidates if _specificity(rule) == best}
    assert len(verdicts) == 1, "conflicting snapshot reached the verdict check"
    return "drop" if verdicts.pop() else "pass"


def reference_next_change(
    snapshot: PolicySnapshot, dpid: int, now: dt.datetime
) -> dt.datetime | None:
    switch = snapshot.switches.get(dpid)
    if switch is None or switch.role == ROLE_CORE:
        return None
    times = [
        r.exempt_until
        for r in _rules_for(snapshot, dpid)
        if r.exempt and r.type_blocked and r.exempt_until is not None and r.exempt_until > now
    ]
    return min(times, default=None)


# --- strategies ---------------------------------------------------------------------------------


@st.composite
def attachment_rules(draw: st.DrawFn, attachment_id: int, dpid: int) -> AttachmentRule:
    family = draw(st.sampled_from(("none", "v4", "v6")))
    prefix = None
    if family == "v4":
        prefix = netaddr.IPNetwork(draw(st.sampled_from(V4_PREFIXES)))
    elif family == "v6":
        prefix = netaddr.IPNetwork(draw(st.sampled_from(V6_PREFIXES)))
    exempt = draw(st.booleans())
    offset = draw(st.sampled_from(OFFSETS)) if exempt else None
    blocked = draw(st.booleans())
    carries = draw(st.frozensets(st.sampled_from(tuple(ENCAPSULATIONS)), max_size=2))
    return AttachmentRule(
        attachment_id=attachment_id,
        carries=carries,
        account=draw(st.sampled_from(("alice", "bob", "carol", "dave"))),
        dpid=dpid,
        port=draw(st.sampled_from(PORTS)),
        vlan=draw(st.sampled_from(VLANS)),
        prefix=prefix,
        type_name="residential" if blocked else "business",
        type_blocked=blocked,
        exempt=exempt,
        exempt_until=None if offset is None else NOW + dt.timedelta(seconds=offset),
    )


@st.composite
def snapshots(draw: st.DrawFn, unique_places: bool) -> PolicySnapshot:
    """A snapshot around switch DPID; ``unique_places`` keeps (port, vlan,
    prefix) unique so that no conflict can arise."""
    count = draw(st.integers(0, 12))
    rules = [draw(attachment_rules(i, DPID)) for i in range(count)]
    if unique_places:
        places: dict[tuple[object, ...], AttachmentRule] = {}
        for rule in rules:
            places.setdefault((rule.port, rule.vlan, rule.prefix), rule)
        rules = list(places.values())
    others = [draw(attachment_rules(100 + i, OTHER_DPID)) for i in range(draw(st.integers(0, 3)))]
    role = draw(st.sampled_from((ROLE_EDGE, ROLE_EDGE, ROLE_EDGE, ROLE_CORE, "unregistered")))
    uplinks = frozenset(draw(st.sets(st.sampled_from(PORTS), max_size=2)))
    switches = {OTHER_DPID: SwitchInfo(OTHER_DPID, "other")}
    if role != "unregistered":
        switches[DPID] = SwitchInfo(DPID, "edge", role=role, uplink_ports=uplinks)
    mtas = draw(st.lists(st.sampled_from(V4_MTAS + V6_MTAS), max_size=3))
    return PolicySnapshot(
        revision=draw(st.integers(1, 10)),
        switches=switches,
        attachments={DPID: tuple(rules), OTHER_DPID: tuple(others)},
        mtas=tuple(MtaRule(f"mta{i}", netaddr.IPNetwork(p)) for i, p in enumerate(mtas)),
    )


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    """Plain packets, fragments (first, tiny first, later), truncated IPv6
    chains and frames hiding IP behind an encapsulation, as the switch sees them."""
    v6 = draw(st.booleans())
    hosts = V6_HOSTS if v6 else V4_HOSTS
    shape = draw(st.sampled_from(("plain", "plain", "plain", "first", "tiny", "later",
                                  "unparsed", "encap")))
    eth_type = ETH_V6 if v6 else ETH_V4
    ip_proto = draw(st.sampled_from((TCP, TCP, UDP)))
    dst_port = draw(st.sampled_from((25, 25, 587, 80)))
    frag = {"first": "first", "tiny": "first", "later": "later"}.get(shape, "no")
    if shape in ("tiny", "later"):
        dst_port = 0  # the switch sees no transport header
    if shape == "unparsed":
        eth_type, ip_proto, dst_port = ETH_V6, 0, 0
    if shape == "encap":
        eth_type = draw(st.sampled_from([e for types in ENCAPSULATIONS.values() for e in types]))
        ip_proto, dst_port = 0, 0
    return Packet(
        in_port=draw(st.sampled_from(PORTS)),
        vlan=draw(st.sampled_from((*VLANS, 30))),
        eth_type=eth_type,
        ip_proto=ip_proto,
        src=draw(st.sampled_from(hosts)),
        dst=draw(st.sampled_from(hosts)),
        dst_port=dst_port,
        frag=frag,
    )


options_strategy = st.builds(
    PolicyOptions,
    table_id=st.sampled_from((0, 3)),
    priority_base=st.sampled_from((1, 30000, 62535)),
    pass_action=st.sampled_from(("normal", "goto:7")),
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _all_packets_for(snapshot: PolicySnapshot) -> list[Packet]:
    """Packets aimed straight at the snapshot's attachments, both families."""
    aimed = []
    for rule in snapshot.attachments.get(DPID, ()):
        for host in V4_HOSTS if rule.prefix is None or rule.prefix.version == 4 else V6_HOSTS:
            address = netaddr.IPAddress(host)
            if rule.prefix is not None and address not in rule.prefix:
                continue
            eth = ETH_V4 if address.version == 4 else ETH_V6
            dst = "198.51.100.1" if eth == ETH_V4 else "2001:db8:beef::1"
            aimed.append(Packet(rule.port, rule.vlan, eth, TCP, host, dst, 25))
    return aimed


# --- properties -------------------------------------------------------------------------------


@PROPERTY
@given(
    snapshots(unique_places=True), st.lists(packets(), min_size=1, max_size=25), options_strategy
)
def test_compiled_table_matches_reference(
    snapshot: PolicySnapshot, random_packets: list[Packet], options: PolicyOptions
) -> None:
    specs, next_change = compile_policy(snapshot, DPID, NOW, options)
    table = FlowTable(specs)  # also refuses duplicate keys
    for packet in random_packets + _all_packets_for(snapshot):
        assert table.verdict(packet) == reference_verdict(snapshot, DPID, NOW, packet), (
            packet,
            sorted(str(s) for s in specs),
        )
    assert next_change == reference_next_change(snapshot, DPID, NOW)


@PROPERTY
@given(snapshots(unique_places=False), st.lists(packets(), min_size=1, max_size=10))
def test_conflict_is_raised_exactly_when_reference_sees_one(
    snapshot: PolicySnapshot, random_packets: list[Packet]
) -> None:
    expected_conflict = reference_conflict(snapshot, DPID, NOW)
    try:
        specs, _ = compile_policy(snapshot, DPID, NOW)
    except PolicyConflict:
        assert expected_conflict
        return
    assert not expected_conflict
    table = FlowTable(specs)
    for packet in random_packets + _all_packets_for(snapshot):
        assert table.verdict(packet) == reference_verdict(snapshot, DPID, NOW, packet)


@PROPERTY
@given(snapshots(unique_places=True), options_strategy)
def test_compiled_entries_are_canonical_and_in_bounds(
    snapshot: PolicySnapshot, options: PolicyOptions
) -> None:
    specs, _ = compile_policy(snapshot, DPID, NOW, options)
    for spec in specs:
        remade = FlowSpec.make(
            spec.table, spec.priority, spec.match_dict, spec.actions, spec.cookie
        )
        assert remade == spec
        assert spec.table == options.table_id
    # Compilation is a function of its inputs.
    assert compile_policy(snapshot, DPID, NOW, options)[0] == specs
    # And the cap is applied on exactly the weighted count.
    count = weighted_entry_count(specs, options)
    compile_policy(snapshot, DPID, NOW, dataclasses.replace(options, max_entries=count))


@PROPERTY
@given(snapshots(unique_places=True), st.lists(packets(), min_size=1, max_size=10))
def test_policy_is_stable_until_next_change(
    snapshot: PolicySnapshot, random_packets: list[Packet]
) -> None:
    """Between now and next_change_time nothing changes by itself."""
    specs, next_change = compile_policy(snapshot, DPID, NOW)
    just_before = (
        (next_change - dt.timedelta(microseconds=1))
        if next_change
        else NOW + dt.timedelta(days=365)
    )
    later_specs, _ = compile_policy(snapshot, DPID, just_before)
    assert later_specs == specs
    if next_change is not None:
        after_specs, _ = compile_policy(snapshot, DPID, next_change)
        table = FlowTable(after_specs)
        for packet in random_packets:
            assert table.verdict(packet) == reference_verdict(snapshot, DPID, next_change, packet)
