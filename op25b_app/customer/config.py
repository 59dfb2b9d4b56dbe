"""Configuration of ``op25b customer-page`` (TOML, every key optional)::

    listen = "[::]:8443"                 # --listen wins
    tls_cert = "page.crt"                # relative to this file; --tls-cert wins
    tls_key = "page.key"
    trusted_proxies = ["192.0.2.10/32", "2001:db8::10/128"]   # X-Forwarded-For only from these
    rate_limit = 20                      # answers per source address ...
    rate_window_seconds = 60             # ... refilled evenly over this many seconds
    default_language = "ja"              # when Accept-Language names neither ja nor en
    time_zone = "Asia/Tokyo"             # times on the page; --tz / $OP25B_TZ win
    isp_name = "BB-EAST"                 # shown in the page header
    relay_host = "smtp.bb-east.example"  # the ISP's outgoing mail server, named on the page

Unknown keys are refused (a typo like ``trusted_proxy`` would otherwise
silently ignore every proxy), as are values that are not what they claim.
The listen address and TLS files are checked by the command that starts the
server, with the same rule as the REST API (plain HTTP only on loopback).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import tomllib
from pathlib import Path
from typing import Any, NoReturn

from op25b_app.customer.client_address import IPNetwork
from op25b_app.customer.language import DEFAULT_LANGUAGE, LANGUAGES
from op25b_app.customer.rate_limit import DEFAULT_LIMIT, DEFAULT_WINDOW_SECONDS
from op25b_app.service import ValidationError, parse_zone

_KNOWN_KEYS = frozenset({
    "listen", "tls_cert", "tls_key", "trusted_proxies", "rate_limit", "rate_window_seconds",
    "default_language", "time_zone", "isp_name", "relay_host",
})
#: A name shown on the page; longer text is surely a mistake in the file.
_MAX_TEXT = 100


class CustomerConfigError(Exception):
    """The configuration cannot be used; the message names the key and value."""


@dataclasses.dataclass(frozen=True, slots=True)
class CustomerConfig:
    """Everything the page's process needs besides the database."""

    listen: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    trusted_proxies: tuple[IPNetwork, ...] = ()
    rate_limit: int = DEFAULT_LIMIT
    rate_window_seconds: float = DEFAULT_WINDOW_SECONDS
    default_language: str = DEFAULT_LANGUAGE
    time_zone: dt.tzinfo | None = None
    isp_name: str = ""
    relay_host: str = ""


def load_config(path: Path | None) -> CustomerConfig:
    """Read and check the TOML file at ``path`` (None: the defaults)."""
    if path is None:
        return CustomerConfig()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise CustomerConfigError(
            f"config '{path}': cannot read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise CustomerConfigError(f"config '{path}': not valid TOML: {error}") from None
    return config_from_dict(data, base_dir=path.parent, source=str(path))


def config_from_dict(data: dict[str, Any], *, base_dir: Path, source: str) -> CustomerConfig:
    """Build a ``CustomerConfig`` from parsed TOML, naming the bad key on error."""
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise CustomerConfigError(f"config {source}: unknown key '{unknown[0]}'")
    reader = _Reader(data, source)
    defaults = CustomerConfig()
    language = reader.text("default_language", defaults.default_language)
    if language not in LANGUAGES:
        reader.fail("default_language", language, f"must be one of {', '.join(LANGUAGES)}")
    zone_name = reader.text("time_zone", "")
    return CustomerConfig(
        listen=reader.text("listen", "") or None,
        tls_cert=reader.path("tls_cert", base_dir),
        tls_key=reader.path("tls_key", base_dir),
        trusted_proxies=reader.prefixes("trusted_proxies"),
        rate_limit=int(reader.number("rate_limit", defaults.rate_limit, integer=True)),
        rate_window_seconds=reader.number("rate_window_seconds",
                                          defaults.rate_window_seconds),
        default_language=language,
        time_zone=reader.zone("time_zone", zone_name) if zone_name else None,
        isp_name=reader.text("isp_name", ""),
        relay_host=reader.text("relay_host", ""),
    )


class _Reader:
    """Typed access to the parsed file; every failure names source, key and value."""

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self._data = data
        self._source = source

    def fail(self, key: str, value: object, reason: str) -> NoReturn:
        raise CustomerConfigError(f"config {self._source}: key '{key}' value {value!r}: {reason}")

    def text(self, key: str, default: str) -> str:
        value = self._data.get(key, default)
        if not isinstance(value, str) or len(value) > _MAX_TEXT:
            self.fail(key, value, f"must be a string of at most {_MAX_TEXT} characters")
        return str(value).strip()

    def path(self, key: str, base_dir: Path) -> Path | None:
        value = self.text(key, "")
        return base_dir / value if value else None

    def number(self, key: str, default: float, *, integer: bool = False) -> float:
        value = self._data.get(key, default)
        allowed = isinstance(value, int) or (isinstance(value, float) and not integer)
        if isinstance(value, bool) or not allowed or value <= 0:
            self.fail(key, value, f"must be a positive {'integer' if integer else 'number'}")
        return float(value)

    def prefixes(self, key: str) -> tuple[IPNetwork, ...]:
        value = self._data.get(key, [])
        if not isinstance(value, list):
            self.fail(key, value, "must be an array of prefixes")
        networks: list[IPNetwork] = []
        for item in value:
            try:
                networks.append(ipaddress.ip_network(str(item), strict=True))
            except ValueError as error:
                self.fail(key, item, f"not an IPv4/IPv6 prefix ({error})")
        return tuple(networks)

    def zone(self, key: str, name: str) -> dt.tzinfo:
        try:
            return parse_zone(name, key)
        except ValidationError as error:
            raise CustomerConfigError(f"config {self._source}: {error}") from None
