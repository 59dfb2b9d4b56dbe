"""The controller's state, written into the database for every other reader.

``op25b status``, the REST API, dashboards and a second controller read switch
state from the database instead of asking this process, so they keep working
while it restarts. A switch row is written as soon as it changes; a heartbeat
(with the revision loaded and the options this controller renders with) at
least every ``status_interval`` seconds.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from op25b_app.db.status import SwitchRow
from op25b_app.openflow.runtime import Runtime
from op25b_app.openflow.session import SwitchSession


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
