"""Each controller stores the policy options it renders with.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

A policy preview (``op25b policy show``, ``GET /switches/{dpid}/policy``) used
to compile with default options, so it ignored a controller's real table id,
priority base and pass action. The controller now writes its effective
options (JSON) with its heartbeat, and the preview uses those of the
controller serving the switch. Not a policy table: no revision trigger.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("controller_status") as batch:
        batch.add_column(sa.Column("policy_options", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("controller_status") as batch:
        batch.drop_column("policy_options")
