"""``op25b``: the operator's command line for the subscriber database.

The CLI is only argument parsing and output formatting; every rule lives in
the service layer (``op25b_app.service``) so the CLI, the REST API and CSV
import cannot drift apart. Each command group is a module of
``op25b_app.cli.commands``; this module runs one command and is the one
place that turns errors into a line on stderr and an exit status
(see ``op25b_app.cli.errors``).

Start-up is kept short: the arguments are parsed in two steps (which group,
then that group's parser alone, see ``parse_arguments``) and the service's
database layer is imported only once a command needs it, so ``op25b --help``
never loads SQLAlchemy and no command loads the REST API or Alembic unless
it runs them.

``main`` stays here because the console script (``op25b_app.cli.main:main``)
and ``python -m op25b_app.cli.main`` name it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from op25b_app import service
from op25b_app.cli.commands import register_all
from op25b_app.cli.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    CommandFailed,
    UsageError,
)
from op25b_app.cli.output import Output, display_zone, emit, error_line
from op25b_app.cli.parser import (
    DB_ENV_VAR,
    LOCK_TIMEOUT_ENV_VAR,
    TZ_ENV_VAR,
    Parser,
    root_parser,
)
from op25b_app.service import (
    DEFAULT_DB_URL,
    DatabaseUnavailable,
    ImportRejected,
    SchemaNotCurrent,
    ServiceError,
    StoredDataError,
)

log = logging.getLogger(__name__)

#: Argument destinations whose field name in messages differs from the dest.
_FIELD_NAMES = {"type_name": "type", "attachment_id": "id", "prefixes": "prefix",
                "where": "attach"}


def build_parser(only: str | None = None) -> Parser:
    """The ``op25b`` argument parser (exposed for tests and docs).

    ``only`` builds just that group for real, the others as placeholders
    (``register_all``); None builds every group.
    """
    parser, tree = root_parser()
    register_all(tree, only)
    return parser


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` importing only the command group it names.

    A parser whose groups are all placeholders finds the group (and answers
    ``op25b --help``, ``--version`` and a missing or unknown group itself);
    then that group's real parser parses everything.
    """
    chosen, _rest = build_parser(only="").parse_known_args(argv)
    return build_parser(only=chosen.group).parse_args(argv)


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
        args = parse_arguments(sys.argv[1:] if argv is None else list(argv))
    except UsageError as error:
        _error(err, str(error))
        return EXIT_BAD_INPUT
    _configure_logging(args.verbose)
    url = args.db or os.environ.get(DB_ENV_VAR) or DEFAULT_DB_URL
    try:
        return _run(args, url, out, err)
    except UsageError as error:
        _error(err, str(error))
        return EXIT_BAD_INPUT
    except (DatabaseUnavailable, StoredDataError, SchemaNotCurrent) as error:
        # Service errors, but not the input's fault: the operator fixes the
        # database (or a row written by raw SQL), not the command.
        _error(err, f"op25b: error: {error}")
        return EXIT_FAILURE
    except ServiceError as error:
        for line in _error_lines(error):
            _error(err, f"op25b: error: {line}")
        return EXIT_BAD_INPUT
    except CommandFailed as error:
        _error(err, f"op25b: error: {error}")
        return EXIT_FAILURE
    except Exception as error:
        if not _is_database_error(error):
            raise
        # Last resort for a database error the service did not translate.
        log.debug("database error", exc_info=True)
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        _error(err, f"op25b: error: database {service.safe_url(url)}: {first_line}")
        return EXIT_FAILURE


def _run(args: argparse.Namespace, url: str, out: TextIO, err: TextIO) -> int:
    """Run the parsed command, print its result, return its exit status.

    Errors propagate to ``main``.

    Handlers find the engine (``args.engine``) and stderr (``args.err``, for
    a progress line) on ``args`` besides their own options.
    """
    _check_arguments(args)
    standalone = getattr(args, "standalone", None)
    if standalone is not None:
        emit(standalone(args), False, out, err)
        return EXIT_OK
    zone = _display_zone(args)
    engine = service.open_database(url, mode=getattr(args, "open_mode", "write"),
                                   lock_timeout=_lock_timeout(args))
    try:
        args.engine = engine
        args.err = err
        # ``op25b db`` is how the schema becomes current; ``op25b doctor`` reports
        # on it; everything else needs it to be.
        if args.group not in ("db", "doctor"):
            service.check_schema(engine)
        with display_zone(zone):
            result = args.handler(service.PolicyService(engine, tz=zone), args)
            emit(result, bool(args.json), out, err)
    finally:
        engine.dispose()
    return _exit_status(result)


def _exit_status(result: object) -> int:
    """EXIT_OK, unless the result carries its own verdict (``Output.exit_status``)."""
    return result.exit_status if isinstance(result, Output) else EXIT_OK


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse an argument (or environment value) that is not UTF-8, naming it.

    Python hands such bytes over as lone surrogates; stored, printed or sent
    to the database they fail deep inside a driver, so they stop here.
    """
    for field, text in _texts(vars(args)):
        if field != "db":  # a URL may hold a password: open_database names it without
            service.check_utf8(field, text)
    for name, variable in (("tz", TZ_ENV_VAR), ("lock-timeout", LOCK_TIMEOUT_ENV_VAR)):
        service.check_utf8(name, os.environ.get(variable, ""))


def _texts(values: dict[str, object]) -> Iterator[tuple[str, str]]:
    """(field, text) of every text in parsed arguments, nested lists and tuples included."""
    for dest, value in values.items():
        field = _FIELD_NAMES.get(dest, dest.replace("_", "-"))
        if isinstance(value, str):
            yield field, value
        elif hasattr(value, "_asdict"):  # an --attach point and what belongs to it
            yield from _texts(value._asdict())
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from _texts({dest: item})


def _display_zone(args: argparse.Namespace) -> dt.tzinfo | None:
    """``--tz``, else $OP25B_TZ, else None (offsets required, output in UTC)."""
    tz_name = args.tz or os.environ.get(TZ_ENV_VAR) or None
    return None if tz_name is None else service.parse_zone(tz_name, "tz")


def _lock_timeout(args: argparse.Namespace) -> int:
    """``--lock-timeout``, else $OP25B_LOCK_TIMEOUT, else the default (seconds)."""
    given = args.lock_timeout or os.environ.get(LOCK_TIMEOUT_ENV_VAR) or None
    if given is None:
        return service.limits.DEFAULT_LOCK_TIMEOUT_S
    return service.parse_lock_timeout(given, "lock-timeout")


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


def _error(err: TextIO, text: str) -> None:
    """Write one error line: escaped and bounded (``output.error_line``)."""
    err.write(error_line(text) + "\n")


def _is_database_error(error: Exception) -> bool:
    """Whether ``error`` is SQLAlchemy's (checked without importing it when it is not)."""
    exc = sys.modules.get("sqlalchemy.exc")
    return exc is not None and isinstance(error, exc.SQLAlchemyError)


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if verbosity < 2:
        logging.getLogger("alembic").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
