"""Hostile writes and hostile stored data, through the service, on SQLite and PostgreSQL.

An MTA given two prefixes kept only the last one; a /1 MTA opened port 25
to half the Internet; one write of 60,000 prefixes held the write lock for
15 s while every other writer failed; a year-9999 time written by raw SQL
made every listing in a zone east of UTC crash; a waiting writer failed
after a fixed 10 s with "database is locked".
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from pathlib import Path

import pytest
import sqlalchemy as sa

from op25b_app.core import limits
from op25b_app.db.engine import make_engine, write_connection
from op25b_app.db.snapshot_loader import load_snapshot
from op25b_app.service import (
    AttachmentSpec,
    Conflict,
    DatabaseBusy,
    DatabaseUnavailable,
    NoDatabase,
    NotFound,
    PolicyService,
    StoredDataError,
    SubscriberRecord,
    ValidationError,
    open_database,
    to_jsonable,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


@pytest.fixture
def service(db_engine: sa.Engine) -> PolicyService:
    svc = PolicyService(db_engine, clock=lambda: NOW, actor="ops")
    svc.add_switch(1, "edge1", uplinks=[1])
    return svc


def raw(engine: sa.Engine, statement: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)


# --------------------------------------------------------------------------- MTAs


def test_an_mta_holds_all_its_prefixes(service: PolicyService, db_engine: sa.Engine) -> None:
    views = service.create_mta("relay", ["10.25.0.25/32", "fd00:25::25/128"])
    assert [(v.name, v.prefix) for v in views] == [("relay", "10.25.0.25/32"),
                                                   ("relay", "fd00:25::25/128")]
    assert [(m.name, m.prefix) for m in service.list_mtas()] == [
        ("relay", "10.25.0.25/32"), ("relay", "fd00:25::25/128")]
    # The controller's loader reads every prefix (one row each).
    assert sorted(str(m.prefix) for m in load_snapshot(db_engine).mtas) == [
        "10.25.0.25/32", "fd00:25::25/128"]
    entry = service.audit_log(limit=1)[0]
    assert entry.after == {"name": "relay", "prefixes": ["10.25.0.25/32", "fd00:25::25/128"]}
    removed = service.delete_mta("relay")
    assert len(removed) == 2 and service.list_mtas() == []
    # One prefix, the REST API's form, is recorded as before.
    assert service.add_mta("one", "192.0.2.25").prefix == "192.0.2.25/32"
    assert service.audit_log(limit=1)[0].after == {"name": "one", "prefix": "192.0.2.25/32"}


@pytest.mark.parametrize(("prefixes", "error", "fragment"), [
    (["192.0.2.1", "192.0.2.1/32"], ValidationError, "listed twice"),
    (["192.0.2.1", "192.0.2.2", "192.0.2.3"] * 30, ValidationError,
     f"at most {limits.MAX_MTA_PREFIXES} prefixes"),
    (["192.0.2.9", "198.51.100.25"], Conflict, "already registered as MTA 'other'"),
    ([], ValidationError, "at least one"),
])
def test_bad_mta_prefix_lists_write_nothing(
    service: PolicyService, prefixes: list[str], error: type[Exception], fragment: str
) -> None:
    service.create_mta("other", ["198.51.100.25"])
    with pytest.raises(error, match=fragment):
        service.create_mta("relay", prefixes)
    assert [m.name for m in service.list_mtas()] == ["other"]


@pytest.mark.parametrize("prefix", ["0.0.0.0/1", "10.0.0.0/8", "192.0.2.0/23", "2001:db8::/47",
                                    "::/1"])
def test_wide_mta_prefixes_need_allow_wide(service: PolicyService, prefix: str) -> None:
    with pytest.raises(ValidationError, match="wider than /(24|48).*--wide"):
        service.create_mta("wide", [prefix])
    assert service.list_mtas() == []
    service.create_mta("wide", [prefix], allow_wide=True)
    entry = service.audit_log(limit=1)[0]
    assert entry.after is not None and entry.after["wide"] is True
    with pytest.raises(ValidationError, match="/0 MTA"):
        service.create_mta("all", ["0.0.0.0/0"], allow_wide=True)


def test_narrow_mta_prefixes_need_nothing(service: PolicyService) -> None:
    service.create_mta("r4", ["192.0.2.0/24"])
    service.create_mta("r6", ["2001:db8:25::/48"])
    assert "wide" not in (service.audit_log(limit=1)[0].after or {})


def test_an_mta_prefix_overlapping_an_attachment_is_named(service: PolicyService) -> None:
    service.add_subscriber("A1", "", "broadband", [AttachmentSpec(1, 3, None, ("10.1.0.5/32",))])
    with pytest.raises(Conflict, match="field 'prefix' value '10.1.0.0/16'.*10.1.0.5/32.*A1"):
        service.create_mta("relay", ["192.0.2.1", "10.1.0.0/16"], allow_wide=True)


# --------------------------------------------------------------------------- one write's size


def test_one_attachment_point_carries_a_bounded_number_of_prefixes(
    service: PolicyService,
) -> None:
    many = tuple(f"10.{i // 256}.{i % 256}.0/24" for i in range(limits.MAX_PREFIXES_PER_POINT + 1))
    started = time.monotonic()
    with pytest.raises(ValidationError, match=f"field 'prefix' value '{len(many)} prefixes': "
                                              f"more than {limits.MAX_PREFIXES_PER_POINT}"):
        service.add_subscriber("A1", "", "broadband", [AttachmentSpec(1, 3, None, many)])
    assert time.monotonic() - started < 1
    with pytest.raises(NotFound):
        service.show_subscriber("A1")
    service.add_subscriber("A1", "", "broadband", [AttachmentSpec(1, 3, None, many[:-1])])
    assert len(service.show_subscriber("A1").attachments) == limits.MAX_PREFIXES_PER_POINT


def test_one_subscriber_has_a_bounded_number_of_attachments(service: PolicyService) -> None:
    per_point = limits.MAX_PREFIXES_PER_POINT
    points = limits.MAX_ATTACHMENTS_PER_SUBSCRIBER // per_point
    specs = [AttachmentSpec(1, 3 + p, None, tuple(f"10.{p}.{i}.0/24" for i in range(per_point)))
             for p in range(points)]
    service.add_subscriber("A1", "", "broadband", specs)
    with pytest.raises(ValidationError, match=f"field 'attach' value "
                                              f"'{limits.MAX_ATTACHMENTS_PER_SUBSCRIBER + 1} "
                                              "attachments'"):
        service.add_attachments("A1", [AttachmentSpec(1, 99)])
    records = [SubscriberRecord("B1", "", "broadband", "1", str(10 + i), "",
                                f"10.{200 + i // 256}.{i % 256}.0/24", line=2 + i)
               for i in range(limits.MAX_ATTACHMENTS_PER_SUBSCRIBER + 1)]
    with pytest.raises(Exception, match="more than 1024 for one subscriber"):
        service.import_subscribers(records)


# --------------------------------------------------------------------------- stored values


@pytest.mark.parametrize("stored", ["9999-12-31 23:59:59", "0001-01-01 00:00:00"])
def test_stored_times_out_of_range_never_break_a_listing(
    service: PolicyService, db_engine: sa.Engine, stored: str
) -> None:
    service.add_subscriber("A1", "", "broadband", [AttachmentSpec(1, 3)])
    raw(db_engine, f"UPDATE subscribers SET exempt = true, exempt_reason = 'raw', "
                   f"exempt_until = '{stored}+00' WHERE account = 'A1'"
        if db_engine.dialect.name == "postgresql" else
        f"UPDATE subscribers SET exempt = 1, exempt_reason = 'raw', "
        f"exempt_until = '{stored}.000000' WHERE account = 'A1'")
    tokyo = PolicyService(db_engine, clock=lambda: NOW, tz=TOKYO)
    view = tokyo.show_subscriber("A1")
    assert view.exempt_until is not None and view.exempt_until.year in (1, 9999)
    assert to_jsonable(tokyo.list_subscribers(), TOKYO)[0]["exempt_until"].endswith("+00:00")
    [record] = tokyo.export_subscribers()
    assert record.exempt_until.startswith(stored[:4]) and record.exempt_until.endswith("+00:00")


def test_lookups_with_unstorable_text_are_not_found(service: PolicyService) -> None:
    for bad in ("X\udcff", "X\x00"):
        with pytest.raises(NotFound):
            service.show_subscriber(bad)
        with pytest.raises(NotFound):
            service.delete_mta(bad)
        with pytest.raises(ValidationError, match="field 'account'"):
            service.audit_log(account=bad)


def test_text_that_is_not_utf8_is_refused_on_write(service: PolicyService) -> None:
    with pytest.raises(ValidationError, match="field 'account' value 'X\udcff': not UTF-8"):
        service.add_subscriber("X\udcff", "", "broadband")
    with pytest.raises(ValidationError, match="field 'name'.*not UTF-8 text \\(byte 0xe9"):
        service.add_subscriber("X1", "Jos\udce9", "broadband")


def test_accounts_that_look_alike_cannot_both_exist(service: PolicyService) -> None:
    service.add_subscriber("S14", "", "broadband")
    for twin in ("S14\u200b", "Ｓ１４", "S14\u2028", "S\u202e14"):
        with pytest.raises(ValidationError, match="field 'account'"):
            service.add_subscriber(twin, "", "broadband")
        with pytest.raises(Exception, match="line 7: field 'account'"):
            service.import_subscribers([SubscriberRecord(twin, "", "broadband", line=7)])
    assert [s.account for s in service.list_subscribers()] == ["S14"]


def test_garbage_stored_time_is_a_stored_data_error(sqlite_engine: sa.Engine) -> None:
    svc = PolicyService(sqlite_engine, clock=lambda: NOW)
    svc.add_switch(1, "edge1")
    svc.add_subscriber("A1", "", "broadband")
    raw(sqlite_engine, "UPDATE subscribers SET exempt = 1, exempt_until = 'garbage'")
    with pytest.raises(StoredDataError, match="'garbage': not an ISO 8601 time"):
        svc.list_subscribers()


# --------------------------------------------------------------------------- waiting writers


def test_a_waiting_writer_waits_its_lock_timeout_then_says_so(
    db_engine: sa.Engine, db_url: str
) -> None:
    blocker = make_engine(db_url)
    waiting = open_database(db_url, lock_timeout=1)
    try:
        service = PolicyService(waiting, clock=lambda: NOW)
        with write_connection(blocker):
            started = time.monotonic()
            with pytest.raises(DatabaseBusy) as caught:
                service.add_switch(7, "edge7")
            waited = time.monotonic() - started
        assert 0.9 <= waited < 5
        assert str(caught.value) == (
            "database busy: another writer held the policy write lock for 1 s (wait longer "
            "with --lock-timeout SECONDS or $OP25B_LOCK_TIMEOUT)")
        assert isinstance(caught.value, DatabaseUnavailable)  # the API's 503
        service.add_switch(7, "edge7")  # the lock is free again: it goes through
    finally:
        blocker.dispose()
        waiting.dispose()


def test_open_database_never_creates_a_file_it_should_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'op25b.db'}"
    for mode in ("read", "write"):
        with pytest.raises(NoDatabase, match=f"no database at {tmp_path}/sub/op25b.db: run "
                                             "'op25b db init'"):
            open_database(url, mode=mode)  # type: ignore[arg-type]
    assert not (tmp_path / "sub").exists()
    open_database(url, mode="create").dispose()
    assert (tmp_path / "sub").stat().st_mode & 0o777 == 0o750


@pytest.mark.parametrize(("url", "fragment"), [
    ("mysql://op25b:s3cret@db/op25b", "not mysql"),
    ("postgresql://x:s3cret@[::1/y", "not a usable database URL"),
    ("postgresql+psycopg2://x:s3cret@h/y", "driver psycopg2 is not supported"),
    ("sqlite:///x\udcff.db", "not UTF-8"),
])
def test_unusable_urls_are_named_without_the_password(url: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match="field 'db'") as caught:
        open_database(url)
    assert fragment in str(caught.value) and "s3cret" not in str(caught.value)
