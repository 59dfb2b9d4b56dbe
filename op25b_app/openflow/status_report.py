"""The controller's state, written into the database for every other reader.

``op25b status``, the REST API, dashboards and a second controller read switch
state from the database instead of asking this process, so they keep working
while it restarts. A switch row is written as soon as it changes; a heartbeat
(with the revision loaded and the options this controller renders with) at
least every ``status_interval`` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import Any

from op25b_app.core.snapshot import PolicySnapshot
from op25b_app.db.models import POLICY_TABLES
from op25b_app.db.status import SwitchRow
from op25b_app.openflow.runtime import Runtime
from op25b_app.openflow.session import SwitchSession

LOG = logging.getLogger("op25b.status")


def switch_row(session: SwitchSession, connected: bool = True) -> SwitchRow:
    """``session`` as the status table records it."""
    return SwitchRow(
        dpid=session.dpid,
        connected=connected,
        connected_since=session.connected_at if connected else None,
        revision_applied=session.applied_revision,
        entries=len(session.installed) if session.installed is not None else 0,
        last_error=session.last_error,
        fragment_mode=session.fragment_mode,
    )


class StatusReporter:
    """Writes changed switch rows at once and a heartbeat every ``interval`` seconds."""

    def __init__(self, runtime: Runtime, controller_id: str, interval: float,
                 policy_options: dict[str, Any]) -> None:
        self.runtime = runtime
        self.controller_id = controller_id
        self.interval = interval
        self.policy_options = policy_options
        self.started_at = runtime.now()
        self._written: dict[int, SwitchRow] = {}
        self._gone: dict[int, SwitchRow] = {}
        self._at = 0.0

    def disconnected(self, session: SwitchSession) -> None:
        """Remember that ``session``'s switch is gone; written with the next report."""
        self._gone[session.dpid] = switch_row(session, connected=False)

    def report(self, source: Any, sessions: Iterable[SwitchSession], revision: int | None,
               bad: tuple[int, str] | None, force: bool = False,
               quarantine: dict[str, Any] | None = None) -> None:
        """Write what changed (and the heartbeat when due) through ``source``."""
        rows = [row for row in (switch_row(s) for s in sessions)
                if self._written.get(row.dpid) != row]
        rows.extend(self._gone.values())
        due = time.monotonic() - self._at >= self.interval
        if not rows and not due and not force:
            return
        now: dt.datetime = self.runtime.now()
        self.runtime.run_blocking(source.write_status, self.controller_id, self.started_at, now,
                                  revision, bad, rows, self.policy_options, quarantine)
        for row in rows:
            self._written[row.dpid] = row
            self._gone.pop(row.dpid, None)
        self._at = time.monotonic()


#: Quarantined rows logged per revision, and listed in the status (the total is always given).
QUARANTINE_LOG_ROWS = 50
QUARANTINE_STATUS_ROWS = 20


def note_quarantine(snap: PolicySnapshot, logged: int | None, metrics: Any = None,
                    ) -> tuple[dict[str, Any] | None, int | None]:
    """Log each quarantined row once per revision; the summary for the status.

    Returns ``(summary or None, the revision logged)``; ``logged`` is the
    revision whose rows were logged last time (a forced reload of the same
    revision does not log them again).
    """
    rows = snap.quarantined
    if metrics is not None:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.table] = counts.get(row.table, 0) + 1
        for table in POLICY_TABLES:
            metrics.quarantined_rows.labels(table).set(counts.get(table, 0))
    if not rows:
        return None, logged
    if logged != snap.revision:
        logged = snap.revision
        for row in rows[:QUARANTINE_LOG_ROWS]:
            LOG.error("revision %s: quarantined %s; its part fails closed", snap.revision, row)
        if len(rows) > QUARANTINE_LOG_ROWS:
            LOG.error("revision %s: %d more rows quarantined (op25b status lists them)",
                      snap.revision, len(rows) - QUARANTINE_LOG_ROWS)
    return {"revision": snap.revision, "total": len(rows),
            "rows": [row.to_dict() for row in rows[:QUARANTINE_STATUS_ROWS]]}, logged
