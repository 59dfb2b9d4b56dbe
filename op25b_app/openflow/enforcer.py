"""Keeps every connected switch's op25b entries equal to the compiled policy.

Framework-agnostic orchestration: the Ryu app hands in a *runtime* (green
threads, native threads, a clock) and a *source* (the database), and forwards
switch events here. This module decides *when* things happen - a new revision,
a time-driven change, a reconcile pass, a counter poll, a switch connecting -
and delegates *how* to its rooms: ``sync`` (compile, diff, send), ``channel``
(requests and replies), ``monitoring`` (counters, samples) and
``status_report`` (state written back to the database).

One update per switch runs at a time; a change that arrives meanwhile marks
the switch dirty and is applied right after (changes coalesce, none is lost).
Updates of different switches run concurrently.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from typing import Any

from op25b_app.core.options import PolicyOptions
from op25b_app.core.snapshot import PolicySnapshot
from op25b_app.db.change_source import SourceUnavailable
from op25b_app.db.counters import CountDelta
from op25b_app.db.snapshot_patch import SnapshotPatch, attachment_index
from op25b_app.openflow.channel import Channel
from op25b_app.openflow.monitoring import Monitor
from op25b_app.openflow.runtime import Runtime, SnapshotSource
from op25b_app.openflow.session import SwitchSession
from op25b_app.openflow.changes import apply_pending
from op25b_app.openflow.status_report import StatusReporter, note_quarantine
from op25b_app.openflow.sync import SwitchSync

LOG = logging.getLogger("op25b.enforcer")

#: How long a connecting switch waits for the first snapshot before it gets the
#: fail-closed emergency policy (the database is down since start-up).
FIRST_SNAPSHOT_WAIT_S = 5.0
#: Longest wait between retries while the database is unreachable.
MAX_BACKOFF_S = 30.0


@dataclasses.dataclass(frozen=True)
class EnforcerOptions:
    """Operational knobs; the defaults here are the ``--op25b-*`` options' defaults."""

    controller_id: str = "op25b"
    status_interval: float = 5.0
    poll_interval: float = 1.0
    reconcile_interval: float = 60.0
    barrier_timeout: float = 30.0
    stats_interval: float = 10.0
    counter_retention: dt.timedelta = dt.timedelta(days=62)
    #: Packets per second the punt meter lets through to the controller (0 = off).
    sample_rate: int = 0
    block_action: str = "drop"
    #: Send updates in ONF bundles where the switch takes them (False: always in order).
    bundles: bool = True


class Enforcer:
    """Compiles, diffs and pushes policy to switches; repairs drift; reports state."""

    def __init__(self, policy_options: PolicyOptions, options: EnforcerOptions,
                 runtime: Runtime, source: SnapshotSource, metrics: Any = None) -> None:
        self.policy_options = policy_options
        self.options = options
        self.runtime = runtime
        self.source = source
        self.metrics = metrics
        self.sessions: dict[int, SwitchSession] = {}
        self.snapshot: PolicySnapshot | None = None
        self.bad_revision: tuple[int, str] | None = None
        #: The quarantine summary of the snapshot in use (None: no row left out).
        self.quarantine: dict[str, Any] | None = None
        #: attachment id -> dpid of the snapshot in use (for the next patch).
        self._dpid_of: dict[int, int] = {}
        self._quarantine_logged: int | None = None
        self._noticed_at = time.monotonic()
        self._snapshot_ready = runtime.Event()
        self._running = False
        self._threads: list[Any] = []
        self.monitor = Monitor(runtime, lambda: self.source, lambda: self.snapshot,
                               options.block_action, options.counter_retention, metrics)
        self.status = StatusReporter(runtime, options.controller_id, options.status_interval,
                                     policy_options.to_dict())

    @property
    def sync(self) -> SwitchSync:
        """The update procedure, with the current options (tests may swap them)."""
        return SwitchSync(self.runtime, self.policy_options, self.options.sample_rate,
                          self.metrics, bundles=self.options.bundles)

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        self._running = True
        self._threads.append(self.runtime.spawn(self._poll_loop))
        if self.options.reconcile_interval > 0:
            self._threads.append(self.runtime.spawn(self._reconcile_loop))
        if self.options.stats_interval > 0:
            self._threads.append(self.runtime.spawn(self._stats_loop))

    def stop(self) -> None:
        self._running = False
        for thread in self._threads:
            kill = getattr(thread, "kill", None)
            if kill:
                kill()

    # -- database --------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Load a new snapshot if the revision moved; True if a new one is in use.

        Every registered switch's attachments are held, not only the
        connected ones': a switch that reboots or connects gets its policy
        at once instead of after a database read of its subscribers. When
        the change log allows it only the changed rows are read (a patch,
        handed to each switch's session); otherwise, or with ``force``,
        everything is loaded again.
        """
        revision = self.runtime.run_blocking(self.source.revision)
        if not force and self.snapshot is not None and revision == self.snapshot.revision:
            return False
        if not force and self.bad_revision is not None and self.bad_revision[0] == revision:
            return False
        started = time.monotonic()
        try:
            patch = None if force else self._patch()
            snap = patch.snapshot if patch is not None else \
                self.runtime.run_blocking(self.source.load, None)
        except SourceUnavailable:
            raise  # transient: the poll loop retries; the switches keep their entries
        except Exception:  # noqa: BLE001 - a loader bug keeps the last good policy
            # Bad *rows* never get here (they are quarantined); this is a bug.
            self.bad_revision = (revision, "could not be loaded (see the log)")
            LOG.exception("database revision %s could not be loaded, keeping revision %s on "
                          "all switches", revision,
                          self.snapshot.revision if self.snapshot else None)
            return False
        self.bad_revision = None
        self._use(snap, patch, time.monotonic() - started)
        return True

    def _patch(self) -> SnapshotPatch | None:
        """The change-log patch from the snapshot in use, if the source can make one."""
        loader = getattr(self.source, "load_patch", None)
        if self.snapshot is None or loader is None:
            return None
        patch: SnapshotPatch | None = self.runtime.run_blocking(loader, self.snapshot,
                                                                self._dpid_of)
        return patch

    def _use(self, snap: PolicySnapshot, patch: SnapshotPatch | None, took: float) -> None:
        """Make ``snap`` the snapshot in use and tell every session what changed."""
        if self.snapshot is None or snap.revision != self.snapshot.revision:
            self._noticed_at = time.monotonic()
        self.snapshot = snap
        if patch is None:
            self._dpid_of = self.runtime.run_blocking(attachment_index, snap)
        else:
            self._dpid_of = patch.dpid_of
        for session in self.sessions.values():
            if patch is None:
                session.policy = None  # compiled in full against the new snapshot
                session.pending.clear()
            elif session.policy is not None:
                session.pending.append((snap, patch.removed, patch.added.get(session.dpid, ())))
        self.quarantine, self._quarantine_logged = note_quarantine(
            snap, self._quarantine_logged, self.metrics)
        self._snapshot_ready.set()
        if self.metrics is not None:
            self.metrics.revision_database.set(snap.revision)
        LOG.info("policy revision %s loaded%s in %.0f ms", snap.revision,
                 f" as a change of {len(patch.removed)} attachment(s)" if patch else "",
                 took * 1000)

    def _poll_loop(self) -> None:
        failures = 0
        while self._running:
            try:
                if self.refresh() and self.sessions:
                    for session in list(self.sessions.values()):
                        self.request_sync(session)
                    # Let the workers send the change first: each writes the
                    # status itself when done, so a heartbeat now would only
                    # delay the switches (a database write on the hot path).
                    self.runtime.sleep(0)
                else:
                    self.report_status()
                self._time_driven_changes()
                if failures:
                    LOG.warning("database reachable again after %d failed polls", failures)
                failures = 0
                self._database_up(True)
            except Exception as exc:  # noqa: BLE001 - the loop must survive a database outage
                failures += 1
                self._database_up(False)
                if failures == 1:
                    LOG.warning("policy poll failed (%s); every switch keeps its entries, "
                                "retrying with backoff", exc, exc_info=not isinstance(
                                    exc, SourceUnavailable))
                elif failures % 10 == 0:
                    LOG.warning("policy poll still failing after %d tries: %s", failures, exc)
            self._wait_for_change(failures)

    def _database_up(self, up: bool) -> None:
        if self.metrics is not None:
            self.metrics.database_up.set(1 if up else 0)

    def _time_driven_changes(self) -> None:
        """Recompile switches whose policy changes by itself now (an opt-out expired)."""
        now = self.runtime.now()
        for session in list(self.sessions.values()):
            if session.next_change is not None and now >= session.next_change:
                LOG.info("switch %s: policy changes by time at %s", session.label,
                         session.next_change.isoformat())
                session.next_change = None
                session.expire_due = True
                self.request_sync(session)

    def report_status(self, force: bool = False) -> None:
        """Write changed switch rows at once, and a heartbeat every status_interval."""
        if not hasattr(self.source, "write_status"):
            return
        revision = self.snapshot.revision if self.snapshot else None
        self.status.report(self.source, list(self.sessions.values()), revision,
                           self.bad_revision, force, self.quarantine)

    def _wait_for_change(self, failures: int = 0) -> None:
        """Sleep until the next poll, a NOTIFY, or the next time-driven change.

        After failed polls the wait doubles each time, up to MAX_BACKOFF_S, so
        a database outage is not hammered by every controller.
        """
        timeout = self.options.poll_interval
        if failures:
            timeout = min(MAX_BACKOFF_S, timeout * 2 ** min(failures, 10))
        changes = [s.next_change for s in self.sessions.values() if s.next_change is not None]
        if changes:
            until = (min(changes) - self.runtime.now()).total_seconds()
            timeout = max(0.0, min(timeout, until))
        if getattr(self.source, "can_listen", False) and timeout > 0 and not failures:
            self.runtime.run_blocking(self.source.wait_for_change, timeout)  # type: ignore[attr-defined]
        else:
            self.runtime.sleep(timeout)

    def _stats_loop(self) -> None:
        while self._running:
            self.runtime.sleep(self.options.stats_interval)
            for session in list(self.sessions.values()):
                try:
                    self.poll_counters(session)
                except Exception as exc:  # noqa: BLE001 - counters must not stop enforcement
                    LOG.warning("switch %s: counter poll failed: %s", session.label, exc)

    def poll_counters(self, session: SwitchSession) -> list[CountDelta]:
        """Read and record the blocked-attempt counters of one switch (see ``Monitor``)."""
        return self.monitor.poll(session)

    def _reconcile_loop(self) -> None:
        while self._running:
            self.runtime.sleep(self.options.reconcile_interval)
            for session in list(self.sessions.values()):
                self.read_back(session)

    def read_back(self, session: SwitchSession) -> None:
        """Read a switch back beside its update worker, then let the worker repair drift.

        Reading 100k entries takes the switch seconds; done by the worker it
        held every change back that long. A switch in sync is read here while
        changes keep flowing, and the worker only diffs (``sync.reconcile``).
        A switch not known to be in sync is read and recompiled by the worker.
        """
        policy = session.policy
        if policy is None or session.installed is not policy.entries:
            self.request_sync(session, read_back=True)
            return
        try:
            self.sync.ensure_fragment_mode(session)
            session.read_result = self.sync.read_entries(session)
        except Exception as exc:  # noqa: BLE001 - a failed read is retried by the worker
            LOG.warning("switch %s: read-back failed (%s); reading again", session.label, exc)
            session.read_back = True
        self.request_sync(session)

    # -- switch events ---------------------------------------------------
    def switch_connected(self, dpid: int, datapath: Any) -> None:
        LOG.info("switch %016x connected", dpid)
        channel = Channel(dpid, datapath, self.runtime, self.options.barrier_timeout)
        session = SwitchSession(dpid=dpid, channel=channel, connected_at=self.runtime.now())
        old = self.sessions.get(dpid)
        if old is not None:
            old.channel.close()
        self.sessions[dpid] = session
        if self.metrics is not None:
            self.metrics.switches_connected.set(len(self.sessions))
        self.request_sync(session, read_back=True)

    def switch_disconnected(self, dpid: int, datapath: Any) -> None:
        session = self.sessions.get(dpid)
        if session is not None and session.datapath is datapath:
            LOG.warning("switch %016x disconnected", dpid)
            del self.sessions[dpid]
            if self.metrics is not None:
                self.metrics.switches_connected.set(len(self.sessions))
            self.status.disconnected(session)
            session.channel.close()

    def _channel(self, dpid: int) -> Channel | None:
        session = self.sessions.get(dpid)
        return session.channel if session is not None else None

    def on_flow_stats(self, dpid: int, xid: int, body: list[Any], more: bool) -> None:
        channel = self._channel(dpid)
        if channel is not None:
            channel.on_reply(xid, body, more)

    on_meter_config = on_flow_stats

    def on_barrier(self, dpid: int, xid: int) -> None:
        channel = self._channel(dpid)
        if channel is not None:
            channel.on_barrier(xid)

    def on_error(self, dpid: int, xid: int, err_type: int, code: int, data: bytes) -> None:
        channel = self._channel(dpid)
        if channel is None:
            LOG.error("OpenFlow error from unknown switch %s: type %s code %s",
                      dpid, err_type, code)
            return
        name, text = channel.error(xid, err_type, code)
        LOG.error(text)
        if self.metrics is not None:
            self.metrics.openflow_errors.labels(channel.label, name).inc()

    def on_packet_in(self, dpid: int, cookie: int, in_port: int | None, data: bytes,
                     metadata: int | None = None) -> None:
        session = self.sessions.get(dpid)
        if session is not None:
            self.monitor.on_packet_in(session, cookie, in_port, data, metadata)

    # -- updates ---------------------------------------------------------
    def request_sync(self, session: SwitchSession, read_back: bool = False) -> None:
        """Bring ``session``'s switch to the current policy (coalescing requests)."""
        session.read_back = session.read_back or read_back
        if session.busy:
            session.dirty = True
            return
        session.busy = True
        self.runtime.spawn(self._sync_worker, session)

    def _sync_worker(self, session: SwitchSession) -> None:
        try:
            while self.sessions.get(session.dpid) is session:
                session.dirty = False
                try:
                    self._sync_once(session)
                except Exception as exc:  # noqa: BLE001 - report and keep the loop alive
                    session.installed = None
                    session.read_back = True
                    session.last_error = str(exc)
                    LOG.error("switch %s: update failed: %s", session.label, exc)
                if not session.dirty:
                    break
        finally:
            session.busy = False
        try:
            self.report_status()
        except Exception as exc:  # noqa: BLE001 - status is best effort; enforcement is not
            LOG.warning("could not write status: %s", exc)

    def _sync_once(self, session: SwitchSession) -> None:
        if self.snapshot is None:
            self._snapshot_ready.wait(timeout=FIRST_SNAPSHOT_WAIT_S)
        if self.sessions.get(session.dpid) is not session:
            return
        snap = self.snapshot
        if snap is None:
            # The database has not answered since this controller started. A
            # switch must never be left with an empty table (fail-secure: it
            # would drop everything): a fresh one gets the fail-closed policy
            # of an unknown switch; one that holds entries keeps them.
            self.sync.apply_emergency(session)
            return
        policy, read, session.read_result = session.policy, session.read_result, None
        if read is not None and policy is not None and session.installed is policy.entries \
                and not session.read_back:
            self.sync.reconcile(session, read)
        if apply_pending(session, self.sync, self.runtime, snap, self._noticed_at):
            return
        session.policy = None
        session.pending.clear()
        session.expire_due = False
        self.sync.apply_snapshot(session, snap, self._noticed_at)
