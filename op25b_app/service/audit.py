"""The audit trail: who changed what, when, recorded in the transaction that changed it.

Why it is built this way:

* **Same transaction.** ``AuditRecorder`` is opened by the service layer at the
  start of every write transaction and writes its rows just before the commit,
  so an audit row exists if and only if the change does (a rolled-back change
  leaves no audit row, and a committed one cannot lose its row).
* **Revisions as a ledger.** Each row records the policy revision its
  transaction started from and ended at. Every write to a policy table
  advances the revision (database triggers), also a write typed into a SQL
  client, so a step of the revision that no audit row accounts for was made
  outside op25b; ``read_audit`` reports it as "direct SQL (revision X→Y)".
  This works on SQLite, where a trigger cannot tell who is writing.
* **PostgreSQL knows more.** The recorder sets the transaction-local setting
  ``op25b.actor``; triggers (migration 0003) record rows written without it,
  with the database role as the actor, so those appear with their data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.db.engine import insert_many
from op25b_app.db.models import AuditEntry, PolicyRevision
from op25b_app.db.snapshot_loader import read_revision

log = logging.getLogger(__name__)

#: PostgreSQL setting that marks a transaction as op25b's own (see module docstring).
ACTOR_SETTING = "op25b.actor"
#: The actor shown for writes op25b did not make.
DIRECT_SQL = "direct SQL"

_AUDIT_TABLE = cast(sa.Table, AuditEntry.__table__)
_MAX_ACTOR = 200
_MAX_KEY = 200


def default_actor() -> str:
    """The operating-system user running this process (the CLI's actor).

    ``getpass.getuser`` fails in containers whose uid has no passwd entry;
    the numeric uid still says who it was.
    """
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return f"uid:{os.getuid()}"


def encode_state(state: Mapping[str, Any] | None) -> str | None:
    """The stored JSON form of a before/after state (compact, keys sorted)."""
    if state is None:
        return None
    return json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)


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


class AuditRecorder:
    """Collects the audit entries of one write transaction and writes them at its end."""

    def __init__(self, session: Session, actor: str, clock: Callable[[], dt.datetime]) -> None:
        self._session = session
        self._actor = actor[:_MAX_ACTOR]
        self._clock = clock
        self._rows: list[dict[str, Any]] = []
        self.revision_before: int | None = None
        #: Set by ``finish``: the revision the transaction commits.
        self.revision_after: int | None = None

    def begin(self) -> None:
        """Note the starting revision and tell PostgreSQL's triggers the writer is op25b.

        Must run under the write lock, before the first policy write.
        """
        conn = self._session.connection()
        self.revision_before = read_revision(conn)
        if conn.dialect.name == "postgresql":
            conn.execute(
                sa.text("SELECT set_config(:name, :actor, true)"),
                {"name": ACTOR_SETTING, "actor": self._actor},
            )

    def record(
        self,
        entity: str,
        key: str,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        account: str | None = None,
    ) -> None:
        """Queue one entry; ``before``/``after`` are JSON-ready states (None: absent)."""
        self.record_encoded(entity, key, action, encode_state(before), encode_state(after), account)

    def record_encoded(
        self,
        entity: str,
        key: str,
        action: str,
        before: str | None,
        after: str | None,
        account: str | None = None,
    ) -> None:
        """Queue one entry whose states are already JSON text (bulk import path)."""
        self._rows.append(
            {
                "actor": self._actor,
                "action": action,
                "entity": entity,
                "entity_key": key[:_MAX_KEY],
                "account": account,
                "before_state": before,
                "after_state": after,
            }
        )

    @property
    def pending(self) -> int:
        """How many entries are queued."""
        return len(self._rows)

    def finish(self) -> int:
        """Flush the changes, read the revision they produced, and write the entries.

        Returns the revision the transaction ends at.
        """
        self._session.flush()
        conn = self._session.connection()
        revision_after = read_revision(conn)
        self.revision_after = revision_after
        if self._rows:
            at = self._clock()
            for row in self._rows:
                row["at"] = at
                row["revision_before"] = self.revision_before
                row["revision_after"] = revision_after
            insert_many(conn, _AUDIT_TABLE, self._rows)
            log.debug(
                "%d audit entr%s by %s (revision %s→%s)",
                len(self._rows),
                "y" if len(self._rows) == 1 else "ies",
                self._actor,
                self.revision_before,
                revision_after,
            )
        elif revision_after != self.revision_before:
            # A write op25b made but did not describe: say so, or the
            # revision-gap report would blame "direct SQL" for it.
            log.warning("policy written without an audit entry (revision %s→%s)",
                        self.revision_before, revision_after)
        self._rows = []
        return revision_after


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
        current = read_revision(session.connection())
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
            parts.extend(f"+{field[:-1] if field.endswith('s') else field} {x}" for x in added)
            parts.extend(f"-{field[:-1] if field.endswith('s') else field} {x}" for x in removed)
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
