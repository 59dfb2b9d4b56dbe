"""The Alembic migrations create the schema the models describe, seeded, idempotently."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from op25b_app.db import migrate
from op25b_app.db.engine import make_engine
from op25b_app.db.models import POLICY_TABLES, Base


def test_upgrade_creates_tables_and_seeds_types(db_engine: sa.Engine) -> None:
    names = set(sa.inspect(db_engine).get_table_names())
    assert set(POLICY_TABLES) | {"policy_revision", "alembic_version"} <= names
    with db_engine.connect() as conn:
        types = conn.execute(
            sa.text("SELECT name, blocked FROM connection_types ORDER BY name")
        ).all()
        revision = conn.execute(sa.text("SELECT id, revision FROM policy_revision")).all()
    assert [(n, bool(b)) for n, b in types] == [("broadband", True), ("dialup", False)]
    assert revision == [(1, 1)]


def test_upgrade_is_idempotent(db_engine: sa.Engine) -> None:
    head = migrate.head_revision()
    assert migrate.upgrade(db_engine) == head
    assert migrate.current_revision(db_engine) == head
    migrate.ensure_current(db_engine)
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM connection_types")).scalar() == 2


def test_models_match_migrations(db_engine: sa.Engine) -> None:
    """A model change without a migration (or vice versa) fails here, not in production."""
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_new_types_get_fresh_ids_after_seed(db_engine: sa.Engine) -> None:
    """The seed uses explicit ids; PostgreSQL's sequence must have been moved past them."""
    with db_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO connection_types (name, blocked) VALUES ('ftth', true)"))
        new_id = conn.execute(sa.text("SELECT id FROM connection_types WHERE name='ftth'")).scalar()
    assert new_id == 3


def test_downgrade_to_base_and_back(db_engine: sa.Engine) -> None:
    assert migrate.downgrade(db_engine, "base") is None
    assert set(sa.inspect(db_engine).get_table_names()) <= {"alembic_version"}
    assert migrate.upgrade(db_engine) == migrate.head_revision()


def test_downgrade_of_0007_keeps_the_attachment_triggers(db_engine: sa.Engine) -> None:
    """A SQLite table rebuild would drop the revision triggers of ``attachments`` with it."""
    def columns(table: str) -> set[str]:
        return {c["name"] for c in sa.inspect(db_engine).get_columns(table)}

    assert "carries" in columns("attachments")
    assert "fragment_mode" in columns("switch_status")
    assert migrate.downgrade(db_engine, "0006") == "0006"
    assert "carries" not in columns("attachments")
    assert "fragment_mode" not in columns("switch_status")
    for statement in (
        "INSERT INTO switches (dpid, name, role) VALUES (1, 'edge1', 'edge')",
        "INSERT INTO subscribers (account, type_id) VALUES ('R1', 1)",
        "INSERT INTO attachments (subscriber_id, switch_id, port, match_key) "
        "VALUES (1, 1, 7, '1:7:*:*')",
        "UPDATE attachments SET vlan = 5",
        "DELETE FROM attachments",
    ):
        with db_engine.begin() as conn:
            before = conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one()
            conn.exec_driver_sql(statement)
            after = conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one()
        assert after > before, statement
    assert migrate.upgrade(db_engine) == migrate.head_revision()
    assert "carries" in columns("attachments")


def test_ensure_current_on_empty_database_says_what_to_run(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with pytest.raises(migrate.SchemaNotCurrent, match="run 'op25b db upgrade'"):
            migrate.ensure_current(engine)
    finally:
        engine.dispose()


def test_sqlite_connection_settings(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    finally:
        engine.dispose()


def test_sqlite_migration_failure_leaves_nothing(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations run in one transaction, on SQLite too (we emit BEGIN ourselves)."""
    engine = make_engine(sqlite_url)
    original = command.upgrade

    def upgrade_then_fail(config: Config, revision: str) -> None:
        original(config, revision)
        raise RuntimeError("boom after DDL")

    monkeypatch.setattr(command, "upgrade", upgrade_then_fail)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            migrate.upgrade(engine)
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_0012_switch_columns_keep_the_switch_triggers(db_engine: sa.Engine) -> None:
    """0012 adds its columns in place: the switches' revision and change-log triggers
    survive it (a SQLite rebuild would drop them), and a change of capacity or compact
    by raw SQL advances the revision and is logged like any switch change."""
    def columns() -> set[str]:
        return {c["name"] for c in sa.inspect(db_engine).get_columns("switches")}

    assert {"capacity", "compact"} <= columns()
    with db_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO switches (dpid, name, role) VALUES (1, 'edge1', 'edge')")
        assert conn.execute(sa.text("SELECT capacity, compact FROM switches")).one() in (
            (None, False), (None, 0))
    for statement in ("UPDATE switches SET capacity = 1200",
                      "UPDATE switches SET compact = true"):
        with db_engine.begin() as conn:
            before = conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one()
            conn.exec_driver_sql(statement)
            after = conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one()
            logged = conn.execute(sa.text(
                "SELECT count(*) FROM policy_changes WHERE table_name = 'switches' "
                "AND revision > :before"), {"before": before}).scalar_one()
        assert after > before and logged, statement
    assert migrate.downgrade(db_engine, "0011") == "0011"
    assert not {"capacity", "compact"} & columns()
    with db_engine.begin() as conn:
        before = conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one()
        conn.exec_driver_sql("UPDATE switches SET name = 'edge2'")
        assert conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one() > before
    assert migrate.upgrade(db_engine) == migrate.head_revision()
