"""The op25b command line: parsing, output, and one-line errors with exit status 2."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from op25b_app import __version__
from op25b_app.cli.main import build_parser, main
from op25b_app.db import migrate
from op25b_app.db import status as db_status
from op25b_app.db.engine import make_engine
from op25b_app.db.models import POLICY_TABLES

REPO = Path(__file__).resolve().parents[3]
EXAMPLE_ADD = [
    "subscriber",
    "add",
    "--account",
    "A100",
    "--name",
    "Taro",
    "--type",
    "broadband",
    "--attach",
    "1:3",
    "--prefix",
    "10.1.0.5/32",
    "--prefix",
    "2001:db8:100::/56",
]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            result = {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in POLICY_TABLES
            }
            result["revision"] = int(
                conn.execute(sa.text("SELECT revision FROM policy_revision")).scalar_one()
            )
            return result
    finally:
        engine.dispose()


@pytest.fixture
def db(db_url: str) -> str:
    """A migrated database with one edge switch (uplinks 1, 2)."""
    assert run("--db", db_url, "db", "init")[0] == 0
    status, _, err = run(
        "--db",
        db_url,
        "switch",
        "add",
        "--dpid",
        "1",
        "--name",
        "edge1",
        "--uplink",
        "1",
        "--uplink",
        "2",
    )
    assert status == 0, err
    return db_url


def test_db_init_is_idempotent(db_url: str) -> None:
    for _ in range(2):
        status, out, err = run("--db", db_url, "db", "init")
        assert (status, err) == (0, "")
        assert f"schema at revision {migrate.head_revision()}" in out
    status, out, _ = run("--db", db_url, "db", "status", "--json")
    assert json.loads(out)["schema_revision"] == migrate.head_revision()


def test_example_workflow(db: str) -> None:
    status, out, err = run("--db", db, *EXAMPLE_ADD)
    assert (status, err) == (0, "")
    assert "10.1.0.5/32" in out and "2001:db8:100::/56" in out

    status, out, _ = run("--db", db, "subscriber", "list", "--json")
    listed = json.loads(out)
    assert [s["account"] for s in listed] == ["A100"]
    assert [a["prefix"] for a in listed[0]["attachments"]] == ["10.1.0.5/32", "2001:db8:100::/56"]

    status, out, err = run(
        "--db",
        db,
        "subscriber",
        "exempt",
        "A100",
        "--reason",
        "own mail server",
        "--until",
        "2099-12-31T00:00+09:00",
    )
    assert (status, err) == (0, "")
    status, out, _ = run(
        "subscriber", "show", "A100", "--json", "--db", db
    )  # --db after the command
    shown = json.loads(out)
    assert shown["exempt_until"] == "2099-12-30T15:00:00+00:00"
    assert shown["blocked_now"] is False

    status, out, _ = run("--db", db, "subscriber", "list")
    header, row = out.splitlines()
    assert header.split()[:3] == ["ACCOUNT", "TYPE", "BLOCKED"]
    assert row.split()[:4] == ["A100", "broadband", "no", "yes"]

    assert run("--db", db, "mta", "add", "--name", "relay1", "--prefix", "192.0.2.25")[0] == 0
    assert run("--db", db, "type", "add", "ftth", "--blocked", "--description", "fibre")[0] == 0
    assert run("--db", db, "subscriber", "set-type", "A100", "ftth")[0] == 0
    assert run("--db", db, "subscriber", "unexempt", "A100")[0] == 0
    status, out, _ = run("--db", db, "type", "list", "--json")
    assert {t["name"] for t in json.loads(out)} == {"broadband", "dialup", "ftth"}
    status, out, _ = run("--db", db, "subscriber", "remove", "A100")
    assert (status, out.strip()) == (0, "removed subscriber A100 and 2 attachment(s)")
    assert run("--db", db, "mta", "remove", "relay1")[0] == 0
    assert run("--db", db, "switch", "remove", "0x1")[0] == 0
    assert counts(db)["switches"] == 0


def test_multiple_attach_points_take_their_own_prefixes(db: str) -> None:
    status, out, err = run(
        "--db",
        db,
        "subscriber",
        "add",
        "--account",
        "M1",
        "--type",
        "broadband",
        "--json",
        "--attach",
        "0x1:3:100",
        "--prefix",
        "10.3.0.0/24",
        "--attach",
        "1:4",
        "--attach",
        "1:5",
        "--prefix",
        "10.5.0.1/32",
        "--prefix",
        "10.5.0.2/32",
    )
    assert (status, err) == (0, "")
    got = [(a["port"], a["vlan"], a["prefix"]) for a in json.loads(out)["attachments"]]
    assert got == [
        (3, 100, "10.3.0.0/24"),
        (4, None, None),
        (5, None, "10.5.0.1/32"),
        (5, None, "10.5.0.2/32"),
    ]


def test_carries_belong_to_their_attach_and_show_lists_them(db: str) -> None:
    status, out, err = run(
        "--db", db, "subscriber", "add", "--account", "C1", "--type", "broadband",
        "--attach", "1:3", "--prefix", "10.3.0.0/24",
        "--attach", "1:9:300", "--carries", "qinq,mpls", "--carries", "qinq",
    )
    assert (status, err) == (0, "")
    status, out, _ = run("--db", db, "subscriber", "show", "C1")
    table = out.split("attachments:\n", 1)[1].splitlines()
    assert table[0].split() == ["ID", "SWITCH", "DPID", "PORT", "VLAN", "PREFIX", "CARRIES"]
    assert table[1].split()[3:] == ["3", "*", "10.3.0.0/24", "-"]
    assert table[2].split()[3:] == ["9", "300", "*", "mpls,qinq"]
    status, out, _ = run("--db", db, "subscriber", "show", "C1", "--json")
    assert [a["carries"] for a in json.loads(out)["attachments"]] == [[], ["mpls", "qinq"]]
    # subscriber attach takes them too.
    assert run("--db", db, "subscriber", "attach", "C1", "--attach", "1:4",
               "--carries", "pppoe")[0] == 0
    status, out, _ = run("--db", db, "subscriber", "show", "C1", "--json")
    assert json.loads(out)["attachments"][-1]["carries"] == ["pppoe"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["subscriber", "add", "--account", "A1", "--type", "broadband", "--attach", "1:3",
             "--carries", "mpls,vxlan"],
            "op25b: error: field 'carries' value 'vxlan': "
            "not an encapsulation op25b knows (known: mpls, pppoe, qinq)",
        ),
        (
            [
                "subscriber",
                "add",
                "--account",
                "A1",
                "--type",
                "broadband",
                "--attach",
                "1:3",
                "--prefix",
                "10.0.0.300/24",
            ],
            "op25b: error: field 'prefix' value '10.0.0.300/24': not a valid IPv4/IPv6 prefix",
        ),
        (
            ["subscriber", "add", "--account", "A1", "--type", "broadband", "--attach", "1:3:5000"],
            "op25b: error: field 'vlan' value '5000': out of range 0..4095",
        ),
        (
            ["subscriber", "add", "--account", "A1", "--type", "broadband", "--attach", "1"],
            "op25b: error: field 'attach' value '1': expected DPID:PORT or DPID:PORT:VLAN",
        ),
        (
            ["subscriber", "add", "--account", "A1", "--type", "broadband", "--attach", "1:1"],
            "op25b: error: field 'port' value '1': "
            "is an uplink of switch 'edge1', not a subscriber port",
        ),
        (
            ["subscriber", "add", "--account", "A1", "--type", "cable", "--attach", "1:3"],
            "op25b: error: field 'type' value 'cable': "
            "no such connection type (known: broadband, dialup)",
        ),
        (
            ["switch", "add", "--dpid", "0xnope", "--name", "x"],
            "op25b: error: field 'dpid' value '0xnope': not a datapath id (decimal or 0x-hex)",
        ),
        (
            ["mta", "add", "--name", "r", "--prefix", "bogus"],
            "op25b: error: field 'prefix' value 'bogus': not a valid IPv4/IPv6 prefix",
        ),
        (
            ["subscriber", "show", "NOPE"],
            "op25b: error: subscriber with account 'NOPE' not found",
        ),
        (
            ["policy", "show", "--dpid", "-1"],
            "op25b: error: field 'dpid' value '-1': not a datapath id (decimal or 0x-hex)",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(
    db: str, argv: list[str], expected: str
) -> None:
    before = counts(db)
    status, out, err = run("--db", db, *argv)
    assert (status, out, err) == (2, "", expected + "\n")
    assert counts(db) == before


def test_naive_until_is_rejected(db: str) -> None:
    assert run("--db", db, *EXAMPLE_ADD)[0] == 0
    before = counts(db)
    status, _, err = run(
        "--db", db, "subscriber", "exempt", "A100", "--reason", "x", "--until", "2026-12-31T00:00"
    )
    assert status == 2
    assert err == (
        "op25b: error: field 'until' value '2026-12-31T00:00': "
        "needs an explicit UTC offset, e.g. +09:00 or Z\n"
    )
    assert counts(db) == before


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (
            [
                "subscriber",
                "add",
                "--account",
                "A1",
                "--type",
                "broadband",
                "--prefix",
                "10.0.0.0/8",
            ],
            "--prefix 10.0.0.0/8 must follow an --attach",
        ),
        (
            ["subscriber", "add", "--account", "A1", "--type", "broadband", "--carries", "mpls"],
            "--carries mpls must follow an --attach",
        ),
        (
            ["subscriber", "add", "--type", "broadband"],
            "the following arguments are required: --account",
        ),
        (
            ["switch", "add", "--dpid", "1", "--name", "x", "--role", "spine"],
            "invalid choice: 'spine'",
        ),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(db: str, argv: list[str], fragment: str) -> None:
    status, out, err = run("--db", db, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and fragment in err and "(see --help)" in err


def test_uninitialised_database_says_what_to_run(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        (tmp_path / "op25b.db").touch()  # an empty file: no schema yet
    status, out, err = run("--db", db_url, "subscriber", "list")
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "run 'op25b db upgrade'" in err


def test_db_url_from_environment(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OP25B_DB", db_url)
    assert run("db", "init")[0] == 0
    status, out, _ = run("type", "list")
    assert status == 0 and "broadband" in out


def test_default_db_is_op25b_db_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OP25B_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    assert run("db", "init")[0] == 0
    assert (tmp_path / "op25b.db").exists()


def test_policy_show(db: str) -> None:
    assert run("--db", db, *EXAMPLE_ADD)[0] == 0
    assert run("--db", db, "mta", "add", "--name", "relay1", "--prefix", "192.0.2.25/32")[0] == 0
    status, out, err = run(
        "--db", db, "policy", "show", "--dpid", "0x1", "--at", "2026-06-01T00:00Z"
    )
    assert status == 0
    # stdout is only the entries (diffable against ovs-ofctl); whose options, on stderr.
    revision = counts(db)["revision"]
    assert err == (f"op25b: policy for dpid 0x1 at revision {revision} rendered with op25b's "
                   "default options (no controller has reported options for this switch)\n")
    lines = out.splitlines()
    assert lines and all(line.startswith("cookie=0x") for line in lines)
    assert any("nw_dst=192.0.2.25" in line for line in lines)
    assert any("nw_src=10.1.0.5" in line and "drop" in line for line in lines)
    status, out, err = run("--db", db, "policy", "show", "--dpid", "1", "--json")
    assert (status, err) == (0, "")
    shown = json.loads(out)
    assert set(shown) == {"dpid", "dpid_hex", "revision", "at", "next_change", "options_from",
                          "entries", "quarantined"}
    assert shown["quarantined"] == []
    assert (shown["dpid"], shown["dpid_hex"], shown["revision"]) == (1, f"{1:016x}", revision)
    assert shown["options_from"] is None
    assert [e["text"] for e in shown["entries"]] == lines
    assert set(shown["entries"][0]) >= {"table", "priority", "match", "actions", "cookie"}


def test_policy_show_names_the_controller_whose_options_it_used(db: str) -> None:
    assert run("--db", db, *EXAMPLE_ADD)[0] == 0
    engine = make_engine(db)
    try:
        now = dt.datetime.now(dt.UTC)
        db_status.write_controller(engine, "ctl-a:6653", 4242, now, now, None, None,
                                   policy_options={"table_id": 5})
        db_status.write_switches(engine, "ctl-a:6653",
                                 [db_status.SwitchRow(1, True, now, None, 0, None)], now)
    finally:
        engine.dispose()
    code, out, err = run("--db", db, "policy", "show", "--dpid", "1")
    assert code == 0
    assert err.endswith(" rendered with the options of controller ctl-a:6653\n")
    assert err.count("\n") == 1
    assert out and all(", table=5," in line for line in out.splitlines())
    code, out, _ = run("--db", db, "policy", "show", "--dpid", "1", "--json")
    shown = json.loads(out)
    assert shown["options_from"] == "ctl-a:6653"
    assert {e["table"] for e in shown["entries"]} == {5}


def test_policy_show_names_a_quarantined_row_and_shows_the_rest(db: str) -> None:
    assert run("--db", db, *EXAMPLE_ADD)[0] == 0
    engine = make_engine(db)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE attachments SET prefix = '10.0.0.300/24' WHERE prefix = '10.1.0.5/32'"
        )
    engine.dispose()
    status, out, err = run("--db", db, "policy", "show", "--dpid", "1")
    assert status == 0 and "tp_dst=25" in out  # the rest of the policy is there
    assert "10.0.0.300" not in out
    assert "quarantined" in err
    assert "table 'attachments'" in err and "field 'prefix' value '10.0.0.300/24'" in err


def test_version() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_all_parsers(child))
    return found


def test_every_command_help_has_an_example() -> None:
    parsers = _all_parsers(build_parser())
    assert len(parsers) > 20
    for parser in parsers:
        assert "example:\n  op25b " in parser.format_help(), parser.prog


def test_console_script_subprocess(tmp_path: Path) -> None:
    """The real entry point, in a fresh interpreter: exit 2 and one stderr line."""
    url = f"sqlite:///{tmp_path / 'sub.db'}"
    base = [sys.executable, "-m", "op25b_app.cli.main", "--db", url]
    ok = subprocess.run([*base, "db", "init"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [*base, "switch", "add", "--dpid", "1", "--name", "edge1", "--uplink", "99999999999"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr == (
        "op25b: error: field 'uplink' value '99999999999': out of range 1..4294967040\n"
    )
    version = subprocess.run(
        [*base, "--version"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert version.stdout.strip() == f"op25b {__version__}"


@pytest.mark.parametrize("url", ["not a url", "nosuchdb://x/y"])
def test_bad_db_url_is_bad_input(url: str) -> None:
    status, out, err = run("--db", url, "type", "list")
    assert status == 2 and out == ""
    assert err.startswith(f"op25b: error: field 'db' value '{url}': not a usable database URL")
    assert err.count("\n") == 1


def test_unopenable_database_is_one_line_exit_1(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    status, out, err = run("--db", f"sqlite:///{tmp_path}/a-file/x.db", "db", "init")
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and f"cannot create the directory {tmp_path}/a-file" in err
