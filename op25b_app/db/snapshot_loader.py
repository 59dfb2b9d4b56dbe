"""Read the policy tables into an immutable ``PolicySnapshot``, fast and strictly.

The controller calls this whenever ``policy_revision`` moves, so it must be
quick for a large ISP (plain Core selects, no ORM objects, one pass per
table) and it must read one consistent database state (all selects in one
read transaction, revision included, so the revision number describes exactly
the rows returned).

It is also the last line of defence against rows written by hand with a SQL
client: anything the compiler could misread (a bad prefix, a port out of
range, an unknown role or encapsulation, a non-UTC-parsable time) raises
``SnapshotError`` naming the table, row, field and value, so the controller can
keep enforcing the previous good policy and tell the operator exactly what to fix.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import netaddr
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from op25b_app.core.constants import MODE_ENFORCE, MODES
from op25b_app.core.gc_pause import gc_paused
from op25b_app.core.limits import MAX_PORT, MAX_VLAN, MIN_PORT, MIN_VLAN
from op25b_app.core.prefixes import IPV4_MAPPED, plain_prefix
from op25b_app.core.snapshot import (
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
    as_utc,
    carries_from_db,
    dpid_from_db,
)

log = logging.getLogger(__name__)


class SnapshotError(RuntimeError):
    """A stored row the compiler must not be given; names the culprit exactly."""

    def __init__(self, table: str, row_id: object, field: str, value: object, reason: str) -> None:
        self.table = table
        self.row_id = row_id
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(table, row_id, field, value, reason)

    def __str__(self) -> str:
        return (
            f"table '{self.table}' row {self.row_id} field '{self.field}' "
            f"value '{self.value}': {self.reason}"
        )


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
    switch_dpids, switches = _load_switches(conn)
    types = _load_types(conn)
    wanted = None
    if scope is not None:
        wanted = [row_id for row_id, dpid in switch_dpids.items() if dpid in scope]
    attachments = _load_attachments(conn, switch_dpids, types, wanted)
    mtas = _load_mtas(conn)
    mode, enforce_at = _load_global_enforcement(conn)
    return PolicySnapshot(
        revision=revision, switches=switches, attachments=attachments, mtas=mtas, scope=scope,
        mode=mode, enforce_at=enforce_at,
    )


def _load_global_enforcement(conn: Connection) -> tuple[str, dt.datetime | None]:
    ge = GlobalEnforcement.__table__
    row = conn.execute(sa.select(ge.c.id, ge.c.mode, _raw(ge.c.enforce_at))).first()
    if row is None:
        return MODE_ENFORCE, None
    if row.mode not in MODES:
        raise SnapshotError("global_enforcement", row.id, "mode", row.mode,
                            f"not one of {', '.join(MODES)}")
    return row.mode, _check_time("global_enforcement", row.id, "enforce_at", row[2])


def _raw(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """Select a column without SQLAlchemy's result processing.

    We convert and validate values ourselves so that a malformed value is
    reported with its row id instead of failing deep inside the driver layer
    (and so 150k rows are not processed twice).
    """
    return sa.type_coerce(column, sa.types.NullType())


def _load_switches(conn: Connection) -> tuple[dict[int, int], dict[int, SwitchInfo]]:
    sw = Switch.__table__
    up = SwitchUplink.__table__
    uplinks: dict[int, set[int]] = {}
    for switch_id, port in conn.execute(sa.select(up.c.switch_id, _raw(up.c.port))):
        uplinks.setdefault(switch_id, set()).add(
            _check_int("switch_uplinks", f"({switch_id}, {port})", "port", port, MIN_PORT, MAX_PORT)
        )
    dpid_by_id: dict[int, int] = {}
    switches: dict[int, SwitchInfo] = {}
    rows = conn.execute(
        sa.select(sw.c.id, _raw(sw.c.dpid), sw.c.name, sw.c.role, sw.c.mode,
                  _raw(sw.c.enforce_at)).order_by(sw.c.id)
    )
    for row_id, stored_dpid, name, role, mode, enforce_at in rows:
        if mode is not None and mode not in MODES:
            raise SnapshotError("switches", row_id, "mode", mode, f"not one of {', '.join(MODES)}")
        if not isinstance(stored_dpid, int):
            raise SnapshotError("switches", row_id, "dpid", stored_dpid, "not an integer")
        if role not in ROLES:
            raise SnapshotError("switches", row_id, "role", role, f"not one of {', '.join(ROLES)}")
        dpid = dpid_from_db(stored_dpid)
        dpid_by_id[row_id] = dpid
        switches[dpid] = SwitchInfo(
            dpid=dpid, name=name, role=role, uplink_ports=frozenset(uplinks.get(row_id, ())),
            mode=mode, enforce_at=_check_time("switches", row_id, "enforce_at", enforce_at),
        )
    for switch_id in uplinks.keys() - dpid_by_id.keys():
        raise SnapshotError("switch_uplinks", switch_id, "switch_id", switch_id, "no such switch")
    return dpid_by_id, switches


def _load_types(conn: Connection) -> dict[int, tuple[str, bool]]:
    ct = ConnectionType.__table__
    types: dict[int, tuple[str, bool]] = {}
    for row_id, name, blocked in conn.execute(sa.select(ct.c.id, ct.c.name, _raw(ct.c.blocked))):
        types[row_id] = (name, _check_bool("connection_types", row_id, "blocked", blocked))
    return types


def _load_attachments(
    conn: Connection,
    dpid_by_switch_id: dict[int, int],
    types: dict[int, tuple[str, bool]],
    switch_ids: list[int] | None = None,
) -> dict[int, tuple[AttachmentRule, ...]]:
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
    parse_prefix = _prefix_parser("attachments")
    parse_carries = _carries_parser()
    # Subscriber-level facts are validated once per subscriber, not per attachment.
    subscriber_cache: dict[int, tuple[str, str, bool, bool, dt.datetime | None]] = {}
    by_dpid: dict[int, list[AttachmentRule]] = {}
    seen: dict[tuple[int, int, int | None, str | None], int] = {}
    for (row_id, switch_id, port, vlan, prefix, carries, subscriber_id, account, type_id, exempt,
         exempt_until) in conn.execute(query).all():
        dpid = dpid_by_switch_id.get(switch_id)
        if dpid is None:
            raise SnapshotError("attachments", row_id, "switch_id", switch_id, "no such switch")
        if port.__class__ is not int or not MIN_PORT <= port <= MAX_PORT:
            _check_int("attachments", row_id, "port", port, MIN_PORT, MAX_PORT)
        if vlan is not None and (vlan.__class__ is not int or not MIN_VLAN <= vlan <= MAX_VLAN):
            _check_int("attachments", row_id, "vlan", vlan, MIN_VLAN, MAX_VLAN)
        network = None if prefix is None else parse_prefix(row_id, prefix)
        key = (dpid, port, vlan, prefix)
        if key in seen:
            raise _same_match(row_id, key, seen[key])
        seen[key] = row_id
        facts = subscriber_cache.get(subscriber_id)
        if facts is None:
            facts = subscriber_cache[subscriber_id] = _subscriber_facts(
                subscriber_id, account, type_id, exempt, exempt_until, types)
        by_dpid.setdefault(dpid, []).append(
            AttachmentRule(
                attachment_id=row_id,
                account=facts[0],
                dpid=dpid,
                port=port,
                vlan=vlan,
                prefix=network,
                type_name=facts[1],
                type_blocked=facts[2],
                exempt=facts[3],
                exempt_until=facts[4],
                carries=parse_carries(row_id, carries),
            )
        )
    return {dpid: tuple(rules) for dpid, rules in by_dpid.items()}


def _same_match(row_id: int, key: tuple[int, int, int | None, str | None],
                other: int) -> SnapshotError:
    dpid, port, vlan, prefix = key
    return SnapshotError("attachments", row_id, "match_key",
                         f"{dpid}:{port}:{'*' if vlan is None else vlan}:{prefix or '*'}",
                         f"same match as attachment {other}")


def _subscriber_facts(subscriber_id: int, account: str, type_id: int, exempt: Any,
                      exempt_until: Any, types: dict[int, tuple[str, bool]],
                      ) -> tuple[str, str, bool, bool, dt.datetime | None]:
    """(account, type name, type blocks, exempt, exempt until), checked once per subscriber."""
    if type_id not in types:
        raise SnapshotError("subscribers", subscriber_id, "type_id", type_id, "no such type")
    type_name, type_blocked = types[type_id]
    return (account, type_name, type_blocked,
            _check_bool("subscribers", subscriber_id, "exempt", exempt),
            _check_time("subscribers", subscriber_id, "exempt_until", exempt_until))


def _load_mtas(conn: Connection) -> tuple[MtaRule, ...]:
    mt = Mta.__table__
    parse_prefix = _prefix_parser("mtas")
    mtas: list[MtaRule] = []
    for row_id, name, prefix in conn.execute(
        sa.select(mt.c.id, mt.c.name, mt.c.prefix).order_by(mt.c.name)
    ):
        if prefix is None:
            raise SnapshotError("mtas", row_id, "prefix", prefix, "missing")
        network = parse_prefix(row_id, prefix)
        if network.prefixlen == 0:
            raise SnapshotError(
                "mtas", row_id, "prefix", prefix, "a /0 MTA would let TCP/25 go anywhere"
            )
        mtas.append(MtaRule(name=name, prefix=network))
    return tuple(mtas)


def _carries_parser() -> Callable[[int, Any], frozenset[str]]:
    """A parser of ``attachments.carries`` that checks each distinct stored text once.

    Nearly every row holds NULL and the rest a handful of distinct lists, so
    150k rows cost 150k dict lookups. Anything but a comma list of known kinds
    (``carries_from_db``) names its row: a kind the compiler does not know
    would silently pass nothing while the operator believes it passes.
    """
    known: dict[Any, frozenset[str]] = {None: frozenset()}

    def parse(row_id: int, text: Any) -> frozenset[str]:
        kinds = known.get(text)
        if kinds is None:
            try:
                kinds = known[text] = carries_from_db(text)
            except ValueError as error:
                raise SnapshotError("attachments", row_id, "carries", text, str(error)) from None
        return kinds

    return parse


def _prefix_parser(table: str) -> Callable[[int, Any], netaddr.IPNetwork]:
    """A parser insisting on the canonical form the service layer stores.

    A non-canonical prefix (host bits set, upper-case hex, netmask notation)
    means the row bypassed the service layer, and then the match_key
    uniqueness guarantee may not hold either; reject rather than guess.

    Stored text that is already canonical takes the fast path of
    ``prefixes.plain_prefix`` (150k prefixes through netaddr would take longer
    than the rest of the load); netaddr decides everything else.
    """

    def parse(row_id: int, text: Any) -> netaddr.IPNetwork:
        fast = plain_prefix(text) if text.__class__ is str else None
        if fast is not None and fast[1] == text:
            return fast[0]
        try:
            network = netaddr.IPNetwork(text)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise SnapshotError(
                table, row_id, "prefix", text, "not a valid IPv4/IPv6 prefix"
            ) from None
        if network.value != network.first or str(network) != text:
            raise SnapshotError(
                table, row_id, "prefix", text, f"not in canonical form (expected {network.cidr})"
            )
        if network.version == 6 and network in IPV4_MAPPED:
            raise SnapshotError(table, row_id, "prefix", text, "IPv4-mapped IPv6 prefix")
        return network

    return parse


def _check_int(table: str, row_id: object, field: str, value: Any, low: int, high: int) -> int:
    if value.__class__ is not int:
        raise SnapshotError(table, row_id, field, value, "not an integer")
    if not low <= value <= high:
        raise SnapshotError(table, row_id, field, value, f"out of range {low}..{high}")
    return int(value)


def _check_bool(table: str, row_id: object, field: str, value: Any) -> bool:
    # SQLite stores booleans as 0/1; PostgreSQL returns real bools.
    if value is True or value is False:
        return value
    if value.__class__ is int and value in (0, 1):
        return bool(value)
    raise SnapshotError(table, row_id, field, value, "not a boolean (0/1)")


def _check_time(table: str, row_id: object, field: str, value: Any) -> dt.datetime | None:
    try:
        return as_utc(value)
    except (ValueError, TypeError):
        raise SnapshotError(table, row_id, field, value, "not an ISO 8601 time") from None
