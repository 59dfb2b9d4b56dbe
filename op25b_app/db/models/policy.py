"""The policy tables: every change to them advances the policy revision (triggers)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from op25b_app.core.limits import MAX_PORT, MAX_VLAN, MIN_PORT, MIN_VLAN
from op25b_app.core.snapshot import ROLES
from op25b_app.db.models.columns import Base, Dpid, UTCDateTime, utc_now

#: Tables whose every change must advance ``policy_revision`` (triggers).
POLICY_TABLES: tuple[str, ...] = (
    "switches",
    "switch_uplinks",
    "connection_types",
    "subscribers",
    "attachments",
    "mtas",
    "global_enforcement",
    # Dynamic attachments (radius): see db.models.sessions for which UPDATEs count.
    "sessions",
)

#: PostgreSQL NOTIFY channel the revision trigger signals on (payload: the new
#: revision as text), so the controller can LISTEN instead of polling.
POLICY_NOTIFY_CHANNEL = "op25b_policy"

_ROLE_LIST = ", ".join(f"'{r}'" for r in ROLES)


class Switch(Base):
    """An OpenFlow switch op25b programs; only ``edge`` switches carry subscribers."""

    __tablename__ = "switches"
    __table_args__ = (sa.CheckConstraint(f"role IN ({_ROLE_LIST})", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dpid: Mapped[int] = mapped_column(Dpid(), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[str] = mapped_column(sa.String(8), server_default="edge")
    #: Enforcement override for this switch (None = follow global_enforcement).
    mode: Mapped[str | None] = mapped_column(sa.String(8))
    enforce_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: Weighted flow entries the switch can hold (None = no limit): writes
    #: that would compile more for it are refused (``service/capacity.py``).
    capacity: Mapped[int | None] = mapped_column(sa.Integer)
    #: Compact rendering: no entry per blocked attachment (``core/compact.py``).
    compact: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=sa.func.now()
    )

    uplinks: Mapped[list[SwitchUplink]] = relationship(
        back_populates="switch",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="SwitchUplink.port",
    )


class SwitchUplink(Base):
    """A port facing the core: traffic entering here is never blocked."""

    __tablename__ = "switch_uplinks"
    __table_args__ = (
        sa.CheckConstraint(f"port BETWEEN {MIN_PORT} AND {MAX_PORT}", name="port_range"),
    )

    switch_id: Mapped[int] = mapped_column(
        sa.ForeignKey("switches.id", ondelete="CASCADE"), primary_key=True
    )
    # BIGINT: OFPP_MAX (0xffffff00) does not fit PostgreSQL's signed INTEGER.
    port: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)

    switch: Mapped[Switch] = relationship(back_populates="uplinks")


class ConnectionType(Base):
    """A kind of access line; ``blocked`` says whether OP25B applies to it."""

    __tablename__ = "connection_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(32), unique=True)
    blocked: Mapped[bool] = mapped_column(sa.Boolean)
    description: Mapped[str] = mapped_column(sa.Text, server_default="")


class Subscriber(Base):
    """A customer account, its connection type and any opt-out."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), server_default="")
    type_id: Mapped[int] = mapped_column(
        sa.ForeignKey("connection_types.id", ondelete="RESTRICT"), index=True
    )
    exempt: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    exempt_reason: Mapped[str | None] = mapped_column(sa.Text)
    exempt_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=sa.func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utc_now, onupdate=utc_now, server_default=sa.func.now()
    )

    connection_type: Mapped[ConnectionType] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="subscriber",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Attachment.id",
    )


class Attachment(Base):
    """Where a subscriber's traffic enters: switch port, optional VLAN and source prefix."""

    __tablename__ = "attachments"
    __table_args__ = (
        sa.CheckConstraint(f"port BETWEEN {MIN_PORT} AND {MAX_PORT}", name="port_range"),
        sa.CheckConstraint(
            f"vlan IS NULL OR vlan BETWEEN {MIN_VLAN} AND {MAX_VLAN}", name="vlan_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    switch_id: Mapped[int] = mapped_column(
        sa.ForeignKey("switches.id", ondelete="RESTRICT"), index=True
    )
    port: Mapped[int] = mapped_column(sa.BigInteger)
    vlan: Mapped[int | None] = mapped_column(sa.Integer)
    prefix: Mapped[str | None] = mapped_column(sa.String(64))
    match_key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    #: Encapsulations this port/VLAN carries on purpose, passed instead of
    #: guarded: ``mpls,qinq`` (sorted, comma-separated; ``carries_to_db``), NULL = none.
    carries: Mapped[str | None] = mapped_column(sa.String(32))

    subscriber: Mapped[Subscriber] = relationship(back_populates="attachments")
    switch: Mapped[Switch] = relationship()


class Mta(Base):
    """One prefix of one of the ISP's own mail relays: TCP/25 to it always passes.

    An MTA is its name; each of its prefixes is a row with that name (a
    relay with an IPv4 and an IPv6 address has two rows). Readers that only
    need "where may TCP/25 go" read the rows and never care about names.
    That one prefix belongs to one MTA is the service's rule (migration 0009).
    """

    __tablename__ = "mtas"
    __table_args__ = (sa.UniqueConstraint("name", "prefix", name="uq_mtas_name_prefix"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    prefix: Mapped[str] = mapped_column(sa.String(64))


class PolicyRevision(Base):
    """The single row whose ``revision`` advances on every policy change.

    Written only by database triggers, never by application code, so that a
    change made with a plain SQL client is noticed just like one made by the
    CLI.
    """

    __tablename__ = "policy_revision"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(sa.BigInteger)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), server_default=sa.func.now())
    #: The first revision whose changes are all in ``policy_changes`` (older
    #: log rows may be pruned): a reader further behind reloads everything.
    changes_from: Mapped[int | None] = mapped_column(sa.BigInteger)


class PolicyChange(Base):
    """One row a revision touched: written by the same triggers, in the same transaction.

    ``row_id`` is the row's id (``switch_id`` for ``switch_uplinks``); NULL
    means the whole table (a TRUNCATE).
    """

    __tablename__ = "policy_changes"
    __table_args__ = (sa.Index("ix_policy_changes_revision", "revision"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    revision: Mapped[int] = mapped_column(sa.BigInteger)
    table_name: Mapped[str] = mapped_column(sa.String(32))
    row_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    logged_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), server_default=sa.func.current_timestamp())


class GlobalEnforcement(Base):
    """The ISP-wide enforcement mode and start time (one row, a policy table)."""

    __tablename__ = "global_enforcement"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    mode: Mapped[str] = mapped_column(sa.String(8), server_default="enforce")
    enforce_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
