"""Hostile input against every CLI command and every CSV column (Hypothesis).

The parser is walked, so a command or option added later is fuzzed without
touching this file. Each example runs ``op25b`` in-process against one
SQLite database holding a switch, a subscriber and an MTA. The properties
are the hardening rules of the README ("Limits and refusals"):

* nothing escapes ``main`` (no traceback), the exit status is 0, 1 or 2;
* a refusal is one error line per problem, each naming a field or option;
* a refused write leaves every policy table and the revision as they were.

Commands that serve (``api``, ``customer-page``, ``radius``), probe the
network (``doctor``) or write files at a path the example chose
(``--output``) are left out: they are tested by their own suites.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op25b_app.cli.main import build_parser, main
from op25b_app.db import migrate
from op25b_app.db.engine import make_engine
from op25b_app.db.models import POLICY_TABLES
from op25b_app.service import CSV_COLUMNS

SKIPPED_GROUPS = {"api", "customer-page", "radius", "doctor"}
SKIPPED_OPTIONS = {"--output", "--db", "-h", "--help", "--version", "--verbose", "-v"}

#: Values an operator could mean, and values an attacker would try.
PLAUSIBLE = st.sampled_from([
    "1", "0x1", "2", "3", "7", "4095", "0", "A1", "S1", "broadband", "dialup", "relay",
    "10.0.0.1/32", "198.51.100.0/24", "2001:db8::/56", "1:3", "1:3:7", "edge1",
    "2026-12-01T00:00Z", "2026-12-01T09:00+09:00", "7d", "1h", "Asia/Tokyo", "UTC",
    "own MTA", "qinq", "text", "json", "csv",
])
HOSTILE = st.sampled_from([
    "", " ", "-1", "+5", "1_000", "٣", "0x", "0x10000000000000000", "9" * 30, "1e3",
    "10.0.0.0/08", "10.0.0.0/٣٢", "0.0.0.0/0", "::/0", "10.0.0.1/33", "1:2:3:4",
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00+14:00", "99999999d", "2026-13-01T00:00Z",
    "S14\u200b", "x\u202ey", "a\u2028b", "\x85", "\x1b[31m", "=HYPERLINK(\"x\")", "a/b",
    "x" * 5000, "\udcff", "Ｓ１４", "NUL\x00", "Asia/Nowhere",
])
VALUES = st.one_of(PLAUSIBLE, HOSTILE, st.text(max_size=12))


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...]
            ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        if not path and name in SKIPPED_GROUPS:
            continue
        yield from _leaves(child, (*path, name))


COMMANDS = sorted(_leaves(build_parser(), ()), key=lambda leaf: leaf[0])


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A command of the real parser with a random choice of its options and values."""
    path, parser = draw(st.sampled_from(COMMANDS))
    argv = list(path)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:
            argv.append(draw(VALUES))
            continue
        option = action.option_strings[-1]
        if option in SKIPPED_OPTIONS or not draw(st.booleans()):
            continue
        if action.nargs == 0:
            argv.append(option)
        else:
            values = action.choices and draw(st.booleans())
            argv += [option, draw(st.sampled_from(sorted(map(str, action.choices)))
                              if values else VALUES)]
    return argv


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = {t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                     for t in POLICY_TABLES}
            found["revision"] = int(conn.execute(
                sa.text("SELECT revision FROM policy_revision")).scalar_one())
            return found
    finally:
        engine.dispose()


def _run(url: str, argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["--db", url, *argv], stdout=out, stderr=err)
    return status, err.getvalue()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'op25b.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    for argv in (["switch", "add", "--dpid", "1", "--name", "edge1", "--uplink", "1"],
                 ["subscriber", "add", "--account", "A1", "--type", "broadband",
                  "--attach", "1:3", "--prefix", "10.0.0.1/32"],
                 ["mta", "add", "--name", "relay", "--prefix", "192.0.2.25"]):
        assert _run(url, argv)[0] == 0, argv
    return url


def _check(url: str, argv: list[str], status: int, err: str, before: dict[str, int]) -> None:
    assert status in (0, 1, 2), (argv, status, err)
    assert "Traceback" not in err, (argv, err)
    if status != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines, (argv, "a refusal says why")
        assert all(len(line) <= 2000 for line in lines), argv
        assert _counts(url) == before, (argv, "a refused command wrote something")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=command_lines())
def test_no_command_line_crashes_or_half_writes(db_url: str, argv: list[str]) -> None:
    before = _counts(db_url)
    status, err = _run(db_url, argv)
    _check(db_url, argv, status, err, before)


CSV_CELLS = st.one_of(VALUES, st.sampled_from(["true", "false", "1:3", "qinq", "A2"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(CSV_CELLS, min_size=len(CSV_COLUMNS), max_size=len(CSV_COLUMNS)),
                     min_size=1, max_size=4),
       raw_tail=st.binary(max_size=8), dry_run=st.booleans())
def test_no_csv_file_crashes_or_half_writes(db_url: str, tmp_path_factory: pytest.TempPathFactory,
                                            rows: list[list[str]], raw_tail: bytes,
                                            dry_run: bool) -> None:
    path: Path = tmp_path_factory.mktemp("csv") / "subscribers.csv"
    lines = [",".join(CSV_COLUMNS)] + [",".join(_quoted(cell) for cell in row) for row in rows]
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + raw_tail)
    before = _counts(db_url)
    argv = ["subscriber", "import", str(path), *(["--dry-run"] if dry_run else [])]
    status, err = _run(db_url, argv)
    _check(db_url, argv, status, err, before)
    if dry_run:
        assert _counts(db_url) == before, "a dry run wrote something"


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'
