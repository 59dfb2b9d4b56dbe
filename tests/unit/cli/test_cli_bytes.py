"""The real ``op25b`` (a subprocess) given hostile bytes and hostile stored text.

Each case crashed with a traceback, wrote what it should not, or let stored
text drive the terminal before: arguments and standard input that are not
UTF-8, a year-9999 opt-out, escape sequences in a stored name, a megabyte
name, ``$LOGNAME`` posing as an API token, formulas in an export.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[3]


def op25b(*argv: str | bytes, stdin: bytes | None = None,
          env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    """Run the real command line; (exit status, stdout, stderr) as bytes."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8", **(env or {})}
    environment.pop("OP25B_TZ", None)
    result = subprocess.run([sys.executable, "-m", "op25b_app.cli.main", *argv], cwd=REPO,
                            input=stdin, capture_output=True, env=environment, timeout=120)
    return result.returncode, result.stdout, result.stderr


def raw(url: str, statement: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@pytest.fixture
def db(db_url: str) -> str:
    """A migrated database with one edge switch and subscriber A1 on port 3."""
    for argv in (["db", "init"], ["switch", "add", "--dpid", "1", "--name", "edge1",
                                  "--uplink", "1"],
                 ["subscriber", "add", "--account", "A1", "--type", "broadband",
                  "--attach", "1:3"]):
        status, _out, err = op25b("--db", db_url, *argv)
        assert status == 0, err
    return db_url


def one_error(err: bytes) -> str:
    """The single stderr line, checked to be one line without a traceback."""
    text = err.decode()
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text.rstrip("\n")


def test_until_out_of_range_is_refused_and_stored_ones_still_list(db: str) -> None:
    for until in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00+14:00", "9999-12-31T23:59:59Z"):
        status, out, err = op25b("--db", db, "subscriber", "exempt", "A1", "--reason", "x",
                                 "--until", until)
        assert (status, out) == (2, b"")
        assert one_error(err).startswith(f"op25b: error: field 'until' value '{until}': outside")
    late = ("9999-12-31 23:59:59+00" if db.startswith("postgresql")
            else "9999-12-31 23:59:59.000000")
    raw(db, f"UPDATE subscribers SET exempt = true, exempt_reason = 'raw', "
            f"exempt_until = '{late}'")
    for action in ("list", "show", "export"):
        argv = ["subscriber", action] + (["A1"] if action == "show" else [])
        status, out, err = op25b("--db", db, "--tz", "Asia/Tokyo", *argv)
        assert (status, err) == (0, b""), err
        assert b"9999-12-31T23:59:59+00:00" in out
    assert b"(out of range)" in op25b("--db", db, "--tz", "Asia/Tokyo", "subscriber", "list")[1]


@pytest.mark.parametrize(("argv", "field"), [
    (["subscriber", "add", "--account", b"X\xff", "--type", "broadband"], "account"),
    (["subscriber", "add", "--account", "X", "--name", b"Jos\xe9", "--type", "broadband"],
     "name"),
    (["subscriber", "show", b"A\xff1"], "account"),
    (["subscriber", "add", "--account", "X", "--type", "broadband", "--attach", "1:4",
      "--prefix", b"10.0.0.1\xff"], "prefix"),
    (["--tz", b"Asia/Tok\xffyo", "subscriber", "list"], "tz"),
])
def test_arguments_that_are_not_utf8_are_named(db: str, argv: list[str | bytes],
                                               field: str) -> None:
    status, out, err = op25b("--db", db, *argv)
    assert (status, out) == (2, b"")
    line = one_error(err)
    assert line.startswith(f"op25b: error: field '{field}' value '") and "not UTF-8 text" in line
    assert "\\x" in line  # the byte, shown escaped


def test_standard_input_that_is_not_utf8_names_line_and_field(db: str) -> None:
    header = b"account,name,type,dpid,port,vlan,prefixes,exempt,exempt_reason,exempt_until\n"
    good = b"".join(b"B%d,ok,broadband,0x1,%d,,,false,,\n" % (i, 10 + i) for i in range(400))
    latin1 = "B999,Jos\u00e9,broadband,0x1,9,,,false,,\n".encode("latin-1")
    data = header + good + latin1  # the bad byte is past the first 8 KiB read block
    expected = ("op25b: error: <stdin> line 402: field 'name' value 'Jos\\xe9': not UTF-8 text "
                "(byte 0xe9 at character 4)")
    for extra in (["--dry-run"], []):
        status, out, err = op25b("--db", db, "subscriber", "import", "-", *extra, stdin=data)
        assert (status, out) == (2, b""), out
        assert err.decode().splitlines() == [expected, "op25b: error: <stdin>: 1 bad line(s), "
                                                       "nothing imported"]
    assert b"B1" not in op25b("--db", db, "subscriber", "list")[1]


def test_a_file_that_is_not_utf8_names_the_right_line(db: str, tmp_path: Path) -> None:
    lines = ["account,name,type,dpid,port,vlan,prefixes,exempt,exempt_reason,exempt_until"]
    lines += [f"C{i},name {i},broadband,0x1,{20 + i},,,false,," for i in range(900)]
    path = tmp_path / "mixed.csv"
    path.write_bytes("\n".join(lines).encode() + b"\nC999,M\xfcller,broadband,0x1,9,,,false,,\n")
    status, _out, err = op25b("--db", db, "subscriber", "import", str(path))
    assert status == 2
    assert f"{path} line 902: field 'name' value 'M\\xfcller'" in err.decode()


def test_stored_text_never_drives_the_terminal(db: str) -> None:
    raw(db, "UPDATE subscribers SET name = 'evil' || chr(27) || '[2J' || chr(7) || "
            "chr(8238) || chr(10) || 'X'" if db.startswith("postgresql") else
            "UPDATE subscribers SET name = 'evil' || char(27) || '[2J' || char(7) || "
            "char(8238) || char(10) || 'X'")
    for argv in (["subscriber", "list"], ["subscriber", "show", "A1"], ["audit"]):
        status, out, err = op25b("--db", db, *argv)
        assert status == 0, err
        assert b"\x1b" not in out and b"\x07" not in out and "\u202e".encode() not in out
    listed = op25b("--db", db, "subscriber", "list")[1].decode()
    assert "evil\\x1b[2J\\x07\\u202e\\x0aX" in listed and len(listed.splitlines()) == 2


def test_a_huge_value_makes_a_bounded_error_line(db: str, tmp_path: Path) -> None:
    # An argument is at most 128 KiB on Linux; a file carries the megabyte.
    status, out, err = op25b("--db", db, "subscriber", "add", "--account", "Z", "--name",
                             "n" * 100_000, "--type", "broadband")
    assert (status, out) == (2, b"")
    line = one_error(err)
    assert len(line) < 400 and "(100000 characters)" in line
    path = tmp_path / "huge.csv"
    for size, reason in ((100_000, b"(100000 characters)"), (1_000_000, b"field limit")):
        path.write_text("account,name,type,dpid,port,vlan,prefixes,exempt,exempt_reason,"
                        f"exempt_until\nZ,{'n' * size},broadband,,,,,false,,\n")
        status, out, err = op25b("--db", db, "subscriber", "import", str(path))
        assert status == 2 and len(err) < 1000 and reason in err


def test_the_audit_actor_is_the_uid_not_logname(db: str) -> None:
    env = {"LOGNAME": "token:noc", "USER": "token:noc"}
    assert op25b("--db", db, "subscriber", "set-type", "A1", "dialup", env=env)[0] == 0
    status, out, _err = op25b("--db", db, "audit", "--json", "--limit", "1")
    actor = json.loads(out)[0]["actor"]
    assert actor == pwd.getpwuid(os.geteuid()).pw_name and not actor.startswith("token:")


def test_export_neutralises_formulas_and_reimports_unchanged(db: str, tmp_path: Path) -> None:
    name = '=HYPERLINK("http://evil.example/","click")'
    assert op25b("--db", db, "subscriber", "add", "--account", "-5", "--name", name,
                 "--type", "broadband")[0] == 0
    out = tmp_path / "out.csv"
    assert op25b("--db", db, "subscriber", "export", "--output", str(out))[0] == 0
    text = out.read_text()
    assert "'-5,\"'=HYPERLINK(\"\"http://evil.example/\"\",\"\"click\"\")\"" in text
    status, stdout, err = op25b("--db", db, "subscriber", "import", str(out))
    assert status == 0, err
    assert b"0 added, 0 updated, 2 unchanged" in stdout
    status, stdout, _err = op25b("--db", db, "subscriber", "show", "-5", "--json")
    assert name in stdout.decode().replace('\\"', '"')
