"""Which schema a database has and which this code knows, without importing Alembic.

Every ``op25b`` command checks the schema before it runs, and Alembic takes
longer to import than most commands take to run; the check needs only the
migration ids (read from the migration files' ``revision``/``down_revision``
lines) and the one row Alembic keeps in ``alembic_version``. Migrating stays
``migrate``'s (Alembic); a test checks that both agree on the head.

A database can be in four states, each with its own message, because each
asks the operator for a different fix:

* current - at this code's head;
* behind - an older op25b schema (or none yet): ``op25b db upgrade``;
* newer - written by a newer op25b: upgrade op25b, not the database (an
  older op25b cannot downgrade what it does not know);
* foreign - tables that are not op25b's: not op25b's database at all.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

VERSIONS_DIR = Path(__file__).resolve().parent / "migrations" / "versions"
#: The table Alembic records a database's revision in.
VERSION_TABLE = "alembic_version"

_REVISION = re.compile(r'^revision(?:\s*:\s*str)?\s*=\s*"([^"]+)"', re.MULTILINE)
_DOWN = re.compile(r'^down_revision(?:\s*:[^=]+)?=\s*(?:"([^"]+)"|None)', re.MULTILINE)


class SchemaNotCurrent(RuntimeError):
    """The database is missing, behind, newer or not op25b's; the message says what to do."""


@functools.cache
def known_revisions() -> tuple[str, ...]:
    """This code's migration ids, oldest first (the chain ``down_revision`` links)."""
    parents: dict[str, str | None] = {}
    for path in sorted(VERSIONS_DIR.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is not None and down is not None:
            parents[revision.group(1)] = down.group(1)
    children = {parent: child for child, parent in parents.items()}
    chain: list[str] = []
    current = children.get(None)
    while current is not None:
        chain.append(current)
        current = children.get(current)
    if not chain or len(chain) != len(parents):
        raise RuntimeError(f"the migrations in {VERSIONS_DIR} do not form one chain")
    return tuple(chain)


def head_revision() -> str:
    """The newest migration shipped with this code."""
    return known_revisions()[-1]


def current_revision(source: Engine | Connection) -> str | None:
    """The migration the database is at, or None when it has no op25b schema yet."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            return current_revision(conn)
    if not sa.inspect(source).has_table(VERSION_TABLE):
        return None
    return source.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def other_tables(source: Engine | Connection) -> list[str]:
    """The tables of a database that has no op25b schema (empty: a fresh database)."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            return other_tables(conn)
    return sorted(name for name in sa.inspect(source).get_table_names() if name != VERSION_TABLE)


def check_known(current: str | None) -> None:
    """Refuse a revision this code does not know (a newer op25b, or not op25b at all)."""
    known = known_revisions()
    if current is None or current in known:
        return
    if current.isdigit() and current > known[-1]:
        raise SchemaNotCurrent(
            f"this database was written by a newer op25b (schema {current}, this op25b knows "
            f"up to {known[-1]}): upgrade op25b"
        )
    raise SchemaNotCurrent(
        f"this database's schema {current!r} is not an op25b schema (this op25b knows "
        f"{known[0]}..{known[-1]}): is --db the right database?"
    )


def ensure_current(source: Engine | Connection) -> None:
    """Raise ``SchemaNotCurrent`` unless the database is at the code's head.

    Checked before every CLI command so an operator gets "run op25b db
    upgrade" (or "upgrade op25b") rather than "no such table: subscribers".
    """
    current = current_revision(source)
    check_known(current)
    head = head_revision()
    if current != head:
        shown = current or "empty"
        raise SchemaNotCurrent(
            f"database schema is at {shown}, this op25b needs {head}: run 'op25b db upgrade'"
        )
