"""Engine factory and transaction helpers that behave the same on SQLite and PostgreSQL.

Why this is more than ``create_engine``:

* SQLite needs WAL (readers do not block the writer and vice versa), a busy
  timeout (the controller and the CLI share the file) and ``foreign_keys=ON``
  (off by default, and ON DELETE CASCADE depends on it).
* Python's sqlite3 driver (before 3.12's ``autocommit``) does not emit BEGIN
  before a SELECT, so a "read transaction" of several SELECTs would see
  several database states. We take over BEGIN ourselves, which also lets a
  writer say ``BEGIN IMMEDIATE`` and hold the write lock from its first check
  to its commit, closing check-then-insert races.
* On PostgreSQL a writer locks the ``policy_revision`` row first for the same
  reason, and a reader uses REPEATABLE READ so several SELECTs share one
  snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

DEFAULT_DB_URL = "sqlite:///op25b.db"
#: How long a SQLite connection waits for another writer before failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Execution option that makes a connection's BEGIN take the write lock.
WRITE_OPTION = "op25b_write"


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://`` means the psycopg 3 driver we ship with."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL = DEFAULT_DB_URL, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with op25b's per-backend connection settings."""
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
    engine = sa.create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    log.debug("engine created for %s", parsed.render_as_string(hide_password=True))
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """Install the connect/begin hooks described in the module docstring."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop the driver from issuing BEGIN itself; _on_begin does it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            # Persistent in the file; cheap to repeat. synchronous stays at
            # its FULL default: an operator told "added" must not lose it.
            cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _lock_for_write(conn: Connection) -> None:
    """Serialise policy writers for the rest of the transaction.

    SQLite already holds the write lock (BEGIN IMMEDIATE). On other backends,
    lock the single ``policy_revision`` row: every policy write updates it via
    the triggers anyway, so this only moves the wait to the start.
    """
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql("SELECT revision FROM policy_revision WHERE id = 1 FOR UPDATE")


@contextlib.contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One ORM write transaction holding the policy write lock; commits on success.

    Any exception rolls everything back, so a failed operation leaves nothing
    half-written.
    """
    writer = engine.execution_options(**{WRITE_OPTION: True})
    with Session(writer, expire_on_commit=False) as session, session.begin():
        _lock_for_write(session.connection())
        yield session


def dialect_insert(engine: Engine) -> Any:
    """The backend's INSERT construct, which has ``on_conflict_do_update`` (upserts).

    SQLite and PostgreSQL spell ON CONFLICT the same way; SQLAlchemy keeps the
    construct per dialect, so upserting code asks here instead of choosing itself.
    """
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


@contextlib.contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A Core write transaction holding the write lock from its first statement.

    On SQLite a deferred transaction that reads first and writes later fails
    at once with "database is locked" if another writer (the controller's
    status and counters) committed in between; BEGIN IMMEDIATE waits for the
    lock (busy timeout) instead. Bulk loaders and scripts use this.
    """
    writer = engine.execution_options(**{WRITE_OPTION: True})
    with writer.begin() as conn:
        _lock_for_write(conn)
        yield conn


def _reader(engine: Engine) -> Engine:
    """``engine`` configured so one transaction's SELECTs share one snapshot.

    SQLite needs nothing (our BEGIN plus its locking already give that), and
    must not get an ``isolation_level`` option: the pysqlite dialect would
    hand BEGIN back to the driver.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return engine


@contextlib.contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """An ORM session in one read-only transaction that sees a single database state."""
    with Session(_reader(engine), expire_on_commit=False) as session, session.begin():
        yield session


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (all with the same keys) in the current transaction, fast.

    PostgreSQL: ``COPY``. psycopg's ``executemany`` sends one single-row
    INSERT per row, so the statement-level triggers (revision bump,
    direct-SQL audit) fire once per row, and SQLAlchemy's multi-row INSERTs
    are slower still because psycopg re-parses each huge statement. COPY is
    one statement (measured on 50k audit rows: executemany 1.0 s, multi-row
    INSERT 5.2 s, COPY 0.4 s). Values still go through each column type's
    bind processor, so types behave exactly as in an ordinary insert.
    SQLite: ``executemany`` (one prepared statement, already fast).
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table), list(rows))
        return
    names = list(rows[0])
    processors = [table.c[name].type.bind_processor(conn.dialect) for name in names]
    columns = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in names)
    target = conn.dialect.identifier_preparer.format_table(table)
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    value if processor is None or value is None else processor(value)
                    for processor, value in zip(processors, (row[n] for n in names), strict=True)
                ]
            )


@contextlib.contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside one read transaction that sees a single database state."""
    with _reader(engine).connect() as conn, conn.begin():
        yield conn


def safe_url(url: str | URL) -> str:
    """``url`` as text with any password hidden (for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its userinfo
        return re.sub(r"://[^/@]*@", "://***@", str(url))
