"""Reading sessions: pages for the CLI and the API, and the abuse desk's "who had it then".

Filters, count and page run in SQL (an ISP has 100k live sessions and
millions of ended ones). An address filter matches a session whose address
or prefix *contains* it: the candidate prefixes (the address itself and
each shorter prefix containing it) are listed and matched against the
stored canonical text, so the indexes on the address columns serve it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import netaddr
import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.db.models import SESSION_ADDRESS_COLUMNS, Subscriber
from op25b_app.service.errors import NotFound, ValidationError
from op25b_app.service.inputs import parse_time
from op25b_app.service.session_apply import TABLE
from op25b_app.service.session_views import SessionView, session_view
from op25b_app.service.transactions import ServiceBase

_SUBSCRIBERS = Subscriber.__table__


def _select() -> sa.Select[Any]:
    """Sessions with whether their account is a subscriber."""
    known = _SUBSCRIBERS.c.id.is_not(None).label("known")
    return sa.select(TABLE, known).select_from(
        TABLE.outerjoin(_SUBSCRIBERS, _SUBSCRIBERS.c.account == TABLE.c.account))


def session_by_id(session: Session, session_id: int, now: dt.datetime) -> SessionView:
    """One session's view, or ``NotFound``."""
    row = session.execute(_select().where(TABLE.c.id == session_id)).first()
    if row is None:
        raise NotFound("session", "id", session_id)
    return session_view(row, bool(row.known), now)


def address_clause(text: str, field: str = "address") -> sa.ColumnElement[bool]:
    """Sessions holding ``text`` (an address or prefix) or a prefix containing it."""
    try:
        network = netaddr.IPNetwork(str(text).strip())
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(field, text, "not an IPv4/IPv6 address or prefix") from None
    candidates = [str(network.cidr)] + [str(s) for s in network.supernet(1)]
    columns = SESSION_ADDRESS_COLUMNS[:1] if network.version == 4 else \
        SESSION_ADDRESS_COLUMNS[1:]
    return sa.or_(*(TABLE.c[c].in_(candidates) for c in columns))


def live_at(at: dt.datetime) -> sa.ColumnElement[bool]:
    """Sessions live at ``at``: started, not ended and not expired by then."""
    return sa.and_(TABLE.c.started_at <= at, sa.or_(
        TABLE.c.ended_at > at,
        sa.and_(TABLE.c.ended_at.is_(None),
                sa.or_(TABLE.c.expires_at.is_(None), TABLE.c.expires_at > at))))


class SessionQueryOps(ServiceBase):
    """Reads of the ``sessions`` table."""

    def page_sessions(self, *, account: str | None = None, address: str | None = None,
                      nas: str | None = None, live: bool | None = None,
                      limit: int | None = None, offset: int = 0,
                      ) -> tuple[list[SessionView], int]:
        """One page (newest first) of the sessions matching the filters, and how many match.

        ``live`` True: only sessions live now; False: only ended ones.
        """
        now = self._clock()
        conditions: list[sa.ColumnElement[bool]] = []
        if account is not None:
            conditions.append(TABLE.c.account == account)
        if nas is not None:
            conditions.append(TABLE.c.nas == nas)
        if address is not None:
            conditions.append(address_clause(address))
        if live is not None:
            conditions.append(live_at(now) if live else sa.not_(live_at(now)))
        with self._read() as session:
            rows = session.execute(_select().where(*conditions)
                                   .order_by(TABLE.c.started_at.desc(), TABLE.c.id.desc())
                                   .offset(offset).limit(limit)).all()
            views = [session_view(r, bool(r.known), now) for r in rows]
            total = session.scalar(sa.select(sa.func.count()).select_from(TABLE)
                                   .where(*conditions)) or 0
            return views, total

    def show_session(self, session_id: int) -> SessionView:
        """One session by id."""
        with self._read() as session:
            return session_by_id(session, session_id, self._clock())

    def who_had(self, address: str, at: dt.datetime | str | None = None) -> list[SessionView]:
        """The sessions that held ``address`` at ``at`` (default: now), newest first.

        The abuse desk's daily question: "who had 198.51.100.7 at 10:42?".
        Usually one; two when a prefix and a longer one overlap, and none
        when nobody held it (then a static attachment may: ``subscriber
        list``).
        """
        when = self._clock() if at is None else \
            at if isinstance(at, dt.datetime) else parse_time(at, "at", self._tz)
        with self._read() as session:
            rows = session.execute(_select().where(address_clause(address), live_at(when))
                                   .order_by(TABLE.c.started_at.desc())).all()
            return [session_view(r, bool(r.known), self._clock()) for r in rows]

    def live_session_count(self) -> int:
        """How many sessions are live now (the radius server's gauge)."""
        now = self._clock()
        with self._read() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(TABLE).where(
                TABLE.c.ended_at.is_(None),
                sa.or_(TABLE.c.expires_at.is_(None), TABLE.c.expires_at > now))) or 0
