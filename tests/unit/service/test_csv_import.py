"""``op25b subscriber import/export``: every bad line reported, all or nothing, upsert, round trip.

Each test runs on a real SQLite file and on PostgreSQL (``db_url``), through
the command line an operator uses, so CSV parsing, validation, the write and
the exit status are tested together.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from op25b_app.cli.main import main
from op25b_app.service.csv_records import COLUMNS, read_records
from op25b_app.db.engine import make_engine
from op25b_app.db.models import POLICY_TABLES
from op25b_app.service import ImportRejected, PolicyService, SubscriberRecord

#: The columns of a file exported before ``carries`` existed. Most tests write
#: such files, so they also prove that the column is optional on import.
OLD_COLUMNS = tuple(c for c in COLUMNS if c != "carries")
HEADER = ",".join(OLD_COLUMNS)


def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        import sys

        saved = sys.stdin
        # Bytes underneath, as a real standard input has (the import reads those).
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8")
        try:
            status = main(list(argv), stdout=out, stderr=err)
        finally:
            sys.stdin = saved
    else:
        status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def state(url: str) -> dict[str, int]:
    """Row counts of the policy tables and the audit log, plus the revision."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            result = {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in (*POLICY_TABLES, "audit_log")
            }
            result["revision"] = int(
                conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one()
            )
            return result
    finally:
        engine.dispose()


def write_csv(path: Path, *lines: str) -> str:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def db(db_url: str) -> str:
    """Edge switch 0x1 (uplinks 1, 2), core switch 0x10, an MTA, a business type."""
    for argv in (
        ["db", "init"],
        ["switch", "add", "--dpid", "0x1", "--name", "edge1", "--uplink", "1", "--uplink", "2"],
        ["switch", "add", "--dpid", "0x10", "--name", "core1", "--role", "core"],
        ["mta", "add", "--name", "relay1", "--prefix", "192.0.2.0/28"],
        ["type", "add", "business", "--exempt"],
    ):
        status, _, err = run("--db", db_url, *argv)
        assert status == 0, err
    return db_url


GOOD = (
    "A100,Taro Yamada,broadband,0x1,3,,10.1.0.5/32 2001:db8:100::/56,false,,",
    "A100,Taro Yamada,broadband,0x1,4,100,,false,,",
    'A200,"Hanako, Inc.",business,1,5,,10.2.0.0/29,false,,',
    "A300,Jiro,broadband,0x1,6,,10.3.0.1/32,true,own mail server,2099-12-31T00:00+09:00",
    "A400,Nobody,dialup,,,,,false,,",
)


def show(url: str, account: str) -> dict:
    status, out, err = run("--db", url, "subscriber", "show", account, "--json")
    assert status == 0, err
    return json.loads(out)


# ------------------------------------------------------------------ good files


def test_import_good_file(db: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", *GOOD)
    status, out, err = run("--db", db, "subscriber", "import", path)
    assert (status, err) == (0, "")
    assert "4 added, 0 updated, 0 unchanged" in out
    a100 = show(db, "A100")
    assert {(a["port"], a["vlan"], a["prefix"]) for a in a100["attachments"]} == {
        (3, None, "10.1.0.5/32"),
        (3, None, "2001:db8:100::/56"),
        (4, 100, None),
    }
    assert show(db, "A200")["name"] == "Hanako, Inc."
    a300 = show(db, "A300")
    assert a300["exempt"] and a300["exempt_reason"] == "own mail server"
    assert a300["exempt_until"] == "2099-12-30T15:00:00+00:00"
    assert show(db, "A400")["attachments"] == []


def test_import_json_output_and_revision(db: str, tmp_path: Path) -> None:
    before = state(db)
    status, out, _ = run("--db", db, "subscriber", "import", write_csv(tmp_path / "s.csv", *GOOD),
                         "--json")
    assert status == 0
    data = json.loads(out)
    assert data["added"] == 4 and data["dry_run"] is False and data["attachments_added"] == 5
    after = state(db)
    assert data["revision"] == after["revision"] > before["revision"]
    assert after["subscribers"] == before["subscribers"] + 4


def test_header_in_any_order_with_bom_and_crlf(db: str, tmp_path: Path) -> None:
    order = list(reversed(OLD_COLUMNS))
    row = dict(zip(OLD_COLUMNS, GOOD[0].split(","), strict=True))
    text = ",".join(order) + "\r\n" + ",".join(row[c] for c in order) + "\r\n\r\n"
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    status, out, err = run("--db", db, "subscriber", "import", str(path))
    assert (status, err) == (0, ""), err
    assert "1 added" in out


def test_import_from_stdin(db: str) -> None:
    text = "\n".join([HEADER, GOOD[0]]) + "\n"
    status, out, err = run("--db", db, "subscriber", "import", "-", stdin=text)
    assert (status, err) == (0, "")
    assert out.startswith("imported <stdin>: 1 added")


# ------------------------------------------------------------------ bad files

# (csv line, field, value, reason fragment): each line's problems, line 2 first.
BAD_LINES: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("B1,x,nosuch,0x1,3,,10.9.0.1/32,false,,", [("type", "nosuch", "no such connection type")]),
    ("B2,x,broadband,0x99,3,,10.9.0.2/32,false,,",
     [("dpid", "0x99", "no switch with this dpid")]),
    ("B3,x,broadband,0x1,2,,10.9.0.3/32,false,,", [("port", "2", "is an uplink of switch")]),
    ("B4,x,broadband,0x10,3,,10.9.0.4/32,false,,", [("dpid", "0x10", "has role core")]),
    ("B5,x,broadband,zz,3,,,false,,", [("dpid", "zz", "not a datapath id")]),
    ("B6,x,broadband,0x1,0,,,false,,", [("port", "0", "out of range")]),
    ("B7,x,broadband,0x1,3,4096,,false,,", [("vlan", "4096", "out of range 0..4095")]),
    ("B8,x,broadband,0x1,3,,10.9.0.300/32,false,,",
     [("prefixes", "10.9.0.300/32", "not a valid IPv4/IPv6 prefix")]),
    ("B9,x,broadband,0x1,3,,::ffff:10.0.0.1/128,false,,",
     [("prefixes", "::ffff:10.0.0.1/128", "IPv4-mapped")]),
    ("B10,x,broadband,0x1,3,,192.0.2.5/32,false,,",
     [("prefixes", "192.0.2.5/32", "overlaps MTA 'relay1' (192.0.2.0/28)")]),
    ("B11,x,broadband,0x1,3,,10.9.0.11/32 10.9.0.11/32,false,,",
     [("prefixes", "10.9.0.11/32", "listed twice")]),
    ("B12,x,broadband,0x1,7,,10.9.0.12/32,false,,", []),  # fine itself; B13 duplicates it
    ("B13,x,broadband,0x1,7,,10.9.0.12/32,false,,",
     [("prefixes", "10.9.0.12/32", "same attachment (1:7:*:10.9.0.12/32) as line 13")]),
    ("B14,x,broadband,0x1,3,,10.1.0.5/32,false,,",
     [("prefixes", "10.1.0.5/32", "already belongs to account 'OWNER'")]),
    ("B15,x,broadband,0x1,8,,,false,,", []),
    ("B15,y,dialup,0x1,9,,,false,,",
     [("name", "y", "differs from line 16"), ("type", "dialup", "differs from line 16")]),
    ("B17,x,broadband,0x1,3,,,maybe,,", [("exempt", "maybe", "must be true or false")]),
    ("B18,x,broadband,0x1,10,,,true,,", [("exempt_reason", "", "must not be empty")]),
    ("B19,x,broadband,0x1,11,,,true,r,2020-01-01T00:00Z",
     [("exempt_until", "2020-01-01T00:00Z", "is not in the future")]),
    ("B20,x,broadband,0x1,12,,,true,r,2099-01-01T00:00",
     [("exempt_until", "2099-01-01T00:00", "needs an explicit UTC offset")]),
    ("B21,x,broadband,0x1,13,,,false,r,",
     [("exempt_reason", "r", "only allowed with exempt=true")]),
    ("B22,x,broadband,0x1,14", [("line", "B22,x,broadband,0x1,14", "has 5 fields")]),
    (",x,broadband,0x1,15,,,false,,", [("account", "", "must not be empty")]),
    ("B24,x,broadband,,,100,,false,,", [("vlan", "100", "needs a dpid and port")]),
    ("B25,x,broadband,0x1,,,,false,,", [("port", "", "must not be empty when dpid is given")]),
    ("B26,x,,0x1,16,,,false,,", [("type", "", "must not be empty")]),
    # Echoed escaped: an error line must not ring the operator's terminal.
    ("B27,x\x07,broadband,0x1,17,,,false,,", [("name", "x\\x07", "control characters")]),
    # Several bad fields on one line: all reported (the line is bad for each).
    ("B28,x,nosuch,0x1,1,,,yes,,", [("exempt", "yes", "must be true or false"),
                                    ("type", "nosuch", "no such connection type"),
                                    ("port", "1", "is an uplink")]),
]


def test_bad_file_reports_every_bad_line_and_writes_nothing(db: str, tmp_path: Path) -> None:
    assert run("--db", db, *"subscriber add --account OWNER --type broadband --attach 1:3 "
               "--prefix 10.1.0.5/32".split())[0] == 0
    before = state(db)
    path = write_csv(tmp_path / "bad.csv", *(line for line, _ in BAD_LINES))
    status, out, err = run("--db", db, "subscriber", "import", path)
    assert status == 2 and out == ""
    lines = err.splitlines()
    for index, (_, expected) in enumerate(BAD_LINES):
        line_no = index + 2
        mine = [x for x in lines if f" line {line_no}: " in x]
        for field, value, reason in expected:
            wanted = f"op25b: error: {path} line {line_no}: field '{field}' value '{value}': "
            assert any(x.startswith(wanted) and reason in x for x in mine), (line_no, field, mine)
        assert len(mine) == len(expected), (line_no, mine)
    bad_count = sum(1 for _, expected in BAD_LINES if expected)
    assert lines[-1] == f"op25b: error: {path}: {bad_count} bad line(s), nothing imported"
    assert state(db) == before  # no row, no revision step, no audit entry


def test_dry_run_of_bad_file_also_exits_2(db: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", GOOD[0], "B1,x,nosuch,0x1,3,,,false,,")
    before = state(db)
    status, out, err = run("--db", db, "subscriber", "import", "--dry-run", path)
    assert status == 2 and out == ""
    assert f"{path} line 3: field 'type' value 'nosuch'" in err
    assert state(db) == before


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("account,name,type", "field 'header' value 'dpid': column missing"),
        (HEADER + ",colour", "field 'header' value 'colour': unknown column"),
        (HEADER + ",name", "field 'header' value 'name': column named twice"),
    ],
)
def test_bad_header(db: str, tmp_path: Path, header: str, message: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(header + "\n" + GOOD[0] + "\n", encoding="utf-8")
    status, _, err = run("--db", db, "subscriber", "import", str(path))
    assert status == 2
    assert f"{path} line 1: {message}" in err


def test_empty_file_missing_file_and_not_utf8(db: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    status, _, err = run("--db", db, "subscriber", "import", str(empty))
    assert status == 2 and "file is empty; expected a header line" in err
    status, _, err = run("--db", db, "subscriber", "import", str(tmp_path / "nope.csv"))
    assert status == 2
    assert err == f"op25b: error: field 'file' value '{tmp_path / 'nope.csv'}': " \
                  "No such file or directory\n"
    latin = tmp_path / "latin1.csv"
    latin.write_bytes((HEADER + "\nA1,J\xfcrgen,broadband,1,3,,,false,,\n").encode("latin-1"))
    status, _, err = run("--db", db, "subscriber", "import", str(latin))
    assert status == 2 and "not UTF-8 text" in err


# ------------------------------------------------------------------ dry run, upsert


def test_dry_run_reports_changes_and_writes_nothing(db: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", *GOOD)
    run("--db", db, "subscriber", "import", write_csv(tmp_path / "first.csv", GOOD[0], GOOD[1]))
    changed = write_csv(tmp_path / "c.csv", GOOD[0].replace("Taro Yamada", "Taro Y."),
                        GOOD[1].replace("Taro Yamada", "Taro Y."), *GOOD[2:])
    before = state(db)
    status, out, err = run("--db", db, "subscriber", "import", "--dry-run", changed)
    assert (status, err) == (0, "")
    assert out.startswith(f"dry run of {changed}, nothing written: 3 added, 1 updated, 0 unchanged")
    status, out, _ = run("--db", db, "subscriber", "import", "--dry-run", path, "--json")
    assert json.loads(out)["unchanged"] == 1 and json.loads(out)["revision"] is None
    assert state(db) == before


def test_upsert_replaces_attachments_of_accounts_in_file_only(db: str, tmp_path: Path) -> None:
    run("--db", db, "subscriber", "import", write_csv(tmp_path / "a.csv", *GOOD))
    kept_id = next(a["id"] for a in show(db, "A100")["attachments"] if a["port"] == 4)
    a200_before = show(db, "A200")
    # A100: drops port 3, keeps port 4, gains port 9, changes type and opts out;
    # its old 10.1.0.5/32 moves to a new account A500. A200..A400 are not in the file.
    path = write_csv(
        tmp_path / "b.csv",
        "A100,Taro Yamada,dialup,0x1,4,100,,true,moved to dial-up,",
        "A100,Taro Yamada,dialup,0x1,9,,,true,moved to dial-up,",
        "A500,New,broadband,0x1,3,,10.1.0.5/32,false,,",
    )
    status, out, err = run("--db", db, "subscriber", "import", path)
    assert (status, err) == (0, ""), err
    assert "1 added, 1 updated, 0 unchanged" in out and "attachments +2 -2" in out
    a100 = show(db, "A100")
    assert a100["type"] == "dialup" and a100["exempt"] and a100["exempt_until"] is None
    assert sorted((a["port"], a["prefix"]) for a in a100["attachments"]) == [(4, None), (9, None)]
    assert next(a["id"] for a in a100["attachments"] if a["port"] == 4) == kept_id
    assert [a["prefix"] for a in show(db, "A500")["attachments"]] == ["10.1.0.5/32"]
    assert show(db, "A200") == a200_before


def test_an_account_can_be_emptied_and_unexempted(db: str, tmp_path: Path) -> None:
    run("--db", db, "subscriber", "import", write_csv(tmp_path / "a.csv", *GOOD))
    path = write_csv(tmp_path / "b.csv", "A300,Jiro,broadband,,,,,false,,")
    status, out, _ = run("--db", db, "subscriber", "import", path)
    assert status == 0 and "0 added, 1 updated" in out
    a300 = show(db, "A300")
    assert a300["attachments"] == [] and not a300["exempt"] and a300["exempt_reason"] is None


def test_no_attachment_line_cannot_mix_with_attachment_lines(db: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", "A1,x,dialup,,,,,false,,", "A1,x,dialup,0x1,3,,,false,,")
    status, _, err = run("--db", db, "subscriber", "import", path)
    assert status == 2
    assert "line 2: field 'dpid' value '': account 'A1' has attachments on other lines" in err


# ------------------------------------------------------------------ export and round trip


def test_export_then_import_is_a_no_op(db: str, tmp_path: Path) -> None:
    run("--db", db, "subscriber", "import", write_csv(tmp_path / "a.csv", *GOOD))
    # An "any source" attachment next to prefixed ones at the same point.
    assert run("--db", db, "subscriber", "attach", "A200", "--attach", "1:5")[0] == 0
    exported = tmp_path / "export.csv"
    status, out, err = run("--db", db, "subscriber", "export", "--output", str(exported))
    assert (status, err) == (0, "")
    assert out == f"exported 6 line(s) (4 subscriber(s)) to {exported}\n"
    before = state(db)
    status, out, _ = run("--db", db, "subscriber", "import", str(exported))
    assert status == 0 and "0 added, 0 updated, 4 unchanged" in out
    assert state(db) == before
    # Exporting again gives the same file.
    status, again, _ = run("--db", db, "subscriber", "export")
    assert again == exported.read_text(encoding="utf-8")


def test_export_format(db: str, tmp_path: Path) -> None:
    run("--db", db, "subscriber", "import", write_csv(tmp_path / "a.csv", *GOOD))
    status, out, _ = run("--db", db, "subscriber", "export")
    assert status == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == list(COLUMNS)
    assert rows[1:] == [
        ["A100", "Taro Yamada", "broadband", "0x1", "3", "", "10.1.0.5/32 2001:db8:100::/56",
         "false", "", "", ""],
        ["A100", "Taro Yamada", "broadband", "0x1", "4", "100", "", "false", "", "", ""],
        ["A200", "Hanako, Inc.", "business", "0x1", "5", "", "10.2.0.0/29", "false", "", "", ""],
        ["A300", "Jiro", "broadband", "0x1", "6", "", "10.3.0.1/32", "true", "own mail server",
         "2099-12-30T15:00:00+00:00", ""],
        ["A400", "Nobody", "dialup", "", "", "", "", "false", "", "", ""],
    ]
    status, out, _ = run("--db", db, "--tz", "Asia/Tokyo", "subscriber", "export", "--json")
    data = json.loads(out)
    assert data[3]["exempt_until"] == "2099-12-31T00:00:00+09:00" and data[3]["account"] == "A300"


def test_export_to_unwritable_place_exits_2(db: str, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir.csv"
    status, _, err = run("--db", db, "subscriber", "export", "--output", str(target))
    assert status == 2 and err.startswith(f"op25b: error: field 'output' value '{target}'")
    assert not list(tmp_path.glob("**/*.partial-*"))


# ------------------------------------------------------------------ a larger file


def _big_file(path: Path, count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    hosts = rng.sample(range(1, 1 << 20), count)
    nets = rng.sample(range(1, 1 << 24), count)
    lines = []
    for i in range(count):
        h, n = hosts[i], nets[i]
        kind = ("broadband", "dialup", "business")[i % 3]
        v6 = f" 2001:db8:{n >> 8:x}:{(n & 255) << 8:x}::/56" if kind == "broadband" else ""
        lines.append(
            f"C{i:06d},Customer {i},{kind},0x1,{3 + i % 40},{'' if i % 2 else 100 + i % 7},"
            f"10.{16 + (h >> 16)}.{(h >> 8) & 255}.{h & 255}/32{v6},false,,"
        )
    write_csv(path, *lines)
    return lines


def test_five_thousand_lines(db: str, tmp_path: Path) -> None:
    lines = _big_file(tmp_path / "big.csv", 5000)
    status, out, err = run("--db", db, "subscriber", "import", str(tmp_path / "big.csv"))
    assert (status, err) == (0, ""), err[:2000]
    assert "5000 added" in out
    after = state(db)
    assert after["subscribers"] == 5000 and after["attachments"] == 5000 + 1667
    # One bad line at the very end rejects all 5001, and says which.
    write_csv(tmp_path / "bad.csv", *lines, "C999999,x,broadband,0x1,1,,,false,,")
    status, _, err = run("--db", db, "subscriber", "import", str(tmp_path / "bad.csv"))
    assert status == 2
    assert err.splitlines()[0].endswith(
        "line 5002: field 'port' value '1': is an uplink of switch 'edge1', not a subscriber port"
    )
    assert state(db) == after
    status, out, _ = run("--db", db, "subscriber", "import", str(tmp_path / "big.csv"))
    assert "0 added, 0 updated, 5000 unchanged" in out
    assert state(db) == after


# ------------------------------------------------------------------ progress and the service API


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_only_on_a_terminal(db: str, tmp_path: Path) -> None:
    _big_file(tmp_path / "big.csv", 6000)
    err = _Tty()
    status = main(["--db", db, "subscriber", "import", "--dry-run", str(tmp_path / "big.csv")],
                  stdout=io.StringIO(), stderr=err)
    assert status == 0
    text = err.getvalue()
    assert re.search(r"\rimport \S+: check \d+/6000", text)
    assert text.endswith("\r")  # the line is erased again
    plain = io.StringIO()
    main(["--db", db, "subscriber", "import", "--dry-run", str(tmp_path / "big.csv")],
         stdout=io.StringIO(), stderr=plain)
    assert plain.getvalue() == ""


def test_service_import_collects_every_problem(db_engine: sa.Engine) -> None:
    service = PolicyService(db_engine, actor="test")
    service.add_switch(1, "edge1", uplinks=[1])
    records = [
        SubscriberRecord("X1", type="broadband", dpid="1", port="1", line=2),
        SubscriberRecord("X2", type="nosuch", dpid="1", port="3", line=3),
        SubscriberRecord("X3", type="broadband", dpid="1", port="4", line=4),
    ]
    with pytest.raises(ImportRejected) as caught:
        service.import_subscribers(records)
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "port"), (3, "type")]
    assert service.list_subscribers() == []
    result = service.import_subscribers(records[2:])
    assert (result.added, result.rows) == (1, 1)


def test_read_records_line_numbers_count_physical_lines() -> None:
    text = HEADER + '\n\nA1,"two\nlines",broadband,1,3,,,false,,\nA2,x,broadband,1,4,,,false,,\n'
    records, problems = read_records(io.StringIO(text))
    assert problems == []
    assert [(r.account, r.line) for r in records] == [("A1", 3), ("A2", 5)]
