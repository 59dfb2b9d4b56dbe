"""An MTA may hold several prefixes: one ``mtas`` row per prefix, keyed by (name, prefix).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-15

A relay with an IPv4 and an IPv6 address is one MTA with two prefixes. Until
now ``mtas.name`` was unique, so it could hold only one of them (and
``op25b mta add --prefix A --prefix B`` silently kept B). The MTA is now its
name and each of its prefixes a row with that name: the unique constraint on
``name`` becomes one on ``(name, prefix)``.

Rows, not a second table, because every reader already treats a row as
"TCP/25 to this prefix passes" (the controller's snapshot loader reads
``id, name, prefix`` per row and merges all MTA prefixes), so the
controller needs no change, and a raw-SQL writer adds a prefix with one
INSERT. That a prefix belongs to one MTA only stays the service's rule.

SQLite cannot drop a constraint in place, so the table is rebuilt; its
triggers (the revision triggers of 0001 and any later one) are read from
``sqlite_master`` first and created again on the new table, since they
would otherwise go with the old one and direct SQL on ``mtas`` would never
reach the switches. The downgrade refuses while an MTA has several prefixes
(the old schema cannot hold them) instead of silently dropping some.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ("uq_mtas_name", ["name"])
_NEW = ("uq_mtas_name_prefix", ["name", "prefix"])


def upgrade() -> None:
    _swap_unique(drop=_OLD, create=_NEW)


def downgrade() -> None:
    several = op.get_bind().execute(
        sa.text("SELECT name, count(*) FROM mtas GROUP BY name HAVING count(*) > 1 "
                "ORDER BY name LIMIT 1")
    ).first()
    if several is not None:
        raise RuntimeError(
            f"MTA '{several[0]}' has {several[1]} prefixes and the schema before 0010 holds "
            "one per MTA: remove the extra prefixes first"
        )
    _swap_unique(drop=_NEW, create=_OLD)


def _swap_unique(drop: tuple[str, list[str]], create: tuple[str, list[str]]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(drop[0], "mtas", type_="unique")
        op.create_unique_constraint(create[0], "mtas", create[1])
        return
    columns = ", ".join(create[1])
    bind = op.get_bind()
    triggers = [row[0] for row in bind.execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'mtas' "
        "ORDER BY name"))]
    op.execute(
        "CREATE TABLE _mtas_0010 (id INTEGER NOT NULL, name VARCHAR(64) NOT NULL, "
        "prefix VARCHAR(64) NOT NULL, CONSTRAINT pk_mtas PRIMARY KEY (id), "
        f"CONSTRAINT {create[0]} UNIQUE ({columns}))"
    )
    op.execute("INSERT INTO _mtas_0010 (id, name, prefix) SELECT id, name, prefix FROM mtas")
    op.execute("DROP TABLE mtas")
    op.execute("ALTER TABLE _mtas_0010 RENAME TO mtas")
    for statement in triggers:
        op.execute(statement)
