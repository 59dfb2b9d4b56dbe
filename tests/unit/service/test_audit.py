"""The audit trail: every path records who/when/what in the same transaction; direct SQL shows.

Runs on SQLite and PostgreSQL (``db_url``/``db_engine``). Direct SQL is
visible on both as a revision step no entry accounts for; PostgreSQL also
records the rows themselves (trigger, actor "direct SQL (role)").
"""

from __future__ import annotations

import datetime as dt
import getpass
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from op25b_app.service.audit_read import DIRECT_SQL, AuditEntryView, describe_change
from op25b_app.cli.main import main
from op25b_app.service.csv_records import COLUMNS
from op25b_app.db import migrate
from op25b_app.db.engine import make_engine
from op25b_app.db.snapshot_loader import read_revision
from op25b_app.service import AttachmentSpec, Conflict, PolicyService

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def audit_json(url: str, *args: str) -> list[dict]:
    status, out, err = run("--db", url, "audit", "--json", *args)
    assert status == 0, err
    return json.loads(out)


def revision(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return read_revision(conn)


def raw(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


@pytest.fixture
def db(db_url: str) -> str:
    assert run("--db", db_url, "db", "init")[0] == 0
    assert run("--db", db_url, *"switch add --dpid 1 --name edge1 --uplink 1".split())[0] == 0
    return db_url


# ------------------------------------------------------------------ CLI paths


def test_every_cli_change_is_recorded_with_the_os_user(db: str) -> None:
    steps = [
        "subscriber add --account A100 --name Taro --type broadband --attach 1:3 "
        "--prefix 10.1.0.5/32",
        "subscriber set-type A100 dialup",
        "subscriber exempt A100 --reason own-mta --until 2099-01-01T00:00Z",
        "subscriber unexempt A100",
        "subscriber attach A100 --attach 1:4:100",
        "subscriber remove A100",
        "mta add --name relay1 --prefix 192.0.2.25/32",
        "type add ftth --blocked",
    ]
    for step in steps:
        status, _, err = run("--db", db, *step.split())
        assert status == 0, (step, err)
    entries = audit_json(db, "--limit", "0")
    mine = [e for e in entries if e["entity"] != "audit"][::-1]  # oldest first
    assert [(e["entity"], e["action"], e["key"]) for e in mine] == [
        ("switch", "add", "0x1"),
        ("subscriber", "add", "A100"),
        ("subscriber", "set-type", "A100"),
        ("subscriber", "exempt", "A100"),
        ("subscriber", "unexempt", "A100"),
        ("subscriber", "attach", "A100"),
        ("subscriber", "remove", "A100"),
        ("mta", "add", "relay1"),
        ("connection_type", "add", "ftth"),
    ]
    assert {e["actor"] for e in mine} == {getpass.getuser()}
    add, set_type, exempt, unexempt, attach, remove = mine[1:7]
    assert add["before"] is None and add["after"] == {
        "account": "A100", "name": "Taro", "type": "broadband", "exempt": False,
        "exempt_reason": None, "exempt_until": None, "attachments": ["1:3:*:10.1.0.5/32"],
    }
    assert (set_type["before"]["type"], set_type["after"]["type"]) == ("broadband", "dialup")
    assert set_type["summary"] == "type: broadband → dialup"
    assert exempt["after"]["exempt_until"] == "2099-01-01T00:00:00+00:00"
    assert unexempt["after"]["exempt"] is False and unexempt["before"]["exempt"] is True
    assert attach["summary"] == "+attachment 1:4:100:*"
    assert remove["after"] is None and remove["before"]["attachments"] == [
        "1:3:*:10.1.0.5/32", "1:4:100:*"]
    assert all(e["account"] == "A100" for e in mine[1:7])
    # Each entry names the revisions its transaction moved between; they chain.
    for older, newer in zip(mine, mine[1:], strict=False):
        assert older["revision_after"] == newer["revision_before"]
        assert newer["revision_after"] > newer["revision_before"]
    times = [dt.datetime.fromisoformat(e["at"]) for e in mine]
    assert all(t.utcoffset() == dt.timedelta(0) for t in times)
    assert times == sorted(times)


def test_detach_and_switch_remove_are_recorded(db_engine: sa.Engine) -> None:
    service = PolicyService(db_engine, clock=lambda: NOW, actor="ops")
    service.add_switch(2, "edge2", uplinks=[1])
    view = service.add_subscriber("A1", "", "broadband", [AttachmentSpec(2, 3, None, ())])
    service.remove_attachment("A1", view.attachments[0].id)
    service.remove_subscriber("A1")
    service.remove_switch(2)
    entries = service.audit_log()
    assert [(e.action, e.entity, e.key) for e in entries[:3]] == [
        ("remove", "switch", "0x2"),
        ("remove", "subscriber", "A1"),
        ("detach", "subscriber", "A1"),
    ]
    assert entries[2].summary == "-attachment 2:3:*:*"
    assert entries[0].before == {"dpid": "0x2", "name": "edge2", "role": "edge", "uplinks": [1],
                                 "capacity": None, "compact": False}
    assert all(e.actor == "ops" and e.at == NOW for e in entries[:5])


def test_api_actor_is_recorded(db_engine: sa.Engine) -> None:
    service = PolicyService(db_engine, actor="token:billing")
    service.add_mta("relay1", "192.0.2.25")
    (entry, *_rest) = service.audit_log(limit=1)
    assert (entry.actor, entry.entity, entry.action) == ("token:billing", "mta", "add")
    assert entry.after == {"name": "relay1", "prefix": "192.0.2.25/32"}


def test_failed_change_leaves_no_audit_entry(db_engine: sa.Engine) -> None:
    service = PolicyService(db_engine, actor="ops")
    service.add_mta("relay1", "192.0.2.0/28")
    before = service.audit_log()
    with pytest.raises(Conflict):
        service.add_mta("relay1", "198.51.100.0/28")
    with pytest.raises(Conflict):
        service.add_switch(9, "x")  # fine...
        service.add_switch(9, "y")  # ...but this one clashes
    after = service.audit_log()
    assert len(after) == len(before) + 1 and after[0].key == "0x9"


def test_audit_entry_and_change_share_one_transaction(
    db_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If writing the audit entry fails, the change is rolled back with it."""
    from op25b_app.service import audit

    service = PolicyService(db_engine, actor="ops")
    before = revision(db_engine)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit storage failed")

    monkeypatch.setattr(audit, "insert_many", broken)
    with pytest.raises(RuntimeError, match="audit storage failed"):
        service.add_mta("relay1", "192.0.2.0/28")
    assert service.list_mtas() == [] and revision(db_engine) == before


# ------------------------------------------------------------------ import


def test_import_records_one_entry_per_changed_subscriber(db: str, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(",".join(COLUMNS) + "\n"
                    "A1,One,broadband,1,3,,,false,,,\n"
                    "A2,Two,broadband,1,4,,,false,,,\n", encoding="utf-8")
    assert run("--db", db, "subscriber", "import", str(path))[0] == 0
    path.write_text(",".join(COLUMNS) + "\n"
                    "A1,One,broadband,1,3,,,false,,,\n"
                    "A2,Two,dialup,1,5,,,false,,,\n"
                    "A3,Three,broadband,1,6,,,false,,,\n", encoding="utf-8")
    assert run("--db", db, "subscriber", "import", str(path))[0] == 0
    entries = audit_json(db)
    top = [(e["action"], e["key"]) for e in entries[:3]]
    assert top == [("import", str(path)), ("import-add", "A3"), ("import-update", "A2")]
    update = entries[2]
    assert update["before"]["attachments"] == ["1:4:*:*"]
    assert update["after"]["attachments"] == ["1:5:*:*"] and update["after"]["type"] == "dialup"
    assert entries[0]["after"]["unchanged"] == 1 and entries[0]["after"]["added"] == 1
    assert [e["key"] for e in entries if e["action"] == "import-add"] == ["A3", "A2", "A1"]
    # The import's own writes (COPY on PostgreSQL) are not mistaken for direct SQL.
    assert not any(e["action"].startswith("sql") or e["id"] is None for e in entries)
    # A no-op import writes no audit entry at all.
    count = len(audit_json(db, "--limit", "0"))
    assert run("--db", db, "subscriber", "import", str(path))[0] == 0
    assert len(audit_json(db, "--limit", "0")) == count


# ------------------------------------------------------------------ direct SQL


def test_direct_sql_is_reported(db: str) -> None:
    engine = make_engine(db)
    try:
        start = revision(engine)
        raw(engine, "INSERT INTO mtas (name, prefix) VALUES ('sneaky', '203.0.113.0/24')")
        end = revision(engine)
        entries = audit_json(db)
        if engine.dialect.name == "postgresql":
            # The trigger recorded the row; nothing is left unexplained.
            first = entries[0]
            assert first["actor"].startswith("direct SQL (")
            assert (first["action"], first["entity"], first["key"]) == ("sql-insert", "mta",
                                                                         "sneaky")
            assert first["after"]["prefix"] == "203.0.113.0/24"
            assert (first["revision_before"], first["revision_after"]) == (start, end)
            assert not any(e["id"] is None for e in entries)
        else:
            first = entries[0]
            assert first["id"] is None and first["actor"] == DIRECT_SQL
            assert first["summary"] == f"direct SQL (revision {start}→{end})"
            assert first["at_exact"] is True
        # A later op25b change does not hide it.
        assert run("--db", db, "mta", "add", "--name", "relay1", "--prefix", "192.0.2.1")[0] == 0
        entries = audit_json(db)
        assert entries[0]["key"] == "relay1"
        status, out, _ = run("--db", db, "audit")
        if engine.dialect.name == "sqlite":
            assert entries[1]["summary"] == f"direct SQL (revision {start}→{end})"
            assert entries[1]["at_exact"] is False
            assert f"direct SQL (revision {start}→{end})" in out and "<=" in out
        else:
            assert "sql-insert" in out and "direct SQL (" in out
    finally:
        engine.dispose()


def test_direct_sql_bulk_is_summarised_on_postgresql(pg_engine: sa.Engine) -> None:
    service = PolicyService(pg_engine, actor="ops")
    service.add_switch(1, "edge1", uplinks=[1])
    raw(
        pg_engine,
        "INSERT INTO subscribers (account, type_id) "
        "SELECT 'S' || g, 1 FROM generate_series(1, 1500) g",
        "UPDATE subscribers SET name = 'x' WHERE account IN ('S1', 'S2')",
        "DELETE FROM subscribers WHERE account = 'S3'",
    )
    entries = service.audit_log(limit=10)
    assert [(e.action, e.entity, e.key) for e in entries[:3]] == [
        ("sql-delete", "subscriber", "1 rows"),
        ("sql-update", "subscriber", "2 rows"),
        ("sql-insert", "subscriber", "1500 rows"),
    ]
    assert entries[2].after == {"rows": 1500}
    # A small statement in its own transaction gets full rows again.
    raw(pg_engine, "UPDATE subscribers SET name = 'y' WHERE account = 'S4'")
    (entry, *_rest) = service.audit_log(limit=1)
    assert (entry.action, entry.key, entry.account) == ("sql-update", "S4", "S4")
    assert (entry.before["name"], entry.after["name"]) == ("", "y")
    raw(pg_engine, "TRUNCATE mtas")
    assert service.audit_log(limit=1)[0].action == "sql-truncate"
    assert not any(e.is_revision_gap for e in service.audit_log())


def test_direct_sql_attachment_rows_name_the_account_on_postgresql(pg_engine: sa.Engine) -> None:
    service = PolicyService(pg_engine, actor="ops")
    service.add_switch(1, "edge1", uplinks=[1])
    service.add_subscriber("A1", "", "broadband", [AttachmentSpec(1, 3, None, ())])
    raw(pg_engine, "UPDATE attachments SET vlan = 7")
    (entry,) = service.audit_log(account="A1", limit=1)
    assert (entry.entity, entry.action, entry.key) == ("attachment", "sql-update", "1:3:*:*")
    assert (entry.before["vlan"], entry.after["vlan"]) == (None, 7)
    # The column added later is in the recorded rows too (the trigger records whole rows).
    start = revision(pg_engine)
    raw(pg_engine, "UPDATE attachments SET carries = 'mpls'")
    (entry,) = service.audit_log(account="A1", limit=1)
    assert entry.action == "sql-update" and entry.revision_after == revision(pg_engine) > start
    assert (entry.before["carries"], entry.after["carries"]) == (None, "mpls")


def test_direct_sql_on_global_enforcement_is_recorded_on_postgresql(
    pg_engine: sa.Engine,
) -> None:
    """Switching enforcement off by hand on every switch is named, not just a revision gap."""
    service = PolicyService(pg_engine, actor="ops")
    service.set_enforcement("enforce")
    start = revision(pg_engine)
    raw(pg_engine, "UPDATE global_enforcement SET mode = 'monitor'")
    (entry, ours, *_rest) = service.audit_log(limit=5)
    assert entry.actor.startswith("direct SQL (")
    assert (entry.action, entry.entity, entry.key) == ("sql-update", "enforcement", "global")
    assert (entry.before["mode"], entry.after["mode"]) == ("enforce", "monitor")
    assert (entry.revision_before, entry.revision_after) == (start, revision(pg_engine))
    # op25b's own change is recorded once, by the service, not again by the trigger.
    assert (ours.actor, ours.action, ours.entity) == ("ops", "set", "enforcement")
    assert not any(e.is_revision_gap for e in service.audit_log())


def test_changes_before_the_audit_migration_are_not_blamed_on_sql(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0002")
        raw(engine, "INSERT INTO mtas (name, prefix) VALUES ('old', '192.0.2.1/32')")
        migrate.upgrade(engine)
        entries = PolicyService(engine).audit_log()
        assert [(e.actor, e.action) for e in entries] == [("op25b db upgrade", "baseline")]
        assert entries[0].revision_after == revision(engine)
    finally:
        engine.dispose()


# ------------------------------------------------------------------ filters and output


def test_account_since_and_limit_filters(db_engine: sa.Engine) -> None:
    # Later than the migration's baseline entry, which carries the real time.
    base = dt.datetime(2099, 6, 1, 12, 0, tzinfo=dt.UTC)
    clock = [base]
    service = PolicyService(db_engine, clock=lambda: clock[0], actor="ops")
    service.add_switch(1, "edge1", uplinks=[1])
    for hour, account in enumerate(["A1", "A2", "A1"]):
        clock[0] = base + dt.timedelta(hours=hour + 1)
        if service.list_subscribers() and account == "A1" and hour:
            service.set_subscriber_type("A1", "dialup")
        else:
            service.add_subscriber(account, "", "broadband")
    assert [(e.action, e.key) for e in service.audit_log(account="A1")] == [
        ("set-type", "A1"), ("add", "A1")]
    since = service.audit_log(since=base + dt.timedelta(hours=2))
    assert [(e.action, e.key) for e in since] == [("set-type", "A1"), ("add", "A2")]
    assert [e.key for e in service.audit_log(since="2099-06-01T22:00+09:00")] == ["A1", "A2", "A1"]
    clock[0] = base + dt.timedelta(hours=4)
    assert [e.key for e in service.audit_log(since="150m")] == ["A1", "A2"]
    assert len(service.audit_log(limit=2)) == 2
    assert len(service.audit_log(limit=0)) == len(service.audit_log()) == 5


def test_cli_filters_table_and_bad_input(db: str) -> None:
    for account in ("A1", "A2"):
        assert run("--db", db, *f"subscriber add --account {account} --type broadband".split())[0] \
            == 0
    status, out, _ = run("--db", db, "audit", "--account", "A2")
    lines = out.splitlines()
    assert lines[0].split() == ["WHEN", "ACTOR", "ACTION", "ENTITY", "KEY", "CHANGE"]
    assert len(lines) == 2 and " A2 " in lines[1]
    assert run("--db", db, "audit", "--account", "nobody")[1] == "(no audit entries)\n"
    status, out, _ = run("--db", db, "audit", "--since", "1h", "--limit", "1", "--json")
    assert status == 0 and len(json.loads(out)) == 1
    status, out, err = run("--db", db, "audit", "--since", "yesterday")
    assert (status, out) == (2, "")
    assert err == ("op25b: error: field 'since' value 'yesterday': "
                   "not an ISO 8601 time or a span such as 30m, 12h, 7d\n")
    status, _, err = run("--db", db, "audit", "--since", "2026-06-01T00:00")
    assert status == 2 and "needs an explicit UTC offset" in err
    status, _, err = run("--db", db, "audit", "--limit", "-1")
    assert status == 2 and "field 'limit' value '-1'" in err


def test_describe_change() -> None:
    assert describe_change(None, {"name": "x", "exempt": False, "attachments": []}) == "name=x"
    assert describe_change({"a": 1}, None) == "was a=1"
    assert describe_change({"a": 1, "l": ["k1"]}, {"a": 2, "l": ["k2"]}) == \
        "a: 1 → 2, +l k2, -l k1"
    assert describe_change({"a": 1}, {"a": 1}) == "no change"


def test_entry_view_to_dict_is_json_ready() -> None:
    entry = AuditEntryView(1, NOW, True, "ops", "add", "mta", "r", None, None, {"x": 1}, 1, 2,
                           "x=1")
    assert json.loads(json.dumps(entry.to_dict()))["at"] == "2026-06-01T12:00:00+00:00"
