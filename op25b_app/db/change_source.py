"""Where the controller learns about policy changes: the revision, snapshots, NOTIFY.

The controller polls the policy revision (advanced by database triggers on
every write, direct SQL included) and loads a snapshot of the connected
switches' part of the database when it moves. On PostgreSQL it also LISTENs on
the channel the revision trigger notifies at COMMIT, so a change is seen at
once; polling stays as the fallback (a lost listen connection only costs
latency, never a change). The same object writes the controller's status and
counter state back, so the controller has exactly one way into the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from typing import Any

import psycopg
from sqlalchemy.exc import InterfaceError, OperationalError

from op25b_app.core.snapshot import PolicySnapshot
from op25b_app.db import counters, status
from op25b_app.db.engine import make_engine
from op25b_app.db.models import POLICY_NOTIFY_CHANNEL
from op25b_app.db.change_log import prune
from op25b_app.db.snapshot_loader import load_snapshot, read_revision
from op25b_app.db.snapshot_patch import SnapshotPatch, load_patch

LOG = logging.getLogger("op25b.changes")


class SourceUnavailable(Exception):
    """The database could not be read; a transient state, retried with backoff."""


class DatabaseSource:
    """Reads revisions and snapshots from the subscriber database; writes state back."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.can_listen = self.engine.dialect.name == "postgresql"
        self._listen_conn: Any = None

    def revision(self) -> int:
        """The current policy revision."""
        try:
            with self.engine.connect() as conn:
                return read_revision(conn)
        except (OperationalError, InterfaceError) as error:
            raise SourceUnavailable(_first_line(error)) from error

    def load(self, dpids: frozenset[int] | None = None) -> PolicySnapshot:
        """A snapshot of the policy tables, attachments limited to ``dpids``."""
        try:
            return load_snapshot(self.engine, dpids)
        except (OperationalError, InterfaceError) as error:
            raise SourceUnavailable(_first_line(error)) from error

    def load_patch(self, base: PolicySnapshot, dpid_of: dict[int, int]) -> SnapshotPatch | None:
        """The snapshot after ``base`` from the change log alone; None: load it all."""
        try:
            return load_patch(self.engine, base, dpid_of)
        except (OperationalError, InterfaceError) as error:
            raise SourceUnavailable(_first_line(error)) from error

    def prune_changes(self, now: dt.datetime) -> int:
        """Forget change-log rows older than the log keeps (see ``change_log.KEEP``)."""
        try:
            return prune(self.engine, now)
        except (OperationalError, InterfaceError) as error:
            raise SourceUnavailable(_first_line(error)) from error

    def write_status(self, controller_id: str, started_at: dt.datetime, now: dt.datetime,
                     revision: int | None, bad: tuple[int, str] | None,
                     rows: list[status.SwitchRow],
                     policy_options: dict[str, Any] | None = None,
                     quarantine: dict[str, Any] | None = None) -> None:
        """Heartbeat (with the options and the quarantine) plus the switch rows that changed."""
        status.write_controller(self.engine, controller_id, os.getpid(), started_at, now,
                                revision, bad, policy_options, quarantine)
        if rows:
            status.write_switches(self.engine, controller_id, rows, now)

    def load_marks(self, dpid: int) -> dict[str, tuple[int, float]]:
        """The last counter values read from ``dpid``'s counted entries."""
        return counters.load_marks(self.engine, dpid)

    def record_counts(self, dpid: int, deltas: list[counters.CountDelta],
                      marks: dict[str, tuple[int, float]], now: dt.datetime,
                      retention: dt.timedelta, samples: list[counters.Sample]) -> None:
        """Add new blocked-attempt counts and samples; store the new marks."""
        counters.record(self.engine, dpid, deltas, marks, now, retention, samples)

    def wait_for_change(self, timeout: float) -> bool:
        """Block (on a native thread) until a NOTIFY arrives or ``timeout`` passes."""
        try:
            if self._listen_conn is None or self._listen_conn.closed:
                url = self.engine.url.set(drivername="postgresql")
                self._listen_conn = psycopg.connect(
                    url.render_as_string(hide_password=False), autocommit=True
                )
                self._listen_conn.execute(f"LISTEN {POLICY_NOTIFY_CHANNEL}")
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


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
