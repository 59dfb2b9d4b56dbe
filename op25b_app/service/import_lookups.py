"""What a bulk import needs from the database, read in a few keyed queries.

One query per row would take minutes for 100k rows, so the import reads the
switches whole and the subscribers and attachments it touches by key, in
chunks sized for each backend (``keyed``). The writer uses the same chunking
for its deletes and id lookups.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.db.models import Attachment, Subscriber, Switch, SwitchUplink

#: Keys per lookup query. SQLite: an IN (...) list well below its bound-parameter
#: limit on old versions. PostgreSQL: one array parameter (``= ANY``), so the
#: statement text and its planning do not grow with the chunk.
_CHUNK = 900
_PG_CHUNK = 20_000


@dataclasses.dataclass(slots=True)
class StoredSubscriber:
    """A subscriber of the file as stored now: what an update compares against."""

    id: int
    name: str
    type_id: int
    exempt: bool
    reason: str | None
    until: dt.datetime | None
    #: match_key -> attachment id
    attachments: dict[str, int]
    #: match_key -> stored carries text, for the attachments that carry any
    carries: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class SwitchFacts:
    """What the attachment rules need of a switch, without ORM objects."""

    id: int
    name: str
    role: str
    uplinks: frozenset[int]


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def keyed(
    session: Session, column: sa.ColumnElement[Any], values: Sequence[Any]
) -> Iterator[sa.ColumnElement[bool]]:
    """``column`` IN values, as a few conditions each covering one chunk."""
    if session.get_bind().dialect.name == "postgresql":
        # Imported here: SQLAlchemy's PostgreSQL dialect pulls in asyncio.
        from sqlalchemy.dialects import postgresql

        array_type = postgresql.ARRAY(column.type)
        for chunk in chunks(values, _PG_CHUNK):
            yield column == sa.any_(sa.bindparam(None, list(chunk), type_=array_type))
    else:
        for chunk in chunks(values):
            yield column.in_(chunk)


def load_switches(session: Session) -> dict[int, SwitchFacts]:
    """Every switch by dpid (an ISP has tens, so all of them in two queries)."""
    uplinks: dict[int, set[int]] = {}
    for switch_id, port in session.execute(sa.select(SwitchUplink.switch_id, SwitchUplink.port)):
        uplinks.setdefault(switch_id, set()).add(port)
    return {
        dpid: SwitchFacts(row_id, name, role, frozenset(uplinks.get(row_id, ())))
        for row_id, dpid, name, role in session.execute(
            sa.select(Switch.id, Switch.dpid, Switch.name, Switch.role)
        )
    }


def load_stored(session: Session, accounts: Sequence[str]) -> dict[str, StoredSubscriber]:
    """The stored subscribers among ``accounts``, with their attachments' ids (and
    carried encapsulations) by match key."""
    su = Subscriber.__table__
    at = Attachment.__table__
    existing: dict[str, StoredSubscriber] = {}
    by_id: dict[int, StoredSubscriber] = {}
    for condition in keyed(session, su.c.account, accounts):
        for row_id, account, name, type_id, exempt, reason, until in session.execute(
            sa.select(
                su.c.id, su.c.account, su.c.name, su.c.type_id, su.c.exempt,
                su.c.exempt_reason, su.c.exempt_until,
            ).where(condition)
        ):
            entry = StoredSubscriber(row_id, name, type_id, bool(exempt), reason, until, {})
            existing[account] = entry
            by_id[row_id] = entry
    ids = list(by_id)
    for condition in keyed(session, at.c.subscriber_id, ids):
        for att_id, subscriber_id, key, carries in session.execute(
            sa.select(at.c.id, at.c.subscriber_id, at.c.match_key, at.c.carries).where(condition)
        ):
            entry = by_id[subscriber_id]
            entry.attachments[key] = att_id
            if carries:
                entry.carries[key] = carries
    return existing


def load_owners(session: Session, keys: Sequence[str]) -> dict[str, str]:
    """The account owning each of ``keys`` (match keys) that is stored already."""
    at = Attachment.__table__
    su = Subscriber.__table__
    owners: dict[str, str] = {}
    for condition in keyed(session, at.c.match_key, keys):
        owners.update(
            session.execute(
                sa.select(at.c.match_key, su.c.account)
                .select_from(at.join(su, at.c.subscriber_id == su.c.id))
                .where(condition)
            ).all()
        )
    return owners
