"""Read the policy tables into an immutable ``PolicySnapshot``, fast and strictly.

The controller calls this whenever ``policy_revision`` moves, so it must be
quick for a large ISP (plain Core selects, no ORM objects, one pass per
table) and it must read one consistent database state (all selects in one
read transaction, revision included, so the revision number describes exactly
the rows returned).

It is also the last line of defence against rows written by hand with a SQL
client. A row the compiler could misread (a bad prefix, a port out of range,
an unknown role or encapsulation, a non-UTC-parsable time) is **quarantined**:
left out of the snapshot and listed in ``PolicySnapshot.quarantined`` naming
the table, row, field and value, while every other row, switch and change
proceeds. What the bad row described fails closed (``Quarantine``):

* an attachment row is left out, so its traffic gets what an unknown sender
  gets; if it may have been a *block* (its subscriber is not plainly exempt)
  and its exact place is unknown, the exemptions on its port (or, without a
  usable port, its switch) are suspended too, since a more specific block
  inside a broader opt-out must never open by being left out;
* a subscriber with a bad type, opt-out flag or expiry is blocked;
* two attachments with the same match become one block at that place;
* a bad connection-type flag counts as blocking; a bad encapsulation list as
  none carried; a bad mode or enforcement time as "enforce now";
* a bad MTA, uplink or switch row is left out (an unusable switch row
  compiles as an unregistered switch: fail closed).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from op25b_app.core.constants import MODE_ENFORCE, MODES
from op25b_app.core.gc_pause import gc_paused
from op25b_app.core.limits import MAX_PORT, MAX_VLAN, MIN_PORT, MIN_VLAN
from op25b_app.core.snapshot import (
    ROLE_EDGE,
    ROLES,
    AttachmentRule,
    MtaRule,
    PolicySnapshot,
    SwitchInfo,
)
from op25b_app.db.engine import read_connection
from op25b_app.db.models import (
    Attachment,
    ConnectionType,
    GlobalEnforcement,
    Mta,
    PolicyRevision,
    Subscriber,
    Switch,
    SwitchUplink,
    dpid_from_db,
)
from op25b_app.db.row_checks import (
    Quarantine,
    SnapshotError,
    SubscriberFacts,
    carries_parser,
    check_bool,
    check_int,
    check_time,
    fail_closed,
    prefix_parser,
    subscriber_facts,
)
from op25b_app.db.session_loader import (
    add_session_attachments,  # session attachments (radius)
)

log = logging.getLogger(__name__)


def read_revision(conn: Connection | Session) -> int:
    """The current policy revision (advanced by triggers on every policy write)."""
    table = PolicyRevision.__table__
    revision = conn.execute(sa.select(table.c.revision).where(table.c.id == 1)).scalar()
    if revision is None:
        raise SnapshotError(
            "policy_revision", 1, "revision", None, "row missing; run 'op25b db upgrade'"
        )
    return int(revision)


def load_snapshot(
    source: Engine | Connection | Session, dpids: Collection[int] | None = None
) -> PolicySnapshot:
    """Read every policy table in one read transaction into a ``PolicySnapshot``.

    ``source`` may be an engine (a read transaction is opened and closed
    here), or a connection/session whose current transaction is used as is.
    ``dpids`` limits the attachments read to those switches (the controller
    reads only the switches connected to it, so a change costs time in
    proportion to *its* subscribers, not the whole database's); the
    snapshot's ``scope`` records the limit.
    """
    started = time.perf_counter()
    scope = None if dpids is None else frozenset(dpids)
    with gc_paused():  # ~150k small objects, no cycles
        snapshot = _load_from(source, scope)
    log.debug(
        "snapshot at revision %d loaded in %.3f s (%d attachments)",
        snapshot.revision,
        time.perf_counter() - started,
        sum(len(v) for v in snapshot.attachments.values()),
    )
    return snapshot


def _load_from(
    source: Engine | Connection | Session, scope: frozenset[int] | None
) -> PolicySnapshot:
    if isinstance(source, Engine):
        with read_connection(source) as conn:
            snapshot = _load(conn, scope)
    elif isinstance(source, Session):
        snapshot = _load(source.connection(), scope)
    else:
        if source.in_transaction():
            snapshot = _load(source, scope)
        else:
            with source.begin():
                snapshot = _load(source, scope)
    return snapshot


def _load(conn: Connection, scope: frozenset[int] | None) -> PolicySnapshot:
    revision = read_revision(conn)
    quarantine = Quarantine()
    switch_dpids, switches = load_switch_rows(conn, quarantine)
    types = load_connection_types(conn, quarantine)
    wanted = None
    if scope is not None:
        wanted = [row_id for row_id, dpid in switch_dpids.items() if dpid in scope]
    attachments = load_attachment_rules(conn, switch_dpids, types, quarantine, wanted)
    # session attachments (radius)
    add_session_attachments(conn, attachments, types, quarantine, scope)
    quarantine.apply(attachments)
    mtas = _load_mtas(conn, quarantine)
    mode, enforce_at = _load_global_enforcement(conn, quarantine)
    return PolicySnapshot(
        revision=revision, switches=switches,
        attachments={dpid: tuple(rules) for dpid, rules in attachments.items()}, mtas=mtas,
        scope=scope, mode=mode, enforce_at=enforce_at, quarantined=tuple(quarantine.rows),
    )


def _load_global_enforcement(conn: Connection, quarantine: Quarantine,
                              ) -> tuple[str, dt.datetime | None]:
    ge = GlobalEnforcement.__table__
    row = conn.execute(sa.select(ge.c.id, ge.c.mode, _raw(ge.c.enforce_at))).first()
    if row is None:
        return MODE_ENFORCE, None
    try:
        if row.mode not in MODES:
            raise SnapshotError("global_enforcement", row.id, "mode", row.mode,
                                f"not one of {', '.join(MODES)}")
        return row.mode, check_time("global_enforcement", row.id, "enforce_at", row[2])
    except SnapshotError as error:
        quarantine.add(error)
        return MODE_ENFORCE, None


def _raw(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Select a column without SQLAlchemy's result processing.

    We convert and validate values ourselves so that a malformed value is
    reported with its row id instead of failing deep inside the driver layer
    (and so 150k rows are not processed twice).
    """
    return sa.type_coerce(column, sa.types.NullType())


def load_switch_rows(conn: Connection, quarantine: Quarantine,
                   ) -> tuple[dict[int, int], dict[int, SwitchInfo]]:
    sw = Switch.__table__
    up = SwitchUplink.__table__
    uplinks: dict[int, set[int]] = {}
    for switch_id, port in conn.execute(sa.select(up.c.switch_id, _raw(up.c.port))):
        try:
            uplinks.setdefault(switch_id, set()).add(check_int(
                "switch_uplinks", f"({switch_id}, {port})", "port", port, MIN_PORT, MAX_PORT))
        except SnapshotError as error:
            quarantine.add(error)  # traffic on that port is a customer's: fail closed
    dpid_by_id: dict[int, int] = {}
    switches: dict[int, SwitchInfo] = {}
    rows = conn.execute(
        sa.select(sw.c.id, _raw(sw.c.dpid), sw.c.name, sw.c.role, sw.c.mode,
                  _raw(sw.c.enforce_at), _raw(sw.c.capacity), _raw(sw.c.compact))
        .order_by(sw.c.id)
    )
    for row_id, stored_dpid, name, role, mode, enforce_at, capacity, compact in rows:
        if not isinstance(stored_dpid, int):
            quarantine.add(SnapshotError("switches", row_id, "dpid", stored_dpid,
                                         "not an integer"))
            continue  # unusable: the switch compiles as unregistered (fail closed)
        dpid = dpid_from_db(stored_dpid)
        dpid_by_id[row_id] = dpid
        switches[dpid] = SwitchInfo(
            dpid=dpid, name=name, role=_switch_role(row_id, role, quarantine),
            uplink_ports=frozenset(uplinks.get(row_id, ())),
            capacity=capacity if isinstance(capacity, int) and capacity > 0 else None,
            # Anything but a stored true renders in full: the full policy is never wrong.
            compact=compact in (True, 1),
            **_switch_enforcement(row_id, mode, enforce_at, quarantine),
        )
    for switch_id in uplinks.keys() - dpid_by_id.keys():
        quarantine.add(SnapshotError("switch_uplinks", switch_id, "switch_id", switch_id,
                                     "no such switch"))
    return dpid_by_id, switches


def _switch_role(row_id: int, role: Any, quarantine: Quarantine) -> str:
    if role in ROLES:
        return str(role)
    quarantine.add(SnapshotError("switches", row_id, "role", role,
                                 f"not one of {', '.join(ROLES)}"))
    return ROLE_EDGE  # a core switch would pass everything: fail closed as an edge


def _switch_enforcement(row_id: int, mode: Any, enforce_at: Any,
                        quarantine: Quarantine) -> dict[str, Any]:
    """The switch's override of the global mode; a bad one is "enforce now"."""
    try:
        if mode is not None and mode not in MODES:
            raise SnapshotError("switches", row_id, "mode", mode, f"not one of {', '.join(MODES)}")
        return {"mode": mode,
                "enforce_at": check_time("switches", row_id, "enforce_at", enforce_at)}
    except SnapshotError as error:
        quarantine.add(error)
        return {"mode": MODE_ENFORCE, "enforce_at": None}


def load_connection_types(conn: Connection, quarantine: Quarantine) -> dict[int, tuple[str, bool]]:
    ct = ConnectionType.__table__
    types: dict[int, tuple[str, bool]] = {}
    for row_id, name, blocked in conn.execute(sa.select(ct.c.id, ct.c.name, _raw(ct.c.blocked))):
        try:
            types[row_id] = (name, check_bool("connection_types", row_id, "blocked", blocked))
        except SnapshotError as error:
            quarantine.add(error)
            types[row_id] = (name, True)  # an unreadable flag blocks: fail closed
    return types


def load_attachment_rules(
    conn: Connection,
    dpid_by_switch_id: dict[int, int],
    types: dict[int, tuple[str, bool]],
    quarantine: Quarantine,
    switch_ids: list[int] | None = None,
    only: tuple[frozenset[int], frozenset[int]] | None = None,
) -> dict[int, list[AttachmentRule]]:
    """The attachments (of ``switch_ids``; or only the attachment ids and the
    subscribers' attachments of ``only``), checked row by row."""
    at = Attachment.__table__
    su = Subscriber.__table__
    if switch_ids is not None and not switch_ids:
        return {}
    query = (
        sa.select(
            at.c.id, at.c.switch_id, _raw(at.c.port), _raw(at.c.vlan), at.c.prefix,
            _raw(at.c.carries), su.c.id, su.c.account, su.c.type_id, _raw(su.c.exempt),
            _raw(su.c.exempt_until),
        )
        .select_from(at.join(su, at.c.subscriber_id == su.c.id))
        .order_by(at.c.id)
    )
    if switch_ids is not None:
        query = query.where(at.c.switch_id.in_(switch_ids))
    if only is not None:
        query = query.where(sa.or_(at.c.id.in_(sorted(only[0])),
                                   at.c.subscriber_id.in_(sorted(only[1]))))
    parse_prefix = prefix_parser("attachments")
    parse_carries = carries_parser(quarantine)
    # Subscriber-level facts are validated once per subscriber, not per attachment.
    subscriber_cache: dict[int, SubscriberFacts] = {}
    by_dpid: dict[int, list[AttachmentRule]] = {}
    #: (dpid, port, vlan, prefix) -> index of its rule in by_dpid[dpid]
    seen: dict[tuple[int, int, int | None, str | None], int] = {}
    for (row_id, switch_id, port, vlan, prefix, carries, subscriber_id, account, type_id, exempt,
         exempt_until) in conn.execute(query).all():
        facts = subscriber_cache.get(subscriber_id)
        if facts is None:
            facts = subscriber_cache[subscriber_id] = subscriber_facts(
                subscriber_id, account, type_id, exempt, exempt_until, types, quarantine)
        dpid = dpid_by_switch_id.get(switch_id)
        port_ok = port.__class__ is int and MIN_PORT <= port <= MAX_PORT
        try:
            if dpid is None:
                raise SnapshotError("attachments", row_id, "switch_id", switch_id,
                                    "no such switch")
            if not port_ok:
                check_int("attachments", row_id, "port", port, MIN_PORT, MAX_PORT)
            if vlan is not None and (vlan.__class__ is not int
                                     or not MIN_VLAN <= vlan <= MAX_VLAN):
                check_int("attachments", row_id, "vlan", vlan, MIN_VLAN, MAX_VLAN)
            network = None if prefix is None else parse_prefix(row_id, prefix)
        except SnapshotError as error:
            quarantine.add(error)
            if dpid is not None and not facts.plainly_exempt:
                # It may have been a block: see the module docstring.
                quarantine.close(dpid, port if port_ok else None)
            continue
        rule = AttachmentRule(
            attachment_id=row_id, account=facts.account, dpid=dpid, port=port, vlan=vlan,
            prefix=network, type_name=facts.type_name, type_blocked=facts.type_blocked,
            exempt=facts.exempt, exempt_until=facts.exempt_until,
            carries=parse_carries(row_id, carries),
        )
        rules = by_dpid.setdefault(dpid, [])
        key = (dpid, port, vlan, prefix)
        other = seen.get(key)
        if other is not None:
            quarantine.add(_same_match(row_id, key, rules[other].attachment_id))
            rules[other] = fail_closed(rules[other])  # one block at that place
            continue
        seen[key] = len(rules)
        rules.append(rule)
    return by_dpid


def _same_match(row_id: int, key: tuple[int, int, int | None, str | None],
                other: int) -> SnapshotError:
    dpid, port, vlan, prefix = key
    return SnapshotError("attachments", row_id, "match_key",
                         f"{dpid}:{port}:{'*' if vlan is None else vlan}:{prefix or '*'}",
                         f"same match as attachment {other}")


def _load_mtas(conn: Connection, quarantine: Quarantine) -> tuple[MtaRule, ...]:
    """The MTAs; a bad one is left out, so mail to it is blocked like any other."""
    mt = Mta.__table__
    parse_prefix = prefix_parser("mtas")
    mtas: list[MtaRule] = []
    for row_id, name, prefix in conn.execute(
        sa.select(mt.c.id, mt.c.name, mt.c.prefix).order_by(mt.c.name)
    ):
        try:
            if prefix is None:
                raise SnapshotError("mtas", row_id, "prefix", prefix, "missing")
            network = parse_prefix(row_id, prefix)
            if network.prefixlen == 0:
                raise SnapshotError(
                    "mtas", row_id, "prefix", prefix, "a /0 MTA would let TCP/25 go anywhere"
                )
        except SnapshotError as error:
            quarantine.add(error)
            continue
        mtas.append(MtaRule(name=name, prefix=network))
    return tuple(mtas)


