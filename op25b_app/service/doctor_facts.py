"""What ``op25b doctor`` reads from the database, in one read transaction.

The checks (``doctor_checks``) are pure functions of these facts, so each can
be tested with rows written directly, and the database is asked once: every
age is measured against the database's own clock read in the same
transaction as the rows (a heartbeat written by a controller on another host
is compared with the database's time, not with this host's, whose own skew
is a check of its own).

``controller_status.quarantine`` is read only when the column exists: it is
being added by the controller side, and a schema without it is not a fault.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from op25b_app.db.engine import read_connection
from op25b_app.db.models import ControllerStatus, PolicyRevision, Switch, SwitchStatus
from op25b_app.db.models.columns import as_utc

QUARANTINE_COLUMN = "quarantine"


@dataclasses.dataclass(frozen=True)
class ControllerFact:
    """One row of ``controller_status``, its JSON fields decoded."""

    controller_id: str
    pid: int
    heartbeat_at: dt.datetime
    revision_loaded: int | None
    bad_revision: int | None
    bad_reason: str | None
    #: The PolicyOptions it renders with (``max_entries`` is a switch's capacity).
    options: dict[str, Any]
    #: ``{"revision", "rows": [...], "total"}``; None when not reported; a str
    #: when the stored text is not such an object (raw SQL can write anything).
    quarantine: dict[str, Any] | str | None = None


@dataclasses.dataclass(frozen=True)
class SwitchStatusFact:
    """One row of ``switch_status``: what one controller last knew of one switch."""

    controller_id: str
    dpid: int
    connected: bool
    revision_applied: int | None
    entries: int
    last_error: str | None
    fragment_mode: str | None
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class DatabaseFacts:
    """Everything the database checks look at, as of ``db_now``."""

    db_now: dt.datetime
    revision: int
    revision_changed_at: dt.datetime
    controllers: tuple[ControllerFact, ...]
    statuses: tuple[SwitchStatusFact, ...]
    #: Registered switches: dpid -> (name, role).
    switches: dict[int, tuple[str, str]]
    #: Whether this schema has ``controller_status.quarantine`` at all.
    quarantine_reported: bool


def database_now(conn: Connection) -> dt.datetime:
    """The database server's clock (UTC, sub-second), not the transaction's start.

    SQLite's clock is this host's own; PostgreSQL's ``clock_timestamp()`` is
    the server's current time even inside a long transaction.
    """
    if conn.dialect.name == "sqlite":
        text = conn.execute(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar()
        value = as_utc(text)
    else:
        value = as_utc(conn.execute(sa.text("SELECT clock_timestamp()")).scalar())
    assert value is not None
    return value


def read_facts(engine: Engine) -> DatabaseFacts:
    """Read the facts in one transaction (one database state, one clock reading)."""
    with read_connection(engine) as conn:
        db_now = database_now(conn)
        rev = PolicyRevision.__table__
        revision, changed_at = conn.execute(
            sa.select(rev.c.revision, rev.c.changed_at).where(rev.c.id == 1)).one()
        columns = {c["name"] for c in sa.inspect(conn).get_columns("controller_status")}
        reported = QUARANTINE_COLUMN in columns
        controllers = _controllers(conn, reported)
        ss = SwitchStatus.__table__
        statuses = tuple(
            SwitchStatusFact(r.controller_id, r.dpid, bool(r.connected), r.revision_applied,
                             int(r.entries or 0), r.last_error, r.fragment_mode, r.updated_at)
            for r in conn.execute(sa.select(ss).order_by(ss.c.dpid, ss.c.controller_id)))
        switches = {r.dpid: (r.name, r.role)
                    for r in conn.execute(sa.select(Switch.dpid, Switch.name, Switch.role))}
    return DatabaseFacts(db_now, int(revision), as_utc(changed_at) or db_now, controllers,
                         statuses, switches, reported)


def _controllers(conn: Connection, quarantine_reported: bool) -> tuple[ControllerFact, ...]:
    cs = ControllerStatus.__table__
    rows = conn.execute(sa.select(cs).order_by(cs.c.controller_id)).mappings().all()
    quarantine: dict[str, Any] = {}
    if quarantine_reported:
        # Not in the ORM model yet: read by name, whatever type the column has.
        query = sa.text(f"SELECT controller_id, {QUARANTINE_COLUMN} FROM controller_status")
        quarantine = {cid: _decode(value) for cid, value in conn.execute(query)}
    return tuple(
        ControllerFact(r["controller_id"], r["pid"], r["heartbeat_at"], r["revision_loaded"],
                       r["bad_revision"], r["bad_reason"], _options(r["policy_options"]),
                       quarantine.get(r["controller_id"]))
        for r in rows)


def _options(text: str | None) -> dict[str, Any]:
    decoded = _decode(text)
    return decoded if isinstance(decoded, dict) else {}


def _decode(value: Any) -> dict[str, Any] | str | None:
    """A JSON object column: dict (PostgreSQL json), its text (SQLite), or None."""
    if value is None or isinstance(value, dict):
        return value
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        return str(value)
    return decoded if isinstance(decoded, dict) or decoded is None else str(value)
