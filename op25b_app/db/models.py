"""ORM models of the policy tables, and the storage forms they rely on.

The schema itself is created by the Alembic migrations in
``op25b_app/db/migrations``; these classes must describe exactly what the
migrations create (a unit test compares the two), and the ORM is used only by
the service layer. The controller's hot path reads the same tables with plain
Core selects (``snapshot_loader``).

Storage decisions, so that anyone writing SQL by hand gets them right:

* **dpid** is a 64-bit *unsigned* OpenFlow datapath id, but SQL ``BIGINT`` is
  signed. It is stored as the two's-complement signed value: dpids below 2**63
  (every OVS dpid derived from a MAC address, and every vendor dpid we know of)
  are stored unchanged; a dpid with the top bit set is stored as
  ``dpid - 2**64`` (a negative number). ``dpid_to_db``/``dpid_from_db`` do the
  mapping. ``NUMERIC(20)`` was rejected because SQLite turns integers above
  2**63-1 into lossy REALs.
* **times** are timezone-aware and stored in UTC (``timestamptz`` on
  PostgreSQL; ``'YYYY-MM-DD HH:MM:SS.ffffff'`` text meaning UTC on SQLite).
* **prefixes** are stored in canonical text form, ``str(IPNetwork(x).cidr)``.
* **attachments.match_key** is ``"dpid:port:vlan|*:prefix|*"`` (dpid in
  unsigned decimal), unique, so that the same match cannot be attached twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import netaddr
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from op25b_app.core.limits import MAX_DPID, MAX_PORT, MAX_VLAN, MIN_PORT, MIN_VLAN
from op25b_app.core.snapshot import ROLES

_SIGN_BIT = 2**63
_WRAP = 2**64

#: Tables whose every change must advance ``policy_revision`` (triggers).
POLICY_TABLES: tuple[str, ...] = (
    "switches",
    "switch_uplinks",
    "connection_types",
    "subscribers",
    "attachments",
    "mtas",
    "global_enforcement",
)

#: PostgreSQL NOTIFY channel the revision trigger signals on (payload: the new
#: revision as text), so the controller can LISTEN instead of polling.
POLICY_NOTIFY_CHANNEL = "op25b_policy"

#: Constraint naming convention, so Alembic migrations can name what they drop.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def dpid_to_db(dpid: int) -> int:
    """Map an unsigned 64-bit dpid onto the signed BIGINT that stores it."""
    if not 0 <= dpid <= MAX_DPID:
        raise ValueError(f"dpid {dpid} is outside 0..2**64-1")
    return dpid - _WRAP if dpid >= _SIGN_BIT else dpid


def dpid_from_db(stored: int) -> int:
    """Inverse of ``dpid_to_db``: the unsigned dpid for a stored BIGINT."""
    return stored + _WRAP if stored < 0 else stored


def canonical_prefix(text: str) -> str:
    """The storage form of a prefix: network address, no host bits.

    Raises ``netaddr.AddrFormatError`` (a ``ValueError``) for garbage.
    """
    return str(netaddr.IPNetwork(text).cidr)


def make_match_key(dpid: int, port: int, vlan: int | None, prefix: str | None) -> str:
    """The uniqueness key of an attachment's OpenFlow match.

    ``prefix`` must already be canonical; ``*`` stands for "any".
    """
    vlan_part = "*" if vlan is None else str(vlan)
    prefix_part = "*" if prefix is None else prefix
    return f"{dpid}:{port}:{vlan_part}:{prefix_part}"


def utc_now() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored in UTC, on every backend.

    Naive datetimes are rejected on write because their meaning (local time?
    UTC?) is ambiguous and an exemption expiring nine hours early is a real
    outage. SQLite has no timezone type, so values are stored as UTC text and
    re-tagged with UTC when read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} rejected: give a UTC offset")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        return as_utc(value)


def as_utc(value: Any) -> dt.datetime | None:
    """Interpret a stored time (datetime or SQLite text) as aware UTC.

    Raises ``ValueError`` for text that is not an ISO 8601 time.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"not a time: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class Dpid(sa.types.TypeDecorator[int]):
    """An unsigned 64-bit dpid in a signed BIGINT (see module docstring)."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: sa.Dialect) -> int | None:
        return None if value is None else dpid_to_db(int(value))

    def process_result_value(self, value: int | None, dialect: sa.Dialect) -> int | None:
        return None if value is None else dpid_from_db(int(value))


class Base(DeclarativeBase):
    """Declarative base with a naming convention shared with the migrations."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


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

    subscriber: Mapped[Subscriber] = relationship(back_populates="attachments")
    switch: Mapped[Switch] = relationship()


class Mta(Base):
    """One of the ISP's own mail relays: TCP/25 to it always passes."""

    __tablename__ = "mtas"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
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


#: Audit entries recording more before/after rows than this per direct-SQL
#: transaction are summarised one row per statement (PostgreSQL trigger), so a
#: bulk load by hand does not double its own size in the audit log.
SQL_AUDIT_DETAIL_ROWS = 1000


class AuditEntry(Base):
    """One recorded change: who, when, what (entity, key, action, before/after JSON).

    The service layer writes these in the same transaction as the change and
    records the policy revisions the transaction started and ended at, so a
    revision advance that no entry accounts for is visibly "direct SQL". On
    PostgreSQL a trigger also records rows written outside op25b (actor
    ``direct SQL (role)``). Not a policy table: writing it never advances the
    revision.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(32))
    entity: Mapped[str] = mapped_column(sa.String(32))
    entity_key: Mapped[str] = mapped_column(sa.String(200))
    #: The subscriber account the change concerns, if any (``op25b audit --account``).
    account: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    before_state: Mapped[str | None] = mapped_column(sa.Text)
    after_state: Mapped[str | None] = mapped_column(sa.Text)
    revision_before: Mapped[int | None] = mapped_column(sa.BigInteger)
    revision_after: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)


class ControllerStatus(Base):
    """One controller instance's heartbeat and the revision it has loaded."""

    __tablename__ = "controller_status"

    controller_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    pid: Mapped[int] = mapped_column(sa.Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revision_loaded: Mapped[int | None] = mapped_column(sa.BigInteger)
    bad_revision: Mapped[int | None] = mapped_column(sa.BigInteger)
    bad_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: The PolicyOptions this controller renders with (JSON), for policy previews.
    policy_options: Mapped[str | None] = mapped_column(sa.Text)


class SwitchStatus(Base):
    """What one controller last knew about one switch (written by the controller)."""

    __tablename__ = "switch_status"

    controller_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    dpid: Mapped[int] = mapped_column(Dpid(), primary_key=True)
    connected: Mapped[bool] = mapped_column(sa.Boolean)
    connected_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revision_applied: Mapped[int | None] = mapped_column(sa.BigInteger)
    entries: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class GlobalEnforcement(Base):
    """The ISP-wide enforcement mode and start time (one row, a policy table)."""

    __tablename__ = "global_enforcement"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    mode: Mapped[str] = mapped_column(sa.String(8), server_default="enforce")
    enforce_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class BlockedCount(Base):
    """Hourly (would-be) blocked TCP/25 packets per switch, attachment and mode."""

    __tablename__ = "blocked_counts"
    __table_args__ = (sa.Index("ix_blocked_counts_account", "account", "bucket"),)

    bucket: Mapped[dt.datetime] = mapped_column(UTCDateTime(), primary_key=True)
    dpid: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    attachment_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    mode: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    account: Mapped[str | None] = mapped_column(sa.String(64))
    packets: Mapped[int] = mapped_column(sa.BigInteger)


class CounterMark(Base):
    """The last packet count read from one counted entry (survives restarts)."""

    __tablename__ = "counter_marks"

    dpid: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    entry: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    packets: Mapped[int] = mapped_column(sa.BigInteger)
    #: When the entry was installed (epoch seconds): tells a replaced entry apart.
    installed: Mapped[float] = mapped_column(sa.Float)


class SynSample(Base):
    """Headers of one sampled blocked SYN (addresses, port, time; never payload)."""

    __tablename__ = "syn_samples"
    __table_args__ = (sa.Index("ix_syn_samples_account", "account", "seen_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    dpid: Mapped[int] = mapped_column(sa.BigInteger)
    attachment_id: Mapped[int] = mapped_column(sa.BigInteger)
    account: Mapped[str | None] = mapped_column(sa.String(64))
    src: Mapped[str] = mapped_column(sa.String(45))
    dst: Mapped[str] = mapped_column(sa.String(45))
    dport: Mapped[int] = mapped_column(sa.Integer)
