"""``op25b customer-page``: serve the public "Am I affected?" page.

The page is its own process with its own listen address, so it can face
customers while the REST API stays internal. This module checks the
configuration and starts it (``op25b_app.customer``). The listen address and
TLS files are checked with the REST API's own rule and helpers: plain HTTP
only on a loopback address (behind a reverse proxy on the same machine),
otherwise a certificate and key that load.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from op25b_app.api.config import ConfigError, parse_listen
from op25b_app.api.server import ServerSettings, StartupRefused, tls_settings
from op25b_app.cli.commands import summary
from op25b_app.cli.errors import CommandFailed
from op25b_app.cli.output import Output
from op25b_app.cli.parser import CommandTree
from op25b_app.customer import (
    CustomerConfig,
    CustomerConfigError,
    create_app,
    load_config,
    serve,
)
from op25b_app.service import LineLookup, PolicyService

log = logging.getLogger(__name__)

#: Where the page listens without --listen or a config 'listen'.
DEFAULT_LISTEN = "127.0.0.1:8080"


def register(tree: CommandTree) -> None:
    """Add ``customer-page``."""
    page = tree.single(
        "customer-page",
        _serve,
        summary("customer-page"),
        "Serve the customers' page: each visitor sees whether outbound port 25 is blocked\n"
        "for the line they connect from (their source address, or X-Forwarded-For from\n"
        "the config's trusted_proxies only), in Japanese or English, and what to change in\n"
        "a mail client. It shows nothing about anyone else. Answers are rate-limited per\n"
        "source address. Plain HTTP only on a loopback address.",
        "op25b customer-page --db postgresql://op25b@dbhost/op25b --listen [::]:8443 \\\n"
        "      --config /etc/op25b/customer.toml --tz Asia/Tokyo",
    )
    page.add_argument("--listen", default=None, metavar="HOST:PORT",
                      help=f"address to listen on (default: config 'listen', else "
                           f"{DEFAULT_LISTEN})")
    page.add_argument("--config", type=Path, default=None, metavar="FILE",
                      help="TOML file: trusted_proxies, rate_limit, rate_window_seconds, "
                           "default_language, time_zone, isp_name, relay_host, TLS files")
    page.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                      help="PEM certificate (chain); default: config 'tls_cert'")
    page.add_argument("--tls-key", type=Path, default=None, metavar="FILE",
                      help="PEM private key; default: config 'tls_key'")


def _serve(service: PolicyService, args: argparse.Namespace) -> Output:
    """Handler of ``op25b customer-page``: check the configuration, then serve until stopped.

    Only the CLI service's time zone (``--tz``/$OP25B_TZ) is used; the page
    itself gets a read-only ``LineLookup`` on the same database.
    """
    for name in ("op25b_app", "uvicorn"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        config = load_config(args.config)
        settings = page_settings(config, listen=args.listen, tls_cert=args.tls_cert,
                                 tls_key=args.tls_key)
    except (CustomerConfigError, StartupRefused) as error:
        raise CommandFailed(f"op25b customer-page not started: {error}") from None
    app = create_app(LineLookup(args.engine), config, tz=service.tz, tls=settings.tls)
    url = settings.listen.url(settings.tls)
    log.info("op25b customer page on %s (%d trusted prox%s, %d answers per %g s per source)",
             url, len(config.trusted_proxies), "y" if len(config.trusted_proxies) == 1 else "ies",
             config.rate_limit, config.rate_window_seconds)
    started = serve(app, host=settings.listen.host, port=settings.listen.port,
                    tls_cert=settings.tls_cert, tls_key=settings.tls_key)
    if not started:
        raise CommandFailed(f"op25b customer-page not started: could not listen on {url}")
    log.info("op25b customer page stopped")
    return Output("", None)


def page_settings(config: CustomerConfig, *, listen: str | None, tls_cert: Path | None,
                  tls_key: Path | None) -> ServerSettings:
    """Merge the command line over the config file and apply the REST API's TLS rule."""
    try:
        address = parse_listen(listen or config.listen or DEFAULT_LISTEN)
    except ConfigError as error:
        raise StartupRefused(str(error)) from None
    return tls_settings(address, tls_cert or config.tls_cert, tls_key or config.tls_key,
                        exposed="customers' answers about their lines",
                        proxy="behind a TLS-terminating proxy (listed in trusted_proxies)")
