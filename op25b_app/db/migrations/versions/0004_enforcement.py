"""Monitor mode, scheduled enforcement, and blocked-attempt counters.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

``global_enforcement`` (one row) and the new ``switches`` columns are policy:
their changes advance the policy revision (triggers), because they change
what the switches do. ``blocked_counts``, ``counter_marks`` and ``syn_samples`` (headers of
sampled blocked SYNs: addresses, port, time; never payload) are written by
the controller and are not policy.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_FUNCTION = "op25b_bump_policy_revision"
MODES = "('enforce', 'monitor')"


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN: a batch (copy-and-move) rebuild on SQLite would drop
    # the revision triggers of ``switches``. The loader validates ``mode`` on
    # SQLite; PostgreSQL also gets a CHECK constraint.
    op.add_column("switches", sa.Column("mode", sa.String(8), nullable=True))
    op.add_column("switches", sa.Column("enforce_at", _ts(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint("mode", "switches", f"mode IS NULL OR mode IN {MODES}")
    op.create_table(
        "global_enforcement",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("mode", sa.String(8), nullable=False, server_default="enforce"),
        sa.Column("enforce_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_global_enforcement"),
        sa.CheckConstraint("id = 1", name="ck_global_enforcement_single_row"),
        sa.CheckConstraint(f"mode IN {MODES}", name="ck_global_enforcement_mode"),
    )
    op.execute("INSERT INTO global_enforcement (id, mode) VALUES (1, 'enforce')")
    op.create_table(
        "blocked_counts",
        sa.Column("bucket", _ts(), nullable=False),
        sa.Column("dpid", sa.BigInteger, nullable=False),
        sa.Column("attachment_id", sa.BigInteger, nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("packets", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("bucket", "dpid", "attachment_id", "mode",
                                name="pk_blocked_counts"),
    )
    op.create_index("ix_blocked_counts_account", "blocked_counts", ["account", "bucket"])
    op.create_table(
        "counter_marks",
        sa.Column("dpid", sa.BigInteger, nullable=False),
        sa.Column("entry", sa.String(300), nullable=False),
        sa.Column("packets", sa.BigInteger, nullable=False),
        sa.Column("installed", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("dpid", "entry", name="pk_counter_marks"),
    )
    op.create_table(
        "syn_samples",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("seen_at", _ts(), nullable=False),
        sa.Column("dpid", sa.BigInteger, nullable=False),
        sa.Column("attachment_id", sa.BigInteger, nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("src", sa.String(45), nullable=False),
        sa.Column("dst", sa.String(45), nullable=False),
        sa.Column("dport", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_syn_samples"),
    )
    op.create_index("ix_syn_samples_account", "syn_samples", ["account", "seen_at"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bump = ("UPDATE policy_revision SET revision = revision + 1, "
                "changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = 1;")
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER op25b_rev_global_enforcement_{event.lower()} "
                       f"AFTER {event} ON global_enforcement FOR EACH ROW BEGIN {bump} END")
    else:
        op.execute("CREATE TRIGGER op25b_rev_global_enforcement "
                   "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON global_enforcement "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()")


def downgrade() -> None:
    op.drop_index("ix_syn_samples_account", table_name="syn_samples")
    op.drop_table("syn_samples")
    op.drop_table("counter_marks")
    op.drop_index("ix_blocked_counts_account", table_name="blocked_counts")
    op.drop_table("blocked_counts")
    op.drop_table("global_enforcement")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_switches_mode"), "switches", type_="check")
    op.drop_column("switches", "enforce_at")
    op.drop_column("switches", "mode")
