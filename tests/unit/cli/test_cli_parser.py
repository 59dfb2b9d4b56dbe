"""The parser each command module builds, checked without a database.

Every group registers its own sub-parser; these tests build each one alone,
so a group that forgets a handler, an example or an action fails here
rather than only in an end-to-end run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from op25b_app import __version__
from op25b_app.cli import commands
from op25b_app.cli.commands import (
    api,
    audit,
    connection_type,
    customer,
    db,
    doctor,
    enforcement,
    export,
    mta,
    policy,
    radius,
    report,
    session,
    status,
    subscriber,
    switch,
)
from op25b_app.cli.errors import UsageError
from op25b_app.cli.main import build_parser
from op25b_app.cli.output import Output, emit
from op25b_app.cli.parser import Parser, root_parser
from op25b_app.cli.progress import ProgressLine
from op25b_app.service import PolicyPreview

REPO = Path(__file__).resolve().parents[3]

GROUPS: list[tuple[ModuleType, str, list[str]]] = [
    (db, "db", ["init", "upgrade", "status"]),
    (status, "status", []),
    (audit, "audit", []),
    (switch, "switch", ["add", "set", "list", "remove"]),
    (connection_type, "type", ["add", "list"]),
    (subscriber, "subscriber", ["add", "list", "show", "set-type", "exempt", "unexempt",
                                "remove", "attach", "detach", "import", "export"]),
    (mta, "mta", ["add", "list", "remove"]),
    (enforcement, "enforcement", ["show", "set"]),
    (report, "report", ["affected", "suspects"]),
    (policy, "policy", ["show"]),
    (api, "api", ["hash-token"]),
    (customer, "customer-page", []),
    # Dynamic subscribers (radius)
    (session, "session", ["list", "show", "add", "end", "expire", "who"]),
    (radius, "radius", []),
    (doctor, "doctor", []),
    (export, "export", ["ranges"]),
]


def _children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _alone(module: ModuleType) -> Parser:
    parser, tree = root_parser()
    module.register(tree)
    return parser


@pytest.mark.parametrize(("module", "name", "actions"), GROUPS, ids=[g[1] for g in GROUPS])
def test_each_group_registers_its_actions_with_handlers(
    module: ModuleType, name: str, actions: list[str]
) -> None:
    groups = _children(_alone(module))
    assert list(groups) == [name]
    group = groups[name]
    assert list(_children(group)) == actions
    # A group with required actions runs nothing itself; status, audit and api do.
    runnable = [group] if not actions or name == "api" else []
    runnable += list(_children(group).values())
    for parser in runnable:
        handler = parser.get_default("handler") or parser.get_default("standalone")
        assert callable(handler), parser.prog
        assert "example:\n  op25b " in parser.format_help(), parser.prog


def test_groups_are_listed_in_the_documented_order() -> None:
    assert list(_children(build_parser())) == [name for _, name, _ in GROUPS]
    assert [group.name for group in commands.GROUPS] == [name for _, name, _ in GROUPS]


@pytest.mark.parametrize(
    "argv",
    [
        ["--db", "sqlite:///x.db", "--json", "--tz", "UTC", "switch", "list"],
        ["switch", "list", "--db", "sqlite:///x.db", "--json", "--tz", "UTC"],
        ["switch", "--db", "sqlite:///x.db", "list", "--json", "--tz", "UTC"],
    ],
)
def test_common_options_go_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.db, args.json, args.tz) == ("sqlite:///x.db", True, "UTC")
    assert args.handler.__module__ == switch.__name__


def test_prefixes_belong_to_the_preceding_attach() -> None:
    args = build_parser().parse_args(
        ["subscriber", "attach", "A1", "--attach", "1:3", "--prefix", "10.0.0.0/8",
         "--attach", "1:4:100", "--prefix", "10.1.0.0/16", "--prefix", "10.2.0.0/16"]
    )
    assert args.attach == [("1:3", ["10.0.0.0/8"], []),
                           ("1:4:100", ["10.1.0.0/16", "10.2.0.0/16"], [])]


def test_carries_belong_to_the_preceding_attach() -> None:
    args = build_parser().parse_args(
        ["subscriber", "add", "--account", "A1", "--type", "broadband",
         "--attach", "1:3", "--carries", "mpls,qinq", "--prefix", "10.0.0.0/8",
         "--attach", "1:4:100", "--prefix", "10.1.0.0/16", "--carries", "pppoe",
         "--carries", " qinq ,", "--attach", "1:5"]
    )
    assert args.attach == [("1:3", ["10.0.0.0/8"], ["mpls", "qinq"]),
                           ("1:4:100", ["10.1.0.0/16"], ["pppoe", "qinq"]),
                           ("1:5", [], [])]
    specs = subscriber._attachment_specs(args.attach)
    assert [(s.port, s.vlan, s.prefixes, s.carries) for s in specs] == [
        (3, None, ("10.0.0.0/8",), ("mpls", "qinq")),
        (4, 100, ("10.1.0.0/16",), ("pppoe", "qinq")),
        (5, None, (), ()),
    ]
    with pytest.raises(UsageError, match="--carries mpls must follow an --attach"):
        build_parser().parse_args(["subscriber", "attach", "A1", "--carries", "mpls"])


def test_usage_error_is_one_line_naming_the_command() -> None:
    with pytest.raises(UsageError) as caught:
        build_parser().parse_args(["subscriber", "attach", "A1", "--prefix", "10.0.0.0/8"])
    message = str(caught.value)
    assert message.startswith("op25b subscriber attach: error: --prefix 10.0.0.0/8 must follow")
    assert message.endswith("(see --help)") and "\n" not in message


def test_hash_token_is_standalone_and_api_serves() -> None:
    args = build_parser().parse_args(["api", "hash-token", "--generate"])
    assert callable(args.standalone)
    args = build_parser().parse_args(["api", "--listen", "127.0.0.1:8025"])
    assert getattr(args, "standalone", None) is None and callable(args.handler)


# ------------------------------------------------------------------ output


def _emitted(result: object, as_json: bool) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    emit(result, as_json, out, err)
    return out.getvalue(), err.getvalue()


def test_a_note_goes_to_stderr_with_the_text_only() -> None:
    result = Output("line 1\nline 2", {"n": 2}, note="op25b: context")
    assert _emitted(result, False) == ("line 1\nline 2\n", "op25b: context\n")
    assert _emitted(result, True) == ('{\n  "n": 2\n}\n', "")


def test_text_only_output_ignores_json_and_empty_text_prints_nothing() -> None:
    assert _emitted(Output("abc", None, text_only=True), True) == ("abc\n", "")
    assert _emitted(Output("", [1]), False) == ("", "")
    assert _emitted(Output("", [1]), True) == ("[\n  1\n]\n", "")
    assert _emitted([], False) == ("(none)\n", "")


def test_options_note_names_the_controller_or_the_defaults() -> None:
    at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    preview = PolicyPreview(dpid=0x1A, revision=7, at=at, next_change=None, entries=(),
                            options_from="host:6653")
    assert policy.options_note(preview) == (
        "op25b: policy for dpid 0x1a at revision 7 rendered with the options of controller "
        "host:6653"
    )
    defaults = PolicyPreview(0x1A, 7, at, None, (), None)
    assert policy.options_note(defaults).endswith(
        "rendered with op25b's default options (no controller has reported options for this "
        "switch)"
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_and_erased_at_the_end() -> None:
    piped = io.StringIO()
    ProgressLine(piped, "import f")("check", ProgressLine.MIN_TOTAL, ProgressLine.MIN_TOTAL)
    assert piped.getvalue() == ""
    tty = _Terminal()
    progress = ProgressLine(tty, "import f")
    progress("check", 10, 10)  # too small to take seconds: no line
    assert tty.getvalue() == ""
    progress("check", ProgressLine.MIN_TOTAL, ProgressLine.MIN_TOTAL)
    assert tty.getvalue().startswith("\rimport f: check 5000/5000 (100%)")
    progress.close()
    assert tty.getvalue().endswith("\r")


@pytest.mark.parametrize("module", ["op25b_app.cli", "op25b_app.cli.main"])
def test_python_dash_m_runs_the_command(module: str) -> None:
    result = subprocess.run([sys.executable, "-m", module, "--version"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, f"op25b {__version__}")
