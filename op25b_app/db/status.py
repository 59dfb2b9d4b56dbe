"""The controller's state, written back into the database for every reader.

The CLI (``op25b status``), a REST API or a dashboard read switch state here
instead of asking the controller, so they keep working while it restarts and
see the same truth as a second controller would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from op25b_app.db.engine import dialect_insert
from op25b_app.db.models import ControllerStatus, Switch, SwitchStatus, dpid_to_db
from op25b_app.db.snapshot_loader import read_revision


@dataclasses.dataclass(frozen=True)
class SwitchRow:
    """One switch as a controller reports it."""

    dpid: int
    connected: bool
    connected_since: dt.datetime | None
    revision_applied: int | None
    entries: int
    last_error: str | None
    #: The switch's fragment handling as read back ("nx-match" wanted; "normal",
    #: "drop", "reassemble", "unknown"); None = not read yet. Stored so that
    #: ``op25b status`` shows a switch whose fragmented SYNs meet the guard's
    #: drop instead of the subscriber's own entry.
    fragment_mode: str | None = None


def _upsert(engine: Engine, table: sa.FromClause, row: dict[str, Any], keys: list[str]) -> Any:
    stmt = dialect_insert(engine)(table).values(**row)
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={k: v for k, v in row.items() if k not in keys}
    )


def write_controller(engine: Engine, controller_id: str, pid: int, started_at: dt.datetime,
                     now: dt.datetime, revision_loaded: int | None,
                     bad: tuple[int, str] | None,
                     policy_options: dict[str, Any] | None = None,
                     quarantine: dict[str, Any] | None = None) -> None:
    """Heartbeat: this controller is alive and has loaded ``revision_loaded``.

    ``policy_options`` are the options it renders with, so that a policy
    preview shows what this controller really installs; ``quarantine`` the
    rows it left out (``{"revision", "total", "rows": [...]}``), so that
    every reader can tell the operator what to fix.
    """
    row = {
        "controller_id": controller_id, "pid": pid, "started_at": started_at,
        "heartbeat_at": now, "revision_loaded": revision_loaded,
        "bad_revision": bad[0] if bad else None, "bad_reason": bad[1] if bad else None,
        "policy_options": _json(policy_options), "quarantine": _json(quarantine),
    }
    with engine.begin() as conn:
        conn.execute(_upsert(engine, ControllerStatus.__table__, row, ["controller_id"]))


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _parsed(text: Any) -> dict[str, Any] | None:
    """Stored JSON as a dict; anything else (raw SQL can write anything) as None."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def write_switches(engine: Engine, controller_id: str, rows: list[SwitchRow],
                   now: dt.datetime) -> None:
    """Record the state of the switches in ``rows`` (one transaction)."""
    with engine.begin() as conn:
        for r in rows:
            row = {"controller_id": controller_id, "dpid": r.dpid, "connected": r.connected,
                   "connected_since": r.connected_since, "revision_applied": r.revision_applied,
                   "entries": r.entries, "last_error": r.last_error,
                   "fragment_mode": r.fragment_mode, "updated_at": now}
            conn.execute(_upsert(engine, SwitchStatus.__table__, row, ["controller_id", "dpid"]))


def read_status(engine: Engine) -> dict[str, Any]:
    """Everything ``op25b status`` shows: policy revision, controllers, switches."""
    cs, ss = ControllerStatus.__table__, SwitchStatus.__table__
    with engine.connect() as conn:
        revision = read_revision(conn)
        controllers = conn.execute(sa.select(cs).order_by(cs.c.controller_id)).mappings().all()
        names = {row.dpid: row.name for row in conn.execute(sa.select(Switch.dpid, Switch.name))}
        switches = conn.execute(
            sa.select(ss).order_by(ss.c.dpid, ss.c.controller_id)).mappings().all()
    return {
        "policy_revision": revision,
        "controllers": [{**{k: v for k, v in c.items()
                             if k not in ("policy_options", "quarantine")},
                          "quarantine": _parsed(c["quarantine"])} for c in controllers],
        "switches": [
            {"dpid": s["dpid"], "name": names.get(s["dpid"]),
             "controller_id": s["controller_id"], "connected": s["connected"],
             "connected_since": s["connected_since"],
             "revision_applied": s["revision_applied"],
             "in_sync": bool(s["connected"] and s["revision_applied"] is not None
                             and s["last_error"] is None),
             "entries": s["entries"], "last_error": s["last_error"],
             "fragment_mode": s["fragment_mode"], "updated_at": s["updated_at"]}
            for s in switches
        ],
    }


def serving_controller_options(engine: Engine | Connection,
                               dpid: int) -> tuple[str, dict[str, Any]] | None:
    """``(controller_id, options)`` of the controller that serves switch ``dpid``.

    The controller connected to it that reported most recently; without one,
    the one that last reported it at all. None when no controller with stored
    options has seen the switch. Stored text that is not a JSON object counts
    as no options (raw SQL can write anything). A connection is read in its
    own transaction (a writer checking capacity inside its write).
    """
    cs, ss = ControllerStatus.__table__, SwitchStatus.__table__
    query = (
        sa.select(cs.c.controller_id, cs.c.policy_options)
        .select_from(ss.join(cs, cs.c.controller_id == ss.c.controller_id))
        .where(ss.c.dpid == dpid_to_db(dpid), cs.c.policy_options.is_not(None))
        .order_by(sa.desc(ss.c.connected), sa.desc(ss.c.updated_at))
    )
    with (contextlib.nullcontext(engine) if isinstance(engine, Connection)
          else engine.connect()) as conn:
        for controller_id, text in conn.execute(query):
            try:
                options = json.loads(text)
            except (TypeError, ValueError):
                continue
            if isinstance(options, dict):
                return controller_id, options
    return None
