"""Per-switch TCAM capacity and compact mode: ``switches.capacity`` and ``switches.compact``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

``capacity`` is how many (weighted) flow entries the switch can hold; NULL
means no limit. The service refuses, inside the write's own transaction, a
write that would compile more entries than that for a switch it touches,
so an over-full policy is refused at the keyboard instead of freezing the
switch at the controller (which keeps its own ``--op25b-max-entries`` check
as the last line).

``compact`` renders the switch's policy without an entry per blocked
attachment (the default drop already blocks them): fewer entries, no
per-subscriber counters on that switch.

Both columns are added with ``op.add_column``, which SQLite does in place
(``ALTER TABLE ADD COLUMN``): a batch table rebuild would drop the change
log triggers of 0009 on ``switches``. Both columns are read by the compiler,
so an UPDATE of them advances the revision through those triggers (they fire
on any UPDATE of the row).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("switches", sa.Column("capacity", sa.Integer, nullable=True))
    op.add_column("switches", sa.Column("compact", sa.Boolean, nullable=False,
                                        server_default=sa.false()))


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place too (no rebuild, triggers kept).
    op.drop_column("switches", "compact")
    op.drop_column("switches", "capacity")
