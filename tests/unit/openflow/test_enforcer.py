"""Unit tests of the Ryu glue: the enforcer against a mocked datapath.

The datapath is a fake that uses Ryu's real OpenFlow 1.3 parser to decode
the bytes the enforcer sends, keeps a tiny flow table, and answers barriers,
flow-stats requests and (on demand) errors. These tests check the *order*
and *content* of what goes on the wire; the lab tests check real OVS.
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import netaddr
import pytest

from op25b_app.core import constants
from op25b_app.openflow import ryu_compat  # noqa: F401 - applies the eventlet fix
from op25b_app.db.change_source import SourceUnavailable
from op25b_app.openflow.enforcer import Enforcer, EnforcerOptions
from op25b_app.core.snapshot import AttachmentRule, MtaRule, PolicySnapshot, SwitchInfo
from op25b_app.core.options import PolicyOptions
from ryu.ofproto import ofproto_parser, ofproto_v1_3, ofproto_v1_3_parser

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
DPID = 1


class SyncEvent:
    def __init__(self) -> None:
        self.flag = False

    def set(self) -> None:
        self.flag = True

    def wait(self, timeout: float | None = None) -> bool:
        return self.flag


class SyncRuntime:
    """Runs everything inline: replies arrive before anyone waits."""

    def __init__(self) -> None:
        self.clock = NOW

    def spawn(self, func, *args):
        func(*args)

    def sleep(self, seconds: float) -> None:
        pass

    def Event(self) -> SyncEvent:  # noqa: N802
        return SyncEvent()

    def run_blocking(self, func, *args):
        return func(*args)

    def now(self) -> dt.datetime:
        return self.clock


class FakeSource:
    def __init__(self, snap: PolicySnapshot) -> None:
        self.snap = snap
        self.fail: Exception | None = None

    def revision(self) -> int:
        return self.snap.revision

    def load(self, dpids=None) -> PolicySnapshot:
        if self.fail:
            raise self.fail
        return self.snap


def _key(mod: Any) -> tuple:
    return (mod.table_id, mod.priority, tuple(sorted(mod.match.items())))


class FakeDatapath:
    """A switch: real Ryu parsing of what is sent, a dict as flow table."""

    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser

    def __init__(self, dpid: int = DPID) -> None:
        self.id = dpid
        self.xid = 0
        self.enforcer: Enforcer | None = None
        self.table: dict[tuple, Any] = {}
        self.wire: list[tuple[str, Any]] = []  # ("add"|"delete"|"barrier"|"stats", detail)
        self.reject = lambda mod: False
        self.packets: dict[tuple, int] = {}
        self.age = 10
        self.config_flags = 0  # OFPC_FRAG_NORMAL, as Ryu leaves a switch
        self.frag_modes_supported: set[int] | None = None  # None = every mode
        self.supports_bundles = False  # most tests check the ordered path's wire
        self.bundled: list[Any] = []

    def set_xid(self, msg: Any) -> int:
        self.xid += 1
        msg.set_xid(self.xid)
        return self.xid

    def send(self, buf: bytes) -> bool:
        offset = 0
        while offset < len(buf):
            version, msg_type, length, xid = struct.unpack_from("!BBHI", buf, offset)
            data = bytes(buf[offset:offset + length])
            offset += length
            if msg_type == 4:  # an ONF bundle add: the flow mod waits for the commit
                _exp, exp_type, _bundle, _flags = struct.unpack_from("!IIIxxH", data, 8)
                assert exp_type == 2301
                inner = data[24:]
                _v, inner_type, inner_len, inner_xid = struct.unpack_from("!BBHI", inner)
                assert inner_xid == xid, "OVS refuses a bundled message with another xid"
                mod = ofproto_parser.msg(self, version, inner_type, inner_len, inner_xid, inner)
                self.wire.append(("bundle-add", mod))
                if self.reject(mod):
                    self.enforcer.on_error(self.id, mod.xid, self.ofproto.OFPET_FLOW_MOD_FAILED,
                                           self.ofproto.OFPFMFC_TABLE_FULL, b"")
                else:
                    self.bundled.append(mod)
                continue
            mod = ofproto_parser.msg(self, version, msg_type, length, xid, data)
            self._flow_mod(mod)
        return True

    def _bundle_control(self, msg: Any) -> None:
        ofp, parser = self.ofproto, self.ofproto_parser
        if not self.supports_bundles:
            self.wire.append(("bundle-refused", None))
            self.enforcer.on_error(self.id, msg.xid, ofp.OFPET_BAD_REQUEST,
                                   ofp.OFPBRC_BAD_EXPERIMENTER, b"")
            return
        if msg.type == ofp.ONF_BCT_OPEN_REQUEST:
            self.bundled = []
            reply_type = ofp.ONF_BCT_OPEN_REPLY
        elif msg.type == ofp.ONF_BCT_COMMIT_REQUEST:
            self.wire.append(("commit", len(self.bundled)))
            for mod in self.bundled:  # all at once: nothing else runs in between
                self._flow_mod(mod)
            self.bundled = []
            reply_type = ofp.ONF_BCT_COMMIT_REPLY
        else:
            self.wire.append(("discard", len(self.bundled)))
            self.bundled = []
            reply_type = ofp.ONF_BCT_DISCARD_REPLY
        reply = parser.ONFBundleCtrlMsg(self, msg.bundle_id, reply_type, msg.flags, [])
        self.enforcer.on_flow_stats(self.id, msg.xid, [reply], False)

    def _flow_mod(self, mod: Any) -> None:
        ofp = self.ofproto
        assert isinstance(mod, ofproto_v1_3_parser.OFPFlowMod)
        if mod.command == ofp.OFPFC_ADD:
            self.wire.append(("add", mod))
            if self.reject(mod):
                self.enforcer.on_error(self.id, mod.xid, ofp.OFPET_FLOW_MOD_FAILED,
                                       ofp.OFPFMFC_TABLE_FULL, b"")
                return
            self.table[_key(mod)] = mod
        elif mod.command == ofp.OFPFC_MODIFY_STRICT:
            self.wire.append(("modify", mod))
            found = self.table.get(_key(mod))
            assert found is not None, "modify of an entry the switch does not have"
            found.instructions = mod.instructions  # same entry: counters keep counting
        elif mod.command == ofp.OFPFC_DELETE_STRICT:
            self.wire.append(("delete", mod))
            assert mod.cookie_mask == constants.COOKIE_MASK
            found = self.table.get(_key(mod))
            if found is not None and (found.cookie & mod.cookie_mask) == mod.cookie:
                del self.table[_key(mod)]
        else:
            raise AssertionError(f"unexpected command {mod.command}")

    def send_msg(self, msg: Any) -> bool:
        if msg.xid is None:
            self.set_xid(msg)
        if isinstance(msg, self.ofproto_parser.OFPBarrierRequest):
            self.wire.append(("barrier", None))
            self.enforcer.on_barrier(self.id, msg.xid)
        elif isinstance(msg, self.ofproto_parser.OFPFlowStatsRequest):
            assert msg.cookie & constants.COOKIE_MASK == constants.COOKIE_BASE
            assert msg.cookie_mask & constants.COOKIE_MASK == constants.COOKIE_MASK
            self.wire.append(("stats", None))
            body = [
                self.ofproto_parser.OFPFlowStats(
                    table_id=m.table_id, priority=m.priority, cookie=m.cookie,
                    match=m.match, instructions=m.instructions,
                    packet_count=self.packets.get(k, 0), duration_sec=self.age,
                    duration_nsec=0)
                for k, m in self.table.items()
                if (m.cookie & msg.cookie_mask) == msg.cookie
            ]
            self.enforcer.on_flow_stats(self.id, msg.xid, body, False)
        elif isinstance(msg, self.ofproto_parser.ONFBundleCtrlMsg):
            self._bundle_control(msg)
        elif isinstance(msg, self.ofproto_parser.OFPSetConfig):
            self.wire.append(("set-config", msg.flags))
            if self.frag_modes_supported is None or msg.flags in self.frag_modes_supported:
                self.config_flags = msg.flags
        elif isinstance(msg, self.ofproto_parser.OFPGetConfigRequest):
            reply = self.ofproto_parser.OFPGetConfigReply(self, self.config_flags, 128)
            self.enforcer.on_flow_stats(self.id, msg.xid, [reply], False)
        else:
            raise AssertionError(f"unexpected message {msg}")
        return True

    def add_by_hand(self, cookie: int, priority: int, **match: Any) -> None:
        p = self.ofproto_parser
        mod = p.OFPFlowMod(self, cookie=cookie, table_id=0, priority=priority,
                           match=p.OFPMatch(**match), instructions=[])
        self.table[_key(mod)] = mod

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.wire if kind not in ("set-config", "bundle-refused")]


def snapshot(revision: int = 1, bb_type_blocked: bool = True) -> PolicySnapshot:
    rules = (
        AttachmentRule(1, "BB-1", DPID, 2, None, None, "broadband" if bb_type_blocked
                       else "dialup", bb_type_blocked),
        AttachmentRule(2, "DU-1", DPID, 4, None, netaddr.IPNetwork("10.0.4.0/24"),
                       "dialup", False),
    )
    return PolicySnapshot(
        revision=revision,
        switches={DPID: SwitchInfo(DPID, "edge", uplink_ports=frozenset({1}))},
        attachments={DPID: rules},
        mtas=(MtaRule("relay", netaddr.IPNetwork("192.0.2.25/32")),),
    )


@pytest.fixture
def rig():
    runtime = SyncRuntime()
    source = FakeSource(snapshot())
    enforcer = Enforcer(PolicyOptions(), EnforcerOptions(), runtime, source)
    dp = FakeDatapath()
    dp.enforcer = enforcer
    assert enforcer.refresh()
    return enforcer, source, dp, runtime


def installed_specs(enforcer: Enforcer) -> frozenset:
    from op25b_app.core.compile import compile_policy

    return compile_policy(enforcer.snapshot, DPID, NOW, enforcer.policy_options)[0]


def test_connect_installs_the_whole_policy_and_confirms_with_a_barrier(rig):
    enforcer, _source, dp, _rt = rig
    enforcer.switch_connected(DPID, dp)
    desired = installed_specs(enforcer)
    assert dp.kinds()[0] == "stats"  # warm-restart read-back comes first
    assert dp.kinds().count("add") == len(desired)
    assert dp.kinds()[-1] == "barrier"
    assert len(dp.table) == len(desired)
    assert all(constants.is_op25b_cookie(m.cookie) for m in dp.table.values())
    session = enforcer.sessions[DPID]
    assert session.applied_revision == 1 and session.last_error is None


def test_change_sends_only_the_difference(rig):
    enforcer, source, dp, _rt = rig
    enforcer.switch_connected(DPID, dp)
    before = dict(dp.table)
    dp.wire.clear()
    source.snap = snapshot(revision=2, bb_type_blocked=False)
    assert enforcer.refresh()
    enforcer.request_sync(enforcer.sessions[DPID])
    mods = [m for k, m in dp.wire if k == "modify"]
    # BB-1's two entries (IPv4 + IPv6) flip from drop to pass in place (the
    # cookie changes too, since only blocked entries carry the COUNTED flag).
    assert dp.kinds().count("delete") == 0
    changed = [m for k, m in dp.wire if k in ("add", "modify")]
    assert len(changed) == 2 and all(m.instructions for m in changed)
    unchanged = [k for k in before if before[k] is dp.table[k]]
    assert len(unchanged) == len(before) - 2 + len(mods)
    assert enforcer.sessions[DPID].applied_revision == 2


def test_adds_then_barrier_then_deletes(rig):
    enforcer, source, dp, _rt = rig
    enforcer.switch_connected(DPID, dp)
    dp.wire.clear()
    snap = snapshot(revision=3)
    moved = AttachmentRule(1, "BB-1", DPID, 5, None, None, "broadband", True)
    source.snap = PolicySnapshot(3, snap.switches, {DPID: (moved, snap.attachments[DPID][1])},
                                 snap.mtas)
    enforcer.refresh()
    enforcer.request_sync(enforcer.sessions[DPID])
    kinds = dp.kinds()
    assert kinds == ["add", "add", "barrier", "delete", "delete", "barrier"]


def test_reconcile_repairs_drift_and_leaves_foreign_entries(rig):
    enforcer, _source, dp, _rt = rig
    enforcer.switch_connected(DPID, dp)
    desired_count = len(dp.table)
    victim = next(k for k, m in dp.table.items() if m.priority != 0)
    del dp.table[victim]
    dp.add_by_hand(constants.cookie_for(constants.Band.ATTACHMENT), 31500, in_port=9)
    dp.add_by_hand(0x1234, 31500, in_port=9, eth_type=0x800)
    session = enforcer.sessions[DPID]
    compiled = session.policy
    enforcer.read_back(session)  # what the reconcile loop does
    assert victim in dp.table
    cookies = sorted(m.cookie for m in dp.table.values())
    assert 0x1234 in cookies
    assert len(dp.table) == desired_count + 1
    # A periodic reconcile diffs against the compiled policy: no recompile.
    assert session.policy is compiled
    assert session.installed is compiled.entries
    dp.wire.clear()
    enforcer.read_back(session)
    assert set(dp.kinds()) == {"stats"}  # read, in sync: nothing sent


def test_rejected_add_is_named_and_old_entries_are_kept(rig, caplog):
    enforcer, source, dp, _rt = rig
    enforcer.switch_connected(DPID, dp)
    before = set(dp.table)
    dp.wire.clear()
    snap = snapshot(revision=4)
    moved = AttachmentRule(1, "BB-1", DPID, 5, None, None, "broadband", True)
    source.snap = PolicySnapshot(4, snap.switches, {DPID: (moved, snap.attachments[DPID][1])},
                                 snap.mtas)
    dp.reject = lambda mod: mod.match.get("in_port") == 5
    enforcer.refresh()
    enforcer.request_sync(enforcer.sessions[DPID])
    session = enforcer.sessions[DPID]
    assert "delete" not in dp.kinds()  # no gap: the old entries stay
    assert before <= set(dp.table)
    assert "OFPFMFC_TABLE_FULL" in session.last_error
    assert "in_port=5" in session.last_error  # the error names the entry
    assert session.applied_revision == 1
    # The same refused target is not retried in a loop.
    dp.wire.clear()
    enforcer.request_sync(session)
    assert dp.kinds() == []


def test_a_revision_the_loader_cannot_read_keeps_the_last_good_policy(rig):
    """Bad rows are quarantined by the loader; this is what is left: a loader bug."""
    enforcer, source, dp, _rt = rig
    enforcer.switch_connected(DPID, dp)
    table = dict(dp.table)
    source.snap = snapshot(revision=5)
    source.fail = ValueError("a bug in the loader")
    assert not enforcer.refresh()
    assert enforcer.bad_revision[0] == 5
    assert enforcer.snapshot.revision == 1
    assert dp.table == table


def test_a_database_outage_is_not_a_bad_revision(rig):
    enforcer, source, dp, _rt = rig
    enforcer.switch_connected(DPID, dp)
    table = dict(dp.table)
    source.snap = snapshot(revision=5)
    source.fail = SourceUnavailable("connection refused")
    with pytest.raises(SourceUnavailable):
        enforcer.refresh()
    assert enforcer.bad_revision is None  # retried, not skipped, once it answers
    source.fail = None
    assert enforcer.refresh() and enforcer.snapshot.revision == 5
    assert dp.table == table


def test_quarantined_rows_are_logged_once_per_revision_and_reported(caplog):
    import dataclasses as dc

    from op25b_app.core.snapshot import QuarantinedRow

    runtime = SyncRuntime()
    bad = QuarantinedRow("attachments", "7", "prefix", "10.0.0.300/8", "not a valid prefix")
    source = StatusSource(dc.replace(snapshot(), quarantined=(bad,)))
    enforcer = Enforcer(PolicyOptions(), EnforcerOptions(), runtime, source)
    with caplog.at_level("ERROR"):
        enforcer.refresh()
        enforcer.refresh(force=True)
    assert caplog.text.count("quarantined table 'attachments' row 7") == 1
    enforcer.report_status(force=True)
    quarantine = source.writes[-1][-1]
    assert quarantine == {"revision": 1, "total": 1, "rows": [bad.to_dict()]}


def test_with_no_snapshot_an_empty_switch_gets_the_fail_closed_policy(rig):
    from op25b_app.openflow import enforcer as enforcer_module

    runtime = SyncRuntime()
    source = FakeSource(snapshot())
    enforcer = Enforcer(PolicyOptions(), EnforcerOptions(), runtime, source)  # never refreshed
    dp = FakeDatapath()
    dp.enforcer = enforcer
    enforcer.switch_connected(DPID, dp)
    assert enforcer_module.FIRST_SNAPSHOT_WAIT_S > 0
    cookies = {m.cookie & constants.COOKIE_BAND_MASK for m in dp.table.values()}
    # Never an empty table: the miss, the default drops and the guard.
    assert {constants.Band.MISS, constants.Band.DEFAULT_DROP, constants.Band.GUARD} <= cookies
    assert "emergency" in enforcer.sessions[DPID].last_error
    # A switch that already holds entries keeps them as they are.
    dp2 = FakeDatapath()
    dp2.enforcer = enforcer
    dp2.add_by_hand(constants.cookie_for(constants.Band.MISS), 0)
    before = dict(dp2.table)
    enforcer.switch_connected(DPID, dp2)
    assert dp2.table == before


def test_policy_over_the_cap_is_refused_and_switch_keeps_its_entries(rig):
    enforcer, source, dp, _rt = rig
    enforcer.switch_connected(DPID, dp)
    table = dict(dp.table)
    enforcer.policy_options = PolicyOptions(max_entries=3)
    source.snap = snapshot(revision=6)
    enforcer.refresh()
    dp.wire.clear()
    enforcer.request_sync(enforcer.sessions[DPID])
    assert dp.kinds() == []
    assert dp.table == table
    assert "6" in enforcer.sessions[DPID].last_error


def test_opt_out_expiry_schedules_a_recompile(rig):
    enforcer, source, dp, runtime = rig
    until = NOW + dt.timedelta(minutes=5)
    snap = snapshot(revision=7)
    bb = AttachmentRule(1, "BB-1", DPID, 2, None, None, "broadband", True, True, until)
    source.snap = PolicySnapshot(7, snap.switches, {DPID: (bb,)}, snap.mtas)
    enforcer.refresh()
    enforcer.switch_connected(DPID, dp)
    assert enforcer.sessions[DPID].next_change == until
    drops_before = sum(1 for m in dp.table.values() if not m.instructions)
    runtime.clock = until
    enforcer.request_sync(enforcer.sessions[DPID])
    drops_after = sum(1 for m in dp.table.values() if not m.instructions)
    assert drops_after == drops_before + 2


def test_monitor_to_enforce_modifies_in_place(rig):
    import dataclasses as dc

    enforcer, source, dp, _rt = rig
    source.snap = dc.replace(snapshot(revision=2), mode=constants.MODE_MONITOR)
    enforcer.refresh()
    enforcer.switch_connected(DPID, dp)
    dp.wire.clear()
    source.snap = snapshot(revision=3)
    enforcer.refresh()
    enforcer.request_sync(enforcer.sessions[DPID])
    # BB-1 (2 entries), the unknown-sender defaults (2) and the guard (9): drop
    # again, same entries.
    assert dp.kinds() == ["modify"] * (4 + 9) + ["barrier"]


class CountingSource(FakeSource):
    def __init__(self, snap):
        super().__init__(snap)
        self.recorded = []
        self.marks = {}

    def load_marks(self, dpid):
        return dict(self.marks)

    def record_counts(self, dpid, deltas, marks, now, retention, samples=()):
        self.recorded.extend(deltas)
        self.marks.update(marks)


def test_counter_poll_attributes_new_packets_to_the_subscriber():
    runtime = SyncRuntime()
    source = CountingSource(snapshot())
    enforcer = Enforcer(PolicyOptions(), EnforcerOptions(), runtime, source)
    dp = FakeDatapath()
    dp.enforcer = enforcer
    enforcer.refresh()
    enforcer.switch_connected(DPID, dp)
    session = enforcer.sessions[DPID]
    bb_key = next(k for k, m in dp.table.items()
                  if constants.attachment_of(m.cookie) == 1 and m.match["eth_type"] == 0x800)
    dp.packets[bb_key] = 5
    first = enforcer.poll_counters(session)
    assert [(d.account, d.mode, d.packets) for d in first] == [("BB-1", "enforce", 5)]
    dp.packets[bb_key] = 12
    assert [d.packets for d in enforcer.poll_counters(session)] == [7]
    assert enforcer.poll_counters(session) == []
    # A restarted controller reads the marks back: nothing is counted twice.
    enforcer2 = Enforcer(PolicyOptions(), EnforcerOptions(), runtime, source)
    enforcer2.refresh()
    dp.enforcer = enforcer2
    enforcer2.switch_connected(DPID, dp)
    assert enforcer2.poll_counters(enforcer2.sessions[DPID]) == []
    assert sum(d.packets for d in source.recorded) == 12
    # The entry was replaced (installed later, count restarted higher than 0):
    # its whole count is new.
    dp.age = 1
    dp.packets[bb_key] = 4
    assert [d.packets for d in enforcer2.poll_counters(enforcer2.sessions[DPID])] == [4]


class StatusSource(FakeSource):
    """A source that also takes the controller's status writes."""

    def __init__(self, snap: PolicySnapshot) -> None:
        super().__init__(snap)
        self.writes: list[tuple] = []

    def write_status(self, *args) -> None:
        self.writes.append(args)


def test_status_carries_the_options_the_controller_renders_with():
    runtime = SyncRuntime()
    source = StatusSource(snapshot())
    options = PolicyOptions(table_id=2, priority_base=20000, pass_action="goto:5")
    enforcer = Enforcer(options, EnforcerOptions(controller_id="ctl-a"), runtime, source)
    dp = FakeDatapath()
    dp.enforcer = enforcer
    enforcer.refresh()
    enforcer.switch_connected(DPID, dp)
    controller_id, _started, _now, revision, bad, rows, stored, quarantine = source.writes[-1]
    assert quarantine is None
    assert controller_id == "ctl-a" and revision == 1 and bad is None
    assert [(r.dpid, r.connected, r.entries) for r in rows] == [(DPID, True, len(dp.table))]
    assert PolicyOptions.from_dict(stored) == options
    assert stored["pass_action"] == "goto:5"


def test_connect_sets_nx_match_fragment_handling_and_reads_it_back(rig):
    enforcer, _source, dp, _runtime = rig
    enforcer.switch_connected(DPID, dp)
    assert ("set-config", constants.OFPC_FRAG_NX_MATCH) in dp.wire
    assert dp.config_flags == constants.OFPC_FRAG_NX_MATCH
    assert enforcer.sessions[DPID].fragment_mode == "nx-match"


def test_a_switch_without_nx_match_is_noted_and_still_guarded(rig, caplog):
    enforcer, _source, dp, _runtime = rig
    dp.frag_modes_supported = {0, 1}
    with caplog.at_level("WARNING"):
        enforcer.switch_connected(DPID, dp)
    assert enforcer.sessions[DPID].fragment_mode == "normal"
    assert "not nx-match" in caplog.text
    # The guard entries are installed all the same: tiny first fragments drop.
    guard = [m for m in dp.table.values() if constants.band_of(m.cookie) == constants.Band.GUARD]
    assert len(guard) == 9


def test_a_switch_with_bundles_gets_each_update_in_one_atomic_commit(rig, monkeypatch):
    from op25b_app.openflow import sync

    monkeypatch.setattr(sync, "BUNDLE_MIN_ENTRIES", 1)  # even the smallest update
    enforcer, source, dp, _rt = rig
    dp.supports_bundles = True
    enforcer.switch_connected(DPID, dp)
    assert enforcer.sessions[DPID].bundles is True
    n = len(installed_specs(enforcer))
    # The probe (an open that is discarded), then the install: bundle adds, a
    # barrier confirming the switch took them all, one commit applying them.
    assert dp.kinds() == (["discard"] + ["stats"] * 16 + ["bundle-add"] * n
                          + ["barrier", "commit"] + ["add"] * n)
    assert len(dp.table) == n
    dp.wire.clear()
    source.snap = snapshot(revision=2, bb_type_blocked=False)
    enforcer.refresh()
    enforcer.request_sync(enforcer.sessions[DPID])
    kinds = dp.kinds()
    commit = kinds.index("commit")
    # Everything of the update, deletes included, travels before the commit.
    assert set(kinds[:commit - 1]) == {"bundle-add"} and kinds[commit - 1] == "barrier"
    assert kinds.count("commit") == 1 and set(kinds[commit + 1:]) <= {"add", "modify", "delete"}
    assert enforcer.sessions[DPID].applied_revision == 2
    assert len(dp.table) == len(installed_specs(enforcer))


def test_a_refused_bundled_add_discards_the_whole_update(rig, monkeypatch):
    from op25b_app.openflow import sync

    monkeypatch.setattr(sync, "BUNDLE_MIN_ENTRIES", 1)
    enforcer, source, dp, _rt = rig
    dp.supports_bundles = True
    enforcer.switch_connected(DPID, dp)
    before = dict(dp.table)
    dp.wire.clear()
    dp.reject = lambda mod: True
    source.snap = snapshot(revision=2, bb_type_blocked=False)
    enforcer.refresh()
    enforcer.request_sync(enforcer.sessions[DPID])
    session = enforcer.sessions[DPID]
    assert ("discard", 0) in dp.wire and not any(k == "commit" for k, _ in dp.wire)
    assert dp.table == before  # nothing changed: the old policy holds
    assert "TABLE_FULL" in (session.last_error or "")
    assert session.applied_revision == 1


def test_a_few_entries_go_in_order_even_to_a_switch_with_bundles(rig):
    """One barrier instead of a bundle's three round trips, just as gap-free."""
    enforcer, source, dp, _rt = rig
    dp.supports_bundles = True
    enforcer.switch_connected(DPID, dp)
    dp.wire.clear()
    source.snap = snapshot(revision=2, bb_type_blocked=False)
    enforcer.refresh()
    enforcer.request_sync(enforcer.sessions[DPID])
    kinds = dp.kinds()
    assert "bundle-add" not in kinds and kinds[-1] == "barrier"
    assert enforcer.sessions[DPID].applied_revision == 2
