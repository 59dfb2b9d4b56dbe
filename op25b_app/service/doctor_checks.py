"""The database checks of ``op25b doctor``: pure functions of ``DatabaseFacts``.

Each returns ``Check``s - a status (ok, warn, fail), what was looked at, what
was found, and the fix an operator types - and never raises for what it
finds: a doctor that stops at the first problem hides the second.

A controller whose heartbeat is stale is not trusted about its switches: a
controller that died while a switch was connected leaves ``connected`` true
in its rows forever, so switch checks only believe live controllers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from op25b_app.service.doctor_facts import ControllerFact, DatabaseFacts, SwitchStatusFact

OK, WARN, FAIL = "ok", "warn", "fail"
STATUSES = (OK, WARN, FAIL)
#: Share of a switch's known capacity (``max-entries``) that is worth a warning.
CAPACITY_WARN_SHARE = 0.9
#: Quarantined rows named in the line (the rest are counted).
QUARANTINE_SHOWN = 3
_LOGS = "journalctl -u op25b-controller"


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the doctor's answer."""

    status: str
    name: str
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _age(facts: DatabaseFacts, when: dt.datetime) -> float:
    return (facts.db_now - when).total_seconds()


def live_controllers(facts: DatabaseFacts, stale_after: float) -> set[str]:
    """Controllers whose heartbeat is at most ``stale_after`` seconds old."""
    return {c.controller_id for c in facts.controllers
            if _age(facts, c.heartbeat_at) <= stale_after}


def check_heartbeats(facts: DatabaseFacts, stale_after: float) -> list[Check]:
    """Each controller's heartbeat is fresh; there is at least one controller."""
    if not facts.controllers:
        return [Check(FAIL, "controllers", "no controller has ever reported to this database",
                      "start op25b-controller with this database (systemctl start "
                      "op25b-controller)")]
    live = live_controllers(facts, stale_after)
    checks = []
    for c in facts.controllers:
        age = _age(facts, c.heartbeat_at)
        name = f"controller {c.controller_id}"
        if c.controller_id in live:
            checks.append(Check(OK, name, f"heartbeat {age:.0f} s ago (pid {c.pid})"))
            continue
        detail = f"heartbeat {age:.0f} s old (limit {stale_after:g} s; pid {c.pid})"
        fix = f"systemctl status op25b-controller; {_LOGS}"
        # A retired controller id (renamed, moved) while others serve: not an outage.
        status = WARN if live else FAIL
        if live:
            fix += "; if this controller id is retired, delete its controller_status " \
                   "and switch_status rows"
        checks.append(Check(status, name, detail, fix))
    return checks


def check_revisions(facts: DatabaseFacts, stale_after: float,
                    stuck_after: float) -> list[Check]:
    """Each live controller loaded the database's revision, or is catching up in time."""
    live = live_controllers(facts, stale_after)
    lag = _age(facts, facts.revision_changed_at)
    checks = []
    for c in facts.controllers:
        if c.controller_id not in live:
            continue  # its heartbeat line says it all
        name = f"policy {c.controller_id}"
        if c.bad_revision is not None:
            checks.append(Check(
                FAIL, name, f"revision {c.bad_revision} rejected: {c.bad_reason}; switches "
                f"keep revision {c.revision_loaded}",
                "correct the row the reason names (op25b status shows it); the next "
                "change is picked up by itself"))
        elif c.revision_loaded == facts.revision:
            checks.append(Check(OK, name, f"revision {facts.revision} loaded (the database's)"))
        elif lag <= stuck_after:
            checks.append(Check(OK, name, f"revision {c.revision_loaded} loaded, database at "
                                f"{facts.revision} since {lag:.0f} s: catching up"))
        else:
            checks.append(Check(
                FAIL, name, f"revision {c.revision_loaded} loaded, database at "
                f"{facts.revision} for {lag:.0f} s (limit {stuck_after:g} s)",
                f"{_LOGS}; op25b status"))
    return checks


def _serving(facts: DatabaseFacts, dpid: int, live: set[str]) -> SwitchStatusFact | None:
    rows = [s for s in facts.statuses
            if s.dpid == dpid and s.connected and s.controller_id in live]
    return max(rows, key=lambda s: s.updated_at) if rows else None


def check_switches(facts: DatabaseFacts, stale_after: float,
                   stuck_after: float) -> list[Check]:
    """Each registered switch is connected to a live controller, in sync, under capacity."""
    if not facts.switches:
        return [Check(WARN, "switches", "no switch is registered: every switch that "
                      "connects is treated as a customer edge without uplinks",
                      "op25b switch add --dpid DPID --name NAME --uplink PORT")]
    live = live_controllers(facts, stale_after)
    options = {c.controller_id: c.options for c in facts.controllers}
    return [_switch(facts, dpid, name, _serving(facts, dpid, live), options, stuck_after)
            for dpid, (name, _role) in sorted(facts.switches.items())]


def _switch(facts: DatabaseFacts, dpid: int, name: str, row: SwitchStatusFact | None,
            options: dict[str, dict[str, Any]], stuck_after: float) -> Check:
    label = f"switch {name} ({dpid:#x})"
    if row is None:
        seen = [s.updated_at for s in facts.statuses if s.dpid == dpid]
        last = f"last reported {_age(facts, max(seen)):.0f} s ago" if seen else "never reported"
        return Check(FAIL, label, f"not connected to a live controller ({last})",
                     "check the switch's controller target (ovs-vsctl get-controller BRIDGE) "
                     "and that op25b-controller listens on 6653")
    where = f"on {row.controller_id}"
    if row.last_error is not None:
        return Check(FAIL, label, f"{where}: not in sync, error: {row.last_error}",
                     f"{_LOGS} names the refused entry; fix the cause, then change the "
                     "policy or reconnect the switch to retry")
    lag = _age(facts, facts.revision_changed_at)
    if row.revision_applied != facts.revision and lag > stuck_after:
        return Check(FAIL, label, f"{where}: at revision {row.revision_applied}, database at "
                     f"{facts.revision} for {lag:.0f} s", f"{_LOGS}; op25b status")
    capacity = int(options.get(row.controller_id, {}).get("max_entries") or 0)
    state = f"{where}: revision {row.revision_applied}, {row.entries} entries"
    if capacity and row.entries >= capacity:
        return Check(FAIL, label, f"{state}: at its capacity of {capacity}",
                     "raise --op25b-max-entries if the switch has room, or move subscribers "
                     "to another switch")
    if capacity and row.entries >= CAPACITY_WARN_SHARE * capacity:
        return Check(WARN, label, f"{state}: {row.entries / capacity:.0%} of its capacity "
                     f"{capacity}", "plan more table space before it fills")
    if row.fragment_mode not in (None, "nx-match"):
        return Check(WARN, label, f"{state}; fragment handling '{row.fragment_mode}', not "
                     "nx-match: every TCP first fragment from customers is dropped",
                     "use a switch that takes nx-match fragment handling (README: Crafted "
                     "packets)")
    return Check(OK, label, state)


def check_unregistered(facts: DatabaseFacts) -> list[Check]:
    """Switches a controller reported that the database does not know."""
    unknown: dict[int, list[str]] = {}
    for s in facts.statuses:
        if s.dpid not in facts.switches:
            unknown.setdefault(s.dpid, []).append(s.controller_id)
    if not unknown:
        return [Check(OK, "unregistered switches", "every switch a controller reported is "
                      "registered")]
    shown = ", ".join(f"{dpid:#x} (seen by {', '.join(ids)})" for dpid, ids in
                      sorted(unknown.items()))
    return [Check(WARN, "unregistered switches", f"{shown}: treated as customer edges "
                  "without uplinks (TCP/25 blocked on every port)",
                  "op25b switch add --dpid DPID --name NAME --uplink PORT (or --role core)")]


def check_quarantine(facts: DatabaseFacts) -> list[Check]:
    """Rows a controller left out of the policy because they are malformed."""
    if not facts.quarantine_reported:
        return [Check(OK, "quarantine", "not reported by this schema (no "
                      "controller_status.quarantine column yet)")]
    checks = []
    for c in facts.controllers:
        checks.extend(_quarantine(c))
    return checks or [Check(OK, "quarantine", "no controller reported quarantined rows")]


def _quarantine(c: ControllerFact) -> list[Check]:
    name = f"quarantine {c.controller_id}"
    q = c.quarantine
    if q is None:
        return []
    if isinstance(q, str):
        return [Check(WARN, name, f"unreadable quarantine report: {q[:80]!r}", _LOGS)]
    rows = [r for r in q.get("rows") or [] if isinstance(r, dict)]
    total = q.get("total")
    total = total if isinstance(total, int) else len(rows)
    if total == 0:
        return [Check(OK, name, f"no quarantined rows (revision {q.get('revision')})")]
    shown = "; ".join(
        f"{r.get('table')} {r.get('row')} {r.get('field')}={r.get('value')!r}: {r.get('reason')}"
        for r in rows[:QUARANTINE_SHOWN])
    more = f"; and {total - min(len(rows), QUARANTINE_SHOWN)} more" \
        if total > QUARANTINE_SHOWN else ""
    return [Check(WARN, name, f"{total} row(s) left out of revision {q.get('revision')}: "
                  f"{shown}{more}",
                  "correct or delete those rows (they were written around op25b's "
                  "validation, e.g. by SQL)")]


def database_checks(facts: DatabaseFacts, stale_after: float,
                    stuck_after: float) -> list[Check]:
    """Every check that reads the database's rows, in the order they are shown."""
    return [*check_heartbeats(facts, stale_after),
            *check_revisions(facts, stale_after, stuck_after),
            *check_switches(facts, stale_after, stuck_after),
            *check_unregistered(facts),
            *check_quarantine(facts)]
