"""The database layer's side of the hardening: schema versions, migration 0009, engines.

Schema checks must tell a database behind this code from one written by a
newer op25b (which ``db upgrade`` cannot help) and from someone else's;
0009 must keep the ``mtas`` revision triggers through SQLite's table
rebuild; a read-only engine must read without writing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from op25b_app.db import migrate, schema_versions
from op25b_app.db.engine import lock_timeout_of, make_engine


def revision(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one())


def test_schema_versions_agree_with_alembic() -> None:
    assert schema_versions.head_revision() == migrate.head_revision()
    known = schema_versions.known_revisions()
    assert known[0] == "0001" and known[-1] == migrate.head_revision()
    assert list(known) == sorted(known)


def test_a_newer_database_says_upgrade_op25b(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    expected = ("this database was written by a newer op25b (schema 9999, this op25b knows up "
                f"to {schema_versions.head_revision()}): upgrade op25b")
    with pytest.raises(schema_versions.SchemaNotCurrent) as caught:
        schema_versions.ensure_current(db_engine)
    assert str(caught.value) == expected
    with pytest.raises(schema_versions.SchemaNotCurrent, match="newer op25b"):
        migrate.upgrade(db_engine)


def test_a_foreign_revision_is_not_called_newer(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ae1027a6acf'"))
    with pytest.raises(schema_versions.SchemaNotCurrent, match="is not an op25b schema"):
        schema_versions.ensure_current(db_engine)


def test_0009_keeps_the_mta_revision_triggers(db_engine: sa.Engine) -> None:
    """SQLite rebuilds ``mtas``; its triggers are created again on the new table."""
    for statement in (
        "INSERT INTO mtas (name, prefix) VALUES ('r', '192.0.2.1/32')",
        "INSERT INTO mtas (name, prefix) VALUES ('r', '2001:db8::25/128')",
        "UPDATE mtas SET prefix = '192.0.2.2/32' WHERE prefix = '192.0.2.1/32'",
        "DELETE FROM mtas WHERE prefix = '192.0.2.2/32'",
    ):
        before = revision(db_engine)
        with db_engine.begin() as conn:
            conn.exec_driver_sql(statement)
        assert revision(db_engine) > before, statement
    with pytest.raises(sa.exc.IntegrityError), db_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO mtas (name, prefix) VALUES ('r', '2001:db8::25/128')")


def test_0009_downgrade_refuses_to_drop_prefixes(db_engine: sa.Engine) -> None:
    with db_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO mtas (name, prefix) VALUES ('r', '192.0.2.1/32'), "
                             "('r', '2001:db8::25/128')")
    with pytest.raises(RuntimeError, match="MTA 'r' has 2 prefixes"):
        migrate.downgrade(db_engine, "0008")
    with db_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM mtas WHERE prefix = '2001:db8::25/128'")
    assert migrate.downgrade(db_engine, "0008") == "0008"
    before = revision(db_engine)
    with db_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO mtas (name, prefix) VALUES ('s', '192.0.2.9/32')")
    assert revision(db_engine) > before  # triggers survive the way back too
    with pytest.raises(sa.exc.IntegrityError), db_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO mtas (name, prefix) VALUES ('s', '192.0.2.8/32')")
    assert migrate.upgrade(db_engine) == migrate.head_revision()


def test_read_only_engine_reads_and_cannot_write(sqlite_engine: sa.Engine) -> None:
    url = sqlite_engine.url
    reader = make_engine(url, read_only=True)
    try:
        with reader.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM connection_types")).scalar() == 2
        with pytest.raises(sa.exc.OperationalError, match="readonly"), reader.begin() as conn:
            conn.execute(sa.text("DELETE FROM connection_types"))
    finally:
        reader.dispose()


def test_read_only_engine_does_not_create_a_file(tmp_path: Path) -> None:
    reader = make_engine(f"sqlite:///{tmp_path / 'missing.db'}", read_only=True)
    try:
        with pytest.raises(sa.exc.OperationalError), reader.connect():
            pass
    finally:
        reader.dispose()
    assert list(tmp_path.iterdir()) == []


def test_lock_timeout_reaches_sqlite(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url, lock_timeout=2.5)
    try:
        assert lock_timeout_of(engine) == 2.5
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
    finally:
        engine.dispose()


def test_postgresql_times_come_back_in_utc(pg_engine: sa.Engine) -> None:
    """A year-9999 time east of UTC would be year 10000, which no driver can return."""
    with pg_engine.begin() as conn:
        assert conn.exec_driver_sql("SHOW timezone").scalar() == "UTC"
        value = conn.execute(sa.text(
            "SELECT CAST('9999-12-31 23:59:59+00' AS timestamptz)")).scalar()
    assert value == dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
