"""Each controller reports the rows it quarantined.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

A row that fails validation no longer stops a revision: the controller
leaves it out (its part fails closed) and reports it here, as JSON
``{"revision": N, "total": T, "rows": [{table, row, field, value, reason}]}``
with the first rows, so ``op25b status``, ``GET /status`` and ``op25b doctor``
show what to fix. Not a policy table: no revision trigger.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("controller_status", recreate="never") as batch:
        batch.add_column(sa.Column("quarantine", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("controller_status", recreate="never") as batch:
        batch.drop_column("quarantine")
