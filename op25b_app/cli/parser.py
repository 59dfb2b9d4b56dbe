"""Building ``op25b``'s argument parser: the shared options and the helpers every group uses.

Each command group (``op25b_app.cli.commands.*``) registers its own
sub-parser through a ``CommandTree``, so that a group's options sit beside
its handlers; this module holds only what all of them share: a parser whose
errors are one line, the ``--db/--json/--tz/--lock-timeout`` options
(accepted before and after the sub-command), the help layout with an
example in every epilog, and how each command may open the database
(``OpenMode``: a read never creates or writes a file).

Nothing here imports the service's database layer: ``op25b --help`` must
start in a blink (see ``op25b_app.cli.commands`` for the lazy groups).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, NoReturn, TypeAlias

from op25b_app import __version__
from op25b_app.cli.errors import UsageError
from op25b_app.service import DEFAULT_DB_URL, limits

if TYPE_CHECKING:
    from op25b_app.service import PolicyService

DB_ENV_VAR = "OP25B_DB"
TZ_ENV_VAR = "OP25B_TZ"
LOCK_TIMEOUT_ENV_VAR = "OP25B_LOCK_TIMEOUT"

#: A command's work: given the service on the opened database and the parsed
#: arguments, return what to print (see ``op25b_app.cli.output.emit``).
Handler = Callable[["PolicyService", argparse.Namespace], object]
#: A command that needs no database (hashing a token): only the parsed arguments.
StandaloneHandler = Callable[[argparse.Namespace], object]
#: The sub-parsers of a group, where its actions are added.
Actions: TypeAlias = "argparse._SubParsersAction[Parser]"
#: How a command opens the database (``op25b_app.service.OpenMode``): ``read`` never
#: writes or creates the file, ``write`` needs it to exist, ``create`` may make it.
Mode = Literal["read", "write", "create"]

_DB_HELP = f"database URL (default: ${DB_ENV_VAR}, else {DEFAULT_DB_URL})"
_TZ_HELP = (
    f"time zone for times given without an offset and for output, e.g. Asia/Tokyo "
    f"(default: ${TZ_ENV_VAR}, else none: offsets required, output in UTC)"
)
_LOCK_HELP = (
    f"seconds a write waits while another writer holds the policy write lock "
    f"(default: ${LOCK_TIMEOUT_ENV_VAR}, else {limits.DEFAULT_LOCK_TIMEOUT_S})"
)


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, like every other op25b error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError.of(self.prog, message)


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples in epilogs exactly as written."""


def _common_options() -> Parser:
    """``--db/--json/--tz/--lock-timeout`` for every sub-command, so they may follow it too.

    SUPPRESS keeps a value given before the sub-command from being
    overwritten by a default.
    """
    common = Parser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, metavar="URL", help=_DB_HELP)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    common.add_argument("--tz", default=argparse.SUPPRESS, metavar="ZONE", help=_TZ_HELP)
    common.add_argument("--lock-timeout", default=argparse.SUPPRESS, metavar="SECONDS",
                        help=_LOCK_HELP)
    return common


def root_parser() -> tuple[Parser, CommandTree]:
    """The top-level ``op25b`` parser (global options) and the tree to register groups in."""
    parser = Parser(
        prog="op25b",
        description="Manage op25b's subscriber database (Outbound Port 25 Blocking).",
        formatter_class=Formatter,
        epilog=(
            "example:\n"
            "  op25b --db postgresql://op25b@dbhost/op25b subscriber list --json\n"
            f"  {DB_ENV_VAR}=sqlite:////var/lib/op25b/op25b.db op25b db init"
        ),
    )
    parser.add_argument("--version", action="version", version=f"op25b {__version__}")
    parser.add_argument("--db", default=None, metavar="URL", help=_DB_HELP)
    parser.add_argument("--json", action="store_true", default=False, help="print JSON")
    parser.add_argument("--tz", default=None, metavar="ZONE", help=_TZ_HELP)
    parser.add_argument("--lock-timeout", default=None, metavar="SECONDS", help=_LOCK_HELP)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    return parser, CommandTree(groups, _common_options())


class CommandTree:
    """Where command modules add their groups and commands, all in one help layout."""

    def __init__(self, groups: Actions, common: Parser) -> None:
        self.groups = groups
        #: The parent parser carrying ``--db/--json/--tz/--lock-timeout``.
        self.common = common

    def group(self, name: str, help_text: str, example: str) -> Actions:
        """``op25b NAME ACTION``: a group whose actions are added with ``command``."""
        sub = _add_parser(self.groups, name, help_text, help_text, example, self.common)
        return sub.add_subparsers(dest="action", metavar="ACTION", required=True)

    def command(
        self, actions: Actions, name: str, handler: Handler, help_text: str, example: str,
        *, mode: Mode = "write",
    ) -> Parser:
        """``op25b GROUP NAME``, run by ``handler``; returns it for its own arguments.

        ``mode`` says how the database is opened for it (``Mode``).
        """
        cmd = _add_parser(actions, name, help_text, help_text, example, self.common)
        cmd.set_defaults(handler=handler, open_mode=mode)
        return cmd

    def single(
        self, name: str, handler: Handler, help_text: str, description: str, example: str,
        *, mode: Mode = "write",
    ) -> Parser:
        """``op25b NAME``: a command without actions (its description may be longer)."""
        cmd = _add_parser(self.groups, name, help_text, description, example, self.common)
        cmd.set_defaults(handler=handler, open_mode=mode)
        return cmd

    def placeholder(self, name: str, help_text: str) -> None:
        """``NAME`` listed with its help line, its module not imported (``commands``)."""
        self.groups.add_parser(name, help=help_text, add_help=False)


def _add_parser(
    actions: Actions, name: str, help_text: str, description: str, example: str, common: Parser
) -> Parser:
    """One sub-parser in op25b's help layout: the common options and an example."""
    parser: Parser = actions.add_parser(
        name,
        help=help_text,
        description=description,
        formatter_class=Formatter,
        epilog=f"example:\n  {example}",
        parents=[common],
    )
    return parser
