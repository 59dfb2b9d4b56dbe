"""Monitor mode, scheduled enforcement and counter cookies in the compiler."""

from __future__ import annotations

import dataclasses
import datetime as dt

import netaddr

from op25b_app.core import constants
from op25b_app.core.constants import Band
from op25b_app.core.compile import compile_policy
from op25b_app.core.snapshot import AttachmentRule, MtaRule, PolicySnapshot, SwitchInfo

NOW = dt.datetime(2007, 12, 11, 6, 0, tzinfo=dt.timezone.utc)  # 15:00 JST the day before
START = dt.datetime(2007, 12, 12, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def snap(mode: str = constants.MODE_ENFORCE, enforce_at=None, switch_mode=None,
         switch_at=None) -> PolicySnapshot:
    rules = (
        AttachmentRule(7, "BB-7", 1, 2, None, netaddr.IPNetwork("10.0.0.7/32"), "broadband", True),
        AttachmentRule(8, "DU-8", 1, 3, None, None, "dialup", False),
    )
    return PolicySnapshot(
        revision=1,
        switches={1: SwitchInfo(1, "edge", uplink_ports=frozenset({1}), mode=switch_mode,
                                enforce_at=switch_at)},
        attachments={1: rules},
        mtas=(MtaRule("relay", netaddr.IPNetwork("192.0.2.25/32")),),
        mode=mode,
        enforce_at=enforce_at,
    )


def counted(specs):
    return sorted((s for s in specs if constants.is_counted(s.cookie)), key=str)


def test_enforce_mode_drops_and_marks_counted_entries():
    specs, _ = compile_policy(snap(), 1, NOW)
    entries = counted(specs)
    # BB-7's entry, the two default (unknown sender) entries and the 9 guard entries.
    assert len(entries) == 3 + 9 and all(s.actions == "drop" for s in entries)
    bb = next(s for s in entries if constants.band_of(s.cookie) == Band.ATTACHMENT)
    assert constants.attachment_of(bb.cookie) == 7
    du = [s for s in specs if constants.attachment_of(s.cookie) == 8]
    assert len(du) == 2 and not any(constants.is_counted(s.cookie) for s in du)


def test_monitor_mode_passes_the_same_entries_and_keeps_them_counted():
    enforce, _ = compile_policy(snap(), 1, NOW)
    monitor, next_change = compile_policy(snap(mode=constants.MODE_MONITOR), 1, NOW)
    assert next_change is None
    assert all(s.actions == "normal" for s in counted(monitor))
    # Same entries (match, priority, cookie): switching modes only flips actions,
    # so counters survive the switch from monitor to enforce.
    assert {(s.key, s.cookie) for s in enforce} == {(s.key, s.cookie) for s in monitor}


def test_scheduled_enforcement_monitors_until_the_date_then_enforces():
    monitored, next_change = compile_policy(snap(enforce_at=START), 1, NOW)
    assert next_change == START
    assert all(s.actions == "normal" for s in counted(monitored))
    enforced, next_change = compile_policy(snap(enforce_at=START), 1, START)
    assert next_change is None
    assert all(s.actions == "drop" for s in counted(enforced))


def test_switch_setting_overrides_the_global_one():
    s = snap(mode=constants.MODE_MONITOR, switch_mode=constants.MODE_ENFORCE)
    assert all(x.actions == "drop" for x in counted(compile_policy(s, 1, NOW)[0]))
    s = snap(switch_at=START)
    specs, next_change = compile_policy(s, 1, NOW)
    assert next_change == START and all(x.actions == "normal" for x in counted(specs))


def test_earliest_of_expiry_and_enforcement_is_the_next_change():
    base = snap(enforce_at=START)
    rule = dataclasses.replace(base.attachments[1][0], exempt=True,
                               exempt_until=NOW + dt.timedelta(hours=1))
    s = dataclasses.replace(base, attachments={1: (rule, base.attachments[1][1])})
    assert compile_policy(s, 1, NOW)[1] == NOW + dt.timedelta(hours=1)


def test_sampling_punts_in_enforce_mode_and_copies_in_monitor_mode():
    from op25b_app.core.options import PolicyOptions

    opts = PolicyOptions(punt_meter=25, sample_table=1)
    enforced, _ = compile_policy(snap(), 1, NOW, opts)
    assert {s.actions for s in counted(enforced)} == {"punt:25"}
    assert not any(s.table == 1 for s in enforced)
    monitored, _ = compile_policy(snap(mode=constants.MODE_MONITOR), 1, NOW, opts)
    assert {s.actions for s in counted(monitored)} == {"sample:1"}
    sample_entries = [s for s in monitored if s.table == 1]
    assert len(sample_entries) == 1 and sample_entries[0].actions == "punt:25"
    bb = next(s for s in counted(monitored) if constants.attachment_of(s.cookie) == 7)
    assert str(bb).endswith("actions=NORMAL,write_metadata:0x7,goto_table:1")
    # With another app forwarding (goto), monitor mode cannot copy: plain pass.
    goto = PolicyOptions(punt_meter=25, sample_table=1, table_id=0, pass_action="goto:2")
    plain, _ = compile_policy(snap(mode=constants.MODE_MONITOR), 1, NOW, goto)
    assert {s.actions for s in counted(plain)} == {"goto:2"}
