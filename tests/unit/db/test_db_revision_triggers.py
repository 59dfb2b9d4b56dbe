"""policy_revision advances with every policy write, however it was made.

The controller recompiles only when the revision moves, so a write that does
not advance it (say, an operator's UPDATE in psql) would silently never be
enforced. These tests write each policy table with the ORM and with raw SQL.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from op25b_app.db.engine import write_session
from op25b_app.db.models import ConnectionType, Switch
from op25b_app.db.snapshot_loader import read_revision

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def revision(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return read_revision(conn)


def test_orm_write_advances_revision(db_engine: sa.Engine) -> None:
    before = revision(db_engine)
    with write_session(db_engine) as session:
        session.add(Switch(dpid=1, name="edge1", role="edge", created_at=NOW))
    assert revision(db_engine) > before


def test_rolled_back_write_does_not_advance(db_engine: sa.Engine) -> None:
    before = revision(db_engine)
    with pytest.raises(RuntimeError):
        with write_session(db_engine) as session:
            session.add(ConnectionType(name="ftth", blocked=True, description=""))
            session.flush()
            raise RuntimeError("abort")
    assert revision(db_engine) == before


def test_changed_at_is_aware_utc(db_engine: sa.Engine) -> None:
    from op25b_app.db.models import PolicyRevision

    with write_session(db_engine) as session:
        session.add(ConnectionType(name="ftth", blocked=True, description=""))
    with Session(db_engine) as session:
        row = session.get(PolicyRevision, 1)
        assert row is not None
        assert row.changed_at.tzinfo == dt.UTC
        assert abs(row.changed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


# One raw INSERT, UPDATE and DELETE per policy table, each run after the
# fixture rows below exist. {t} is the dialect's boolean true literal.
RAW_WRITES: dict[str, tuple[str, str, str]] = {
    "switches": (
        "INSERT INTO switches (dpid, name, role) VALUES (99, 'sw99', 'core')",
        "UPDATE switches SET name = 'sw99b' WHERE dpid = 99",
        "DELETE FROM switches WHERE dpid = 99",
    ),
    "switch_uplinks": (
        "INSERT INTO switch_uplinks (switch_id, port) VALUES (1, 48)",
        "UPDATE switch_uplinks SET port = 47 WHERE port = 48",
        "DELETE FROM switch_uplinks WHERE port = 47",
    ),
    "connection_types": (
        "INSERT INTO connection_types (name, blocked) VALUES ('ftth', {t})",
        "UPDATE connection_types SET description = 'fibre' WHERE name = 'ftth'",
        "DELETE FROM connection_types WHERE name = 'ftth'",
    ),
    "subscribers": (
        "INSERT INTO subscribers (account, type_id) VALUES ('R2', 1)",
        "UPDATE subscribers SET exempt = {t} WHERE account = 'R2'",
        "DELETE FROM subscribers WHERE account = 'R2'",
    ),
    "attachments": (
        "INSERT INTO attachments (subscriber_id, switch_id, port, match_key) "
        "VALUES (1, 1, 7, '1:7:*:*')",
        "UPDATE attachments SET vlan = 5, match_key = '1:7:5:*' WHERE match_key = '1:7:*:*'",
        "DELETE FROM attachments WHERE match_key = '1:7:5:*'",
    ),
    "mtas": (
        "INSERT INTO mtas (name, prefix) VALUES ('relay9', '192.0.2.9/32')",
        "UPDATE mtas SET prefix = '192.0.2.10/32' WHERE name = 'relay9'",
        "DELETE FROM mtas WHERE name = 'relay9'",
    ),
}


@pytest.mark.parametrize("table", sorted(RAW_WRITES))
def test_raw_sql_insert_update_delete_advance_revision(db_engine: sa.Engine, table: str) -> None:
    true = "true" if db_engine.dialect.name == "postgresql" else "1"
    with db_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO switches (dpid, name, role) VALUES (1, 'edge1', 'edge')")
        conn.exec_driver_sql("INSERT INTO subscribers (account, type_id) VALUES ('R1', 1)")
    for statement in RAW_WRITES[table]:
        before = revision(db_engine)
        with db_engine.begin() as conn:
            result = conn.exec_driver_sql(statement.format(t=true))
            assert result.rowcount == 1, statement
            # Same transaction: the trigger ran before COMMIT, not after.
            assert read_revision(conn) > before
        assert revision(db_engine) > before, statement


def test_raw_sql_update_of_carries_advances_revision(db_engine: sa.Engine) -> None:
    """``carries`` changes what passes the guard band: a hand-made UPDATE of it must reach
    the switches like any other attachment change (0007 added it to a triggered table)."""
    with db_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO switches (dpid, name, role) VALUES (1, 'edge1', 'edge')")
        conn.exec_driver_sql("INSERT INTO subscribers (account, type_id) VALUES ('R1', 1)")
        conn.exec_driver_sql("INSERT INTO attachments (subscriber_id, switch_id, port, match_key) "
                             "VALUES (1, 1, 7, '1:7:*:*')")
    for value in ("'mpls,qinq'", "NULL"):
        before = revision(db_engine)
        with db_engine.begin() as conn:
            result = conn.exec_driver_sql(f"UPDATE attachments SET carries = {value}")
            assert result.rowcount == 1
        assert revision(db_engine) > before, value


def test_status_fragment_mode_does_not_advance_revision(db_engine: sa.Engine) -> None:
    """switch_status is the controller's own record, not policy: no trigger."""
    before = revision(db_engine)
    with db_engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO switch_status (controller_id, dpid, connected, entries, "
                    "fragment_mode, updated_at) VALUES ('c', 1, :t, 0, 'normal', :now)"),
            {"t": True, "now": NOW.replace(tzinfo=None)},
        )
        conn.exec_driver_sql("UPDATE switch_status SET fragment_mode = 'nx-match'")
    assert revision(db_engine) == before


def test_postgresql_notifies_listeners_on_commit(pg_engine: sa.Engine) -> None:
    db_engine = pg_engine
    import psycopg

    url = db_engine.url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as listener:
        listener.execute("LISTEN op25b_policy")
        with db_engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO mtas (name, prefix) VALUES ('r', '192.0.2.1/32')")
            expected = read_revision(conn)
        payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
    assert payloads == [str(expected)]


def test_postgresql_bumps_once_per_transaction(pg_engine: sa.Engine) -> None:
    db_engine = pg_engine
    """Per-statement bumps would make bulk imports quadratic on PostgreSQL (see migration)."""
    before = revision(db_engine)
    with db_engine.begin() as conn:
        for i in range(50):
            conn.exec_driver_sql(
                f"INSERT INTO mtas (name, prefix) VALUES ('m{i}', '192.0.2.{i}/32')"
            )
    assert revision(db_engine) == before + 1
    with db_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM mtas")
    assert revision(db_engine) == before + 2


def test_postgresql_bump_undone_with_savepoint_is_redone(pg_engine: sa.Engine) -> None:
    db_engine = pg_engine
    before = revision(db_engine)
    with db_engine.begin() as conn:
        savepoint = conn.begin_nested()
        conn.exec_driver_sql("INSERT INTO mtas (name, prefix) VALUES ('a', '192.0.2.1/32')")
        savepoint.rollback()
        assert read_revision(conn) == before
        conn.exec_driver_sql("INSERT INTO mtas (name, prefix) VALUES ('b', '192.0.2.2/32')")
        assert read_revision(conn) == before + 1
    assert revision(db_engine) == before + 1
