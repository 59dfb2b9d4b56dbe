"""Shared database fixtures: every DB test runs on SQLite, and on PostgreSQL when available.

Set ``OP25B_TEST_PG_URL`` to an admin URL of a PostgreSQL server (e.g.
``postgresql://postgres:postgres@localhost/postgres``) to run the
``[postgresql]`` variants; each test gets a fresh database that is dropped
afterwards. ``make test`` starts PostgreSQL (scripts/pg-up) and sets it.
Without it the PostgreSQL variants *fail* with the reason: a database test
that silently skipped would hide exactly the production backend.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ENV_VAR = "OP25B_TEST_PG_URL"


@contextlib.contextmanager
def _fresh_pg_database() -> Iterator[str]:
    admin_url = os.environ.get(PG_ENV_VAR)
    if not admin_url:
        pytest.fail(f"{PG_ENV_VAR} is not set: run the suite with 'make test' "
                    "(it starts PostgreSQL with scripts/pg-up)", pytrace=False)
    from op25b_app.db.engine import normalise_url

    try:
        parsed = normalise_url(admin_url)
    except sa.exc.ArgumentError:
        pytest.fail(f"{PG_ENV_VAR} is not a database URL: {admin_url!r}", pytrace=False)
    admin = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
    name = f"op25b_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of each supported backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'op25b.db'}"
        return
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database, for PostgreSQL-only behaviour."""
    with _fresh_pg_database() as url:
        yield url


def _migrated(url: str) -> Iterator[sa.Engine]:
    from op25b_app.db import migrate
    from op25b_app.db.engine import make_engine

    engine = make_engine(url)
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    """An engine on a PostgreSQL database migrated to head."""
    yield from _migrated(pg_url)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on a SQLite database migrated to head."""
    yield from _migrated(f"sqlite:///{tmp_path / 'op25b.db'}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file URL, for tests of SQLite-only behaviour."""
    return f"sqlite:///{tmp_path / 'op25b.db'}"


@pytest.fixture
def db_engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on a database migrated to head."""
    yield from _migrated(db_url)
