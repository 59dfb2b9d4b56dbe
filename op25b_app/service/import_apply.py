"""Writing a checked bulk import: only the difference, in a few Core statements.

Core ``executemany``/COPY statements, not ORM objects, because 100k ORM
objects take minutes; see scripts/bench_import.py. Attachments an update
keeps are not touched (they keep their ids), so re-importing an export
writes nothing. The audit entries (one per changed subscriber, one for the
import) go into the same transaction through the recorder.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from op25b_app.db.engine import insert_many
from op25b_app.db.models import Attachment, Subscriber
from op25b_app.service.audit import AuditRecorder, encode_state
from op25b_app.service.audit_states import attachment_state, subscriber_state
from op25b_app.service.import_lookups import chunks, keyed
from op25b_app.service.import_plan import ImportPlan
from op25b_app.service.import_records import ImportProgress

log = logging.getLogger(__name__)

# The ORM classes declare ``__table__`` as a generic FromClause; these are Tables.
_SUBSCRIBERS = cast(sa.Table, Subscriber.__table__)
_ATTACHMENTS = cast(sa.Table, Attachment.__table__)
#: New subscribers per INSERT (and per id lookup after it).
_INSERT_CHUNK = 10_000
#: After writing this many rows on PostgreSQL, refresh the planner statistics
#: of the tables written (see ``_refresh_statistics``).
_ANALYZE_AFTER_ROWS = 5_000


def apply_import(
    session: Session,
    plan: ImportPlan,
    recorder: AuditRecorder,
    *,
    now: dt.datetime,
    source: str = "",
    progress: ImportProgress | None = None,
) -> None:
    """Write a checked plan: deletes first (so a match can move between accounts), then
    subscriber updates (with changed carries of kept attachments), new subscribers,
    new attachments, and the audit entries."""
    conn = session.connection()
    tick = _ticker(progress, len(plan.added) + len(plan.updated))
    stale = _delete_stale_attachments(session, conn, plan)
    recarried = 0
    if plan.updated:
        _update_subscribers(conn, plan, now)
        recarried = _update_carries(conn, plan)
        tick(len(plan.updated))
    ids = _insert_subscribers(session, conn, plan, now, tick)
    attachment_rows = _new_attachment_rows(plan, ids)
    insert_many(conn, _ATTACHMENTS, attachment_rows)
    _record_audit(plan, recorder, source)
    written = (len(stale) + len(plan.updated) + recarried + len(plan.added)
               + len(attachment_rows))
    _refresh_statistics(conn, written)


def _ticker(progress: ImportProgress | None, total: int) -> Callable[[int], None]:
    """A counter that reports the write phase's progress as subscribers are written."""
    done = 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress("write", done, total)

    return tick


def _delete_stale_attachments(session: Session, conn: Connection, plan: ImportPlan) -> list[int]:
    """Delete the attachments updated accounts no longer have; returns their ids."""
    at = _ATTACHMENTS
    stale: list[int] = []
    for account in plan.updated:
        new_keys = plan.new_keys(account)
        stale.extend(att_id for key, att_id in plan.stored[account].attachments.items()
                     if key not in new_keys)
    for condition in keyed(session, at.c.id, stale):
        conn.execute(sa.delete(at).where(condition))
    return stale


def _file_columns(plan: ImportPlan, account: str) -> dict[str, Any]:
    """The subscriber columns an import sets: the file's fields of ``account``."""
    group = plan.accounts[account]
    return {
        "name": group.name,
        "type_id": plan.types[group.type_name],
        "exempt": group.exempt,
        "exempt_reason": group.reason,
        "exempt_until": group.until,
    }


#: The columns ``_file_columns`` sets, in an UPDATE's parameter names (SQLAlchemy
#: reserves the column names themselves for its own SET parameters).
_SET_PARAMS = {
    column: sa.bindparam(f"b_{column}", type_=_SUBSCRIBERS.c[column].type)
    for column in ("name", "type_id", "exempt", "exempt_reason", "exempt_until")
}


def _update_subscribers(conn: Connection, plan: ImportPlan, now: dt.datetime) -> None:
    """Set each updated account's own fields to the file's (one executemany)."""
    su = _SUBSCRIBERS
    conn.execute(
        sa.update(su)
        .where(su.c.id == sa.bindparam("b_id"))
        .values(**_SET_PARAMS, updated_at=sa.bindparam("b_now", type_=su.c.updated_at.type)),
        [
            {"b_id": plan.stored[a].id, "b_now": now,
             **{f"b_{column}": value for column, value in _file_columns(plan, a).items()}}
            for a in plan.updated
        ],
    )


def _update_carries(conn: Connection, plan: ImportPlan) -> int:
    """Set the carried encapsulations of kept attachments the file changes (one
    executemany); returns how many. In place, not delete and re-add, so the
    attachment keeps its id and with it its entries' cookie and counters."""
    at = _ATTACHMENTS
    changes = [{"b_id": att_id, "b_carries": carries}
               for account in plan.updated for att_id, carries in plan.carries_changed(account)]
    if changes:
        conn.execute(
            sa.update(at).where(at.c.id == sa.bindparam("b_id"))
            .values(carries=sa.bindparam("b_carries", type_=at.c.carries.type)),
            changes,
        )
    return len(changes)


def _insert_subscribers(
    session: Session, conn: Connection, plan: ImportPlan, now: dt.datetime,
    tick: Callable[[int], None],
) -> dict[str, int]:
    """Insert the new accounts; returns the id of every account written (new or updated)."""
    su = _SUBSCRIBERS
    ids: dict[str, int] = {a: plan.stored[a].id for a in plan.updated}
    for chunk in chunks(plan.added, _INSERT_CHUNK):
        rows = [
            {"account": a, **_file_columns(plan, a), "created_at": now, "updated_at": now}
            for a in chunk
        ]
        insert_many(conn, su, rows)
        for condition in keyed(session, su.c.account, chunk):
            ids.update(session.execute(sa.select(su.c.account, su.c.id).where(condition)).all())
        tick(len(chunk))
    return ids


def _new_attachment_rows(plan: ImportPlan, ids: dict[str, int]) -> list[dict[str, Any]]:
    """The attachment rows to insert: the file's, minus those already stored."""
    rows: list[dict[str, Any]] = []
    for account in (*plan.updated, *plan.added):
        stored = plan.stored.get(account)
        old_keys = stored.attachments if stored is not None else {}
        subscriber_id = ids[account]
        for row in plan.accounts[account].rows:
            if row.point is None:
                continue
            dpid, port, vlan = row.point
            switch_id = plan.switches[dpid].id
            for key, (_field, _value, prefix) in row.keys.items():
                if key in old_keys:
                    continue
                rows.append(
                    {
                        "subscriber_id": subscriber_id,
                        "switch_id": switch_id,
                        "port": port,
                        "vlan": vlan,
                        "prefix": prefix,
                        "match_key": key,
                        "carries": row.carries,
                    }
                )
    return rows


def _refresh_statistics(conn: Connection, written: int) -> None:
    """ANALYZE the written tables on PostgreSQL after a bulk load.

    A bulk load leaves the planner believing the tables are as small as
    before until autovacuum catches up (up to a minute or more); meanwhile
    each keyed lookup of the next import, and the controller's switch-scoped
    reads, fall back to sequential scans (measured: a no-op re-import right
    after a 100k import took 13 s instead of 3 s). ANALYZE is transactional
    and takes ~0.1 s here.
    """
    if conn.dialect.name == "postgresql" and written >= _ANALYZE_AFTER_ROWS:
        log.debug("%d rows written: refreshing planner statistics", written)
        conn.exec_driver_sql("ANALYZE subscribers, attachments")


def _record_audit(plan: ImportPlan, recorder: AuditRecorder, source: str) -> None:
    """One entry per changed subscriber (before/after), plus one for the import itself."""
    for account in plan.updated:
        old = plan.stored[account]
        before = subscriber_state(
            account, old.name, plan.type_names.get(old.type_id, str(old.type_id)),
            old.exempt, old.reason, old.until,
            (attachment_state(key, old.carries.get(key)) for key in old.attachments),
        )
        recorder.record_encoded(
            "subscriber", account, "import-update", encode_state(before),
            encode_state(_new_state(plan, account)), account,
        )
    for account in plan.added:
        recorder.record_encoded(
            "subscriber", account, "import-add", None,
            encode_state(_new_state(plan, account)), account,
        )
    if plan.added or plan.updated:
        recorder.record(
            "import",
            source,
            "import",
            None,
            {
                "rows": plan.rows,
                "added": len(plan.added),
                "updated": len(plan.updated),
                "unchanged": plan.unchanged,
                "attachments_added": plan.attachments_added,
                "attachments_removed": plan.attachments_removed,
            },
        )


def _new_state(plan: ImportPlan, account: str) -> dict[str, Any]:
    group = plan.accounts[account]
    carries = plan.new_carries(account)
    return subscriber_state(
        account, group.name, group.type_name, group.exempt, group.reason, group.until,
        (attachment_state(key, carries.get(key)) for key in plan.new_keys(account)),
    )
