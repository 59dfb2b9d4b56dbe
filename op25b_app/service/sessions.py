"""``SessionOps``: writing dynamic subscribers (RADIUS accounting, DHCP hooks, operators).

One call is one transaction, like every other write: ``apply_accounting``
applies a whole batch of events (the RADIUS server sends its replies only
after this returns, i.e. after the commit) and audits each change in the
same transaction. Interim updates that change nothing but liveness write
neither the revision nor the audit trail (see ``db.models.sessions``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from op25b_app.service.errors import NotFound, ValidationError
from op25b_app.service.inputs import parse_dpid, parse_port, parse_vlan
from op25b_app.service.session_apply import TABLE, SessionWriter
from op25b_app.service.session_events import (
    INTERIM,
    STOP,
    AccountingEvent,
    ExpiryPolicy,
    Place,
    check_event,
)
from op25b_app.service.session_queries import SessionQueryOps, session_by_id
from op25b_app.service.session_views import SessionView


class SessionOps(SessionQueryOps):
    """Writes of the ``sessions`` table; reads are ``SessionQueryOps``."""

    def check_accounting_event(self, event: AccountingEvent) -> AccountingEvent:
        """``event`` in stored form, or ``ValidationError`` naming the bad field.

        A feed checks each event before batching it, so one bad packet never
        fails the batch of others it would have been committed with.
        """
        return check_event(event)

    def apply_accounting(self, events: Sequence[AccountingEvent],
                         expiry: ExpiryPolicy | None = None) -> list[str]:
        """Apply ``events`` in order, in one transaction; one outcome per event."""
        checked = [check_event(e) for e in events]
        with self._write() as session:
            writer = SessionWriter(session, self._audit(session), expiry or ExpiryPolicy())
            return [writer.apply(event) for event in checked]

    def open_session(self, *, nas: str, session_id: str, account: str, dpid: int | str,
                     port: int | str, vlan: int | str | None = None,
                     addresses: Sequence[str] = (), lifetime: dt.timedelta | None = None,
                     source: str = "api") -> SessionView:
        """Create or refresh a session from a DHCP hook or an operator (idempotent).

        ``addresses``: an IPv4 address, and/or an IPv6 prefix; a second IPv6
        prefix is the delegated one. ``lifetime`` is the lease: the session
        expires by itself that long after this call.
        """
        now = self._clock()
        slots = _slots(addresses)
        event = AccountingEvent(
            kind=INTERIM, nas=nas, received_at=now, event_time=now, acct_session_id=session_id,
            account=account, user_name=account,
            place=Place(parse_dpid(dpid), parse_port(port), parse_vlan(vlan)), source=source, lifetime=lifetime,
            framed_ip=slots.get("framed_ip"), framed_ipv6_prefix=slots.get("framed_ipv6_prefix"),
            delegated_ipv6_prefix=slots.get("delegated_ipv6_prefix"))
        with self._write() as session:
            writer = SessionWriter(session, self._audit(session), ExpiryPolicy())
            writer.apply(check_event(event))
            row = writer.latest(nas, session_id)
            assert row is not None
            return session_by_id(session, row.id, now)

    def end_session(self, session_id: int, reason: str = "operator") -> SessionView:
        """End a live session now (an operator, or a DHCP release); ending twice is harmless."""
        now = self._clock()
        with self._write() as session:
            row = session.execute(sa.select(TABLE).where(TABLE.c.id == session_id)).first()
            if row is None:
                raise NotFound("session", "id", session_id)
            if row.ended_at is None:
                writer = SessionWriter(session, self._audit(session), ExpiryPolicy())
                writer.end(row, max(now, row.started_at), reason[:32])
            return session_by_id(session, session_id, now)

    def stop_session(self, nas: str, session_id: str) -> None:
        """A Stop for (``nas``, ``session_id``) from a non-RADIUS feed."""
        now = self._clock()
        self.apply_accounting([AccountingEvent(kind=STOP, nas=nas, received_at=now,
                                               event_time=now, acct_session_id=session_id,
                                               source="api")])

    def expire_sessions(self) -> int:
        """End the live sessions past their expiry (missed interims, lease over).

        Each ends at its own ``expires_at``, which is when it stopped being
        live for the controller too. One audit entry lists them.
        """
        now = self._clock()
        due = (TABLE.c.ended_at.is_(None), TABLE.c.expires_at.is_not(None),
               TABLE.c.expires_at <= now)
        with self._write() as session:
            ids = session.execute(sa.select(TABLE.c.id).where(*due)).scalars().all()
            if not ids:
                return 0
            session.execute(sa.update(TABLE).where(*due).values(
                ended_at=TABLE.c.expires_at, end_reason="expired"))
            self._audit(session).record("session", "*", "expired", {"live": len(ids)},
                                        {"ended": list(ids[:100])})
            return len(ids)


def _slots(addresses: Sequence[str]) -> dict[str, str | None]:
    """Sort given addresses into the slots: IPv4, then the first and second IPv6 prefix."""
    slots: dict[str, str | None] = {}
    v6 = ["framed_ipv6_prefix", "delegated_ipv6_prefix"]
    for text in addresses:
        name = "framed_ip" if ":" not in str(text) else (v6.pop(0) if v6 else None)
        if name is None or name in slots:
            raise ValidationError("addresses", list(addresses),
                                  "at most one IPv4 address and two IPv6 prefixes")
        slots[name] = str(text)
    return slots
