"""Configuration of ``op25b api``: tokens, TLS, listen address and limits.

The file is TOML (read with the standard library's ``tomllib``)::

    listen = "127.0.0.1:8025"        # optional; --listen wins
    max_body_bytes = 1048576         # optional; larger requests get 413
    tls_cert = "/etc/op25b/api.crt"  # optional; --tls-cert wins
    tls_key = "/etc/op25b/api.key"   # optional; --tls-key wins

    [[tokens]]
    name = "noc"                     # recorded as the actor of every change
    scope = "write"                  # "read" or "write"
    sha256 = "9f86d0..."             # hex SHA-256 of the token (op25b api hash-token)
    expires = 2026-12-31T00:00:00+09:00   # optional; refused (401) from then on

An expiry is a TOML date-time (or a string) with an explicit UTC offset: a
token that stops working at the wrong hour because the API host runs in
another zone is an outage, so a time without an offset is refused.

``op25b api`` re-reads this file on SIGHUP (``reload``): token changes apply
to the next request; listen and TLS settings only at a restart.

Tokens are stored only as SHA-256 hashes so that a leaked config file (or a
backup of /etc) does not hand out write access to the policy. A plain hash is
enough because tokens are long random strings, not passwords a dictionary
could guess - ``hash-token`` refuses guessable ones (``token_rules``);
generate them with ``op25b api hash-token --generate``.

Relative TLS paths are relative to the config file, so a config and its
certificate can move together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import re
import secrets
import tomllib
from pathlib import Path
from typing import Any

from op25b_app.api.token_rules import unusable_reason, weakness

SCOPE_READ = "read"
SCOPE_WRITE = "write"
SCOPES: tuple[str, ...] = (SCOPE_READ, SCOPE_WRITE)
#: Default request size limit: a subscriber with hundreds of attachments fits
#: easily; bulk loads go through CSV import, not one giant request.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_LISTEN = "127.0.0.1:8025"
#: Bytes of randomness in a generated token (256 bits).
TOKEN_BYTES = 32

_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Token names appear in the audit trail as ``token:NAME``.
TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$"
_TOKEN_NAME = re.compile(TOKEN_NAME_PATTERN)
_KNOWN_KEYS = frozenset({"listen", "max_body_bytes", "tls_cert", "tls_key", "tokens"})
_TOKEN_KEYS = frozenset({"name", "scope", "sha256", "expires"})


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and value."""


@dataclasses.dataclass(frozen=True, slots=True)
class TokenEntry:
    """One configured bearer token: who it is, what it may do, its hash."""

    name: str
    scope: str
    sha256: bytes
    #: From this time on the token is refused; None: it never expires.
    expires: dt.datetime | None = None

    @property
    def can_write(self) -> bool:
        """Whether this token may change the policy."""
        return self.scope == SCOPE_WRITE

    def expired(self, now: dt.datetime) -> bool:
        """Whether the token is past its expiry at ``now`` (an aware time)."""
        return self.expires is not None and now >= self.expires


@dataclasses.dataclass(frozen=True, slots=True)
class ListenAddress:
    """A parsed ``HOST:PORT``."""

    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        """True only for addresses no other machine can reach.

        ``localhost`` is accepted by name; any other host name is treated as
        non-loopback, because what it resolves to can change under us.
        """
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def url(self, tls: bool) -> str:
        """The base URL clients use (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if tls else 'http'}://{host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class ApiConfig:
    """Everything the API process needs besides the database URL."""

    tokens: tuple[TokenEntry, ...] = ()
    listen: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    tls_cert: Path | None = None
    tls_key: Path | None = None


def hash_token(token: str) -> str:
    """The hex SHA-256 of ``token``, the form the config file stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def valid_token_name(name: object) -> bool:
    """Whether ``name`` may name a token (it is recorded as ``token:NAME``)."""
    return isinstance(name, str) and _TOKEN_NAME.match(name) is not None


def generate_token() -> str:
    """A new random token (URL-safe, 256 bits) that ``hash-token`` would accept.

    About one in 7,700 draws is letters only, which ``token_rules`` calls
    word-like; such a draw is simply replaced.
    """
    while True:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        if weakness(token) is None and unusable_reason(token) is None:
            return token


def parse_listen(text: str) -> ListenAddress:
    """``HOST:PORT`` or ``[IPv6]:PORT`` -> ``ListenAddress``; ``ConfigError`` otherwise."""
    value = text.strip()
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)", value) or re.fullmatch(r"([^:\[\]]+):(\d+)", value)
    if match is None:
        raise ConfigError(f"listen '{text}': expected HOST:PORT (IPv6 as [ADDR]:PORT)")
    host, port_text = match.group(1), match.group(2)
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ConfigError(f"listen '{text}': port out of range 0..65535")
    return ListenAddress(host, port)


def load_config(path: Path | None) -> ApiConfig:
    """Read and check the TOML file at ``path`` (None: an empty configuration)."""
    if path is None:
        return ApiConfig()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"config '{path}': cannot read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config '{path}': not valid TOML: {error}") from None
    return config_from_dict(data, base_dir=path.parent, source=str(path))


def config_from_dict(data: dict[str, Any], *, base_dir: Path, source: str) -> ApiConfig:
    """Build an ``ApiConfig`` from parsed TOML, naming the bad key on error."""
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        # A typo such as "token" for "tokens" would otherwise start an API
        # without the tokens the operator meant to configure.
        raise ConfigError(f"config {source}: unknown key '{unknown[0]}'")
    listen = data.get("listen")
    if listen is not None:
        if not isinstance(listen, str):
            raise ConfigError(f"config {source}: key 'listen' value {listen!r}: must be a string")
        parse_listen(listen)
    max_body = data.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
        raise ConfigError(
            f"config {source}: key 'max_body_bytes' value {max_body!r}: must be a positive integer"
        )
    return ApiConfig(
        tokens=_parse_tokens(data.get("tokens", []), source),
        listen=listen,
        max_body_bytes=max_body,
        tls_cert=_path_key(data, "tls_cert", base_dir, source),
        tls_key=_path_key(data, "tls_key", base_dir, source),
    )


def _path_key(data: dict[str, Any], key: str, base_dir: Path, source: str) -> Path | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"config {source}: key '{key}' value {value!r}: must be a file path")
    return base_dir / value


def _parse_tokens(raw: Any, source: str) -> tuple[TokenEntry, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"config {source}: 'tokens' must be an array of tables ([[tokens]])")
    entries: list[TokenEntry] = []
    names: set[str] = set()
    hashes: set[bytes] = set()
    for index, item in enumerate(raw):
        where = f"config {source}: tokens[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a table with name, scope, sha256")
        unknown = sorted(set(item) - _TOKEN_KEYS)
        if unknown:
            hint = " (store the hash, never the token)" if unknown[0] == "token" else ""
            raise ConfigError(f"{where}: unknown key '{unknown[0]}'{hint}")
        name, scope, digest = item.get("name"), item.get("scope"), item.get("sha256")
        if not isinstance(name, str) or not valid_token_name(name):
            raise ConfigError(
                f"{where}: key 'name' value {name!r}: must match {_TOKEN_NAME.pattern}"
            )
        if name in names:
            raise ConfigError(f"{where}: key 'name' value '{name}': used twice")
        if scope not in SCOPES:
            raise ConfigError(f"{where}: key 'scope' value {scope!r}: must be 'read' or 'write'")
        if not isinstance(digest, str) or not _HEX_SHA256.match(digest.lower()):
            # The value is not repeated: it may be a token pasted in the wrong
            # place, and this message goes to the log (also on a SIGHUP reload).
            raise ConfigError(
                f"{where}: key 'sha256': must be 64 hex digits "
                "(make one with 'op25b api hash-token')"
            )
        raw_digest = bytes.fromhex(digest)
        if raw_digest in hashes:
            # Two names for one token would make the recorded actor ambiguous.
            raise ConfigError(f"{where}: key 'sha256': the same token is configured twice")
        names.add(name)
        hashes.add(raw_digest)
        expires = parse_expiry(item.get("expires"), f"{where}: key 'expires'")
        entries.append(TokenEntry(name=name, scope=scope, sha256=raw_digest, expires=expires))
    return tuple(entries)


def parse_expiry(value: object, where: str) -> dt.datetime | None:
    """A token's expiry (TOML date-time or ISO 8601 string, with offset) in UTC; None: absent."""
    if value is None:
        return None
    when = value
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            when = None
    if not isinstance(when, dt.datetime):
        raise ConfigError(f"{where} value {value!r}: must be a date-time such as "
                          "2026-12-31T00:00:00+09:00")
    if when.utcoffset() is None:
        raise ConfigError(f"{where} value '{value}': needs an explicit UTC offset, "
                          "e.g. +09:00 or Z")
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:
        raise ConfigError(f"{where} value '{value}': out of range in UTC") from None
