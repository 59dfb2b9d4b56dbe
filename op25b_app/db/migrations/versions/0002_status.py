"""Controller and switch status written back by the controller.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Not policy tables: no revision triggers, so the controller's own status
writes never look like a policy change. Rows are keyed by controller id so
several controllers can share one database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "controller_status",
        sa.Column("controller_id", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("heartbeat_at", _ts(), nullable=False),
        sa.Column("revision_loaded", sa.BigInteger, nullable=True),
        sa.Column("bad_revision", sa.BigInteger, nullable=True),
        sa.Column("bad_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("controller_id", name="pk_controller_status"),
    )
    op.create_table(
        "switch_status",
        sa.Column("controller_id", sa.String(128), nullable=False),
        sa.Column("dpid", sa.BigInteger, nullable=False),
        sa.Column("connected", sa.Boolean, nullable=False),
        sa.Column("connected_since", _ts(), nullable=True),
        sa.Column("revision_applied", sa.BigInteger, nullable=True),
        sa.Column("entries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("controller_id", "dpid", name="pk_switch_status"),
    )


def downgrade() -> None:
    op.drop_table("switch_status")
    op.drop_table("controller_status")
