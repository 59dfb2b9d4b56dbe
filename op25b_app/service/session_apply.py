"""Applying accounting events to the ``sessions`` table inside one write transaction.

The rules, each chosen so that a BNG's retransmissions, reordering and
reboots can do no harm:

* Sessions are keyed by (NAS, Acct-Session-Id); the latest row of a key is
  the one an event is about.
* Start and Interim-Update create the session if it is not live (a lost
  Start must not leave a customer unplaced) and otherwise refresh it:
  ``last_seen``/``expires_at`` only (no revision, no audit), or also its
  account, place or addresses when those changed (audited, revision).
* An ended key is reopened only by an event carrying its own
  Event-Timestamp later than the end; anything else is a late copy
  (a Start arriving after its Stop) and is ignored.
* Stop ends the live session; a Stop with no session leaves an ended row
  (a tombstone) so the late Start is recognised; a second Stop is ignored.
* Accounting-On/Off end every session of the NAS that started no later
  than the On/Off (so a retransmitted On cannot end the sessions after it).
* An address held by another live session moves to the new one (the BNG
  reassigned it): the old session is ended ("address-reassigned", its row
  keeps the addresses it held, for ``session who``) and the audit trail
  says which addresses went from whom to whom.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from op25b_app.db.models import SESSION_ADDRESS_COLUMNS, SubscriberSession, Switch
from op25b_app.service.audit import AuditRecorder
from op25b_app.service.errors import ValidationError
from op25b_app.service.session_events import (
    ACCOUNTING_ON,
    CREATED,
    ENDED,
    IGNORED,
    REFRESHED,
    RESET,
    STOP,
    UPDATED,
    AccountingEvent,
    ExpiryPolicy,
)

TABLE = cast(sa.Table, SubscriberSession.__table__)
ENTITY = "session"

# The hot path's statements are built once: building a SQLAlchemy statement
# per request (and its cache key) cost more than running it (measured: 4 ms
# per Start with per-call construction on SQLite).
_LATEST = (sa.select(TABLE).where(TABLE.c.nas == sa.bindparam("nas"),
                                  TABLE.c.acct_session_id == sa.bindparam("sid"))
           .order_by(TABLE.c.id.desc()).limit(1))
_HOLDERS = sa.select(TABLE).where(
    TABLE.c.ended_at.is_(None), TABLE.c.id != sa.bindparam("own"),
    sa.or_(*(TABLE.c[c] == sa.bindparam(c) for c in SESSION_ADDRESS_COLUMNS)))
_INSERT = sa.insert(TABLE).returning(TABLE.c.id)
_REFRESH = sa.update(TABLE).where(TABLE.c.id == sa.bindparam("row_id")).values(
    last_seen=sa.bindparam("last_seen"), interim_interval=sa.bindparam("interval"),
    expires_at=sa.bindparam("expires_at"))


def place_text(dpid: Any, port: Any, vlan: Any) -> str | None:
    """``0x1:5`` or ``0x1:5:300``; None for a session without a place."""
    if dpid is None or port is None:
        return None
    return f"{int(dpid):#x}:{port}" + ("" if vlan is None else f":{vlan}")


def session_state(row: Any) -> dict[str, Any]:
    """A session row as the audit trail records it."""
    return {"id": row.id, "nas": row.nas, "acct_session_id": row.acct_session_id,
            "account": row.account, "place": place_text(row.dpid, row.port, row.vlan),
            **{c: getattr(row, c) for c in SESSION_ADDRESS_COLUMNS},
            "started_at": row.started_at, "ended_at": row.ended_at,
            "end_reason": row.end_reason}


class SessionWriter:
    """Applies events in the caller's write transaction and queues their audit entries."""

    def __init__(self, session: Session, audit: AuditRecorder, expiry: ExpiryPolicy) -> None:
        self._session = session
        self._audit = audit
        self._expiry = expiry
        self._switches: dict[int, bool] = {}

    def apply(self, event: AccountingEvent) -> str:
        """Apply one checked event; returns what happened (``session_events`` outcomes)."""
        if event.acct_session_id is None:
            return self._reset(event)
        if event.kind == STOP:
            return self._stop(event)
        row = self.latest(event.nas, event.acct_session_id)
        if row is not None and row.ended_at is not None:
            if not (event.timestamped and event.event_time > row.ended_at):
                return IGNORED
            row = None
        return self._create(event) if row is None else self._update(row, event)

    def latest(self, nas: str, acct_session_id: str) -> Row[Any] | None:
        """The newest row of a (NAS, Acct-Session-Id) key."""
        return self._session.execute(_LATEST, {"nas": nas, "sid": acct_session_id}).first()

    def _expires(self, event: AccountingEvent, interval: int | None) -> dt.datetime | None:
        if event.lifetime is not None:
            return event.received_at + event.lifetime
        if event.source != "radius":
            return None
        return self._expiry.expires(event.received_at, interval)

    def _check_place(self, event: AccountingEvent) -> None:
        place = event.place
        if place is None:
            return
        known = self._switches.get(place.dpid)
        if known is None:
            known = self._switches[place.dpid] = self._session.execute(
                sa.select(Switch.id).where(Switch.dpid == place.dpid)).first() is not None
        if not known:
            raise ValidationError("dpid", f"{place.dpid:#x}", "no such switch (op25b switch add)")

    def _create(self, event: AccountingEvent) -> str:
        self._check_place(event)
        self._take_addresses(event, None)
        place = event.place
        values = {
            "nas": event.nas, "acct_session_id": event.acct_session_id,
            "account": event.account, "user_name": event.user_name, "source": event.source,
            "dpid": place and place.dpid, "port": place and place.port,
            "vlan": place and place.vlan,
            **dict(zip(SESSION_ADDRESS_COLUMNS, event.addresses, strict=True)),
            "nas_ip": event.nas_ip, "nas_identifier": event.nas_identifier,
            "nas_port_id": event.nas_port_id, "interim_interval": event.interim_interval,
            "started_at": event.event_time, "last_seen": event.received_at,
            "expires_at": self._expires(event, event.interim_interval),
        }
        new_id = self._session.execute(_INSERT, values).scalar_one()
        state = session_state(_Values({**values, "id": new_id, "ended_at": None,
                                       "end_reason": None}))
        self._audit.record(ENTITY, f"{event.nas}/{event.acct_session_id}", event.kind, None,
                           state, account=event.account)
        return CREATED

    def _by_id(self, session_id: int) -> Row[Any]:
        return self._session.execute(sa.select(TABLE).where(TABLE.c.id == session_id)).one()

    def _update(self, row: Row[Any], event: AccountingEvent) -> str:
        changes = _policy_changes(row, event)
        interval = event.interim_interval or row.interim_interval
        liveness = {"last_seen": max(row.last_seen, event.received_at),
                    "interim_interval": interval,
                    "expires_at": self._expires(event, interval)}
        if not changes:
            self._session.execute(_REFRESH, {"row_id": row.id, "last_seen": liveness["last_seen"],
                                             "interval": interval,
                                             "expires_at": liveness["expires_at"]})
            return REFRESHED
        if "dpid" in changes:
            self._check_place(event)
        self._take_addresses(event, row.id)
        self._session.execute(sa.update(TABLE).where(TABLE.c.id == row.id)
                              .values(**changes, **liveness))
        self._audit.record(ENTITY, _key(row), event.kind, session_state(row),
                           session_state(self._by_id(row.id)), account=event.account)
        return UPDATED

    def _stop(self, event: AccountingEvent) -> str:
        row = self.latest(event.nas, event.acct_session_id or "")
        if row is not None and row.ended_at is not None:
            return IGNORED
        if row is None:
            stopped = _tombstone(event)
            self._session.execute(sa.insert(TABLE).values(**stopped))
            self._audit.record(ENTITY, f"{event.nas}/{event.acct_session_id}",
                               "stop-before-start", None, stopped,
                               account=event.account)
            return ENDED
        self.end(row, max(event.event_time, row.started_at), "stop", event.received_at)
        return ENDED

    def end(self, row: Row[Any], at: dt.datetime, reason: str,
            heard: dt.datetime | None = None) -> None:
        """End live session ``row`` at ``at`` for ``reason`` (audited)."""
        values: dict[str, Any] = {"ended_at": at, "end_reason": reason}
        if heard is not None:
            values["last_seen"] = max(row.last_seen, heard)
        self._session.execute(sa.update(TABLE).where(TABLE.c.id == row.id).values(**values))
        self._audit.record(ENTITY, _key(row), reason, session_state(row),
                           {**session_state(row), "ended_at": at, "end_reason": reason},
                           account=row.account)

    def _reset(self, event: AccountingEvent) -> str:
        """Accounting-On/Off: end every session of the NAS that started before it."""
        reason = "accounting-on" if event.kind == ACCOUNTING_ON else "accounting-off"
        live = (TABLE.c.nas == event.nas, TABLE.c.ended_at.is_(None),
                TABLE.c.started_at <= event.event_time)
        ended = self._session.execute(sa.select(TABLE.c.id).where(*live)).scalars().all()
        if ended:
            self._session.execute(sa.update(TABLE).where(*live).values(
                ended_at=event.event_time, end_reason=reason))
            self._audit.record(ENTITY, f"{event.nas}/*", reason, {"live": len(ended)},
                               {"live": 0, "ended": list(ended[:100])})
        return RESET

    def _take_addresses(self, event: AccountingEvent, own_id: int | None) -> None:
        """Move ``event``'s addresses away from any other live session holding them."""
        if not any(event.addresses):
            return
        parameters = dict(zip(SESSION_ADDRESS_COLUMNS, event.addresses, strict=True))
        holders = self._session.execute(_HOLDERS, {**parameters, "own": own_id or 0}).all()
        for holder in holders:
            self._move_from(holder, event)

    def _move_from(self, holder: Row[Any], event: AccountingEvent) -> None:
        """End ``holder``: the BNG gave its address to ``event``'s session.

        The old row is ended whole rather than stripped of the address, so
        that ``session who`` still finds it for the times it held it.
        """
        at = max(event.event_time, holder.started_at)
        self._session.execute(sa.update(TABLE).where(TABLE.c.id == holder.id).values(
            ended_at=at, end_reason="address-reassigned"))
        moved = [a for c, a in zip(SESSION_ADDRESS_COLUMNS, event.addresses, strict=True)
                 if a is not None and getattr(holder, c) == a]
        self._audit.record(
            ENTITY, _key(holder), "address-moved", session_state(holder),
            {**session_state(holder), "ended_at": at, "end_reason": "address-reassigned",
             "moved": moved, "to": f"{event.nas}/{event.acct_session_id}",
             "to_account": event.account}, account=holder.account)


class _Values:
    """Attribute access to a dict of column values (a row not read back)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _key(row: Any) -> str:
    return f"{row.nas}/{row.acct_session_id}"


def _policy_changes(row: Row[Any], event: AccountingEvent) -> dict[str, Any]:
    """The policy columns ``event`` changes (an absent address keeps the stored one)."""
    changes: dict[str, Any] = {}
    if event.account != row.account:
        changes["account"] = event.account
    place = event.place
    if place is not None and (place.dpid, place.port, place.vlan) != (row.dpid, row.port,
                                                                        row.vlan):
        changes.update(dpid=place.dpid, port=place.port, vlan=place.vlan)
    for column, address in zip(SESSION_ADDRESS_COLUMNS, event.addresses, strict=True):
        if address is not None and address != getattr(row, column):
            changes[column] = address
    return changes


def _tombstone(event: AccountingEvent) -> dict[str, Any]:
    """The ended row a Stop without a session leaves, so its late Start is ignored."""
    return {"nas": event.nas, "acct_session_id": event.acct_session_id,
            "account": event.account, "user_name": event.user_name, "source": event.source,
            "nas_ip": event.nas_ip, "nas_identifier": event.nas_identifier,
            "nas_port_id": event.nas_port_id, "started_at": event.event_time,
            "last_seen": event.received_at, "ended_at": event.event_time,
            "end_reason": "stop-before-start"}
