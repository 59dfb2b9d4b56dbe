"""Start-up checks and the HTTP(S) server of ``op25b api``.

The checks refuse to start rather than run insecurely, each with a message
that says what to change:

* no token configured - every request would be refused anyway, and an
  operator who forgot ``--config`` should hear it at start, not from 401s;
* plain HTTP on a non-loopback address - tokens would cross the network in
  clear text; give a certificate and key (``--tls-cert/--tls-key`` or
  ``tls_cert``/``tls_key`` in the config file);
* a certificate without a key (or the reverse), or files that do not load.

uvicorn serves the app: one process, sync routes in its thread pool (the
database is the bottleneck, not Python), SIGINT/SIGTERM shut it down cleanly,
SIGHUP reloads the configuration file (``live_config``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import signal
import ssl
from pathlib import Path
from types import FrameType

from sqlalchemy.engine import Engine

from op25b_app.api.config import (
    DEFAULT_LISTEN,
    ApiConfig,
    ConfigError,
    ListenAddress,
    parse_listen,
)
from op25b_app.api.live_config import LiveConfig

log = logging.getLogger(__name__)


class StartupRefused(Exception):
    """The API will not start with this configuration; the message says why and what to do."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServerSettings:
    """What to listen on and how, after command line and config file are merged."""

    listen: ListenAddress
    tls_cert: Path | None
    tls_key: Path | None

    @property
    def tls(self) -> bool:
        """Whether the server speaks HTTPS."""
        return self.tls_cert is not None


def resolve_settings(config: ApiConfig, *, listen: str | None, tls_cert: Path | None,
                     tls_key: Path | None) -> ServerSettings:
    """Merge the command line over the config file and apply the start-up checks."""
    if not config.tokens:
        raise StartupRefused(
            "no API token is configured, so every request would be refused: give --config FILE "
            "with at least one [[tokens]] entry (name, scope, sha256; make the hash with "
            "'op25b api hash-token')"
        )
    try:
        address = parse_listen(listen or config.listen or DEFAULT_LISTEN)
    except ConfigError as error:
        raise StartupRefused(str(error)) from None
    return tls_settings(address, tls_cert or config.tls_cert, tls_key or config.tls_key,
                        exposed="bearer tokens")


def tls_settings(address: ListenAddress, cert: Path | None, key: Path | None, *,
                 exposed: str, proxy: str = "such as 127.0.0.1") -> ServerSettings:
    """The listen address with its TLS pair, checked: both or neither, readable and
    matching; plain HTTP only on loopback, because ``exposed`` would cross the network."""
    if (cert is None) != (key is None):
        missing = ("key (--tls-key or tls_key)" if key is None
                   else "certificate (--tls-cert or tls_cert)")
        raise StartupRefused(f"TLS needs both a certificate and a key; the {missing} is missing")
    if cert is not None and key is not None:
        _check_tls_files(cert, key)
    elif not address.is_loopback:
        raise StartupRefused(
            f"refusing plain HTTP on {address.host}:{address.port}: {exposed} would cross the "
            "network unencrypted. Give --tls-cert and --tls-key (or tls_cert/tls_key in the "
            f"config file), or listen on a loopback address {proxy}"
        )
    return ServerSettings(listen=address, tls_cert=cert, tls_key=key)


def _check_tls_files(cert: Path, key: Path) -> None:
    """Load the pair once now, so a bad path or a mismatched key is a clear start-up error.

    Each file is opened first: ``ssl`` reports a missing file as
    ``FileNotFoundError`` without a file name, which read "TLS file 'None'".
    """
    for label, path in (("certificate", cert), ("key", key)):
        _check_readable(f"TLS {label}", path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (ssl.SSLError, OSError) as error:
        raise StartupRefused(
            f"TLS certificate '{cert}' and key '{key}' cannot be loaded: {error}"
        ) from None


def _check_readable(what: str, path: Path) -> None:
    """Refuse, naming ``what`` and its path, unless ``path`` is a file this process can read."""
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise StartupRefused(f"{what} file '{path}' does not exist") from None
    except IsADirectoryError:
        raise StartupRefused(f"{what} file '{path}' is a directory") from None
    except OSError as error:
        raise StartupRefused(
            f"{what} file '{path}' cannot be read: {error.strerror or error}"
        ) from None


def serve(engine: Engine, config: ApiConfig, settings: ServerSettings,
          tz: dt.tzinfo | None = None, config_path: Path | None = None) -> None:
    """Run the API until SIGINT/SIGTERM; returns after a clean shutdown.

    ``tz``: the zone of times given without an offset (see ``create_app``).
    ``config_path``: the file ``config`` was read from; SIGHUP reads it again
    (``LiveConfig.reload``).
    """
    import uvicorn

    from op25b_app.api.app import create_app

    live = LiveConfig(config, config_path)
    app = create_app(engine, live, tz=tz)
    server_config = uvicorn.Config(
        app,
        host=settings.listen.host,
        port=settings.listen.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        # op25b configures logging; uvicorn's loggers propagate into it.
        log_config=None,
        server_header=False,
        proxy_headers=False,
    )
    log.info(
        "op25b api on %s (database %s, %d token(s), max body %d bytes; SIGHUP reloads %s)",
        settings.listen.url(settings.tls),
        engine.url.render_as_string(hide_password=True),
        len(config.tokens),
        config.max_body_bytes,
        config_path or "nothing",
    )
    server = uvicorn.Server(server_config)
    previous = {sig: signal.signal(sig, _on_stop_signal) for sig in _STOP_SIGNALS}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP,
                                            functools.partial(_on_reload_signal, live))
    try:
        server.run()
    except _StopSignal as stop:
        log.info("op25b api stopped by signal %d", stop.signum)
        return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        # uvicorn has logged why (address in use, permission denied, ...).
        raise StartupRefused(f"could not listen on {settings.listen.url(settings.tls)}")
    log.info("op25b api stopped")


def _on_reload_signal(live: LiveConfig, _signum: int, _frame: FrameType | None) -> None:
    """SIGHUP: reload the configuration on the event loop, between requests' steps.

    The handler runs in the main thread, which is the event loop's; the
    reload itself is queued onto the loop rather than run inside the handler,
    so it never interleaves with a middleware halfway through a request.
    Before the loop runs (start-up) it reloads at once.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        live.reload()
        return
    loop.call_soon_threadsafe(live.reload)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _StopSignal(Exception):
    """SIGINT/SIGTERM outside uvicorn's own handling (see ``_on_stop_signal``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_stop_signal(signum: int, _frame: FrameType | None) -> None:
    """Turn a stop signal into a clean return, so service managers see exit status 0.

    uvicorn handles SIGINT/SIGTERM while it runs and shuts down gracefully,
    then re-raises the signal to the handler that was installed before it -
    with Python's defaults that is a KeyboardInterrupt traceback or death by
    SIGTERM (status -15). This handler receives that re-raise (and a signal
    arriving before uvicorn started) and ends ``serve`` normally instead.
    """
    raise _StopSignal(signum)
