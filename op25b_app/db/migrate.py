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
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from op25b_app.db import schema_versions
from op25b_app.db.engine import WRITE_OPTION
from op25b_app.db.schema_versions import SchemaNotCurrent

log = logging.getLogger(__name__)

__all__ = ["SchemaNotCurrent", "alembic_config", "current_revision", "downgrade",
           "ensure_current", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


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
    return schema_versions.current_revision(engine)


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` in one transaction; idempotent.

    Returns the revision the database is at afterwards.
    """
    config = alembic_config(engine)
    writer = engine.execution_options(**{WRITE_OPTION: True})
    with writer.connect() as conn, conn.begin():
        # Alembic's own words for a newer database are "Can't locate revision".
        schema_versions.check_known(schema_versions.current_revision(conn))
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
    """Raise ``SchemaNotCurrent`` unless the database is at the code's head
    (``schema_versions.ensure_current``, which needs no Alembic)."""
    schema_versions.ensure_current(engine)
