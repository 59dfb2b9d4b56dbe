"""Hostile input to the parsers and text checks every writer shares (no database).

Each case was accepted, or crashed with a traceback, before: numbers in
other scripts or with signs and blanks, times near year 1 or 9999, spans of
millions of days, invisible characters in accounts and names, bytes that
were not UTF-8, formulas in an export, and an actor taken from $LOGNAME.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import zoneinfo

import pytest

from op25b_app.core import limits
from op25b_app.service import (
    ValidationError,
    in_time_range,
    in_zone,
    parse_dpid,
    parse_port,
    parse_prefix,
    parse_since,
    parse_span,
    parse_time,
    parse_vlan,
    to_jsonable,
)
from op25b_app.service.audit import default_actor
from op25b_app.service.csv_records import from_spreadsheet, to_spreadsheet
from op25b_app.service.errors import clip
from op25b_app.service.rules import check_account, check_exempt_reason, check_subscriber_name

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("text", ["٣", "1_000", "+5", " 0x2 ", "-1", "1 ", "0x", "１",
                                  "9" * 5000, "0x1_0", "1e3", ""])
def test_integers_are_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValidationError, match="field 'dpid'.*not a datapath id"):
        parse_dpid(text)


def test_hex_only_where_documented() -> None:
    assert parse_dpid("0x1F") == 31 and parse_dpid("0X1f") == 31 and parse_dpid("007") == 7
    with pytest.raises(ValidationError, match="not a port number"):
        parse_port("0x10")
    with pytest.raises(ValidationError, match="not a VLAN id"):
        parse_vlan(" 5")
    assert parse_vlan("") is None and parse_vlan("*") is None and parse_vlan("4095") == 4095


@pytest.mark.parametrize("text", ["10.0.0.0/08", "10.0.0.0/٣٢", " 10.0.0.0/8", "10.0.0.0/8 ",
                                  "10.0.0.0/+8", "10.0.0.0/8\n", "fe80::1%eth0/64"])
def test_prefix_lengths_are_plain_ascii(text: str) -> None:
    with pytest.raises(ValidationError, match="not a valid IPv4/IPv6 prefix"):
        parse_prefix(text)


def test_plain_prefixes_still_parse() -> None:
    assert str(parse_prefix("10.1.0.5/24")) == "10.1.0.0/24"
    assert str(parse_prefix("2001:db8::/0")) == "::/0"
    assert str(parse_prefix("192.0.2.1")) == "192.0.2.1/32"


@pytest.mark.parametrize("text", [
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00+14:00", "9999-12-31T23:59:59Z",
    "2101-01-01T00:00Z", "2100-12-31T23:00-05:00", "1969-12-31T23:59Z",
])
def test_times_outside_the_range_are_refused_not_crashed(text: str) -> None:
    for tz in (None, TOKYO):
        with pytest.raises(ValidationError, match="field 'until'.*outside the times op25b "
                                                  "accepts"):
            parse_time(text, "until", tz)


def test_times_at_the_range_edges() -> None:
    assert parse_time("1970-01-01T00:00Z") == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert parse_time("2100-12-31T23:59:59Z").year == 2100
    # "Since 2000" in Tokyo is 1999 in UTC, and fine.
    assert parse_time("2000-01-01T00:00", "since", TOKYO).year == 1999
    with pytest.raises(ValidationError, match="outside"):
        parse_time("9999-12-31T23:59:59", "until", TOKYO)  # a wall-clock time in a zone
    with pytest.raises(ValidationError, match="not an ISO 8601 time"):
        parse_time("２０２６-01-01T00:00Z")


@pytest.mark.parametrize("text", ["99999999d", "9999999d", "3651d", "522w", "87601h"])
def test_spans_are_bounded(text: str) -> None:
    with pytest.raises(ValidationError, match=f"longer than {limits.MAX_SPAN_DAYS} days"):
        parse_span(text)
    with pytest.raises(ValidationError, match="field 'since'"):
        parse_since(text, NOW)


def test_spans_are_ascii() -> None:
    assert parse_span("3650d") == dt.timedelta(days=3650)
    assert parse_span("2W") == dt.timedelta(weeks=2)
    for text in ("٣d", "7 d", " 7d", "+7d", "1_0d", "0d"):
        with pytest.raises(ValidationError, match="not a span"):
            parse_span(text)


@pytest.mark.parametrize(("text", "what"), [
    ("S14\u200b", "invisible formatting character (U+200B"),
    ("S\u202e41", "invisible formatting character (U+202E"),
    ("S14\u2028", "line separator (U+2028"),
    ("S\u008514", "control characters (U+0085"),
    ("S\u00a014", "space other than the plain space U+0020 (U+00A0"),
    ("\ufeffS14", "invisible formatting character (U+FEFF"),
    ("S14\udcff", "not UTF-8 text (byte 0xff at character 4)"),
])
def test_invisible_characters_are_refused_in_accounts_and_names(text: str, what: str) -> None:
    for check, field in ((check_account, "account"), (check_subscriber_name, "name")):
        with pytest.raises(ValidationError, match=f"field '{field}'") as caught:
            check(text, field)
        assert what in caught.value.reason
    with pytest.raises(ValidationError, match="exempt_reason"):
        check_exempt_reason("exempt_reason", f"own MTA {text}")


def test_accounts_must_be_nfkc_and_names_are_stored_nfc() -> None:
    with pytest.raises(ValidationError, match="not in Unicode NFKC form: write 'S14'"):
        check_account("Ｓ１４")
    assert check_account("山田-001") == "山田-001"
    assert check_account("A 1") == "A 1"  # a plain inner space stays allowed
    decomposed = "Jose\u0301"
    assert check_subscriber_name(decomposed) == "Jos\u00e9"
    assert check_subscriber_name("山田 太郎") == "山田 太郎"
    with pytest.raises(ValidationError, match="U\\+3000"):
        check_subscriber_name("山田\u3000太郎")


def test_errors_echo_a_bounded_value() -> None:
    huge = "x" * 1_000_000
    with pytest.raises(ValidationError) as caught:
        check_subscriber_name(huge)
    assert len(str(caught.value)) < 300 and "(1000000 characters)" in str(caught.value)
    assert caught.value.value == huge  # the whole value stays on the error for callers
    assert clip("short") == "short"


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-1", "@SUM(A1)",
                                  "\tx", "\rx", "'=1", "''+1", "'Tis", "plain", "", "'"])
def test_spreadsheet_escaping_round_trips(cell: str) -> None:
    shown = to_spreadsheet(cell)
    assert from_spreadsheet(shown) == cell
    assert shown[:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_actor_comes_from_the_uid_never_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "token:noc")
    actor = default_actor()
    assert not actor.startswith("token:")
    assert actor == pwd.getpwuid(os.geteuid()).pw_name


def test_stored_times_out_of_range_are_shown_in_utc() -> None:
    late = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    early = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    for value in (late, early):
        assert not in_time_range(value)
        shown = in_zone(value, TOKYO)
        assert shown == value and shown.utcoffset() == dt.timedelta()
        assert to_jsonable({"t": value}, TOKYO)["t"] == value.isoformat()
    inside = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert to_jsonable(inside, TOKYO) == "2026-01-01T09:00:00+09:00"
