"""``op25b radius``: run the RADIUS accounting server (its own process, like ``op25b api``).

This module only reads the configuration and starts the server
(``op25b_app.radius.server``); the server writes sessions through the same
service layer as every command, recorded in the audit trail as ``radius``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from op25b_app.cli.commands import summary
from op25b_app.cli.errors import CommandFailed
from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree
from op25b_app.radius.config import DEFAULT_LISTEN, ConfigError, load_config
from op25b_app.radius.server import RadiusServer
from op25b_app.radius.sockets import split_host_port
from op25b_app.service import PolicyService

#: Who the audit trail names for the sessions the server writes.
ACTOR = "radius"


def register(tree: CommandTree) -> None:
    """Add ``radius``."""
    cmd = tree.single(
        "radius",
        _serve,
        summary("radius"),
        "Receive RADIUS accounting (Start, Interim-Update, Stop, Accounting-On/Off) from\n"
        "the configured BNGs and keep the sessions table: who holds which address where.\n"
        "Each Accounting-Response is sent after the change is committed. SIGTERM stops\n"
        "it in order (exit 0); SIGHUP re-reads the client list.",
        "op25b radius --db postgresql://op25b@dbhost/op25b --config /etc/op25b/radius.toml",
    )
    cmd.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="TOML file with [[clients]] (name, address, secret, dpid, port)")
    cmd.add_argument("--listen", action="append", default=None, metavar="HOST:PORT",
                     help=f"UDP address to listen on, repeatable; [::1]:1813 for IPv6 "
                          f"(default: config 'listen', else {DEFAULT_LISTEN})")
    cmd.add_argument("--metrics-listen", default=None, metavar="HOST:PORT",
                     help="address of /metrics (default: config 'metrics_listen'; '' = none)")


def _serve(service: PolicyService, args: argparse.Namespace) -> Output:
    """Handler of ``op25b radius``: check the configuration, then serve until stopped."""
    logger = logging.getLogger("op25b_app")
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        config = load_config(args.config)
        if args.listen:
            config = dataclasses.replace(config, listen=tuple(args.listen))
        if args.metrics_listen is not None:
            config = dataclasses.replace(config, metrics_listen=args.metrics_listen)
        for address in config.listen:
            split_host_port(address)
        if not config.clients:
            raise ConfigError("no [[clients]] configured: every request would be dropped")
        server = RadiusServer(PolicyService(args.engine, actor=ACTOR, tz=service.tz), config,
                              args.config)
        server.serve()
    except ConfigError as error:
        raise CommandFailed(f"op25b radius not started: {error}") from None
    except OSError as error:
        raise CommandFailed(f"op25b radius not started: cannot listen: {error}") from None
    return Output("", None)
