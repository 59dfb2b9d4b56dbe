"""Live sessions as ``AttachmentRule``s: dynamic attachments for the snapshot.

The controller needs nothing new for dynamic subscribers: each live session
becomes one attachment rule per address it holds (the framed IPv4 address as
a /32, the framed and the delegated IPv6 prefix), at the place its NAS feeds
(switch, port, optional VLAN), with its subscriber's connection type and
opt-out - so the compiler judges it exactly like a static attachment, most
specific match first.

* **Fail closed.** A session whose account names no subscriber is blocked
  (type "(unknown)"); a session row that fails a check is quarantined, and if
  its account is not plainly exempt the exemptions at its place are
  suspended, as ``db.snapshot_loader`` does for static attachments.
* **Live** means not ended and not past ``expires_at`` at load time: a
  session whose interim updates stopped is gone even before the RADIUS
  server's sweep writes its end.
* **Ids** come from the session range (``core.session_ids``): they never
  equal a static attachment's, so cookies, counters and samples stay apart.
* **Same match as a static attachment** (same switch, port, VLAN and prefix):
  one entry stays, the static one (its id), blocking if either blocks. Any
  other overlap is ordinary specificity: a session's /32 on a port beats the
  port's static port-only or shorter-prefix attachment, a static /32 for the
  same address on a VLAN beats a session without one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import netaddr
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from op25b_app.core.limits import MAX_PORT, MAX_VLAN, MIN_PORT, MIN_VLAN
from op25b_app.core.session_ids import (
    MAX_SESSION_ROW_ID,
    SLOTS,
    session_attachment_id,
    session_of,
)
from op25b_app.core.snapshot import AttachmentRule
from op25b_app.db.models import (
    SESSION_ADDRESS_COLUMNS,
    Subscriber,
    SubscriberSession,
    dpid_from_db,
    dpid_to_db,
    utc_now,
)
from op25b_app.db.row_checks import (
    UNKNOWN_TYPE,
    Quarantine,
    SnapshotError,
    SubscriberFacts,
    check_int,
    fail_closed,
    prefix_parser,
    subscriber_facts,
)

_TABLE = "sessions"
_Key = tuple[int, int | None, str]


def _raw(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The stored value without result processing (checked here, per row)."""
    return sa.type_coerce(column, sa.types.NullType())


def live_session_query(scope: frozenset[int] | None, now: dt.datetime) -> sa.Select[Any]:
    """Live, placed sessions (of the switches in ``scope``) with their subscriber's facts."""
    se = SubscriberSession.__table__
    su = Subscriber.__table__
    query = (
        sa.select(se.c.id, _raw(se.c.dpid), _raw(se.c.port), _raw(se.c.vlan),
                  *(se.c[c] for c in SESSION_ADDRESS_COLUMNS), se.c.account, su.c.id,
                  su.c.type_id, _raw(su.c.exempt), _raw(su.c.exempt_until))
        .select_from(se.outerjoin(su, su.c.account == se.c.account))
        .where(se.c.ended_at.is_(None), se.c.dpid.is_not(None), se.c.port.is_not(None),
               sa.or_(se.c.expires_at.is_(None), se.c.expires_at > now))
        .order_by(se.c.id)
    )
    if scope is not None:
        query = query.where(_raw(se.c.dpid).in_([dpid_to_db(d) for d in scope]))
    return query


def load_session_rules(conn: Connection, types: dict[int, tuple[str, bool]],
                       quarantine: Quarantine, scope: frozenset[int] | None = None,
                       now: dt.datetime | None = None) -> dict[int, list[AttachmentRule]]:
    """The live sessions' attachment rules per dpid (``types``: id -> (name, blocked))."""
    parse_prefix = prefix_parser(_TABLE)
    by_dpid: dict[int, list[AttachmentRule]] = {}
    facts_cache: dict[str, SubscriberFacts] = {}
    rows = conn.execute(live_session_query(scope, now or utc_now())).all()
    for (row_id, dpid, port, vlan, ip4, ip6, delegated, account, subscriber_id, type_id,
         exempt, exempt_until) in rows:
        facts = facts_cache.get(account)
        if facts is None:
            facts = facts_cache[account] = _facts(subscriber_id, account, type_id, exempt,
                                                  exempt_until, types, quarantine)
        try:
            place = _place(row_id, dpid, port, vlan)
            networks = [None if text is None else parse_prefix(row_id, text)
                        for text in (ip4, ip6, delegated)]
        except SnapshotError as error:
            quarantine.add(error)
            if dpid.__class__ is int and not facts.plainly_exempt:
                port_ok = port.__class__ is int and MIN_PORT <= port <= MAX_PORT
                quarantine.close(dpid_from_db(dpid), port if port_ok else None)
            continue
        for slot, network in zip(SLOTS, networks, strict=True):
            if network is not None:
                by_dpid.setdefault(place[0], []).append(_rule(row_id, slot, place, network,
                                                              facts))
    return by_dpid


def add_session_attachments(conn: Connection, attachments: dict[int, list[AttachmentRule]],
                            types: dict[int, tuple[str, bool]], quarantine: Quarantine,
                            scope: frozenset[int] | None = None,
                            now: dt.datetime | None = None) -> None:
    """Add the live sessions' rules to the static ``attachments`` (per dpid), in place.

    This is what ``db.snapshot_loader._load`` calls, before it applies the
    quarantine (so a place closed by a bad row closes its sessions too).
    """
    sessions = load_session_rules(conn, types, quarantine, scope, now)
    for dpid, rules in sessions.items():
        merge_rules(attachments.setdefault(dpid, []), rules)


def merge_rules(static: list[AttachmentRule], sessions: list[AttachmentRule]) -> None:
    """Append ``sessions`` to ``static``; an exact same match keeps one entry (fail closed)."""
    seen: dict[_Key, int] = {_key(rule): index for index, rule in enumerate(static)}
    for rule in sessions:
        key = _key(rule)
        index = seen.get(key)
        if index is None:
            seen[key] = len(static)
            static.append(rule)
        elif _may_block(rule):
            static[index] = fail_closed(static[index])


def _may_block(rule: AttachmentRule) -> bool:
    """Whether ``rule`` blocks now or will (an opt-out with an expiry ends)."""
    return rule.type_blocked and not (rule.exempt and rule.exempt_until is None)


def _key(rule: AttachmentRule) -> _Key:
    return (rule.port, rule.vlan, "*" if rule.prefix is None else str(rule.prefix))


def _place(row_id: int, dpid: Any, port: Any, vlan: Any) -> tuple[int, int, int | None]:
    if dpid.__class__ is not int:
        raise SnapshotError(_TABLE, row_id, "dpid", dpid, "not an integer")
    if row_id > MAX_SESSION_ROW_ID:
        raise SnapshotError(_TABLE, row_id, "id", row_id,
                            f"above {MAX_SESSION_ROW_ID}: no cookie id left")
    check_int(_TABLE, row_id, "port", port, MIN_PORT, MAX_PORT)
    if vlan is not None:
        check_int(_TABLE, row_id, "vlan", vlan, MIN_VLAN, MAX_VLAN)
    return dpid_from_db(dpid), port, vlan


def _rule(row_id: int, slot: int, place: tuple[int, int, int | None],
          network: netaddr.IPNetwork, facts: SubscriberFacts) -> AttachmentRule:
    dpid, port, vlan = place
    return AttachmentRule(
        attachment_id=session_attachment_id(row_id, slot), account=facts.account, dpid=dpid,
        port=port, vlan=vlan, prefix=network, type_name=facts.type_name,
        type_blocked=facts.type_blocked, exempt=facts.exempt, exempt_until=facts.exempt_until)


def _facts(subscriber_id: int | None, account: str, type_id: int | None, exempt: Any,
           exempt_until: Any, types: dict[int, tuple[str, bool]],
           quarantine: Quarantine) -> SubscriberFacts:
    """The account's facts; no subscriber (or a bad row) blocks: fail closed."""
    if subscriber_id is None:
        return SubscriberFacts(account, UNKNOWN_TYPE, True, False, None)
    return subscriber_facts(subscriber_id, account, type_id, exempt, exempt_until, types,
                            quarantine, keep_type_name=False)


def session_accounts(conn: Connection, attachment_ids: Iterable[int]) -> dict[int, str]:
    """attachment id -> account for the session-range ids among ``attachment_ids``.

    The counters use it for counts read from a session's entry after the
    controller's snapshot lost the session (it ended between two polls): the
    packets were that account's, not an unregistered sender's.
    """
    wanted = {aid: sid for aid in attachment_ids if (sid := session_of(aid)) is not None}
    if not wanted:
        return {}
    se = SubscriberSession.__table__
    rows = conn.execute(sa.select(se.c.id, se.c.account)
                        .where(se.c.id.in_(sorted(set(wanted.values())))))
    by_session = {int(sid): str(account) for sid, account in rows}
    return {aid: by_session[sid] for aid, sid in wanted.items() if sid in by_session}
