"""Dynamic subscribers: the ``sessions`` table (RADIUS accounting and DHCP feeds).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10

A session is a dynamic attachment (see ``db.models.sessions``). It is a
policy table: INSERT and DELETE advance the policy revision, and so does an
UPDATE of a column that changes what the switches do (account, place,
addresses, ended_at). An UPDATE of only ``last_seen``/``expires_at``/
``interim_interval`` (an Interim-Update) does not: a BNG with 100k sessions
and 5-minute interims sends 333 of those a second, and each would otherwise
make every controller reload its snapshot for nothing. SQLite and PostgreSQL
both have column-restricted UPDATE triggers (``UPDATE OF``); PostgreSQL fires
one when a listed column is a target of the SET list, so op25b's writers set
only the columns they change.

At most one live session holds an address: partial unique indexes
``WHERE ended_at IS NULL`` on each address column (both backends).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies (a migration must not change when the code moves on).
PG_FUNCTION = "op25b_bump_policy_revision"
POLICY_COLUMNS = ("account", "dpid", "port", "vlan", "framed_ip", "framed_ipv6_prefix",
                  "delegated_ipv6_prefix", "ended_at")
ADDRESS_COLUMNS = ("framed_ip", "framed_ipv6_prefix", "delegated_ipv6_prefix")
_LIVE = sa.text("ended_at IS NULL")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the table, its indexes and its revision triggers."""
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("nas", sa.String(64), nullable=False),
        sa.Column("acct_session_id", sa.String(253), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(253), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("dpid", sa.BigInteger, nullable=True),
        sa.Column("port", sa.BigInteger, nullable=True),
        sa.Column("vlan", sa.Integer, nullable=True),
        *(sa.Column(c, sa.String(64), nullable=True) for c in ADDRESS_COLUMNS),
        sa.Column("nas_ip", sa.String(45), nullable=True),
        sa.Column("nas_identifier", sa.String(253), nullable=True),
        sa.Column("nas_port_id", sa.String(253), nullable=True),
        sa.Column("interim_interval", sa.Integer, nullable=True),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("last_seen", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=True),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_nas_acct_session_id", "sessions", ["nas", "acct_session_id"])
    op.create_index("ix_sessions_account", "sessions", ["account", "started_at"])
    for column in ADDRESS_COLUMNS:
        op.create_index(f"ix_sessions_{column}", "sessions", [column])
        op.create_index(f"uq_sessions_live_{column}", "sessions", [column], unique=True,
                        sqlite_where=_LIVE, postgresql_where=_LIVE)
    op.create_index("ix_sessions_live_dpid", "sessions", ["dpid"],
                    sqlite_where=_LIVE, postgresql_where=_LIVE)
    _create_triggers()


def _create_triggers() -> None:
    columns = ", ".join(POLICY_COLUMNS)
    if op.get_bind().dialect.name == "sqlite":
        bump = ("UPDATE policy_revision SET revision = revision + 1, "
                "changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = 1;")
        for name, event in (("insert", "INSERT"), ("update", f"UPDATE OF {columns}"),
                            ("delete", "DELETE")):
            op.execute(f"CREATE TRIGGER op25b_rev_sessions_{name} AFTER {event} ON sessions "
                       f"FOR EACH ROW BEGIN {bump} END")
    else:
        op.execute("CREATE TRIGGER op25b_rev_sessions "
                   f"AFTER INSERT OR UPDATE OF {columns} OR DELETE OR TRUNCATE ON sessions "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()")


def downgrade() -> None:
    """Drop the table (its indexes and triggers go with it)."""
    op.drop_table("sessions")
