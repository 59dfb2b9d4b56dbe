"""Dynamic subscribers: sessions reported by a BNG's RADIUS accounting or a DHCP server.

A session is a *dynamic attachment*: an account, the place its traffic
enters (switch, port, optional VLAN) and the addresses it holds while it is
live. ``sessions`` is a policy table, but only the columns that change what
a switch does advance the revision (``SESSION_POLICY_COLUMNS``): an
Interim-Update that only moves ``last_seen``/``expires_at`` forward must not
make every controller reload its snapshot hundreds of times a second.

``account`` is deliberately not a foreign key: a User-Name that names no
subscriber is still a session (an "unknown" one, blocked like an unknown
sender) and must be recorded, never refused.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from op25b_app.db.models.columns import Base, Dpid, UTCDateTime

#: Columns whose UPDATE advances the policy revision (INSERT and DELETE always do).
SESSION_POLICY_COLUMNS: tuple[str, ...] = (
    "account", "dpid", "port", "vlan", "framed_ip", "framed_ipv6_prefix",
    "delegated_ipv6_prefix", "ended_at",
)
#: The address columns, in the order of ``core.session_ids.SLOTS``.
SESSION_ADDRESS_COLUMNS: tuple[str, ...] = (
    "framed_ip", "framed_ipv6_prefix", "delegated_ipv6_prefix",
)
#: Where a session came from.
SOURCE_RADIUS = "radius"
SOURCE_DHCP = "dhcp"
SOURCE_API = "api"
SOURCES = (SOURCE_RADIUS, SOURCE_DHCP, SOURCE_API)

_LIVE = sa.text("ended_at IS NULL")


def _live_unique(column: str) -> sa.Index:
    """At most one live session holds an address (the BNG cannot give it twice)."""
    return sa.Index(f"uq_sessions_live_{column}", column, unique=True,
                    sqlite_where=_LIVE, postgresql_where=_LIVE)


class SubscriberSession(Base):
    """One dynamic attachment: who held which addresses where, from when to when."""

    __tablename__ = "sessions"
    __table_args__ = (
        sa.Index("ix_sessions_nas_acct_session_id", "nas", "acct_session_id"),
        sa.Index("ix_sessions_account", "account", "started_at"),
        sa.Index("ix_sessions_framed_ip", "framed_ip"),
        sa.Index("ix_sessions_framed_ipv6_prefix", "framed_ipv6_prefix"),
        sa.Index("ix_sessions_delegated_ipv6_prefix", "delegated_ipv6_prefix"),
        sa.Index("ix_sessions_live_dpid", "dpid", sqlite_where=_LIVE, postgresql_where=_LIVE),
        *(_live_unique(c) for c in SESSION_ADDRESS_COLUMNS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The configured client (NAS/BNG or DHCP feed) that reported it.
    nas: Mapped[str] = mapped_column(sa.String(64))
    acct_session_id: Mapped[str] = mapped_column(sa.String(253))
    account: Mapped[str] = mapped_column(sa.String(64))
    user_name: Mapped[str | None] = mapped_column(sa.String(253))
    source: Mapped[str] = mapped_column(sa.String(8))
    dpid: Mapped[int | None] = mapped_column(Dpid())
    port: Mapped[int | None] = mapped_column(sa.BigInteger)
    vlan: Mapped[int | None] = mapped_column(sa.Integer)
    framed_ip: Mapped[str | None] = mapped_column(sa.String(64))
    framed_ipv6_prefix: Mapped[str | None] = mapped_column(sa.String(64))
    delegated_ipv6_prefix: Mapped[str | None] = mapped_column(sa.String(64))
    nas_ip: Mapped[str | None] = mapped_column(sa.String(45))
    nas_identifier: Mapped[str | None] = mapped_column(sa.String(253))
    nas_port_id: Mapped[str | None] = mapped_column(sa.String(253))
    interim_interval: Mapped[int | None] = mapped_column(sa.Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: Past this the session counts as gone (missed interim updates, lease over).
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(sa.String(32))
