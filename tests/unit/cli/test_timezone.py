"""Time zones: offsets or the configured zone on input, UTC in storage, the zone on output."""

from __future__ import annotations

import datetime as dt
import io
import json
import zoneinfo
from pathlib import Path

import pytest
import sqlalchemy as sa

from op25b_app.cli.main import main
from op25b_app.service import (
    PolicyService,
    ValidationError,
    parse_since,
    parse_time,
    parse_zone,
)
from op25b_app.service.csv_records import COLUMNS

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-12-31T00:00+09:00", None, dt.datetime(2026, 12, 30, 15, tzinfo=dt.UTC)),
        ("2026-12-31T00:00Z", None, dt.datetime(2026, 12, 31, tzinfo=dt.UTC)),
        ("2026-12-31T00:00", TOKYO, dt.datetime(2026, 12, 30, 15, tzinfo=dt.UTC)),
        ("2026-12-31", TOKYO, dt.datetime(2026, 12, 30, 15, tzinfo=dt.UTC)),
        # An explicit offset wins over the configured zone.
        ("2026-12-31T00:00-05:00", TOKYO, dt.datetime(2026, 12, 31, 5, tzinfo=dt.UTC)),
        ("2026-07-01T12:00", BERLIN, dt.datetime(2026, 7, 1, 10, tzinfo=dt.UTC)),  # CEST
        ("2026-01-01T12:00", BERLIN, dt.datetime(2026, 1, 1, 11, tzinfo=dt.UTC)),  # CET
        ("2026-12-31T00:00", dt.UTC, dt.datetime(2026, 12, 31, tzinfo=dt.UTC)),
    ],
)
def test_parse_time(text: str, tz: dt.tzinfo | None, expected: dt.datetime) -> None:
    parsed = parse_time(text, "until", tz)
    assert parsed == expected and parsed.tzinfo == dt.UTC


def test_naive_time_without_zone_names_field_and_value() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_time("2026-12-31T00:00", "exempt_until")
    assert str(caught.value) == ("field 'exempt_until' value '2026-12-31T00:00': "
                                 "needs an explicit UTC offset, e.g. +09:00 or Z")


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("2026-03-29T02:30", "does not exist"),  # Berlin springs forward 02:00 -> 03:00
        ("2026-10-25T02:30", "happens twice"),  # and falls back 03:00 -> 02:00
    ],
)
def test_daylight_saving_gaps_and_folds_are_refused(text: str, what: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_time(text, "until", BERLIN)
    assert caught.value.field == "until" and caught.value.value == text
    assert f"{what} in time zone Europe/Berlin" in caught.value.reason
    # With an offset the same wall time is fine.
    assert parse_time(text + "+01:00", "until", BERLIN).tzinfo == dt.UTC


def test_parse_zone() -> None:
    assert parse_zone("Asia/Tokyo") == TOKYO
    assert parse_zone("UTC") is dt.UTC and parse_zone("z") is dt.UTC
    for bad in ("Asia/Tokio", "../etc/passwd", "", "+09:00"):
        with pytest.raises(ValidationError) as caught:
            parse_zone(bad)
        assert caught.value.field == "tz" and "unknown time zone" in caught.value.reason


def test_parse_since_spans_and_times() -> None:
    assert parse_since("90m", NOW) == NOW - dt.timedelta(minutes=90)
    assert parse_since("2d", NOW) == NOW - dt.timedelta(days=2)
    assert parse_since("1w", NOW) == NOW - dt.timedelta(weeks=1)
    assert parse_since("2026-06-01T09:00", NOW, TOKYO) == dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


# ------------------------------------------------------------------ service and storage


def test_service_reads_naive_times_in_its_zone_and_stores_utc(db_engine: sa.Engine) -> None:
    service = PolicyService(db_engine, clock=lambda: NOW, tz=TOKYO)
    service.add_subscriber("A1", "", "broadband")
    view = service.exempt_subscriber("A1", "own MTA", "2026-12-31T00:00")
    assert view.exempt_until == dt.datetime(2026, 12, 30, 15, tzinfo=dt.UTC)
    with db_engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT exempt_until FROM subscribers")).scalar_one()
    text = stored if isinstance(stored, str) else stored.astimezone(dt.UTC).isoformat(" ")
    assert text.startswith("2026-12-30 15:00:00")
    with pytest.raises(ValidationError, match="needs an explicit UTC offset"):
        PolicyService(db_engine, clock=lambda: NOW).exempt_subscriber("A1", "x", "2026-12-31")


# ------------------------------------------------------------------ command line


@pytest.fixture
def db(db_url: str) -> str:
    assert run("--db", db_url, "db", "init")[0] == 0
    assert run("--db", db_url, *"switch add --dpid 1 --name edge1 --uplink 1".split())[0] == 0
    assert run("--db", db_url, *"subscriber add --account A1 --type broadband --attach 1:3"
               .split())[0] == 0
    return db_url


def test_cli_tz_option_input_and_output(db: str) -> None:
    status, out, err = run("--db", db, "--tz", "Asia/Tokyo", "subscriber", "exempt", "A1",
                           "--reason", "own MTA", "--until", "2099-12-31T00:00", "--json")
    assert (status, err) == (0, "")
    data = json.loads(out)
    assert data["exempt_until"] == "2099-12-31T00:00:00+09:00"
    assert data["updated_at"].endswith("+09:00")
    # Without a zone: the same instant, in UTC.
    status, out, _ = run("--db", db, "subscriber", "show", "A1", "--json")
    assert json.loads(out)["exempt_until"] == "2099-12-30T15:00:00+00:00"
    # Human output in the zone; --tz also accepted after the subcommand.
    status, out, _ = run("--db", db, "subscriber", "show", "A1", "--tz", "Asia/Tokyo")
    assert "until 2099-12-31T00:00:00+09:00: own MTA" in out
    status, out, _ = run("--db", db, "subscriber", "list", "--tz", "Asia/Tokyo")
    assert "2099-12-31T00:00:00+09:00" in out


def test_cli_tz_from_environment(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OP25B_TZ", "Asia/Tokyo")
    status, out, err = run("--db", db, "subscriber", "exempt", "A1", "--reason", "r",
                           "--until", "2099-01-01T09:00", "--json")
    assert (status, err) == (0, "")
    assert json.loads(out)["exempt_until"] == "2099-01-01T09:00:00+09:00"
    # --tz overrides the environment.
    status, out, _ = run("--db", db, "--tz", "UTC", "subscriber", "show", "A1", "--json")
    assert json.loads(out)["exempt_until"] == "2099-01-01T00:00:00+00:00"


def test_cli_naive_time_without_zone_and_unknown_zone(db: str) -> None:
    status, out, err = run("--db", db, "subscriber", "exempt", "A1", "--reason", "r",
                           "--until", "2099-12-31T00:00")
    assert (status, out) == (2, "")
    assert err == ("op25b: error: field 'until' value '2099-12-31T00:00': "
                   "needs an explicit UTC offset, e.g. +09:00 or Z\n")
    status, out, err = run("--db", db, "--tz", "Mars/Olympus", "subscriber", "list")
    assert (status, out) == (2, "")
    assert err == ("op25b: error: field 'tz' value 'Mars/Olympus': unknown time zone "
                   "(give an IANA name such as Asia/Tokyo, or UTC)\n")


def test_cli_policy_show_at_uses_the_zone(db: str) -> None:
    assert run("--db", db, *"subscriber exempt A1 --reason r --until 2099-01-01T00:00Z"
               .split())[0] == 0
    # 08:59 JST is before the opt-out ends (00:00 UTC = 09:00 JST): TCP/25 passes.
    status, before, _ = run("--db", db, "--tz", "Asia/Tokyo", "policy", "show", "--dpid", "1",
                            "--at", "2099-01-01T08:59")
    status2, after, _ = run("--db", db, "--tz", "Asia/Tokyo", "policy", "show", "--dpid", "1",
                            "--at", "2099-01-01T09:00")
    assert status == status2 == 0
    assert before != after


def test_import_reads_naive_times_in_the_zone_and_export_writes_them(db: str,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(",".join(COLUMNS) + "\n"
                    "A2,,broadband,1,4,,,true,own MTA,2099-04-01T00:00,\n", encoding="utf-8")
    status, _, err = run("--db", db, "subscriber", "import", str(path))
    assert status == 2 and "field 'exempt_until' value '2099-04-01T00:00'" in err
    status, _, err = run("--db", db, "--tz", "Asia/Tokyo", "subscriber", "import", str(path))
    assert (status, err) == (0, "")
    status, out, _ = run("--db", db, "subscriber", "show", "A2", "--json")
    assert json.loads(out)["exempt_until"] == "2099-03-31T15:00:00+00:00"
    status, out, _ = run("--db", db, "--tz", "Asia/Tokyo", "subscriber", "export")
    assert "A2,,broadband,0x1,4,,,true,own MTA,2099-04-01T00:00:00+09:00," in out.splitlines()
    exported = tmp_path / "e.csv"
    exported.write_text(out, encoding="utf-8")
    # The zone-stamped export re-imports as a no-op, with or without --tz.
    for extra in ([], ["--tz", "America/New_York"]):
        status, out, _ = run("--db", db, *extra, "subscriber", "import", str(exported))
        assert status == 0 and "0 updated, 2 unchanged" in out


def test_audit_times_shown_in_the_zone(db: str) -> None:
    status, out, _ = run("--db", db, "--tz", "Asia/Tokyo", "audit", "--json", "--limit", "1")
    assert json.loads(out)[0]["at"].endswith("+09:00")
    status, out, _ = run("--db", db, "--tz", "Asia/Tokyo", "audit", "--since", "2000-01-01T00:00")
    assert status == 0 and "+09:00" in out.splitlines()[1]
