"""Reading the audit trail back: recorded changes, and the writes nobody recorded.

The recorder (``audit``) writes an entry per change; this module turns the
entries into what an operator reads, and infers from the revision ledger the
steps no entry accounts for (a write typed into a SQL client), so the trail
never looks complete when it is not. ``AuditLogOps`` is the service's door
to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.db.models import AuditEntry, PolicyRevision
from op25b_app.service.audit import policy_revision
from op25b_app.service.inputs import parse_int, parse_since
from op25b_app.service.texts import check_no_control
from op25b_app.service.transactions import ServiceBase

#: The actor shown for writes op25b did not make.
DIRECT_SQL = "direct SQL"


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntryView:
    """One audit entry as shown to an operator.

    ``id`` is None for a revision advance no entry accounts for (a direct SQL
    write reported by the revision-gap method); its ``at`` is then the time
    of the next recorded change (an upper bound, ``at_exact`` false) or, for
    the newest gap, the time the revision last advanced.
    """

    id: int | None
    at: dt.datetime | None
    at_exact: bool
    actor: str
    action: str
    entity: str
    key: str
    account: str | None
    before: Any
    after: Any
    revision_before: int | None
    revision_after: int | None
    #: One line saying what changed (field by field), or "direct SQL (revision X→Y)".
    summary: str

    @property
    def is_revision_gap(self) -> bool:
        """True for a "direct SQL (revision X→Y)" entry inferred from the revisions."""
        return self.id is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601 with offset)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["at"] = None if self.at is None else self.at.isoformat()
        return data


def read_audit(
    session: Session,
    *,
    account: str | None = None,
    since: dt.datetime | None = None,
    limit: int | None = None,
) -> list[AuditEntryView]:
    """Audit entries, newest first, with unaccounted revision advances as "direct SQL".

    Revision gaps cannot be attributed to an account, so ``account`` leaves
    them out; ``since`` keeps a gap whose (upper-bound) time is not earlier.
    """
    table = AuditEntry.__table__
    query = sa.select(table).order_by(
        table.c.revision_after.desc().nulls_last(), table.c.id.desc()
    )
    if account is not None:
        query = query.where(table.c.account == account)
    if since is not None:
        query = query.where(table.c.at >= since)
    if limit:
        query = query.limit(limit)
    entries = [_entry_view(row) for row in session.execute(query).mappings()]
    if account is None:
        gaps = [g for g in _revision_gaps(session) if since is None or (g.at and g.at >= since)]
        entries = sorted(
            entries + gaps,
            key=lambda e: (
                -1 if e.revision_after is None else e.revision_after,
                -1 if e.id is None else e.id,
            ),
            reverse=True,
        )
        if limit:
            entries = entries[:limit]
    return entries


def _entry_view(row: sa.RowMapping) -> AuditEntryView:
    before = _decode(row["before_state"])
    after = _decode(row["after_state"])
    return AuditEntryView(
        id=row["id"],
        at=row["at"],
        at_exact=True,
        actor=row["actor"],
        action=row["action"],
        entity=row["entity"],
        key=row["entity_key"],
        account=row["account"],
        before=before,
        after=after,
        revision_before=row["revision_before"],
        revision_after=row["revision_after"],
        summary=describe_change(before, after),
    )


def _decode(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # a hand-written row: show it as it is


def _revision_gaps(session: Session) -> list[AuditEntryView]:
    """Revision steps no audit row accounts for, oldest first."""
    table = AuditEntry.__table__
    transactions = session.execute(
        sa.select(table.c.revision_before, table.c.revision_after, sa.func.min(table.c.at))
        .where(table.c.revision_before.is_not(None), table.c.revision_after.is_not(None))
        .group_by(table.c.revision_before, table.c.revision_after)
        .order_by(table.c.revision_after, table.c.revision_before)
    ).all()
    gaps: list[AuditEntryView] = []
    reached: int | None = None
    for before, after, first_at in transactions:
        if reached is not None and before > reached:
            gaps.append(_gap(reached, before, first_at, exact=False))
        reached = after if reached is None else max(reached, after)
    if reached is not None:
        current = policy_revision(session.connection())
        if current > reached:
            changed_at = session.scalar(
                sa.select(PolicyRevision.changed_at).where(PolicyRevision.id == 1)
            )
            gaps.append(_gap(reached, current, changed_at, exact=True))
    return gaps


def _gap(start: int, end: int, at: dt.datetime | None, *, exact: bool) -> AuditEntryView:
    return AuditEntryView(
        id=None,
        at=at,
        at_exact=exact,
        actor=DIRECT_SQL,
        action="sql",
        entity="policy",
        key="",
        account=None,
        before=None,
        after=None,
        revision_before=start,
        revision_after=end,
        summary=f"{DIRECT_SQL} (revision {start}→{end})",
    )


def describe_change(before: Any, after: Any) -> str:
    """A short human description of a before/after pair of states."""
    if not isinstance(before, dict) and not isinstance(after, dict):
        return "" if before is None and after is None else f"{before!r} → {after!r}"
    if not isinstance(before, dict):
        return _describe_state(after)
    if not isinstance(after, dict):
        return "was " + _describe_state(before)
    parts: list[str] = []
    for field in sorted(before.keys() | after.keys()):
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list):
            added = [x for x in new if x not in old]
            removed = [x for x in old if x not in new]
            parts.extend(f"+{field.removesuffix('s')} {x}" for x in added)
            parts.extend(f"-{field.removesuffix('s')} {x}" for x in removed)
        else:
            parts.append(f"{field}: {_short(old)} → {_short(new)}")
    return ", ".join(parts) or "no change"


def _describe_state(state: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={_short(v)}" for k, v in sorted(state.items()) if v not in (None, "", [], False)
    )


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    if value is None:
        return "-"
    return str(value)


class AuditLogOps(ServiceBase):
    """Mixed into ``PolicyService``: the audit trail as operators query it."""

    def audit_log(
        self,
        *,
        account: str | None = None,
        since: dt.datetime | str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntryView]:
        """Recorded changes, newest first, with unaccounted revision advances as direct SQL.

        ``since`` is a time (offset or configured zone) or a span back from
        now such as ``30m``, ``12h``, ``7d``; ``limit`` 0 or None means all.
        """
        if account is not None:
            check_no_control("account", account)
        since_utc = None if since is None else parse_since(since, self._clock(), self._tz)
        if limit is not None:
            limit = parse_int("limit", limit, 0, 2**31 - 1, "a number")
        with self._read() as session:
            return read_audit(session, account=account, since=since_utc, limit=limit or None)
