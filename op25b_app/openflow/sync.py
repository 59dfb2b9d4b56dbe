"""Bring one switch to the compiled policy: compile, read back, diff, send, confirm.

The steps of the life of an update, each in its own layer: ``compile_policy``
(core) says what the switch should hold, the switch's entries are read back
(``readback``), ``plan_update`` (core) diffs the two, and the plan is sent in
the order that never opens a gap: adds and in-place modifies, a barrier, then
strict cookie-masked deletes and a barrier (see ``core.reconcile``).

A switch that refuses part of an update keeps every old entry (no delete is
sent), is marked out of sync with the exact entry named, and the same update
is not retried until the policy changes or the switch reconnects.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from op25b_app.core import constants
from op25b_app.core.actions import PUNT_MAX_LEN
from op25b_app.core.compile import compile_policy
from op25b_app.core.incremental import SwitchPolicy
from op25b_app.core.errors import PolicyError
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.options import PolicyOptions
from op25b_app.core.reconcile import UpdatePlan, plan_update
from op25b_app.core.snapshot import PolicySnapshot
from op25b_app.openflow import fastread, messages, readback, update
from op25b_app.openflow.channel import UpdateFailed
from op25b_app.openflow.runtime import Runtime
from op25b_app.openflow.session import SwitchSession

LOG = logging.getLogger("op25b.sync")

#: Plans smaller than this go in order (one round trip) even to a switch with bundles.
BUNDLE_MIN_ENTRIES = 16

#: OFPT_SET_CONFIG fragment handling values and the names operators know them by.
FRAGMENT_MODES = {0: "normal", 1: "drop", 2: "reassemble", constants.OFPC_FRAG_NX_MATCH: "nx-match"}


class SwitchSync:
    """Applies a snapshot to one switch session (one update at a time per switch)."""

    def __init__(self, runtime: Runtime, policy_options: PolicyOptions, sample_rate: int,
                 metrics: Any = None, bundles: bool = True) -> None:
        self.runtime = runtime
        #: Whether to use bundles where the switch takes them (the option can turn them off).
        self.bundles = bundles
        self.policy_options = policy_options
        self.sample_rate = sample_rate
        self.metrics = metrics

    def apply_snapshot(self, session: SwitchSession, snap: PolicySnapshot,
                       noticed_at: float) -> None:
        """Compile ``snap`` for the switch and make the switch hold exactly that.

        ``noticed_at`` (monotonic) is when the controller saw the revision; the
        change-to-enforced latency is measured from it. The compiled policy
        stays with the session, so the next changes can be patched into it.
        """
        started = time.monotonic()
        steps: dict[str, float] = {}
        try:
            policy: SwitchPolicy = self.runtime.run_blocking(
                SwitchPolicy, snap, session.dpid, self.runtime.now(), self.policy_options)
            steps["compile"] = time.monotonic()
        except PolicyError as exc:
            session.last_error = f"revision {snap.revision}: {exc}"
            LOG.error("switch %s: policy revision %s refused, keeping the last good one: %s",
                      session.label, snap.revision, exc)
            return
        desired = policy.entries
        session.policy = policy
        session.next_change = policy.next_change
        target = (snap.revision, hash(frozenset(desired)))
        if session.failed_target == target:
            # The switch refused exactly this set (e.g. table full): retrying
            # would fail the same way. A new revision or a reconnect retries.
            return
        if session.read_back or session.fragment_mode is None:
            self.ensure_fragment_mode(session)
        if session.bundles is None:
            self.ensure_bundles(session)
        if self.policy_options.punt_meter and not session.meter_ok:
            self.ensure_meter(session)
        steps["switch config"] = time.monotonic()
        current = self._current(session)
        steps["read-back"] = time.monotonic()
        plan: UpdatePlan = self.runtime.run_blocking(plan_update, current, desired)
        steps["diff"] = time.monotonic()
        if plan.empty:
            # The first confirmation of a connection is worth an INFO line
            # (a warm restart found the switch already right); later ones are noise.
            level = logging.INFO if session.applied_revision is None else logging.DEBUG
            self._confirmed(session, snap.revision, desired)
            LOG.log(level, "switch %s: in sync at revision %s, %d entries, nothing sent",
                    session.label, snap.revision, len(desired))
            return
        self.apply_plan(session, plan)
        if session.channel.errors:
            self._refused(session, snap.revision, target)
            return
        self._confirmed(session, snap.revision, desired)
        done = time.monotonic()
        if self.metrics is not None:
            self.metrics.change_latency.observe(done - max(noticed_at, started))
        steps["send + confirm"] = done
        LOG.info("switch %s: policy revision %s installed, %d entries (%s) in %.0f ms "
                 "(%.0f ms after connect; %s)", session.label, snap.revision, len(desired),
                 plan.summary(), (done - started) * 1000, (done - session.connected_mono) * 1000,
                 _durations(started, steps))

    def reconcile(self, session: SwitchSession, current: frozenset[FlowSpec]) -> None:
        """Repair drift between what the switch reported and its compiled policy.

        ``current`` was read while changes kept flowing (see the enforcer's
        reconcile loop), so it may lag them; the plan is made against the
        policy as it is now, so whatever it sends moves the switch toward the
        current policy (a lagging read only costs a redundant add or delete).
        Nothing is compiled again. A refused repair leaves the session to a
        full update.
        """
        policy = session.policy
        assert policy is not None
        plan: UpdatePlan = self.runtime.run_blocking(plan_update, current, policy.entries)
        if plan.empty:
            return
        LOG.warning("switch %s: repairing drift at revision %s (%s)", session.label,
                    policy.revision, plan.summary())
        self.apply_plan(session, plan)
        if session.channel.errors:
            session.policy = None
            self._refused(session, policy.revision, (policy.revision, -1))
            return
        self._confirmed(session, policy.revision, policy.entries)

    def apply_change(self, session: SwitchSession, revision: int, gone: set[FlowSpec],
                     new: set[FlowSpec], noticed_at: float) -> None:
        """Send what a patched policy changed: ``gone`` entries out, ``new`` ones in.

        The switch holds the session's policy before the change (the caller
        checks), so the plan is made from the changed entries alone: one
        subscriber on a 100k-entry switch costs one or two flow mods.
        """
        assert session.policy is not None
        started = time.monotonic()
        plan = plan_update(gone, new)
        if not plan.empty:
            self.apply_plan(session, plan)
            if session.channel.errors:
                session.policy = None  # the switch holds neither: read back, recompile
                self._refused(session, revision, (revision, -1))
                return
        self._confirmed(session, revision, session.policy.entries)
        session.next_change = session.policy.next_change
        done = time.monotonic()
        if self.metrics is not None and not plan.empty:
            self.metrics.change_latency.observe(done - max(noticed_at, started))
        LOG.log(logging.INFO if not plan.empty else logging.DEBUG,
                "switch %s: policy revision %s applied as a change (%s) in %.0f ms",
                session.label, revision, plan.summary(), (done - started) * 1000)

    def apply_emergency(self, session: SwitchSession) -> None:
        """No snapshot yet: keep a switch's entries, or give an empty one a fail-closed policy.

        The policy of an unknown switch (``compile_policy`` of an empty
        snapshot): TCP/25 from every port dropped except nothing, crafted
        packets guarded, everything else passing. No uplinks, MTAs or opt-outs
        are known, so they fail closed too, until the database answers.
        """
        current = self._current(session)
        if current:
            session.last_error = "database unavailable: keeping the switch's entries"
            LOG.warning("switch %s: %s", session.label, session.last_error)
            return
        empty = PolicySnapshot(revision=0, switches={}, attachments={}, mtas=())
        desired, _ = compile_policy(empty, session.dpid, self.runtime.now(),
                                    self.policy_options)
        self.apply_plan(session, plan_update(current, desired))
        session.installed = None if session.channel.errors else desired
        session.read_back = True
        session.last_error = ("database unavailable: fail-closed emergency policy installed "
                              "(no uplinks, MTAs or opt-outs known yet)")
        LOG.error("switch %s: %s", session.label, session.last_error)

    def _current(self, session: SwitchSession) -> set[FlowSpec] | frozenset[FlowSpec]:
        """What the switch holds: read back when unknown or due, else what was installed."""
        if session.read_back or session.installed is None:
            current = self.read_entries(session)
            session.read_back = False
            return current
        return session.installed

    def _confirmed(self, session: SwitchSession, revision: int,
                   desired: set[FlowSpec] | frozenset[FlowSpec]) -> None:
        session.installed = desired
        session.applied_revision = revision
        session.failed_target = None
        session.last_error = None
        if self.metrics is not None:
            self.metrics.entries.labels(session.label).set(len(desired))
            self.metrics.revision_applied.labels(session.label).set(revision)

    def _refused(self, session: SwitchSession, revision: int, target: tuple[int, int]) -> None:
        channel = session.channel
        session.installed = None  # unknown now: read back before the next update
        session.failed_target = target
        session.last_error = "; ".join(channel.errors[:3])
        if channel.table_full:
            LOG.error("switch %s: table full; revision %s NOT fully installed "
                      "(entries already added stay; old entries were kept)",
                      session.label, revision)

    def read_entries(self, session: SwitchSession) -> frozenset[FlowSpec]:
        """op25b's entries as the switch reports them; entries we cannot parse are deleted."""
        channel = session.channel
        dp = channel.datapath
        body = channel.read_flows(counted_only=False)
        # Copied here, at once (one C call under the GIL): the worker may be
        # patching the policy's set while this read runs beside it.
        expected = frozenset(session.installed if session.installed is not None else
                             session.policy.entries if session.policy is not None else ())
        found, rest = self.runtime.run_blocking(fastread.recognise, body, expected)
        parsed = self.runtime.run_blocking(_parse_all, dp, rest)
        specs = frozenset(found).union(spec for spec, _stat in parsed if spec is not None)
        LOG.debug("switch %s: read back %d entries, %d recognised by their bytes",
                  session.label, len(body), len(found))
        junk = [messages.raw_delete_strict(dp, stat.table_id, stat.priority, stat.match)
                for spec, stat in parsed if spec is None]
        if junk:
            channel.send_raw(junk)
        return specs

    def apply_plan(self, session: SwitchSession, plan: UpdatePlan) -> None:
        """Send ``plan`` as one atomic bundle where the switch takes them, else in order.

        A plan of a few entries goes in order even then: one barrier instead
        of a bundle's three round trips, and just as gap-free (see update).
        """
        size = len(plan.adds) + len(plan.modifies) + len(plan.deletes)
        if session.bundles and size >= BUNDLE_MIN_ENTRIES:
            update.apply_bundled(session.channel, plan)
        else:
            update.apply_ordered(session.channel, plan)

    def ensure_bundles(self, session: SwitchSession) -> None:
        """Find out once per connection whether updates can travel in bundles."""
        session.bundles = self.bundles and update.probe_bundles(session.channel)
        LOG.info("switch %s: updates %s", session.label,
                 "in atomic bundles" if session.bundles else
                 "as adds, barrier, deletes" + ("" if not self.bundles else
                                                " (the switch refuses bundles)"))

    def ensure_fragment_mode(self, session: SwitchSession) -> None:
        """Ask for ``nx-match`` fragment handling and record what the switch really does.

        In nx-match mode a first fragment that holds the whole TCP header has
        its ports, so a fragmented SYN meets its subscriber's own entry (an
        opt-out passes it, a block drops and counts it). A switch that keeps
        another mode leaves every TCP first fragment without ports; the
        guard band then drops them all, so the block still holds (fail
        closed) but an exempt subscriber's fragmented mail is dropped too:
        that is logged and shown in the status and metrics.
        """
        channel = session.channel
        dp = channel.datapath
        channel.send_msg(messages.set_config(dp, constants.OFPC_FRAG_NX_MATCH, PUNT_MAX_LEN))
        replies = channel.request(messages.get_config_request(dp), "config read")
        flags = replies[0].flags if replies else 0
        mode = FRAGMENT_MODES.get(flags & constants.OFPC_FRAG_MASK, "unknown")
        if mode != session.fragment_mode:
            level = logging.INFO if mode == "nx-match" else logging.WARNING
            LOG.log(level, "switch %s: fragment handling %s%s", session.label, mode,
                    "" if mode == "nx-match" else
                    " (not nx-match: every TCP first fragment from customers is dropped, "
                    "exempt subscribers' too)")
        session.fragment_mode = mode
        channel.reset_errors()  # a switch that refused the mode answered with an error
        if self.metrics is not None:
            for known in FRAGMENT_MODES.values():
                self.metrics.fragment_mode.labels(session.label, known).set(
                    1 if known == mode else 0)

    def ensure_meter(self, session: SwitchSession) -> None:
        """Make the punt meter exist with op25b's rate (read back, then add or modify).

        Meters are reconciled like entries: the switch's configuration is read
        and only a missing or different meter is (re)written, before any entry
        that uses it is added.
        """
        channel = session.channel
        dp = channel.datapath
        meter_id = self.policy_options.punt_meter
        rate = max(1, self.sample_rate)
        want = messages.punt_meter_bands(dp, rate)
        have = None
        for cfg in channel.request(messages.meter_config_request(dp), "meter read"):
            if cfg.meter_id == meter_id:
                have = (cfg.flags, [(b.type, b.rate, b.burst_size) for b in cfg.bands])
        if have == want:
            session.meter_ok = True
            return
        channel.reset_errors()
        channel.send_msg(messages.meter_mod(dp, meter_id, rate, exists=have is not None))
        channel.barrier()
        if channel.errors:
            raise UpdateFailed("; ".join(channel.errors))
        session.meter_ok = True
        LOG.info("switch %s: punt meter %d set to %d packets/s", session.label, meter_id, rate)


def _durations(started: float, steps: dict[str, float]) -> str:
    """``compile 12 ms, read-back 3 ms, ...``: where an update's time went."""
    parts, previous = [], started
    for name, at in steps.items():
        parts.append(f"{name} {(at - previous) * 1000:.0f} ms")
        previous = at
    return ", ".join(parts)


def _parse_all(dp: Any, body: list[Any]) -> list[tuple[FlowSpec | None, Any]]:
    return list(readback.parse_flow_stats(dp, body))
