"""Keeps every connected switch's op25b entries equal to the compiled policy.

Framework-agnostic: the Ryu app hands in a *runtime* (green-thread spawn and
sleep, events, a way to run blocking work on a native thread, a clock) and
forwards switch events here. That keeps this orchestration testable with a
mocked datapath and lets the app move to os-ken without touching it.

One update per switch runs at a time; a change that arrives meanwhile marks
the switch dirty and is applied right after (changes coalesce, none is lost).
Updates of different switches run concurrently.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from op25b_app.core import constants
from op25b_app.openflow import messages as ofmsg
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.compile import compile_policy
from op25b_app.core.errors import PolicyError
from op25b_app.core.reconcile import UpdatePlan, plan_update
from op25b_app.core.snapshot import PolicySnapshot
from op25b_app.core.options import PolicyOptions

LOG = logging.getLogger("op25b.enforcer")


class Runtime(Protocol):
    """The few framework services the enforcer uses."""

    def spawn(self, func: Callable[..., Any], *args: Any) -> Any: ...
    def sleep(self, seconds: float) -> None: ...
    def Event(self) -> Any: ...  # noqa: N802 - mirrors hub.Event
    def run_blocking(self, func: Callable[..., Any], *args: Any) -> Any: ...
    def now(self) -> dt.datetime: ...


@dataclasses.dataclass(frozen=True)
class EnforcerOptions:
    """Operational knobs (see the ``--op25b-*`` options for their meaning)."""

    db_url: str = "sqlite:///op25b.db"
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


class SnapshotSource(Protocol):
    """Where policy snapshots come from (the database, or a test double)."""

    def revision(self) -> int: ...
    def load(self, dpids: frozenset[int] | None = None) -> PolicySnapshot: ...


class DatabaseSource:
    """Reads revisions and snapshots from the subscriber database.

    On PostgreSQL it also LISTENs on the channel the revision trigger
    notifies at COMMIT, so a change is seen at once; polling stays as the
    fallback (a lost listen connection only costs latency, never a change).
    """

    NOTIFY_CHANNEL = "op25b_policy"

    def __init__(self, url: str) -> None:
        from op25b_app.db.engine import make_engine

        self.engine = make_engine(url)
        self.can_listen = self.engine.dialect.name == "postgresql"
        self._listen_conn: Any = None

    def revision(self) -> int:
        from op25b_app.db.snapshot_loader import read_revision

        with self.engine.connect() as conn:
            return read_revision(conn)

    def load(self, dpids: frozenset[int] | None = None) -> PolicySnapshot:
        from op25b_app.db.snapshot_loader import load_snapshot

        return load_snapshot(self.engine, dpids)

    def write_status(self, controller_id: str, started_at: dt.datetime, now: dt.datetime,
                     revision: int | None, bad: tuple[int, str] | None,
                     rows: list[Any]) -> None:
        """Heartbeat plus the switch rows that changed since the last write."""
        import os

        from op25b_app.db import status

        status.write_controller(self.engine, controller_id, os.getpid(), started_at, now,
                                revision, bad)
        if rows:
            status.write_switches(self.engine, controller_id, rows, now)

    def load_marks(self, dpid: int) -> dict[str, tuple[int, float]]:
        from op25b_app.db import counters

        return counters.load_marks(self.engine, dpid)

    def record_counts(self, dpid: int, deltas: list[Any], marks: dict[str, tuple[int, float]],
                      now: dt.datetime, retention: dt.timedelta,
                      samples: list[Any] = ()) -> None:  # type: ignore[assignment]
        from op25b_app.db import counters

        counters.record(self.engine, dpid, deltas, marks, now, retention, samples)

    def wait_for_change(self, timeout: float) -> bool:
        """Block (on a native thread) until a NOTIFY arrives or ``timeout`` passes."""
        import psycopg

        try:
            if self._listen_conn is None or self._listen_conn.closed:
                url = self.engine.url.set(drivername="postgresql")
                self._listen_conn = psycopg.connect(
                    url.render_as_string(hide_password=False), autocommit=True
                )
                self._listen_conn.execute(f"LISTEN {self.NOTIFY_CHANNEL}")
            for _note in self._listen_conn.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except psycopg.Error as exc:
            LOG.warning("LISTEN connection lost (%s); polling until it is back", exc)
            if self._listen_conn is not None:
                self._listen_conn.close()
            self._listen_conn = None
            time.sleep(timeout)
            return False


def _parse_all(dp: Any, body: list[Any]) -> list[tuple[FlowSpec | None, Any]]:
    return list(ofmsg.parse_flow_stats(dp, body))


class UpdateFailed(Exception):
    """A switch did not confirm an update (error reply or barrier timeout)."""


@dataclasses.dataclass
class _Pending:
    """One outstanding request: barrier or multipart flow-stats reply."""

    event: Any
    body: list[Any] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class SwitchSession:
    """What the enforcer knows about one connected switch."""

    dpid: int
    datapath: Any
    connected_at: dt.datetime
    connected_mono: float = dataclasses.field(default_factory=time.monotonic)
    installed: frozenset[FlowSpec] | None = None  # None = unknown, read back first
    applied_revision: int | None = None
    next_change: dt.datetime | None = None
    last_error: str | None = None
    failed_target: tuple[int, int] | None = None  # (revision, hash) refused by the switch
    busy: bool = False
    dirty: bool = False
    read_back: bool = True
    pending: dict[int, _Pending] = dataclasses.field(default_factory=dict)
    xid_specs: dict[int, FlowSpec] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    table_full: bool = False
    counter_marks: dict[str, tuple[int, float]] | None = None
    meter_ok: bool = False


class Enforcer:
    """Compiles, diffs and pushes policy to switches; repairs drift."""

    def __init__(
        self,
        policy_options: PolicyOptions,
        options: EnforcerOptions,
        runtime: Runtime,
        source: SnapshotSource | None = None,
        metrics: Any = None,
    ) -> None:
        self.metrics = metrics
        self._noticed_at = time.monotonic()
        self._samples: list[Any] = []
        self._account_cache: dict[int, tuple[PolicySnapshot, dict[int, str]]] = {}
        self.rejects_sent = 0
        self.policy_options = policy_options
        self.options = options
        self.runtime = runtime
        self._source = source
        self.sessions: dict[int, SwitchSession] = {}
        self.snapshot: PolicySnapshot | None = None
        self.bad_revision: tuple[int, str] | None = None
        self._snapshot_ready = runtime.Event()
        self._running = False
        self._threads: list[Any] = []
        self.started_at = runtime.now()
        self._status_written: dict[int, Any] = {}
        self._status_gone: dict[int, Any] = {}
        self._status_at = 0.0

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

    def _get_source(self) -> SnapshotSource:
        if self._source is None:
            self._source = DatabaseSource(self.options.db_url)
        return self._source

    # -- database --------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Load a new snapshot if the revision moved; True if a new one is in use.

        Only the connected switches' attachments are read; ``force`` reloads
        at the same revision (a switch connected that the snapshot lacks).
        """
        source = self.runtime.run_blocking(self._get_source)
        revision = self.runtime.run_blocking(source.revision)
        if not force and self.snapshot is not None and revision == self.snapshot.revision:
            return False
        if not force and self.bad_revision is not None and self.bad_revision[0] == revision:
            return False
        try:
            snap = self.runtime.run_blocking(source.load, frozenset(self.sessions))
        except Exception as exc:  # noqa: BLE001 - any bad data keeps the last good policy
            self.bad_revision = (revision, str(exc))
            LOG.error(
                "database revision %s is not usable, keeping revision %s on all switches: %s",
                revision,
                self.snapshot.revision if self.snapshot else None,
                exc,
            )
            for session in self.sessions.values():
                session.last_error = f"revision {revision} rejected: {exc}"
            return False
        self.bad_revision = None
        if self.snapshot is None or snap.revision != self.snapshot.revision:
            self._noticed_at = time.monotonic()
        self.snapshot = snap
        self._snapshot_ready.set()
        if self.metrics is not None:
            self.metrics.revision_database.set(snap.revision)
        LOG.info("policy revision %s loaded", snap.revision)
        return True

    def _poll_loop(self) -> None:
        failures = 0
        while self._running:
            try:
                if self.refresh():
                    for session in list(self.sessions.values()):
                        self.request_sync(session)
                now = self.runtime.now()
                for session in list(self.sessions.values()):
                    if session.next_change is not None and now >= session.next_change:
                        LOG.info("switch %016x: policy changes by time at %s", session.dpid,
                                 session.next_change.isoformat())
                        session.next_change = None
                        self.request_sync(session)
                self.report_status()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the loop must survive a database outage
                failures += 1
                if failures == 1:
                    LOG.exception("policy poll failed; retrying every %.1f s",
                                  self.options.poll_interval)
                else:
                    LOG.warning("policy poll failed again (%d): %s", failures, exc)
            self._wait_for_change()

    def _switch_row(self, session: SwitchSession, connected: bool = True) -> Any:
        from op25b_app.db.status import SwitchRow

        return SwitchRow(
            dpid=session.dpid,
            connected=connected,
            connected_since=session.connected_at if connected else None,
            revision_applied=session.applied_revision,
            entries=len(session.installed) if session.installed is not None else 0,
            last_error=session.last_error,
        )

    def report_status(self, force: bool = False) -> None:
        """Write changed switch rows at once, and a heartbeat every status_interval."""
        source = self._source
        if not isinstance(source, DatabaseSource):
            return
        rows = []
        for dpid, session in list(self.sessions.items()):
            row = self._switch_row(session)
            if self._status_written.get(dpid) != row:
                rows.append(row)
        rows.extend(self._status_gone.values())
        due = time.monotonic() - self._status_at >= self.options.status_interval
        if not rows and not due and not force:
            return
        revision = self.snapshot.revision if self.snapshot else None
        self.runtime.run_blocking(source.write_status, self.options.controller_id,
                                  self.started_at, self.runtime.now(), revision,
                                  self.bad_revision, rows)
        for row in rows:
            self._status_written[row.dpid] = row
            self._status_gone.pop(row.dpid, None)
        self._status_at = time.monotonic()

    def _wait_for_change(self) -> None:
        """Sleep until the next poll, a NOTIFY, or the next time-driven change."""
        timeout = self.options.poll_interval
        changes = [s.next_change for s in self.sessions.values() if s.next_change is not None]
        if changes:
            until = (min(changes) - self.runtime.now()).total_seconds()
            timeout = max(0.0, min(timeout, until))
        source = self._source
        if isinstance(source, DatabaseSource) and source.can_listen and timeout > 0:
            self.runtime.run_blocking(source.wait_for_change, timeout)
        else:
            self.runtime.sleep(timeout)

    def _stats_loop(self) -> None:
        while self._running:
            self.runtime.sleep(self.options.stats_interval)
            for session in list(self.sessions.values()):
                try:
                    self.poll_counters(session)
                except Exception as exc:  # noqa: BLE001 - counters must not stop enforcement
                    LOG.warning("switch %016x: counter poll failed: %s", session.dpid, exc)

    def poll_counters(self, session: SwitchSession) -> list[Any]:
        """Read the counted entries' packet counts and record what is new.

        Each entry is identified by cookie+table+priority+match; a count lower
        than last time, or a different installation time, means the entry was
        replaced, so its whole count is new. Only entries whose count moved are
        stored (a switch with 100k idle blocked subscribers costs nothing), and
        the last counts live in the database, so a restarted controller does
        not count the same packets twice.
        """
        from op25b_app.db.counters import CountDelta

        source = self._get_source()
        if session.counter_marks is None:
            loader = getattr(source, "load_marks", None)
            session.counter_marks = (self.runtime.run_blocking(loader, session.dpid)
                                     if loader else {})
        dp = session.datapath
        body = self._read_sliced(session, counted_only=True)
        rows = self.runtime.run_blocking(ofmsg.counter_rows, dp, body)
        accounts = self._accounts(session.dpid)
        marks = session.counter_marks
        changed: dict[str, tuple[int, float]] = {}
        deltas: list[CountDelta] = []
        wall = time.time()
        for key, cookie, passed, packets, duration in rows:
            # When the entry was installed: stable from poll to poll, so an
            # entry replaced since the last read is recognised even if its
            # new count happens to be higher than the old one.
            installed = wall - duration
            prev = marks.get(key)
            if prev is None or packets < prev[0] or abs(installed - prev[1]) > 2.0:
                delta = packets
            else:
                delta = packets - prev[0]
            if delta <= 0:
                continue
            changed[key] = marks[key] = (packets, installed)
            attachment_id = constants.attachment_of(cookie)
            mode = constants.MODE_MONITOR if passed else constants.MODE_ENFORCE
            account = accounts.get(attachment_id)
            deltas.append(CountDelta(session.dpid, attachment_id, account, mode, delta))
            if self.metrics is not None:
                self.metrics.blocked_packets.labels(f"{session.dpid:016x}", mode).inc(delta)
                label = self.metrics.account_label(account)
                self.metrics.subscriber_blocked_packets.labels(label, mode).inc(delta)
        recorder = getattr(source, "record_counts", None)
        mine = [x for x in self._samples if x.dpid == session.dpid]
        if mine:
            self._samples = [x for x in self._samples if x.dpid != session.dpid]
        if recorder is not None and (deltas or changed or mine):
            self.runtime.run_blocking(recorder, session.dpid, deltas, changed,
                                      self.runtime.now(), self.options.counter_retention, mine)
        return deltas

    def _reconcile_loop(self) -> None:
        while self._running:
            self.runtime.sleep(self.options.reconcile_interval)
            for session in list(self.sessions.values()):
                self.request_sync(session, read_back=True)

    # -- switch events ---------------------------------------------------
    def switch_connected(self, dpid: int, datapath: Any) -> None:
        LOG.info("switch %016x connected", dpid)
        session = SwitchSession(dpid=dpid, datapath=datapath, connected_at=self.runtime.now())
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
            if isinstance(self._source, DatabaseSource):
                self._status_gone[dpid] = self._switch_row(session, connected=False)
            for pending in session.pending.values():
                pending.event.set()

    def on_flow_stats(self, dpid: int, xid: int, body: list[Any], more: bool) -> None:
        session = self.sessions.get(dpid)
        pending = session.pending.get(xid) if session else None
        if pending is None:
            return
        pending.body.extend(body)
        if not more:
            pending.event.set()

    def on_barrier(self, dpid: int, xid: int) -> None:
        session = self.sessions.get(dpid)
        pending = session.pending.get(xid) if session else None
        if pending is not None:
            pending.event.set()

    def on_error(self, dpid: int, xid: int, err_type: int, code: int, data: bytes) -> None:
        session = self.sessions.get(dpid)
        if session is None:
            LOG.error("OpenFlow error from unknown switch %s: type %s code %s",
                      dpid, err_type, code)
            return
        ofp = session.datapath.ofproto
        name = ofmsg.error_name(ofp, err_type, code)
        spec = session.xid_specs.get(xid)
        what = f"entry [{spec}]" if spec is not None else f"request xid {xid}"
        text = f"switch {dpid:016x} rejected {what}: {name}"
        LOG.error(text)
        session.errors.append(text)
        if self.metrics is not None:
            self.metrics.openflow_errors.labels(f"{dpid:016x}", name).inc()
        if ofmsg.is_table_full(ofp, err_type, code):
            session.table_full = True
        pending = session.pending.get(xid)
        if pending is not None:  # a request we wait for failed: stop waiting now
            pending.event.set()

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
                    LOG.error("switch %016x: update failed: %s", session.dpid, exc)
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
            self._snapshot_ready.wait()
        snap = self.snapshot
        if snap is not None and not snap.covers(session.dpid):
            self.refresh(force=True)
            snap = self.snapshot
        if snap is None or self.sessions.get(session.dpid) is not session:
            return
        if not snap.covers(session.dpid):
            raise UpdateFailed(f"switch {session.dpid:016x}: no usable snapshot covers it")
        started = time.monotonic()
        try:
            desired, next_change = self.runtime.run_blocking(
                compile_policy, snap, session.dpid, self.runtime.now(), self.policy_options
            )
        except PolicyError as exc:
            session.last_error = f"revision {snap.revision}: {exc}"
            LOG.error("switch %016x: policy revision %s refused, keeping the last good one: %s",
                      session.dpid, snap.revision, exc)
            return
        session.next_change = next_change
        target = (snap.revision, hash(desired))
        if session.failed_target == target:
            # The switch refused exactly this set (e.g. table full): retrying
            # would fail the same way. A new revision or a reconnect retries.
            return
        if self.policy_options.punt_meter and not session.meter_ok:
            self._ensure_meter(session)
        read_back = session.read_back or session.installed is None
        if read_back:
            current = self._read_entries(session)
            session.read_back = False
        else:
            current = session.installed or frozenset()
        plan: UpdatePlan = self.runtime.run_blocking(plan_update, current, desired)
        if plan.empty:
            session.installed = desired
            session.failed_target = None
            if self.metrics is not None:
                label = f"{session.dpid:016x}"
                self.metrics.entries.labels(label).set(len(desired))
                self.metrics.revision_applied.labels(label).set(snap.revision)
            level = logging.INFO if session.applied_revision is None else logging.DEBUG
            LOG.log(level, "switch %016x: in sync at revision %s, %d entries, nothing sent",
                    session.dpid, snap.revision, len(desired))
            session.applied_revision = snap.revision
            return
        self._apply(session, plan)
        if session.errors:
            session.installed = None  # unknown now: read back before the next update
            session.failed_target = target
            session.last_error = "; ".join(session.errors[:3])
            if session.table_full:
                LOG.error("switch %016x: table full; revision %s NOT fully installed "
                          "(entries already added stay; old entries were kept)",
                          session.dpid, snap.revision)
            return
        session.installed = desired
        session.applied_revision = snap.revision
        session.failed_target = None
        session.last_error = None
        done = time.monotonic()
        if self.metrics is not None:
            label = f"{session.dpid:016x}"
            self.metrics.entries.labels(label).set(len(desired))
            self.metrics.revision_applied.labels(label).set(snap.revision)
            self.metrics.change_latency.observe(done - max(self._noticed_at, started))
        LOG.info("switch %016x: policy revision %s installed, %d entries (%s) in %.0f ms "
                 "(%.0f ms after connect)", session.dpid, snap.revision, len(desired),
                 plan.summary(), (done - started) * 1000, (done - session.connected_mono) * 1000)

    def _ensure_meter(self, session: SwitchSession) -> None:
        """Make the punt meter exist with op25b's rate (read back, then add or modify).

        Meters are reconciled like entries: the switch's configuration is read
        and only a missing or different meter is (re)written, before any entry
        that uses it is added.
        """
        dp = session.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        meter_id = self.policy_options.punt_meter
        # All meters, filtered here: asking for one unknown meter is an error on OVS.
        body = self._request(session, parser.OFPMeterConfigStatsRequest(dp, 0, ofp.OFPM_ALL),
                             "meter read")
        rate = max(1, self.options.sample_rate)
        want = (ofp.OFPMF_PKTPS | ofp.OFPMF_BURST, [(ofp.OFPMBT_DROP, rate, rate)])
        have = None
        for cfg in body:
            if cfg.meter_id == meter_id:
                have = (cfg.flags, [(b.type, b.rate, b.burst_size) for b in cfg.bands])
        if have == want:
            session.meter_ok = True
            return
        command = ofp.OFPMC_ADD if have is None else ofp.OFPMC_MODIFY
        mod = parser.OFPMeterMod(dp, command=command, flags=want[0], meter_id=meter_id,
                                 bands=[parser.OFPMeterBandDrop(rate=rate, burst_size=rate)])
        dp.send_msg(mod)
        self._barrier(session)
        if session.errors:
            raise UpdateFailed("; ".join(session.errors))
        session.meter_ok = True
        LOG.info("switch %016x: punt meter %d set to %d packets/s", session.dpid, meter_id,
                 rate)

    def on_meter_config(self, dpid: int, xid: int, body: list[Any], more: bool) -> None:
        self.on_flow_stats(dpid, xid, body, more)

    def on_packet_in(self, dpid: int, cookie: int, in_port: int | None, data: bytes,
                     metadata: int | None = None) -> None:
        """A blocked SYN came up through the punt meter: record its headers, maybe reject."""
        from op25b_app.core import packets as sampling
        from op25b_app.db.counters import Sample

        session = self.sessions.get(dpid)
        if session is None or not constants.is_op25b_cookie(cookie):
            return
        headers = sampling.parse_tcp(data)
        if headers is None or headers.dport != constants.SMTP_PORT:
            return
        # A monitor-mode copy comes from the sample table: its attachment id
        # travelled in the metadata, and the original was forwarded, so it is
        # never answered with a RST.
        copy = constants.band_of(cookie) == constants.Band.SAMPLE
        attachment_id = (metadata or 0) if copy else constants.attachment_of(cookie)
        account = self._accounts(dpid).get(attachment_id) if attachment_id else None
        if len(self._samples) < 10_000:  # bounded even if the database is down
            self._samples.append(Sample(self.runtime.now(), dpid, attachment_id, account,
                                        headers.src, headers.dst, headers.dport))
        if (self.options.block_action == "reject" and in_port is not None and not copy
                and headers.flags & sampling.FLAG_SYN and not headers.flags & sampling.FLAG_ACK):
            dp = session.datapath
            ofp, parser = dp.ofproto, dp.ofproto_parser
            out = parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                                      actions=[parser.OFPActionOutput(in_port, 0)],
                                      data=sampling.build_rst(headers))
            dp.send_msg(out)
            self.rejects_sent += 1

    def _accounts(self, dpid: int) -> dict[int, str]:
        """attachment id -> account for ``dpid`` in the current snapshot (built once).

        Packet-ins and counter polls both attribute by attachment id; a scan of
        100k attachments per sampled packet would be the wrong place to pay.
        """
        snap = self.snapshot
        if snap is None:
            return {}
        cached = self._account_cache.get(dpid)
        if cached is None or cached[0] is not snap:
            cached = (snap, {r.attachment_id: r.account for r in snap.attachments_for(dpid)})
            self._account_cache[dpid] = cached
        return cached[1]

    def take_samples(self) -> list[Any]:
        samples, self._samples = self._samples, []
        return samples

    def _read_entries(self, session: SwitchSession) -> frozenset[FlowSpec]:
        """Read op25b's entries back from the switch; delete ones we cannot parse."""
        dp = session.datapath
        body = self._read_sliced(session, counted_only=False)
        parsed = self.runtime.run_blocking(_parse_all, dp, body)
        specs = frozenset(spec for spec, _stat in parsed if spec is not None)
        junk = [ofmsg.raw_delete_strict(dp, stat.table_id, stat.priority, stat.match)
                for spec, stat in parsed if spec is None]
        if junk:
            for chunk, _xids in ofmsg.serialize_chunks(dp, junk):
                dp.send(chunk)
        return specs

    def _apply(self, session: SwitchSession, plan: UpdatePlan) -> None:
        """Adds, barrier, deletes, barrier: the order that never opens a gap."""
        session.errors = []
        session.table_full = False
        if plan.adds or plan.modifies:
            if plan.adds:
                self._send_batch(session, "add", plan.adds)
            if plan.modifies:
                self._send_batch(session, "modify", plan.modifies, keep_xids=bool(plan.adds))
            self._barrier(session)
            if session.errors:
                # Keep every old entry: deleting them now could open a gap
                # where an add was refused.
                return
        if plan.deletes:
            self._send_batch(session, "delete", plan.deletes)
            self._barrier(session)

    def _send_batch(self, session: SwitchSession, kind: str, specs: tuple[FlowSpec, ...],
                    keep_xids: bool = False) -> None:
        """Build messages off the event loop, then hand the chunks to the socket."""
        dp = session.datapath
        first = ofmsg.reserve_xids(dp, len(specs))
        chunks = self.runtime.run_blocking(ofmsg.build_chunks, dp, kind, specs, first)
        if not keep_xids:
            session.xid_specs = {}
        index = 0
        for chunk, xids in chunks:
            for xid in xids:
                session.xid_specs[xid] = specs[index]
                index += 1
            if not dp.send(chunk):
                raise UpdateFailed(f"switch {session.dpid:016x}: connection closed while sending")
            self.runtime.sleep(0)  # let echo replies and other switches through

    def _request(self, session: SwitchSession, req: Any, what: str) -> list[Any]:
        """Send ``req`` and wait for its reply (barrier, or all parts of a multipart).

        Returns the reply bodies. An error reply for ``req`` ends the wait at
        once (see on_error); a switch that does not answer within
        barrier_timeout fails the update instead of hanging it.
        """
        dp = session.datapath
        dp.set_xid(req)
        pending = _Pending(self.runtime.Event())
        session.pending[req.xid] = pending
        try:
            dp.send_msg(req)
            if not pending.event.wait(timeout=self.options.barrier_timeout):
                raise UpdateFailed(f"switch {session.dpid:016x}: {what} not answered in "
                                   f"{self.options.barrier_timeout:.0f} s")
        finally:
            session.pending.pop(req.xid, None)
        if self.sessions.get(session.dpid) is not session:
            raise UpdateFailed(f"switch {session.dpid:016x}: disconnected during update")
        return pending.body

    def _read_sliced(self, session: SwitchSession, counted_only: bool) -> list[Any]:
        """Flow stats of op25b's entries, read slice by slice (see STATS_SLICES)."""
        dp = session.datapath
        body: list[Any] = []
        for index in range(constants.STATS_SLICES):
            req = ofmsg.flow_stats_request(dp, counted_only=counted_only, slice_index=index)
            body.extend(self._request(session, req, "flow read"))
            self.runtime.sleep(0)
        return body

    def _barrier(self, session: SwitchSession) -> None:
        dp = session.datapath
        self._request(session, dp.ofproto_parser.OFPBarrierRequest(dp), "barrier")
