"""What op25b records beside the policy: the audit trail, controller state, counters.

None of these is a policy table: writing them never advances the policy
revision, so the controller's own status and counter writes do not look like
policy changes.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from op25b_app.db.models.columns import Base, Dpid, UTCDateTime

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
    #: The rows this controller quarantined (JSON: revision, total, first rows).
    quarantine: Mapped[str | None] = mapped_column(sa.Text)


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
    #: The switch's fragment handling as read back ("nx-match" wanted; "normal",
    #: "drop", "reassemble", "unknown"); NULL = not read yet.
    fragment_mode: Mapped[str | None] = mapped_column(sa.String(16))


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
