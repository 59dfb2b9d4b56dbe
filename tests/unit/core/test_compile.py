"""compile_policy by example: every band, role, decision and refusal."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import netaddr
import pytest

from op25b_app.core import constants
from op25b_app.core.constants import Band
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.compile import attachment_specificity, compile_policy, weighted_entry_count
from op25b_app.core.errors import PolicyConflict, PolicyError, PolicyOptionError, PolicyTooLarge
from op25b_app.core.snapshot import ROLE_CORE, AttachmentRule, MtaRule, PolicySnapshot, SwitchInfo
from op25b_app.core.options import PolicyOptions
from tests.unit.core.flowtable_model import AmbiguousMatch, FlowTable, Packet

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
EDGE = 0xE1
V4 = constants.ETH_TYPE_IPV4
V6 = constants.ETH_TYPE_IPV6
BASE = constants.DEFAULT_PRIORITY_BASE
MTA_V4 = "192.0.2.25"
MTA_V6 = "2001:db8:ffff::25"


def att(
    attachment_id: int,
    port: int,
    *,
    prefix: str | None = None,
    vlan: int | None = None,
    blocked: bool = True,
    exempt: bool = False,
    until: dt.datetime | None = None,
    account: str | None = None,
    dpid: int = EDGE,
) -> AttachmentRule:
    """An attachment with test-friendly defaults (blocked residential)."""
    return AttachmentRule(
        attachment_id=attachment_id,
        account=account or f"acct{attachment_id}",
        dpid=dpid,
        port=port,
        vlan=vlan,
        prefix=None if prefix is None else netaddr.IPNetwork(prefix).cidr,
        type_name="residential" if blocked else "business",
        type_blocked=blocked,
        exempt=exempt,
        exempt_until=until,
    )


def snapshot(
    *attachments: AttachmentRule,
    uplinks: frozenset[int] = frozenset({1}),
    mtas: tuple[str, ...] = (MTA_V4, MTA_V6),
    role: str = "edge",
    dpid: int = EDGE,
) -> PolicySnapshot:
    by_dpid: dict[int, list[AttachmentRule]] = {}
    for rule in attachments:
        by_dpid.setdefault(rule.dpid, []).append(rule)
    return PolicySnapshot(
        revision=1,
        switches={dpid: SwitchInfo(dpid=dpid, name="edge1", role=role, uplink_ports=uplinks)},
        attachments={d: tuple(rules) for d, rules in by_dpid.items()},
        mtas=tuple(MtaRule(f"mta{i}", netaddr.IPNetwork(p)) for i, p in enumerate(mtas)),
    )


def smtp(
    in_port: int,
    src: str,
    dst: str = "198.51.100.7",
    *,
    vlan: int | None = None,
    dst_port: int = 25,
    proto: int = 6,
) -> Packet:
    """A packet; the family follows ``src``."""
    eth_type = V6 if ":" in src else V4
    return Packet(in_port, vlan, eth_type, proto, src, dst, dst_port)


def table_for(snap: PolicySnapshot, dpid: int = EDGE, **options: object) -> FlowTable:
    specs, _ = compile_policy(snap, dpid, NOW, PolicyOptions(**options))  # type: ignore[arg-type]
    return FlowTable(specs)


def by_band(specs: frozenset[FlowSpec], band: Band) -> list[FlowSpec]:
    return sorted((s for s in specs if constants.band_of(s.cookie) == band), key=str)


# --- bands ----------------------------------------------------------------------------


def test_empty_edge_switch_has_miss_uplink_mta_and_default_drop() -> None:
    specs, next_change = compile_policy(snapshot(), EDGE, NOW)
    assert next_change is None
    assert by_band(specs, Band.MISS) == [
        FlowSpec.make(0, 0, {}, "normal", constants.cookie_for(Band.MISS))
    ]
    assert by_band(specs, Band.UPLINK) == [
        FlowSpec.make(0, BASE + 3000, {"in_port": 1}, "normal", constants.cookie_for(Band.UPLINK))
    ]
    assert [s.match_dict for s in by_band(specs, Band.MTA)] == [
        {"eth_type": V4, "ip_proto": 6, "ipv4_dst": "192.0.2.25/32", "tcp_dst": 25},
        {"eth_type": V6, "ip_proto": 6, "ipv6_dst": "2001:db8:ffff::25/128", "tcp_dst": 25},
    ]
    assert {s.priority for s in by_band(specs, Band.MTA)} == {BASE + 2000}
    drops = by_band(specs, Band.DEFAULT_DROP)
    assert [s.match_dict for s in drops] == [
        {"eth_type": V4, "ip_proto": 6, "tcp_dst": 25},
        {"eth_type": V6, "ip_proto": 6, "tcp_dst": 25},
    ]
    assert all(s.priority == BASE and s.actions == "drop" for s in drops)
    guard = by_band(specs, Band.GUARD)
    assert {s.priority for s in guard} == {BASE + 500}
    assert all(s.actions == "drop" and constants.is_counted(s.cookie) for s in guard)
    assert len(guard) == 9  # 2 tiny-fragment, 1 truncated IPv6 chain, 6 encapsulations
    assert len(specs) == 6 + 9


def test_unknown_sender_fails_closed_but_other_traffic_passes() -> None:
    table = table_for(snapshot())
    assert table.verdict(smtp(4, "10.9.9.9")) == "drop"
    assert table.verdict(smtp(4, "2001:db8:9::9", "2001:db8:beef::1")) == "drop"
    assert table.verdict(smtp(4, "10.9.9.9", dst_port=587)) == "pass"
    assert table.verdict(smtp(4, "10.9.9.9", proto=17)) == "pass"


def test_uplink_traffic_is_never_blocked() -> None:
    table = table_for(snapshot(att(1, 1)))  # even an attachment on the uplink port
    assert table.verdict(smtp(1, "10.0.0.1")) == "pass"
    hit = table.lookup(smtp(1, "10.0.0.1"))
    assert hit is not None and hit.cookie == constants.cookie_for(Band.UPLINK)


def test_mta_is_reachable_from_blocked_subscriber() -> None:
    table = table_for(snapshot(att(1, 3)))
    assert table.verdict(smtp(3, "10.0.0.1", MTA_V4)) == "pass"
    assert table.verdict(smtp(3, "2001:db8::1", MTA_V6)) == "pass"
    assert table.verdict(smtp(3, "10.0.0.1", "192.0.2.26")) == "drop"


def test_mta_prefixes_are_merged_per_family() -> None:
    snap = snapshot(
        mtas=(
            "192.0.2.24",
            "192.0.2.25",
            "192.0.2.26/31",
            "192.0.2.25",
            "2001:db8:ffff::/65",
            "2001:db8:ffff:0:8000::/65",
        )
    )
    specs, _ = compile_policy(snap, EDGE, NOW)
    dsts = sorted(
        str(next(v for f, v in s.match if f.endswith("_dst") and f != "tcp_dst"))
        for s in by_band(specs, Band.MTA)
    )
    assert dsts == ["192.0.2.24/30", "2001:db8:ffff::/64"]


def test_no_mtas_means_no_mta_entries() -> None:
    specs, _ = compile_policy(snapshot(mtas=()), EDGE, NOW)
    assert by_band(specs, Band.MTA) == []


def test_attachment_without_prefix_gives_one_entry_per_family() -> None:
    specs, _ = compile_policy(snapshot(att(1, 3)), EDGE, NOW)
    entries = by_band(specs, Band.ATTACHMENT)
    assert [s.match_dict for s in entries] == [
        {"in_port": 3, "eth_type": V4, "ip_proto": 6, "tcp_dst": 25},
        {"in_port": 3, "eth_type": V6, "ip_proto": 6, "tcp_dst": 25},
    ]
    assert {(s.priority, s.actions) for s in entries} == {(BASE + 1000, "drop")}


def test_attachment_with_prefix_gives_one_entry_of_its_family() -> None:
    specs, _ = compile_policy(
        snapshot(att(1, 3, prefix="10.0.0.0/24", vlan=10), att(2, 4, prefix="2001:db8:1::/56")),
        EDGE,
        NOW,
    )
    assert [(s.priority, s.match_dict) for s in by_band(specs, Band.ATTACHMENT)] == [
        (
            BASE + 1000 + 25 * 2 + 1,
            {
                "in_port": 3,
                "eth_type": V4,
                "vlan_vid": 0x1000 | 10,
                "ip_proto": 6,
                "ipv4_src": "10.0.0.0/24",
                "tcp_dst": 25,
            },
        ),
        (
            BASE + 1000 + 57 * 2,
            {
                "in_port": 4,
                "eth_type": V6,
                "ip_proto": 6,
                "ipv6_src": "2001:db8:1::/56",
                "tcp_dst": 25,
            },
        ),
    ]


def test_attachments_are_not_merged_so_counters_stay_per_subscriber() -> None:
    snap = snapshot(att(1, 3, prefix="10.0.0.0/25"), att(2, 3, prefix="10.0.0.128/25"))
    specs, _ = compile_policy(snap, EDGE, NOW)
    assert len(by_band(specs, Band.ATTACHMENT)) == 2


def test_blocked_attachment_drops_and_counts_in_its_own_entry() -> None:
    table = table_for(snapshot(att(1, 3, prefix="10.0.0.0/24")))
    hit = table.lookup(smtp(3, "10.0.0.9"))
    assert hit is not None and hit.actions == "drop"
    assert constants.band_of(hit.cookie) == Band.ATTACHMENT


def test_business_type_passes() -> None:
    table = table_for(snapshot(att(1, 3, blocked=False)))
    assert table.verdict(smtp(3, "10.0.0.9")) == "pass"
    assert table.verdict(smtp(3, "2001:db8::9", "2001:db8:beef::1")) == "pass"


def test_attachment_only_covers_its_port() -> None:
    table = table_for(snapshot(att(1, 3, blocked=False)))
    assert table.verdict(smtp(4, "10.0.0.9")) == "drop"


def test_prefix_attachment_only_covers_its_prefix_and_family() -> None:
    table = table_for(snapshot(att(1, 3, prefix="10.0.0.0/24", blocked=False)))
    assert table.verdict(smtp(3, "10.0.0.9")) == "pass"
    assert table.verdict(smtp(3, "10.0.1.9")) == "drop"
    assert table.verdict(smtp(3, "2001:db8::9", "2001:db8:beef::1")) == "drop"


# --- opt-outs and time ------------------------------------------------------------------


def test_active_opt_out_passes_and_reports_its_expiry() -> None:
    until = NOW + dt.timedelta(hours=2)
    snap = snapshot(att(1, 3, exempt=True, until=until))
    specs, next_change = compile_policy(snap, EDGE, NOW)
    assert FlowTable(specs).verdict(smtp(3, "10.0.0.9")) == "pass"
    assert next_change == until
    # At expiry (exclusive) the same snapshot blocks, and nothing is scheduled.
    later_specs, later_change = compile_policy(snap, EDGE, until)
    assert FlowTable(later_specs).verdict(smtp(3, "10.0.0.9")) == "drop"
    assert later_change is None


def test_expired_and_permanent_opt_outs() -> None:
    snap = snapshot(
        att(1, 3, exempt=True, until=NOW - dt.timedelta(seconds=1)),
        att(2, 4, exempt=True, until=None),
    )
    specs, next_change = compile_policy(snap, EDGE, NOW)
    table = FlowTable(specs)
    assert table.verdict(smtp(3, "10.0.0.9")) == "drop"
    assert table.verdict(smtp(4, "10.0.0.9")) == "pass"
    assert next_change is None


def test_next_change_is_the_earliest_future_expiry_of_this_switch() -> None:
    soon, later = NOW + dt.timedelta(minutes=5), NOW + dt.timedelta(days=1)
    snap = snapshot(
        att(1, 3, exempt=True, until=later),
        att(2, 4, exempt=True, until=soon),
        att(3, 5, exempt=True, until=NOW + dt.timedelta(seconds=1), dpid=0xE2),  # other switch
        att(4, 6, exempt=True, until=NOW),  # already expired
        att(5, 2, exempt=True, until=NOW + dt.timedelta(seconds=2), blocked=False),  # no effect
    )
    assert compile_policy(snap, EDGE, NOW)[1] == soon


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        compile_policy(snapshot(), EDGE, NOW.replace(tzinfo=None))


# --- most specific description wins ---------------------------------------------


def test_specificity_formula() -> None:
    assert attachment_specificity(att(1, 3)) == 0
    assert attachment_specificity(att(1, 3, vlan=5)) == 1
    assert attachment_specificity(att(1, 3, prefix="0.0.0.0/0")) == 2
    assert attachment_specificity(att(1, 3, prefix="10.0.0.0/24", vlan=5)) == 51
    assert attachment_specificity(att(1, 3, prefix="2001:db8::1/128", vlan=5)) == 259
    assert constants.ATTACHMENT_BAND_WIDTH > 259


def test_exempt_host_inside_blocked_prefix_passes_and_vice_versa() -> None:
    snap = snapshot(
        att(1, 3, prefix="10.0.0.0/24"),
        att(2, 3, prefix="10.0.0.5/32", blocked=False),
        att(3, 4, prefix="10.1.0.0/16", blocked=False),
        att(4, 4, prefix="10.1.2.3/32"),
    )
    table = table_for(snap)
    assert table.verdict(smtp(3, "10.0.0.5")) == "pass"
    assert table.verdict(smtp(3, "10.0.0.6")) == "drop"
    assert table.verdict(smtp(4, "10.1.2.3")) == "drop"
    assert table.verdict(smtp(4, "10.1.2.4")) == "pass"


def test_vlan_beats_no_vlan_at_equal_prefix_and_port_only_is_lowest() -> None:
    snap = snapshot(
        att(1, 3, blocked=False),  # port only: exempt
        att(2, 3, vlan=10),  # port + vlan: blocked
        att(3, 3, vlan=10, prefix="10.0.0.0/24", blocked=False),
        att(4, 3, prefix="10.0.0.0/24"),  # same prefix, no vlan: blocked
    )
    specs, _ = compile_policy(snap, EDGE, NOW)
    table = FlowTable(specs)
    assert table.verdict(smtp(3, "10.0.0.9", vlan=10)) == "pass"  # prefix + vlan
    assert table.verdict(smtp(3, "10.0.0.9", vlan=20)) == "drop"  # prefix, no vlan
    assert table.verdict(smtp(3, "10.0.0.9")) == "drop"  # untagged: prefix, no vlan
    assert table.verdict(smtp(3, "10.9.0.9", vlan=10)) == "drop"  # vlan only
    assert table.verdict(smtp(3, "10.9.0.9", vlan=20)) == "pass"  # port only
    assert table.verdict(smtp(3, "10.9.0.9")) == "pass"
    priorities = {
        s.match_dict.get("vlan_vid"): s.priority
        for s in by_band(specs, Band.ATTACHMENT)
        if "ipv4_src" not in s.match_dict and s.match_dict["eth_type"] == V4
    }
    assert priorities == {None: BASE + 1000, 0x1000 | 10: BASE + 1001}


def test_longer_prefix_beats_vlan() -> None:
    snap = snapshot(
        att(1, 3, vlan=10, prefix="10.0.0.0/16"), att(2, 3, prefix="10.0.0.0/24", blocked=False)
    )
    assert table_for(snap).verdict(smtp(3, "10.0.0.1", vlan=10)) == "pass"


def test_zero_length_prefix_beats_port_only_for_its_family() -> None:
    snap = snapshot(att(1, 3, blocked=False), att(2, 3, prefix="0.0.0.0/0"))
    table = table_for(snap)
    assert table.verdict(smtp(3, "10.0.0.1")) == "drop"
    assert table.verdict(smtp(3, "2001:db8::1", "2001:db8:beef::1")) == "pass"


def test_ipv6_attachments() -> None:
    snap = snapshot(
        att(1, 3, prefix="2001:db8:1::/48"),
        att(2, 3, prefix="2001:db8:1:ff00::/56", exempt=True),
    )
    table = table_for(snap)
    assert table.verdict(smtp(3, "2001:db8:1:ff01::1", "2001:db8:beef::1")) == "pass"
    assert table.verdict(smtp(3, "2001:db8:1:1::1", "2001:db8:beef::1")) == "drop"
    assert table.verdict(smtp(3, "2001:db8:1:1::1", MTA_V6)) == "pass"


# --- conflicts ------------------------------------------------------------------------


def test_identical_descriptions_from_different_accounts_conflict() -> None:
    snap = snapshot(
        att(1, 3, prefix="10.0.0.0/24", account="alice"),
        att(2, 3, prefix="10.0.0.0/24", account="bob", blocked=False),
    )
    with pytest.raises(PolicyConflict, match="alice") as info:
        compile_policy(snap, EDGE, NOW)
    assert "bob" in str(info.value)
    assert isinstance(info.value, PolicyError)


def test_same_description_same_verdict_different_accounts_still_conflicts() -> None:
    snap = snapshot(att(1, 3, account="alice"), att(2, 3, account="bob"))
    with pytest.raises(PolicyConflict):
        compile_policy(snap, EDGE, NOW)


def test_same_account_same_verdict_is_deduplicated() -> None:
    snap = snapshot(att(1, 3, vlan=7, account="alice"), att(2, 3, vlan=7, account="alice"))
    specs, _ = compile_policy(snap, EDGE, NOW)
    assert len(by_band(specs, Band.ATTACHMENT)) == 2  # one per family


def test_same_account_different_verdict_conflicts() -> None:
    snap = snapshot(att(1, 3, account="alice"), att(2, 3, account="alice", exempt=True))
    with pytest.raises(PolicyConflict):
        compile_policy(snap, EDGE, NOW)


def test_different_families_or_vlans_do_not_conflict() -> None:
    snap = snapshot(
        att(1, 3, prefix="10.0.0.0/24", account="a"),
        att(2, 3, prefix="2001:db8::/56", account="b"),
        att(3, 3, prefix="10.0.0.0/24", vlan=4, account="c"),
        att(4, 3, account="d"),
        att(5, 3, prefix="0.0.0.0/0", account="e"),
    )
    compile_policy(snap, EDGE, NOW)


# --- roles ----------------------------------------------------------------------------


def test_core_switch_only_gets_the_miss_entry() -> None:
    snap = snapshot(att(1, 3, exempt=True, until=NOW + dt.timedelta(hours=1)), role=ROLE_CORE)
    specs, next_change = compile_policy(snap, EDGE, NOW)
    assert specs == frozenset({FlowSpec.make(0, 0, {}, "normal", constants.cookie_for(Band.MISS))})
    assert next_change is None
    assert FlowTable(specs).verdict(smtp(3, "10.0.0.1")) == "pass"


def test_unregistered_switch_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    stray = att(1, 3, blocked=False, dpid=0x99, exempt=True, until=NOW + dt.timedelta(hours=1))
    snap = snapshot(stray)
    with caplog.at_level(logging.WARNING, logger="op25b_app.core.compile"):
        specs, next_change = compile_policy(snap, 0x99, NOW)
    assert "not registered" in caplog.text
    assert by_band(specs, Band.UPLINK) == []
    assert by_band(specs, Band.ATTACHMENT) == []
    assert next_change is None
    table = FlowTable(specs)
    assert table.verdict(smtp(1, "10.0.0.1")) == "drop"  # no uplink either
    assert table.verdict(smtp(3, "10.0.0.1")) == "drop"
    assert table.verdict(smtp(3, "10.0.0.1", MTA_V4)) == "pass"
    assert table.verdict(smtp(3, "10.0.0.1", dst_port=443)) == "pass"


def test_unknown_role_is_treated_as_edge(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="op25b_app.core.compile"):
        specs, _ = compile_policy(snapshot(att(1, 3), role="spine"), EDGE, NOW)
    assert "unknown role" in caplog.text
    assert len(by_band(specs, Band.ATTACHMENT)) == 2


def test_attachments_of_other_switches_are_ignored() -> None:
    snap = snapshot(att(1, 3, blocked=False, dpid=0xE2))
    assert table_for(snap).verdict(smtp(3, "10.0.0.1")) == "drop"


# --- options ----------------------------------------------------------------------------


def test_goto_pass_action_and_table_id() -> None:
    specs, _ = compile_policy(
        snapshot(att(1, 3, blocked=False)),
        EDGE,
        NOW,
        PolicyOptions(table_id=2, pass_action="goto:5"),
    )
    assert {s.table for s in specs} == {2}
    assert {s.actions for s in specs} == {"goto:5", "drop"}
    table = FlowTable(specs)
    hit = table.lookup(smtp(3, "10.0.0.1"))
    assert hit is not None and hit.actions == "goto:5"
    assert table.verdict(smtp(4, "10.0.0.1")) == "drop"


def test_priority_base_moves_every_band_but_miss() -> None:
    specs, _ = compile_policy(snapshot(att(1, 3)), EDGE, NOW, PolicyOptions(priority_base=100))
    assert {s.priority for s in specs} == {0, 100, 600, 1100, 2100, 3100}


def test_band_order_holds_at_highest_base() -> None:
    options = PolicyOptions(priority_base=constants.MAX_PRIORITY_BASE)
    specs, _ = compile_policy(
        snapshot(att(1, 3, prefix="2001:db8::1/128", vlan=4)), EDGE, NOW, options
    )
    assert max(s.priority for s in specs) == constants.MAX_PRIORITY
    attachment = by_band(specs, Band.ATTACHMENT)[0]
    assert attachment.priority < constants.MAX_PRIORITY_BASE + constants.BAND_OFFSET[Band.MTA]


@pytest.mark.parametrize(
    "options",
    [
        PolicyOptions(pass_action="goto:0"),
        PolicyOptions(table_id=3, pass_action="goto:3"),
        PolicyOptions(pass_action="flood"),
        PolicyOptions(pass_action="drop_all"),
        PolicyOptions(table_id=255),
        PolicyOptions(priority_base=0),  # DEFAULT_DROP would sit on the MISS priority
        PolicyOptions(priority_base=constants.MAX_PRIORITY_BASE + 1),
        PolicyOptions(max_entries=-1),
        PolicyOptions(ipv6_entry_weight=0),
    ],
)
def test_bad_options_are_refused(options: PolicyOptions) -> None:
    with pytest.raises(PolicyOptionError):
        compile_policy(snapshot(), EDGE, NOW, options)


def test_bad_options_are_refused_for_core_switches_too() -> None:
    with pytest.raises(PolicyOptionError):
        compile_policy(snapshot(role=ROLE_CORE), EDGE, NOW, PolicyOptions(pass_action="goto:0"))


def test_invalid_port_or_vlan_in_data_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="port"):
        compile_policy(snapshot(att(1, 0)), EDGE, NOW)
    with pytest.raises(PolicyError, match="vlan"):
        compile_policy(snapshot(att(1, 3, vlan=4096)), EDGE, NOW)
    with pytest.raises(PolicyError, match="uplink"):
        compile_policy(snapshot(uplinks=frozenset({0})), EDGE, NOW)


# --- entry cap ----------------------------------------------------------------------------


def test_weighted_count_counts_ipv6_double() -> None:
    specs, _ = compile_policy(snapshot(att(1, 3)), EDGE, NOW)
    # miss, uplink, mta4, drop4, att4 = 5 ; mta6, drop6, att6 = 3 x 2
    # guard: frag4 + 6 encapsulations = 7 ; frag6, unparsed6 = 2 x 2
    assert weighted_entry_count(specs, PolicyOptions()) == 11 + 11
    assert weighted_entry_count(specs, PolicyOptions(ipv6_entry_weight=1)) == 8 + 9


def test_cap_is_inclusive_and_refusal_names_dpid_count_cap() -> None:
    snap = snapshot(att(1, 3))
    compile_policy(snap, EDGE, NOW, PolicyOptions(max_entries=22))
    with pytest.raises(PolicyTooLarge) as info:
        compile_policy(snap, EDGE, NOW, PolicyOptions(max_entries=21))
    assert (info.value.dpid, info.value.count, info.value.cap) == (EDGE, 22, 21)
    assert "0xe1" in str(info.value) and "22" in str(info.value) and "21" in str(info.value)
    assert isinstance(info.value, PolicyError)


def test_zero_cap_means_unlimited() -> None:
    rules = [att(i, 2 + i % 5, prefix=f"10.0.{i // 256}.{i % 256}/32") for i in range(500)]
    specs, _ = compile_policy(snapshot(*rules), EDGE, NOW, PolicyOptions(max_entries=0))
    assert len(specs) == 506 + 9


# --- every compiled entry is canonical -------------------------------------------------------


def test_fast_path_entries_equal_validated_entries() -> None:
    snap = snapshot(
        att(1, 3, prefix="10.0.0.0/24", vlan=10),
        att(2, 4, prefix="2001:db8::/56", exempt=True),
        att(3, 5),
        att(4, 6, prefix="::/0", vlan=0),
    )
    specs, _ = compile_policy(snap, EDGE, NOW, PolicyOptions(pass_action="goto:1"))
    for spec in specs:
        assert (
            FlowSpec.make(spec.table, spec.priority, spec.match_dict, spec.actions, spec.cookie)
            == spec
        )


def test_non_normalised_prefix_is_canonicalised() -> None:
    rule = dataclasses.replace(att(1, 3), prefix=netaddr.IPNetwork("10.0.0.77/24"))
    specs, _ = compile_policy(snapshot(rule), EDGE, NOW)
    assert by_band(specs, Band.ATTACHMENT)[0].match_dict["ipv4_src"] == "10.0.0.0/24"


# --- the model itself ----------------------------------------------------------------------


def test_model_refuses_disagreeing_overlaps() -> None:
    a = FlowSpec.make(0, 5, {"in_port": 3}, "drop", 0)
    b = FlowSpec.make(0, 5, {"eth_type": V4}, "normal", 0)
    table = FlowTable([a, b])
    with pytest.raises(AmbiguousMatch):
        table.verdict(smtp(3, "10.0.0.1"))
    assert table.verdict(smtp(4, "10.0.0.1")) == "pass"
    with pytest.raises(AmbiguousMatch):
        FlowTable([a, FlowSpec.make(0, 5, {"in_port": 3}, "normal", 0)])


def test_model_vlan_and_miss_semantics() -> None:
    tagged = FlowSpec.make(0, 5, {"vlan_vid": 0x1000 | 7}, "normal", 0)
    table = FlowTable([tagged])
    assert table.verdict(smtp(3, "10.0.0.1", vlan=7)) == "pass"
    assert table.verdict(smtp(3, "10.0.0.1")) == "drop"  # miss without miss entry drops
    assert table.verdict(smtp(3, "10.0.0.1", vlan=8)) == "drop"
