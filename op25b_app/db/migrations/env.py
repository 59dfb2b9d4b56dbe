"""Alembic environment for op25b, driven from code (``op25b_app.db.migrate``), not alembic.ini.

The caller normally passes an open connection in ``config.attributes["connection"]``
so that migrations run with op25b's engine settings (SQLite pragmas, BEGIN
handling). With only a URL (``sqlalchemy.url``) we build such an engine here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from op25b_app.db.engine import make_engine
from op25b_app.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # Our engine emits BEGIN itself on SQLite, so DDL is transactional
        # there too: a failed migration leaves nothing half-applied.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of executing it (``alembic upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
