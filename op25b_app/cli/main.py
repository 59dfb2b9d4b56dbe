"""``op25b``: the operator's command line for the subscriber database.

The CLI is only argument parsing and output formatting; every rule lives in
the service layer (``op25b_app.service``) so the CLI, the REST API and CSV
import cannot drift apart. Each command group is a module of
``op25b_app.cli.commands``; this module runs one command and is the one
place that turns errors into a line on stderr and an exit status
(see ``op25b_app.cli.errors``).

``main`` stays here because the console script (``op25b_app.cli.main:main``)
and ``python -m op25b_app.cli.main`` name it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from op25b_app.cli.commands import register_all
from op25b_app.cli.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    CommandFailed,
    UsageError,
)
from op25b_app.cli.output import Output, display_zone, emit
from op25b_app.cli.parser import DB_ENV_VAR, TZ_ENV_VAR, Parser, root_parser
from op25b_app.service import (
    DEFAULT_DB_URL,
    DatabaseUnavailable,
    ImportRejected,
    PolicyService,
    SchemaNotCurrent,
    ServiceError,
    StoredDataError,
    check_schema,
    open_database,
    parse_zone,
    safe_url,
)

log = logging.getLogger(__name__)


def build_parser() -> Parser:
    """The full ``op25b`` argument parser (exposed for tests and docs)."""
    parser, tree = root_parser()
    register_all(tree)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one ``op25b`` command; returns the exit status (see ``op25b_app.cli.errors``)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        err.write(f"{error}\n")
        return EXIT_BAD_INPUT
    _configure_logging(args.verbose)
    url = args.db or os.environ.get(DB_ENV_VAR) or DEFAULT_DB_URL
    try:
        return _run(args, url, out, err)
    except UsageError as error:
        err.write(f"{error}\n")
        return EXIT_BAD_INPUT
    except (DatabaseUnavailable, StoredDataError, SchemaNotCurrent) as error:
        # Service errors, but not the input's fault: the operator fixes the
        # database (or a row written by raw SQL), not the command.
        err.write(f"op25b: error: {error}\n")
        return EXIT_FAILURE
    except ServiceError as error:
        for line in _error_lines(error):
            err.write(f"op25b: error: {line}\n")
        return EXIT_BAD_INPUT
    except CommandFailed as error:
        err.write(f"op25b: error: {error}\n")
        return EXIT_FAILURE
    except SQLAlchemyError as error:
        # Last resort for a database error the service did not translate.
        log.debug("database error", exc_info=True)
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        err.write(f"op25b: error: database {safe_url(url)}: {first_line}\n")
        return EXIT_FAILURE


def _run(args: argparse.Namespace, url: str, out: TextIO, err: TextIO) -> int:
    """Run the parsed command, print its result, return its exit status.

    Errors propagate to ``main``.

    Handlers find the engine (``args.engine``) and stderr (``args.err``, for
    a progress line) on ``args`` besides their own options.
    """
    standalone = getattr(args, "standalone", None)
    if standalone is not None:
        emit(standalone(args), False, out, err)
        return EXIT_OK
    zone = _display_zone(args)
    engine = open_database(url)
    try:
        args.engine = engine
        args.err = err
        # ``op25b db`` is how the schema becomes current; ``op25b doctor`` reports
        # on it; everything else needs it to be.
        if args.group not in ("db", "doctor"):
            check_schema(engine)
        with display_zone(zone):
            result = args.handler(PolicyService(engine, tz=zone), args)
            emit(result, bool(args.json), out, err)
    finally:
        engine.dispose()
    return _exit_status(result)


def _exit_status(result: object) -> int:
    """EXIT_OK, unless the result carries its own verdict (``Output.exit_status``)."""
    return result.exit_status if isinstance(result, Output) else EXIT_OK


def _display_zone(args: argparse.Namespace) -> dt.tzinfo | None:
    """``--tz``, else $OP25B_TZ, else None (offsets required, output in UTC)."""
    tz_name = args.tz or os.environ.get(TZ_ENV_VAR) or None
    return None if tz_name is None else parse_zone(tz_name, "tz")


def _error_lines(error: ServiceError) -> list[str]:
    """One line per problem: a rejected import lists every bad line, then a summary."""
    if isinstance(error, ImportRejected):
        source = error.source
        prefix = f"{source} " if source else ""
        bad = len({p.line for p in error.problems})
        return [f"{prefix}{p}" for p in error.problems] + [
            f"{source or 'import'}: {bad} bad line(s), nothing imported"
        ]
    return [str(error)]


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if verbosity < 2:
        logging.getLogger("alembic").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
