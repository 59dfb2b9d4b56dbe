"""The ``op25b api`` subcommand: start the REST API, or hash a token for its config.

``op25b_app.cli.main`` registers this with ``add_api_command``; like the rest of
the CLI, this module only parses arguments and writes results.

``op25b api hash-token`` needs no database, but ``op25b``'s main opens and
checks the database before it runs any handler. So, like ``--version``, the
hash-token subcommand acts as soon as it has been parsed and exits:
its parser class runs it at the end of parsing.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from op25b_app.api.config import (
    DEFAULT_LISTEN,
    SCOPE_READ,
    SCOPES,
    TOKEN_NAME_PATTERN,
    ConfigError,
    generate_token,
    hash_token,
    load_config,
    valid_token_name,
)

log = logging.getLogger(__name__)


def add_api_command(groups: argparse._SubParsersAction[Any],
                    common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``api`` (and ``api hash-token``) to op25b's subcommands."""
    api: argparse.ArgumentParser = groups.add_parser(
        "api",
        help="run the REST API (its own process beside the controller)",
        description=(
            "Serve the REST API. Writes go through the same service layer as this CLI;\n"
            "the controllers pick them up from the database. Every request needs a bearer\n"
            "token from the config file. Plain HTTP only on a loopback address."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "example:\n"
            "  op25b api --db postgresql://op25b@dbhost/op25b --listen 0.0.0.0:8443 \\\n"
            "      --config /etc/op25b/api.toml --tls-cert api.crt --tls-key api.key\n"
            "  op25b api hash-token --generate --name noc --scope write >> /etc/op25b/api.toml"
        ),
        parents=[common],
    )
    api.add_argument("--listen", default=None, metavar="HOST:PORT",
                     help=f"address to listen on (default: config 'listen', else {DEFAULT_LISTEN})")
    api.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="TOML file with [[tokens]] (name, scope, sha256) and options")
    api.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                     help="PEM certificate (chain); default: config 'tls_cert'")
    api.add_argument("--tls-key", type=Path, default=None, metavar="FILE",
                     help="PEM private key; default: config 'tls_key'")
    api.set_defaults(handler=_serve)
    actions = api.add_subparsers(dest="api_action", metavar="ACTION",
                                 parser_class=_HashTokenParser)
    hash_cmd = actions.add_parser(
        "hash-token",
        help="print the SHA-256 of a token for the config file",
        description=(
            "Read a token from standard input (one line; prompted without echo on a\n"
            "terminal) and print its SHA-256, the form the config file stores. With\n"
            "--generate, make a new random token instead: the token goes to standard\n"
            "error (hand it to the client), a [[tokens]] entry to standard output."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "example:\n"
            "  op25b api hash-token < token.txt\n"
            "  op25b api hash-token --generate --name noc --scope write >> api.toml"
        ),
    )
    hash_cmd.add_argument("--generate", action="store_true",
                          help="make a new random token and print a [[tokens]] entry")
    hash_cmd.add_argument("--name", default="api", help="token name for --generate")
    hash_cmd.add_argument("--scope", choices=SCOPES, default=SCOPE_READ,
                          help="token scope for --generate (default: read)")
    return api


class _HashTokenParser(argparse.ArgumentParser):
    """Parser of ``hash-token`` that runs the command when parsing is done (see module doc)."""

    def error(self, message: str) -> NoReturn:
        from op25b_app.cli.main import UsageError

        raise UsageError(f"{self.prog}: error: {message} (see --help)")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        self.exit(_hash_token(parsed, self))


def _hash_token(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.generate:
        if not valid_token_name(args.name):
            parser.error(f"--name {args.name!r}: must match {TOKEN_NAME_PATTERN}")
        token = generate_token()
        sys.stderr.write(f"token for '{args.name}' (shown once; only its hash is stored): "
                         f"{token}\n")
        sys.stdout.write(f'\n[[tokens]]\nname = "{args.name}"\nscope = "{args.scope}"\n'
                         f'sha256 = "{hash_token(token)}"\n')
        return 0
    if sys.stdin.isatty():
        token = getpass.getpass("token: ")
    else:
        token = sys.stdin.readline().rstrip("\r\n")
    if not token.strip():
        parser.error("no token on standard input")
    sys.stdout.write(hash_token(token) + "\n")
    return 0


def _serve(service: Any, args: argparse.Namespace) -> Any:
    """Handler of ``op25b api``: check the configuration, then serve until stopped.

    ``service`` is the CLI's own; only its time zone (``--tz``/$OP25B_TZ) is
    used, so the API reads times without an offset as every op25b command does.
    """
    from op25b_app.api.server import StartupRefused, resolve_settings, serve
    from op25b_app.cli.main import CommandFailed

    _log_at_info()
    try:
        config = load_config(args.config)
        settings = resolve_settings(config, listen=args.listen, tls_cert=args.tls_cert,
                                    tls_key=args.tls_key)
        serve(args.engine, config, settings, tz=getattr(service, "tz", None))
    except (ConfigError, StartupRefused) as error:
        # CommandFailed is op25b's one-line error on stderr (the service's log) and exit 1.
        raise CommandFailed(f"op25b api not started: {error}") from None
    return ("", None)


def _log_at_info() -> None:
    """A server's log should show start-up, requests and changes without -v."""
    for name in ("op25b_app", "uvicorn"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
