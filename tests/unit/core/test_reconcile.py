"""``plan_update``: the diff that never opens a gap, tested directly."""

from __future__ import annotations

from op25b_app.core import constants
from op25b_app.core.actions import DROP, NORMAL, goto
from op25b_app.core.constants import Band
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.reconcile import plan_update

TCP25 = (("eth_type", constants.ETH_TYPE_IPV4), ("ip_proto", 6), ("tcp_dst", 25))


def entry(priority: int, port: int, action=DROP, cookie: int | None = None) -> FlowSpec:
    match = ((("in_port", port),) + TCP25)
    return FlowSpec(0, priority, match, action,
                    constants.cookie_for(Band.ATTACHMENT, port, counted=action == DROP)
                    if cookie is None else cookie)


def test_equal_sets_need_nothing_and_count_as_unchanged() -> None:
    same = {entry(31010, 2), entry(31010, 3)}
    plan = plan_update(same, set(same))
    assert plan.empty
    assert plan.unchanged == 2
    assert plan.summary() == "+0 ~0 -0 =2"


def test_new_entries_are_added_and_missing_ones_deleted() -> None:
    old, new = entry(31010, 2), entry(31010, 3)
    plan = plan_update({old}, {new})
    assert plan.adds == (new,)
    assert plan.deletes == (old,)
    assert not plan.modifies


def test_action_change_with_same_cookie_is_a_modify_that_keeps_counters() -> None:
    cookie = constants.cookie_for(Band.ATTACHMENT, 2, counted=True)
    before = entry(31010, 2, DROP, cookie)
    after = entry(31010, 2, NORMAL, cookie)
    plan = plan_update({before}, {after})
    assert plan.modifies == (after,)
    assert not plan.adds and not plan.deletes


def test_cookie_change_at_the_same_key_is_replaced_in_place_never_deleted() -> None:
    blocked = entry(31010, 2, DROP)
    exempt = entry(31010, 2, NORMAL)
    assert blocked.key == exempt.key and blocked.cookie != exempt.cookie
    plan = plan_update({blocked}, {exempt})
    # OFPFC_ADD of the same key replaces atomically; a delete would open a gap.
    assert plan.adds == (exempt,)
    assert plan.deletes == ()


def test_adds_go_highest_priority_first_and_deletes_lowest_first() -> None:
    desired = {entry(31000, 2), entry(32000, 3), entry(31500, 4)}
    current = {entry(30100, 5), entry(30900, 6), entry(30500, 7)}
    plan = plan_update(current, desired)
    assert [s.priority for s in plan.adds] == [32000, 31500, 31000]
    assert [s.priority for s in plan.deletes] == [30100, 30500, 30900]


def test_entries_of_other_tables_are_distinct_keys() -> None:
    here = FlowSpec(0, 0, (), goto(1), constants.cookie_for(Band.MISS))
    there = FlowSpec(1, 0, (), goto(2), constants.cookie_for(Band.MISS))
    plan = plan_update({here}, {here, there})
    assert plan.adds == (there,) and plan.unchanged == 1
