"""Dynamic subscribers: the ``sessions`` table (RADIUS accounting and DHCP feeds).

Revision ID: 0011
Revises: 0010
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

Each policy change is also written to the change log (0009) as
``('sessions', id)``. The controller does not patch its snapshot row by row
for sessions (a session and a static attachment with the same match merge
into one rule): a logged session tells it to load everything, where
without the log row a session change in the same interval as an attachment
change would have been missed. PostgreSQL refuses transition tables on a
trigger with a column list, so the session trigger logs per row.

At most one live session holds an address: partial unique indexes
``WHERE ended_at IS NULL`` on each address column (both backends).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies (a migration must not change when the code moves on).
PG_REVISION_NOW = "op25b_revision_now"
PG_LOG_ROW = "op25b_log_session_row"
PG_LOG = "op25b_log_changes"
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
        for name, event, row in (("insert", "INSERT", "NEW"),
                                 ("update", f"UPDATE OF {columns}", "NEW"),
                                 ("delete", "DELETE", "OLD")):
            log = ("INSERT INTO policy_changes (revision, table_name, row_id) VALUES "
                   f"((SELECT revision FROM policy_revision WHERE id = 1), 'sessions', {row}.id);")
            op.execute(f"CREATE TRIGGER op25b_rev_sessions_{name} AFTER {event} ON sessions "
                       f"FOR EACH ROW BEGIN {bump} {log} END")
        return
    op.execute(f"""
        CREATE FUNCTION {PG_LOG_ROW}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            now_revision bigint := {PG_REVISION_NOW}();
        BEGIN
            INSERT INTO policy_changes (revision, table_name, row_id)
            VALUES (now_revision, 'sessions',
                    CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
            RETURN NULL;
        END;
        $$
    """)
    op.execute("CREATE TRIGGER op25b_chg_sessions "
               f"AFTER INSERT OR UPDATE OF {columns} OR DELETE ON sessions "
               f"FOR EACH ROW EXECUTE FUNCTION {PG_LOG_ROW}()")
    op.execute("CREATE TRIGGER op25b_chg_sessions_trunc AFTER TRUNCATE ON sessions "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_LOG}('id')")


def downgrade() -> None:
    """Drop the table (its indexes and triggers go with it) and the row-log function."""
    op.drop_table("sessions")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {PG_LOG_ROW}()")
