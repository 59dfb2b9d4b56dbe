"""Carried encapsulations per attachment; each switch's fragment handling in its status.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08

The compiler's guard band drops, from customer ports, frames whose IP the
switch's match cannot see (stacked VLAN tags, MPLS, PPPoE sessions). An
attachment whose port (and VLAN) carries some of them on purpose says so in
``attachments.carries``: the kinds sorted and comma-separated (``mpls,qinq``),
NULL for none. It is policy: ``attachments`` already has its revision
triggers (0001: every UPDATE of the table, whatever the column) and, on
PostgreSQL, its direct-SQL audit trigger (0003, which records whole rows with
``to_jsonb``, so the new column is in them).

``switch_status.fragment_mode`` is what the controller read back from the
switch ("nx-match" wanted; "normal", "drop", "reassemble", "unknown"). Not a
policy table: no trigger.

Both are plain ADD COLUMN on every backend (a batch add_column on SQLite is
not a rebuild). The downgrade must not rebuild ``attachments`` either: a
SQLite copy-and-move drops the table's revision triggers with the old table,
after which direct SQL on attachments would never reach the switches. SQLite
(3.35+) drops a plain column in place, so the batch is told never to recreate.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachments", recreate="never") as batch:
        batch.add_column(sa.Column("carries", sa.String(32), nullable=True))
    with op.batch_alter_table("switch_status", recreate="never") as batch:
        batch.add_column(sa.Column("fragment_mode", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("switch_status", recreate="never") as batch:
        batch.drop_column("fragment_mode")
    with op.batch_alter_table("attachments", recreate="never") as batch:
        batch.drop_column("carries")
