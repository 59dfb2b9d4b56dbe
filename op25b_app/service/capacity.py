"""Refuse, inside the write, a change that would overflow a switch's flow table.

A switch with a ``capacity`` holds at most that many (weighted) entries. The
controller refuses a larger policy (``--op25b-max-entries``) and that switch
then keeps its old policy until someone notices; checking here instead turns
the problem into a refusal at the keyboard, naming the switch. The
controller keeps its own check as the last line (raw SQL is not checked).

Cheap by construction: a write touching no switch with a capacity costs two
small queries. The switches a write touched are found from the change log
rows (0009) its own transaction wrote, so every writer (subscriber, exemption,
type, MTA, import, session, switch settings) is covered without each having
to say what it touched; only those switches are loaded and compiled, with the
options of the controller that serves them, as ``policy show`` renders them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from op25b_app.db.models import (
    Attachment,
    PolicyChange,
    Subscriber,
    SubscriberSession,
    Switch,
)
from op25b_app.service.errors import Conflict

log = logging.getLogger(__name__)

#: Change-log tables whose change can alter every switch's entries.
_EVERY_SWITCH = frozenset({"mtas", "global_enforcement"})


def change_mark(session: Session) -> int:
    """The newest change-log id before this write (its own rows come after it)."""
    return int(session.scalar(sa.select(sa.func.coalesce(sa.func.max(PolicyChange.id), 0))) or 0)


def check_capacity(session: Session, mark: int, now: dt.datetime) -> None:
    """``Conflict`` when a switch this write touched would hold more than its capacity."""
    session.flush()
    conn = session.connection()
    capacities = {row.id: row for row in conn.execute(
        sa.select(Switch.id, Switch.dpid, Switch.name, Switch.capacity)
        .where(Switch.capacity.is_not(None)))}
    if not capacities:
        return
    touched = _touched_switches(conn, mark, frozenset(capacities)) & capacities.keys()
    if not touched:
        return
    rows = [capacities[i] for i in sorted(touched)]
    _check(conn, [(r.dpid, r.name, r.capacity) for r in rows], now)  # Dpid() converts


def _touched_switches(conn: Connection, mark: int, limited: frozenset[int]) -> set[int]:
    """Ids of the switches whose entries this write's change-log rows may have changed."""
    pc = PolicyChange.__table__
    mine = sa.select(pc.c.table_name, pc.c.row_id).where(pc.c.id > mark).subquery()
    tables = {name for (name,) in conn.execute(sa.select(mine.c.table_name).distinct())}
    if not tables:
        return set()
    if tables & _EVERY_SWITCH or conn.execute(
            sa.select(mine.c.row_id).where(mine.c.row_id.is_(None)).limit(1)).first():
        return set(limited)

    def rows_of(table: str) -> sa.Select[tuple[int | None]]:
        return sa.select(mine.c.row_id).where(mine.c.table_name == table)

    at, sub = Attachment.__table__, Subscriber.__table__
    queries = [
        sa.select(Switch.id).where(Switch.id.in_(rows_of("switches"))),
        sa.select(Switch.id).where(Switch.id.in_(rows_of("switch_uplinks"))),
        sa.select(at.c.switch_id).where(at.c.id.in_(rows_of("attachments"))),
        sa.select(at.c.switch_id).where(at.c.subscriber_id.in_(rows_of("subscribers"))),
        sa.select(at.c.switch_id).join(sub, sub.c.id == at.c.subscriber_id)
        .where(sub.c.type_id.in_(rows_of("connection_types"))),
        sa.select(Switch.id).join(SubscriberSession.__table__,
                                  SubscriberSession.dpid == Switch.dpid)
        .where(SubscriberSession.id.in_(rows_of("sessions"))),
    ]
    touched: set[int] = set()
    for query in queries:
        touched.update(i for (i,) in conn.execute(query.distinct()) if i is not None)
    return touched


@dataclasses.dataclass(frozen=True)
class _Count:
    dpid: int
    name: str
    capacity: int
    entries: int


def _check(conn: Connection, switches: list[tuple[int, str, int]], now: dt.datetime) -> None:
    """Compile each switch from this transaction's snapshot and compare with its capacity."""
    from op25b_app.core.compile import compile_policy, weighted_entry_count
    from op25b_app.core.errors import PolicyError
    from op25b_app.core.options import DEFAULT_OPTIONS, PolicyOptions
    from op25b_app.db.snapshot_loader import SnapshotError, load_snapshot
    from op25b_app.db.status import serving_controller_options

    try:
        snapshot = load_snapshot(conn, dpids=[dpid for dpid, _, _ in switches])
    except SnapshotError as error:
        log.warning("capacity not checked: the stored policy does not load: %s", error)
        return
    for dpid, name, capacity in switches:
        options = DEFAULT_OPTIONS
        served = serving_controller_options(conn, dpid)
        if served is not None:
            try:
                options = PolicyOptions.from_dict(served[1])
            except (PolicyError, TypeError):
                options = DEFAULT_OPTIONS
        uncapped = dataclasses.replace(options, max_entries=0)
        try:
            specs, _ = compile_policy(snapshot, dpid, now, uncapped)
        except PolicyError as error:
            # The controller refuses this revision anyway, with the reason in
            # its status; refusing here too would stop the operator fixing it.
            log.warning("capacity of dpid %#x not checked: %s", dpid, error)
            continue
        count = _Count(dpid, name, capacity, weighted_entry_count(specs, uncapped))
        log.debug("switch %s (dpid %#x): %d of %d entries", name, dpid, count.entries, capacity)
        if count.entries > capacity:
            raise Conflict("dpid", f"{dpid:#x}", _too_many(count))


def _too_many(count: _Count) -> str:
    return (f"switch '{count.name}' (dpid {count.dpid:#x}) would hold {count.entries:,} "
            f"entries; its capacity is {count.capacity:,} (IPv6 entries count as the "
            "controller's ipv6_entry_weight; remove attachments, set the switch compact "
            "or raise its capacity)")
