"""Run the Alembic migrations from code, so they work from an installed package.

There is deliberately no alembic.ini: the script location is this package's
``migrations`` directory and the connection is the caller's engine (with
op25b's SQLite pragmas), so ``op25b db init`` behaves the same wherever op25b
is installed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from op25b_app.db.engine import WRITE_OPTION

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaNotCurrent(RuntimeError):
    """The database is missing or behind the code's schema; run ``op25b db upgrade``."""


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations.

    With ``engine``, ``sqlalchemy.url`` is set too, for commands such as
    ``alembic revision --autogenerate`` run by developers from code.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        # '%' is ConfigParser interpolation syntax; escape it in passwords.
        url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
        config.set_main_option("sqlalchemy.url", url)
    return config


def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` in one transaction; idempotent.

    Returns the revision the database is at afterwards.
    """
    config = alembic_config(engine)
    writer = engine.execution_options(**{WRITE_OPTION: True})
    with writer.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    after = current_revision(engine)
    log.info("database schema at revision %s", after)
    return after


def downgrade(engine: Engine, revision: str) -> str | None:
    """Migrate the database back to ``revision`` (``"base"`` empties it)."""
    config = alembic_config(engine)
    writer = engine.execution_options(**{WRITE_OPTION: True})
    with writer.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
    return current_revision(engine)


def ensure_current(engine: Engine) -> None:
    """Raise ``SchemaNotCurrent`` unless the database is at the code's head.

    Checked before every CLI command so an operator gets "run op25b db
    upgrade" rather than "no such table: subscribers".
    """
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        shown = current or "empty"
        raise SchemaNotCurrent(
            f"database schema is at {shown}, this op25b needs {head}: run 'op25b db upgrade'"
        )
