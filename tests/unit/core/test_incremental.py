"""SwitchPolicy, patched change by change, always equals a full compile.

The full ``compile_policy`` is the reference: after every random change (a
subscriber added, removed, exempted, moved to another type or port, an
opt-out expiring) the patched entries must be exactly the entries a full
compile of the resulting snapshot gives, and so must the next change time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import netaddr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op25b_app.core.compile import compile_policy
from op25b_app.core.incremental import SwitchPolicy, Unpatchable
from op25b_app.core.options import PolicyOptions
from op25b_app.core.snapshot import AttachmentRule, MtaRule, PolicySnapshot, SwitchInfo

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
DPID, OTHER = 1, 2
PREFIXES = (None, "10.0.0.0/24", "10.0.0.5/32", "10.0.0.6/32", "10.0.1.0/24",
            "2001:db8::/56", "2001:db8::5/128")


def rule(ident: int, port: int, prefix: str | None, blocked: bool = True,
         exempt: bool = False, until: int | None = None, dpid: int = DPID,
         vlan: int | None = None) -> AttachmentRule:
    return AttachmentRule(
        attachment_id=ident, account=f"A{ident}", dpid=dpid, port=port, vlan=vlan,
        prefix=None if prefix is None else netaddr.IPNetwork(prefix), type_name="t",
        type_blocked=blocked, exempt=exempt,
        exempt_until=None if until is None else NOW + dt.timedelta(seconds=until))


def snapshot(rules: dict[int, AttachmentRule], revision: int = 1) -> PolicySnapshot:
    by_dpid: dict[int, list[AttachmentRule]] = {}
    for r in rules.values():
        by_dpid.setdefault(r.dpid, []).append(r)
    return PolicySnapshot(
        revision=revision,
        switches={DPID: SwitchInfo(DPID, "e", uplink_ports=frozenset({1})),
                  OTHER: SwitchInfo(OTHER, "o")},
        attachments={d: tuple(v) for d, v in by_dpid.items()},
        mtas=(MtaRule("m", netaddr.IPNetwork("192.0.2.25/32")),))


def check(policy: SwitchPolicy, snap: PolicySnapshot, now: dt.datetime,
          options: PolicyOptions) -> None:
    entries, next_change = compile_policy(snap, DPID, now, options)
    assert policy.entries == set(entries)
    assert policy.next_change == next_change


def test_add_remove_and_change_one_subscriber_among_many() -> None:
    options = PolicyOptions()
    rules = {i: rule(i, 2 + i % 5, f"100.64.{i >> 8}.{i & 255}/32") for i in range(1, 2001)}
    policy = SwitchPolicy(snapshot(rules), DPID, NOW, options)
    rules[5000] = rule(5000, 3, "100.65.0.1/32")
    gone, new = policy.apply(snapshot(rules, 2), [5000], [rules[5000]], NOW)
    assert not gone and len(new) == 1
    check(policy, snapshot(rules, 2), NOW, options)
    rules[7] = dataclasses.replace(rules[7], exempt=True)
    gone, new = policy.apply(snapshot(rules, 3), [7], [rules[7]], NOW)
    assert [s.actions for s in gone] == ["drop"] and [s.actions for s in new] == ["normal"]
    check(policy, snapshot(rules, 3), NOW, options)
    del rules[9]
    gone, new = policy.apply(snapshot(rules, 4), [9], [], NOW)
    assert len(gone) == 1 and not new
    check(policy, snapshot(rules, 4), NOW, options)


def test_an_expiring_opt_out_is_recompiled_alone() -> None:
    options = PolicyOptions()
    rules = {1: rule(1, 2, "10.0.0.5/32", exempt=True, until=60), 2: rule(2, 3, None)}
    policy = SwitchPolicy(snapshot(rules), DPID, NOW, options)
    assert policy.next_change == NOW + dt.timedelta(seconds=60)
    later = NOW + dt.timedelta(seconds=61)
    gone, new = policy.expire(snapshot(rules), later)
    assert len(gone) == len(new) == 1
    check(policy, snapshot(rules), later, options)


def test_what_cannot_be_patched_says_so() -> None:
    options = PolicyOptions()
    rules = {1: rule(1, 2, "10.0.0.5/32")}
    policy = SwitchPolicy(snapshot(rules), DPID, NOW, options)
    with pytest.raises(Unpatchable):
        policy.apply(snapshot(rules), [2], [rule(2, 2, "10.0.0.5/32")], NOW)  # same place
    policy = SwitchPolicy(snapshot(rules), DPID, NOW, options)
    carrying = dataclasses.replace(rule(3, 4, None), carries=frozenset({"qinq"}))
    with pytest.raises(Unpatchable):
        policy.apply(snapshot(rules), [3], [carrying], NOW)
    monitor = dataclasses.replace(snapshot(rules), mode="monitor")
    with pytest.raises(Unpatchable):
        policy.apply(monitor, [], [], NOW)


@st.composite
def changes(draw: st.DrawFn) -> list[tuple[str, int, dict]]:
    steps = []
    for _ in range(draw(st.integers(1, 12))):
        steps.append((draw(st.sampled_from(("add", "remove", "exempt", "type", "move",
                                            "time"))),
                      draw(st.integers(1, 15)),
                      {"port": draw(st.integers(2, 4)),
                       "prefix": draw(st.sampled_from(PREFIXES)),
                       "until": draw(st.sampled_from((None, 30, 600))),
                       "dpid": draw(st.sampled_from((DPID, DPID, OTHER))),
                       "vlan": draw(st.sampled_from((None, 7)))}))
    return steps


def _place(r: AttachmentRule) -> tuple:
    return (r.dpid, r.port, r.vlan, r.prefix)


REFUSED = object()


def _step(rules: dict[int, AttachmentRule], kind: str, ident: int, args: dict,
          ) -> AttachmentRule | None | object:
    """Apply one change to ``rules`` the way the service would (unique places);
    REFUSED when the service would refuse it (nothing changes)."""
    places = {_place(r): i for i, r in rules.items()}
    if kind == "remove":
        rules.pop(ident, None)
        return None
    base = rules.get(ident)
    if kind in ("exempt", "type") and base is not None:
        new = (dataclasses.replace(base, exempt=not base.exempt, exempt_until=None
                                   if args["until"] is None else
                                   NOW + dt.timedelta(seconds=args["until"]))
               if kind == "exempt" else dataclasses.replace(base, type_blocked=not
                                                            base.type_blocked))
    else:
        new = rule(ident, args["port"], args["prefix"], dpid=args["dpid"], vlan=args["vlan"])
    if places.get(_place(new), ident) != ident:
        return REFUSED  # the service refuses a second attachment at the same place
    rules[ident] = new
    return new


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes(), st.sampled_from([PolicyOptions(), PolicyOptions(pass_action="goto:3"),
                                   PolicyOptions(punt_meter=25)]))
def test_random_change_sequences_equal_a_full_compile(steps, options) -> None:
    rules: dict[int, AttachmentRule] = {}
    now = NOW
    policy = SwitchPolicy(snapshot(rules), DPID, now, options)
    for revision, (kind, ident, args) in enumerate(steps, start=2):
        if kind == "time":
            now = now + dt.timedelta(seconds=args["until"] or 5)
            snap = snapshot(rules, revision)
            if policy.next_change is not None and now >= policy.next_change:
                policy.expire(snap, now)
            check(policy, snap, now, options)
            continue
        new = _step(rules, kind, ident, args)
        if new is REFUSED:
            continue
        snap = snapshot(rules, revision)
        policy.apply(snap, [ident], [new] if isinstance(new, AttachmentRule) else [], now)
        check(policy, snap, now, options)
