"""What changed since a revision: the rows the policy triggers logged.

A controller holding the snapshot of revision S asks for the changes up to
the current revision R. The answer names the touched rows per table, read in
one transaction with R itself, so "everything after S up to R" is exact. It
says "reload everything" (None) when it cannot be exact: the log does not
reach back to S (pruned, or written before the log existed), or a table
without a row-level patch path changed (switches, uplinks, connection types,
MTAs, the global enforcement: rare, and each can change every entry).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from op25b_app.db.models import PolicyChange, PolicyRevision

log = logging.getLogger(__name__)

#: The tables whose rows a snapshot can be patched with one by one.
PATCHABLE = frozenset({"subscribers", "attachments"})
#: Changes kept at least this long (a controller down longer reloads everything).
KEEP = dt.timedelta(hours=24)


@dataclasses.dataclass(frozen=True)
class Changes:
    """The rows touched after revision ``since`` up to ``revision``."""

    since: int
    revision: int
    subscribers: frozenset[int]
    attachments: frozenset[int]

    @property
    def empty(self) -> bool:
        return not self.subscribers and not self.attachments


def read_changes(conn: Connection, since: int) -> Changes | None:
    """The changes after ``since`` (in ``conn``'s transaction), or None: reload all."""
    rev = PolicyRevision.__table__
    row = conn.execute(sa.select(rev.c.revision, rev.c.changes_from).where(rev.c.id == 1)).first()
    if row is None or row.changes_from is None or since + 1 < row.changes_from:
        return None
    current = int(row.revision)
    ch = PolicyChange.__table__
    touched: dict[str, set[int]] = {"subscribers": set(), "attachments": set()}
    rows = conn.execute(
        sa.select(ch.c.table_name, ch.c.row_id).distinct()
        .where(ch.c.revision > since, ch.c.revision <= current))
    for table, row_id in rows:
        if table not in PATCHABLE or row_id is None:
            return None
        touched[table].add(int(row_id))
    if current > since and not touched["subscribers"] and not touched["attachments"]:
        return None  # the revision moved with nothing logged: be exact, reload
    return Changes(since, current, frozenset(touched["subscribers"]),
                   frozenset(touched["attachments"]))


def prune(engine: Engine, now: dt.datetime, keep: dt.timedelta = KEEP) -> int:
    """Forget log rows logged more than ``keep`` ago; returns how many.

    ``changes_from`` moves past them, so a reader that still needed them
    knows to reload everything instead of missing a change.
    """
    rev = cast(sa.Table, PolicyRevision.__table__)
    ch = cast(sa.Table, PolicyChange.__table__)
    cutoff = now - keep
    with engine.begin() as conn:
        newest_old = conn.execute(sa.select(sa.func.max(ch.c.revision))
                                  .where(ch.c.logged_at < cutoff)).scalar()
        if newest_old is None:
            return 0
        deleted = conn.execute(sa.delete(ch).where(ch.c.revision <= newest_old)).rowcount
        conn.execute(sa.update(rev).where(rev.c.id == 1, rev.c.changes_from <= newest_old)
                     .values(changes_from=newest_old + 1))
    if deleted:
        log.info("change log: %d rows up to revision %d pruned", deleted, newest_old)
    return int(deleted or 0)
