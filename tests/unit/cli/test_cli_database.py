"""``op25b`` and the database file itself: where it is, who may read it, who is writing.

Before: ``db init`` failed on the README's own path (no directory); a read
created an empty file; a file the user may only read could not be listed;
``db init`` added op25b's tables to anyone's database; a newer database said
"run db upgrade", which then failed; a waiting writer gave up after 10 s
with "database is locked"; numbers in other scripts were accepted; an MTA
kept only its last prefix; and every command took half a second to start.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from op25b_app.cli import commands
from op25b_app.cli.commands import api
from op25b_app.cli.main import build_parser, main
from op25b_app.db.engine import make_engine, write_connection

REPO = Path(__file__).resolve().parents[3]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def python(code: str, *, env: dict[str, str] | None = None,
           user: int | None = None) -> subprocess.CompletedProcess[str]:
    """``python -c CODE`` with op25b importable, optionally as another uid (setpriv)."""
    prefix = [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}",
                                      "--clear-groups"]
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([*prefix, sys.executable, "-c", code], cwd="/", capture_output=True,
                          text=True, env=environment, timeout=120)


@pytest.fixture
def db(db_url: str) -> str:
    assert run("--db", db_url, "db", "init")[0] == 0
    assert run("--db", db_url, "switch", "add", "--dpid", "1", "--name", "edge1",
               "--uplink", "1")[0] == 0
    return db_url


def test_db_init_creates_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "var" / "lib" / "op25b" / "op25b.db"
    status, out, err = run("--db", f"sqlite:///{target}", "db", "init")
    assert (status, err) == (0, "") and "schema at revision" in out
    assert target.parent.stat().st_mode & 0o777 == 0o750


def test_reads_never_create_a_database_file(tmp_path: Path) -> None:
    target = tmp_path / "op25b.db"
    for argv in (["subscriber", "list"], ["status"], ["db", "status"], ["db", "upgrade"],
                 ["subscriber", "add", "--account", "A", "--type", "broadband"]):
        status, out, err = run("--db", f"sqlite:///{target}", *argv)
        assert (status, out) == (1, "")
        assert err == f"op25b: error: no database at {target}: run 'op25b db init'\n"
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user may enter (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="op25b-ro-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to read as another user")
def test_a_file_the_user_may_only_read_can_be_listed(shared_dir: Path) -> None:
    """/var/lib/op25b as the op25b user owns it, read by an operator: the file and its
    directory are read-only to them, and no process has the database open."""
    target = shared_dir / "op25b.db"
    url = f"sqlite:///{target}"
    assert run("--db", url, "db", "init")[0] == 0
    assert run("--db", url, "switch", "add", "--dpid", "1", "--name", "edge1")[0] == 0
    target.chmod(0o644)
    before = sorted(p.name for p in shared_dir.iterdir())
    for argv in (["switch", "list"], ["status"], ["db", "status"], ["subscriber", "export"]):
        code = f"from op25b_app.cli.main import main; raise SystemExit(main({argv!r}))"
        result = python(code, env={"OP25B_DB": url}, user=65534)
        assert result.returncode == 0, result.stderr
    assert "edge1" in python("from op25b_app.cli.main import main; main(['switch', 'list'])",
                             env={"OP25B_DB": url}, user=65534).stdout
    assert sorted(p.name for p in shared_dir.iterdir()) == before


def test_db_init_refuses_someone_elses_database(tmp_path: Path) -> None:
    target = tmp_path / "other.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    status, out, err = run("--db", f"sqlite:///{target}", "db", "init")
    assert (status, out) == (1, "")
    assert "is not empty and has no op25b schema (tables: invoices)" in err
    assert "--force" in err and err.count("\n") == 1
    with sqlite3.connect(target) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["invoices"]
    assert run("--db", f"sqlite:///{target}", "db", "init", "--force")[0] == 0


def test_a_newer_database_says_upgrade_op25b(db: str) -> None:
    engine = make_engine(db)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    for argv in (["subscriber", "list"], ["db", "upgrade"]):
        status, out, err = run("--db", db, *argv)
        assert (status, out) == (1, "")
        assert "this database was written by a newer op25b (schema 9999" in err
        assert "upgrade op25b" in err and "db upgrade" not in err


def test_a_waiting_writer_names_what_it_waited_for(db: str) -> None:
    blocker = make_engine(db)
    try:
        with write_connection(blocker):
            for argv, env in ((["--lock-timeout", "1"], {}), ([], {"OP25B_LOCK_TIMEOUT": "1"})):
                result = subprocess.run(
                    [sys.executable, "-m", "op25b_app.cli.main", "--db", db, *argv, "switch",
                     "add", "--dpid", "2", "--name", "edge2"], cwd=REPO, capture_output=True,
                    text=True, timeout=60,
                    env={**os.environ, "PYTHONPATH": str(REPO), **env})
                assert (result.returncode, result.stdout) == (1, "")
                assert result.stderr == (
                    "op25b: error: database busy: another writer held the policy write lock "
                    "for 1 s (wait longer with --lock-timeout SECONDS or $OP25B_LOCK_TIMEOUT)\n")
    finally:
        blocker.dispose()
    assert run("--db", db, "switch", "add", "--dpid", "2", "--name", "edge2")[0] == 0


@pytest.mark.parametrize("argv", [
    ["switch", "add", "--dpid", "٣", "--name", "x"],
    ["switch", "add", "--dpid", "1_000", "--name", "x"],
    ["switch", "add", "--dpid", "+5", "--name", "x"],
    ["switch", "add", "--dpid", " 0x2 ", "--name", "x"],
    ["switch", "add", "--dpid", "5", "--name", "x", "--uplink", "٣"],
    ["subscriber", "add", "--account", "A", "--type", "broadband", "--attach", "1:3",
     "--prefix", "10.0.0.0/08"],
    ["subscriber", "add", "--account", "A", "--type", "broadband", "--attach", "1:3",
     "--prefix", "10.0.0.0/٣٢"],
    ["subscriber", "detach", "A", "--id", "١"],
    ["audit", "--limit", "+5"],
    ["report", "suspects", "--threshold", "1_0"],
    ["report", "suspects", "--window", "٣h"],
    ["--lock-timeout", "٣", "switch", "list"],
])
def test_numbers_are_ascii_digits(db: str, argv: list[str]) -> None:
    status, out, err = run("--db", db, *argv)
    assert (status, out) == (2, "")
    assert err.startswith("op25b: error: field '") and err.count("\n") == 1, err


@pytest.mark.parametrize(("argv", "field"), [
    (["policy", "show", "--dpid", "1", "--at", "9999-12-31T23:59:59-14:00"], "at"),
    (["enforcement", "set", "--mode", "monitor", "--at", "0001-01-01T00:00+14:00"], "at"),
    (["audit", "--since", "99999999d"], "since"),
    (["audit", "--since", "0001-01-01T00:00+14:00"], "since"),
    (["report", "suspects", "--window", "9999999d"], "window"),
    (["report", "affected", "--since", "9999-12-31T23:59:59Z"], "since"),
])
def test_times_and_spans_out_of_range_are_one_line(db: str, argv: list[str], field: str) -> None:
    status, out, err = run("--db", db, *argv)
    assert (status, out) == (2, "")
    assert err.startswith(f"op25b: error: field '{field}' value '") and err.count("\n") == 1


def test_csv_exempt_until_out_of_range_names_the_line(db: str, tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_text("account,name,type,dpid,port,vlan,prefixes,exempt,exempt_reason,"
                    "exempt_until\nL1,,broadband,,,,,true,own MTA,9999-12-31T23:59:59-14:00\n")
    status, out, err = run("--db", db, "subscriber", "import", str(path))
    assert (status, out) == (2, "")
    assert f"{path} line 2: field 'exempt_until' value '9999-12-31T23:59:59-14:00': outside" in err


@pytest.mark.parametrize(("url", "fragment"), [
    ("mysql://op25b:s3cret@dbhost/op25b", "not mysql"),
    ("postgresql://op25b:s3cret@[::1/y", "not a usable database URL"),
])
def test_database_urls_are_named_without_a_traceback(url: str, fragment: str) -> None:
    status, out, err = run("--db", url, "subscriber", "list")
    assert (status, out) == (2, "") and fragment in err
    assert "s3cret" not in err and err.count("\n") == 1


def test_an_mta_keeps_every_prefix_and_wide_ones_are_explicit(db: str) -> None:
    status, out, err = run("--db", db, "mta", "add", "--name", "r", "--prefix", "10.25.0.25/32",
                           "--prefix", "fd00:25::25/128")
    assert (status, err) == (0, "")
    assert out.splitlines() == ["NAME  PREFIX", "r     10.25.0.25/32", "r     fd00:25::25/128"]
    status, out, err = run("--db", db, "mta", "add", "--name", "half", "--prefix", "0.0.0.0/1")
    assert (status, out) == (2, "") and "wider than /24" in err and "--wide" in err
    assert run("--db", db, "mta", "add", "--name", "half", "--prefix", "0.0.0.0/1",
               "--wide")[0] == 0
    status, out, _err = run("--db", db, "audit", "--json", "--limit", "1")
    assert '"wide": true' in out
    status, out, _err = run("--db", db, "mta", "remove", "r")
    assert out == "removed MTA r (10.25.0.25/32, fd00:25::25/128)\n"


LAZY_CHECK = """
import sys
from op25b_app.cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
print(" ".join(sorted(m for m in {modules!r} if m in sys.modules)))
"""


def test_help_loads_no_database_layer() -> None:
    modules = ["sqlalchemy", "netaddr", "alembic", "fastapi", "pydantic", "op25b_app.api",
               "op25b_app.cli.commands.subscriber"]
    result = python(LAZY_CHECK.format(argv=["--help"], modules=modules))
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "", result.stderr


def test_common_commands_load_only_what_they_use(db: str) -> None:
    never = ["alembic", "fastapi", "pydantic", "uvicorn", "op25b_app.api",
             "op25b_app.api.server", "op25b_app.core.compile", "op25b_app.service.import_apply"]
    # The controller's snapshot loader is for the controller (status reads one revision
    # through it); showing subscribers needs neither it nor its row checks.
    loader = ["op25b_app.db.snapshot_loader", "op25b_app.db.row_checks"]
    for argv, modules in ((["subscriber", "show", "A"], never + loader),
                          (["subscriber", "list"], never + loader), (["status"], never),
                          (["db", "status"], never)):
        result = python(LAZY_CHECK.format(argv=["--db", db, *argv], modules=modules))
        assert result.stdout.splitlines()[-1] == "", (argv, result.stdout, result.stderr)


def test_every_group_is_listed_with_its_modules_own_help_line() -> None:
    """The placeholders ``op25b --help`` lists say what the real groups say (``api``
    is the REST API's module, which keeps its own text)."""
    real, placeholders = build_parser(), build_parser(only="")
    for parser in (real, placeholders):
        [groups] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        listed = {choice.dest: choice.help for choice in groups._choices_actions}
        assert listed == {group.name: group.summary for group in commands.GROUPS}
    assert api.register.__module__ == "op25b_app.cli.commands.api"
