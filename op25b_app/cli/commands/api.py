"""``op25b api``: serve the REST API, or hash a token for its config.

The API is its own process beside the controller; this module only checks
the configuration and starts it (``op25b_app.api.server``), like the rest of
the CLI it parses arguments and returns results.

``op25b api hash-token`` needs no database: it is registered as a
standalone command, which ``main`` runs without opening one (and without
creating an SQLite file in the current directory as a side effect).
"""

from __future__ import annotations

import argparse
import functools
import getpass
import logging
import sys
from pathlib import Path

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
from op25b_app.api.server import StartupRefused, resolve_settings, serve
from op25b_app.api.token_rules import (
    MAX_TOKEN_CHARS,
    MIN_DISTINCT_CHARS,
    MIN_TOKEN_CHARS,
    unusable_reason,
    weakness,
)
from op25b_app.cli.errors import CommandFailed, UsageError
from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree, Formatter, Parser
from op25b_app.service import PolicyService


def register(tree: CommandTree) -> None:
    """Add ``api`` (serve) and ``api hash-token``."""
    api = tree.single(
        "api",
        _serve,
        "run the REST API (its own process beside the controller)",
        "Serve the REST API. Writes go through the same service layer as this CLI;\n"
        "the controllers pick them up from the database. Every request needs a bearer\n"
        "token from the config file. Plain HTTP only on a loopback address.\n"
        "SIGHUP re-reads the config file: token changes apply to the next request.",
        "op25b api --db postgresql://op25b@dbhost/op25b --listen 0.0.0.0:8443 \\\n"
        "      --config /etc/op25b/api.toml --tls-cert api.crt --tls-key api.key\n"
        "  op25b api hash-token --generate --name noc --scope write >> /etc/op25b/api.toml",
    )
    api.add_argument("--listen", default=None, metavar="HOST:PORT",
                     help=f"address to listen on (default: config 'listen', else {DEFAULT_LISTEN})")
    api.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="TOML file with [[tokens]] (name, scope, sha256, optional expires) "
                          "and options; SIGHUP re-reads it")
    api.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                     help="PEM certificate (chain); default: config 'tls_cert'")
    api.add_argument("--tls-key", type=Path, default=None, metavar="FILE",
                     help="PEM private key; default: config 'tls_key'")
    actions = api.add_subparsers(dest="api_action", metavar="ACTION")
    hash_cmd: Parser = actions.add_parser(
        "hash-token",
        help="print the SHA-256 of a token for the config file",
        description=(
            "Read a token from standard input (one line; prompted without echo on a\n"
            "terminal) and print its SHA-256, the form the config file stores. With\n"
            "--generate, make a new random token instead: the token goes to standard\n"
            "error (hand it to the client), a [[tokens]] entry to standard output.\n\n"
            "A token must be visible ASCII (letters, digits, punctuation; no spaces, no\n"
            f"more than {MAX_TOKEN_CHARS} characters): anything else could never log in.\n"
            "Guessable tokens are refused unless --allow-weak is given: shorter than\n"
            f"{MIN_TOKEN_CHARS} characters, fewer than {MIN_DISTINCT_CHARS} different characters, "
            "a shorter string\nrepeated, or letters only."
        ),
        formatter_class=Formatter,
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
    hash_cmd.add_argument("--allow-weak", action="store_true",
                          help="hash a guessable token anyway (e.g. one another system issued)")
    hash_cmd.set_defaults(standalone=functools.partial(_hash_token, hash_cmd.prog))


def _hash_token(prog: str, args: argparse.Namespace) -> Output:
    """The hash of a token read from stdin, or a new token (stderr) and its entry (stdout).

    The new token goes to stderr so that ``>> api.toml`` stores only its hash.
    """
    if args.generate:
        if not valid_token_name(args.name):
            raise UsageError.of(prog, f"--name {args.name!r}: must match {TOKEN_NAME_PATTERN}")
        token = generate_token()
        entry = (f'\n[[tokens]]\nname = "{args.name}"\nscope = "{args.scope}"\n'
                 f'sha256 = "{hash_token(token)}"')
        note = f"token for '{args.name}' (shown once; only its hash is stored): {token}"
        return Output(entry, None, note=note, text_only=True)
    token = _read_token()
    if not token.strip():
        raise UsageError.of(prog, "no token on standard input")
    refusal = unusable_reason(token)
    if refusal is None and not args.allow_weak:
        weak = weakness(token)
        refusal = None if weak is None else (
            f"{weak}, so it could be guessed (use --generate, or --allow-weak to hash it anyway)")
    if refusal is not None:
        raise UsageError.of(prog, refusal)
    return Output(hash_token(token), None, text_only=True)


def _read_token() -> str:
    """One line from the terminal (no echo) or standard input, without its line break.

    Standard input is read as bytes: a token that is not UTF-8 must reach
    ``unusable_reason`` (and its clear refusal), not fail to decode. Only
    ASCII passes that check, so how other bytes decode shapes only the message.
    """
    if sys.stdin.isatty():
        return getpass.getpass("token: ")
    line: bytes = sys.stdin.buffer.readline()
    return line.rstrip(b"\r\n").decode("utf-8", "replace")


def _serve(service: PolicyService, args: argparse.Namespace) -> Output:
    """Handler of ``op25b api``: check the configuration, then serve until stopped.

    ``service`` is the CLI's own; only its time zone (``--tz``/$OP25B_TZ) is
    used, so the API reads times without an offset as every op25b command does.
    """
    _log_at_info()
    try:
        config = load_config(args.config)
        settings = resolve_settings(config, listen=args.listen, tls_cert=args.tls_cert,
                                    tls_key=args.tls_key)
        serve(args.engine, config, settings, tz=service.tz, config_path=args.config)
    except (ConfigError, StartupRefused) as error:
        # CommandFailed is op25b's one-line error on stderr (the service's log) and exit 1.
        raise CommandFailed(f"op25b api not started: {error}") from None
    return Output("", None)


def _log_at_info() -> None:
    """A server's log should show start-up, requests and changes without -v."""
    for name in ("op25b_app", "uvicorn"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
