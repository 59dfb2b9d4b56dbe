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
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session

# Re-exported: the controller's options take their default from here.
from op25b_app.db.defaults import DEFAULT_DB_URL as DEFAULT_DB_URL

log = logging.getLogger(__name__)

#: How long a SQLite connection waits for another writer before failing, unless
#: ``make_engine`` is given a lock timeout (the controller keeps this one; the
#: CLI and the API pass ``core.limits.DEFAULT_LOCK_TIMEOUT_S`` or the operator's).
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Execution option that makes a connection's BEGIN take the write lock.
WRITE_OPTION = "op25b_write"
#: Engine execution option: seconds a policy writer waits for the write lock.
LOCK_TIMEOUT_OPTION = "op25b_lock_timeout_s"
#: PostgreSQL's SQLSTATE for a lock wait that hit ``lock_timeout``.
_PG_LOCK_NOT_AVAILABLE = "55P03"


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://`` means the psycopg 3 driver we ship with."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str | URL = DEFAULT_DB_URL,
    *,
    echo: bool = False,
    lock_timeout: float | None = None,
    read_only: bool = False,
) -> Engine:
    """Create an engine for ``url`` with op25b's per-backend connection settings.

    ``lock_timeout`` (seconds) is how long a policy writer waits for another
    writer's lock: SQLite's busy timeout, PostgreSQL's ``lock_timeout`` for the
    write lock (``write_session``); None keeps SQLite's ``SQLITE_BUSY_TIMEOUT_MS``
    and lets PostgreSQL wait as long as it takes. ``read_only`` opens a SQLite
    file read-only (``mode=ro``): a read works on a file the user may not
    write and never creates one.
    """
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
    elif read_only and (path := sqlite_path(parsed)) is not None:
        kwargs["creator"] = _read_only_connector(path)
    engine = sa.create_engine(parsed, **kwargs)
    if lock_timeout is not None:
        engine.update_execution_options(**{LOCK_TIMEOUT_OPTION: lock_timeout})
    if engine.dialect.name == "sqlite":
        busy_ms = SQLITE_BUSY_TIMEOUT_MS if lock_timeout is None else round(lock_timeout * 1000)
        _configure_sqlite(engine, busy_ms, wal=not read_only)
    else:
        event.listen(engine, "connect", _utc_session)
    log.debug("engine created for %s", parsed.render_as_string(hide_password=True))
    return engine


def sqlite_path(url: URL) -> str | None:
    """The file a SQLite URL names, or None (not SQLite, in memory, or a ``file:`` URI)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return database


def _read_only_connector(path: str) -> Callable[[], sqlite3.Connection]:
    """Connections that only read ``path`` (``mode=ro``): never create or change it.

    A WAL database needs its ``-shm`` file to be read; a user who may read
    the file but not write its directory cannot create that file, and while
    no process has the database open it does not exist. Then (and only if no
    ``-wal`` file holds changes not yet in the main file) the file is read as
    it is (``immutable=1``): nothing is writing it at that moment.
    """
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            wal = f"{path}-wal"
            if os.path.exists(wal) and os.path.getsize(wal) > 0:
                raise
        return sqlite3.connect(f"{uri}&immutable=1", uri=True, check_same_thread=False)

    return connect


def lock_timeout_of(engine: Engine) -> float | None:
    """The lock timeout ``engine`` was made with (seconds), if any."""
    value = engine.get_execution_options().get(LOCK_TIMEOUT_OPTION)
    return None if value is None else float(value)


def is_lock_timeout(error: BaseException) -> bool:
    """Whether a driver error means "another writer held the lock for too long".

    SQLite says SQLITE_BUSY ("database is locked") once its busy timeout has
    passed; PostgreSQL raises SQLSTATE 55P03 when ``lock_timeout`` expires.
    """
    orig = getattr(error, "orig", error)
    if getattr(orig, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE:
        return True
    return getattr(orig, "sqlite_errorname", None) == "SQLITE_BUSY" or \
        "database is locked" in str(orig)


def _utc_session(dbapi_connection: Any, _record: Any) -> None:
    """PostgreSQL: times come back in UTC, whatever the server's TimeZone.

    op25b reads every time as UTC anyway; in a session east of UTC a stored
    year-9999 time (raw SQL can write one) would come back as year 10000,
    which no driver can return, and every listing would fail. A plain SET
    (committed at once, so no rollback undoes it) rather than a startup
    option, which connection poolers such as PgBouncer refuse.
    """
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
    finally:
        dbapi_connection.autocommit = autocommit


def _configure_sqlite(engine: Engine, busy_ms: int, *, wal: bool) -> None:
    """Install the connect/begin hooks described in the module docstring."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop the driver from issuing BEGIN itself; _on_begin does it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            # Persistent in the file; cheap to repeat. synchronous stays at
            # its FULL default: an operator told "added" must not lose it.
            # A read-only connection cannot set it (and needs not).
            if wal:
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
        timeout = conn.get_execution_options().get(LOCK_TIMEOUT_OPTION)
        if timeout is not None:
            # SET LOCAL: this transaction only; 0 would mean "wait forever".
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, round(timeout * 1000))}")
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
