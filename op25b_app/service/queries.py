"""Read-only questions the interfaces ask: status, policy preview, abuse-desk reports.

They read the database (what the controllers wrote back, the policy tables,
the counters), never a controller, so they answer while a controller
restarts. The CLI and the REST API call these instead of reaching into
``op25b_app.db`` or compiling policies themselves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from op25b_app.service.errors import StoredDataError, ValidationError
from op25b_app.service.inputs import MAX_SPAN, parse_dpid, parse_int, parse_span, parse_time
from op25b_app.service.transactions import ServiceBase

if TYPE_CHECKING:
    from op25b_app.core.flowspec import FlowSpec
    from op25b_app.core.snapshot import QuarantinedRow

#: The largest packet count a query compares with (a signed 64-bit counter).
MAX_COUNT = 2**63 - 1
#: The default look-back of ``report affected`` (the notice list before enforcement).
AFFECTED_DEFAULT_SPAN = dt.timedelta(days=30)


@dataclasses.dataclass(frozen=True)
class PolicyPreview:
    """The entries a switch should hold at a time, as its controller would render them."""

    dpid: int
    revision: int
    at: dt.datetime
    next_change: dt.datetime | None
    entries: tuple[FlowSpec, ...]
    #: The controller whose options were used, or None for op25b's defaults.
    options_from: str | None
    #: Rows left out because they failed validation (their part fails closed).
    quarantined: tuple[QuarantinedRow, ...] = ()

    def entry_dicts(self) -> list[dict[str, Any]]:
        """Each entry as JSON-ready builtins, in table and precedence order."""
        return [{"table": s.table, "priority": s.priority, "match": dict(s.match),
                 "actions": s.actions, "cookie": s.cookie, "text": str(s)}
                for s in self.entries]

    def to_dict(self) -> dict[str, Any]:
        return {"dpid": self.dpid, "dpid_hex": f"{self.dpid:016x}", "revision": self.revision,
                "at": self.at, "next_change": self.next_change,
                "options_from": self.options_from, "entries": self.entry_dicts(),
                "quarantined": [row.to_dict() for row in self.quarantined]}


class QueryOps(ServiceBase):
    """Mixed into ``PolicyService``: its engine, clock and zone answer the questions.

    The ``db`` functions behind these open their own connections, so each
    call runs under ``_database_errors()``: an outage is ``DatabaseUnavailable``
    here as it is for every other service call.
    """

    # The modules behind these questions (the compiler, the snapshot loader,
    # the counters) are imported by the question that needs them: the other
    # commands start faster without them.

    def status(self) -> dict[str, Any]:
        """Policy revision, controllers and switches as the controllers reported them."""
        from op25b_app.db.status import read_status

        with self._database_errors():
            return read_status(self._engine)

    def policy_preview(self, dpid: int | str,
                       at: dt.datetime | str | None = None) -> PolicyPreview:
        """Compile switch ``dpid``'s policy at ``at`` (default now) from the database.

        Rendered with the options of the controller serving the switch (table,
        priorities, pass action), or op25b's defaults when none has reported it.
        """
        from op25b_app.core.compile import compile_policy
        from op25b_app.core.errors import PolicyError
        from op25b_app.core.options import DEFAULT_OPTIONS, PolicyOptions
        from op25b_app.db.snapshot_loader import SnapshotError, load_snapshot
        from op25b_app.db.status import serving_controller_options

        value = parse_dpid(dpid)
        now = self._clock() if at is None else parse_time(at, "at", self._tz)
        with self._database_errors():
            served = serving_controller_options(self._engine, value)
        options, options_from = DEFAULT_OPTIONS, None
        if served is not None:
            try:
                options = PolicyOptions.from_dict(served[1])
                options_from = served[0]
            except (PolicyError, TypeError):
                options = DEFAULT_OPTIONS
        try:
            with self._database_errors():
                snapshot = load_snapshot(self._engine, dpids=[value])
            specs, next_change = compile_policy(snapshot, value, now, options)
        except SnapshotError as error:
            raise StoredDataError(error.field, error.value,
                                  f"malformed stored data: {error}") from error
        except PolicyError as error:
            raise StoredDataError("dpid", dpid,
                                  f"the stored policy cannot be compiled: {error}") from error
        ordered = tuple(sorted(specs, key=lambda s: (s.table, -s.priority, str(s))))
        return PolicyPreview(value, snapshot.revision, now, next_change, ordered, options_from,
                             snapshot.quarantined)

    def report_affected(self, since: dt.datetime | str | None = None) -> list[dict[str, Any]]:
        """Subscribers counted while monitored since ``since`` (default: 30 days)."""
        from op25b_app.db import counters

        now = self._clock()
        start = now - AFFECTED_DEFAULT_SPAN if since is None else \
            parse_time(since, "since", self._tz)
        with self._database_errors():
            return counters.affected(self._engine, start)

    def report_suspects(self, window: str | dt.timedelta = "1h",
                        threshold: int | str = 100) -> list[dict[str, Any]]:
        """Subscribers with more than ``threshold`` blocked attempts in ``window``."""
        from op25b_app.db import counters

        span = window if isinstance(window, dt.timedelta) else parse_span(window, "window")
        if span > MAX_SPAN:
            raise ValidationError("window", window, f"longer than {MAX_SPAN.days} days")
        count = parse_int("threshold", threshold, 0, MAX_COUNT, "a number of packets (0 or more)")

        with self._database_errors():
            return counters.suspects(self._engine, span, count, self._clock())
