"""Configuration of ``op25b radius``: listen addresses, clients (NAS/BNG) and session rules.

TOML, like ``op25b api``'s config::

    listen = ["127.0.0.1:1813", "[::1]:1813"]   # --listen wins
    metrics_listen = "127.0.0.1:9326"            # "" = no /metrics
    missed_interims = 3            # a session expires after this many missed interims
    default_interim_interval = 300 # seconds, when the BNG sends no Acct-Interim-Interval
                                   # (0: such sessions never expire by themselves)
    sweep_interval = 10            # seconds between expiry sweeps
    realms = ["isp.example"]       # "user@isp.example" -> account "user"
    strip_any_realm = false        # true: strip every "@realm"

    [[clients]]
    name = "bng1"                  # the session's NAS in the database and the audit
    address = "192.0.2.10"         # or a prefix: "192.0.2.0/28"; IPv4 or IPv6
    secret = "s3cret"              # or secret_file = "bng1.secret" (relative to this file)
    dpid = "0x1"                   # where its subscribers' traffic enters the edge
    port = 5
    vlan = 100                     # optional
    [clients.ports]                # optional: NAS-Port-Id -> port or "port:vlan"
    "ge-0/0/1.100" = "7:100"

A client's secret is never logged nor shown: ``Client``'s repr leaves it out
and every message names the client, not the secret. The file is re-read on
SIGHUP; a file that fails to load keeps the clients that were in force.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from pathlib import Path
from typing import Any

DEFAULT_LISTEN = "127.0.0.1:1813"
DEFAULT_METRICS_LISTEN = "127.0.0.1:9326"

_KEYS = frozenset({"listen", "metrics_listen", "missed_interims", "default_interim_interval",
                   "sweep_interval", "realms", "strip_any_realm", "clients", "batch_max"})
_CLIENT_KEYS = frozenset({"name", "address", "secret", "secret_file", "dpid", "port", "vlan",
                          "ports"})


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key (never a secret)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Where:
    """A switch port (and VLAN) a client's subscribers enter by."""

    port: int
    vlan: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Client:
    """One NAS/BNG allowed to send accounting, and where its subscribers enter."""

    name: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    secret: bytes = dataclasses.field(repr=False)
    dpid: int | None = None
    where: Where | None = None
    ports: dict[str, Where] = dataclasses.field(default_factory=dict)

    def place_for(self, nas_port_id: str | None) -> Where | None:
        """The port for a NAS-Port-Id (the map first, then the client's own port)."""
        if nas_port_id is not None and nas_port_id in self.ports:
            return self.ports[nas_port_id]
        return self.where


@dataclasses.dataclass(frozen=True)
class RadiusConfig:
    """The whole file, checked."""

    listen: tuple[str, ...] = (DEFAULT_LISTEN,)
    metrics_listen: str = DEFAULT_METRICS_LISTEN
    missed_interims: float = 3.0
    default_interim_interval: int = 300
    sweep_interval: float = 10.0
    realms: frozenset[str] = frozenset()
    strip_any_realm: bool = False
    batch_max: int = 500
    clients: tuple[Client, ...] = ()

    def client_for(self, address: str) -> Client | None:
        """The client whose address or prefix holds ``address`` (longest prefix wins)."""
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        best: Client | None = None
        for client in self.clients:
            if ip.version == client.network.version and ip in client.network and (
                    best is None or client.network.prefixlen > best.network.prefixlen):
                best = client
        return best

    def account_for(self, user_name: str) -> str:
        """The account a User-Name names: the realm stripped when configured."""
        user, at, realm = user_name.rpartition("@")
        if at and user and (self.strip_any_realm or realm.lower() in self.realms):
            return user
        return user_name


def load_config(path: Path | None) -> RadiusConfig:
    """Read and check ``path`` (None: the defaults, with no client)."""
    if path is None:
        return RadiusConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) in {path}: {', '.join(sorted(unknown))}")
    listen = data.get("listen", [DEFAULT_LISTEN])
    if isinstance(listen, str):
        listen = [listen]
    clients = tuple(_client(path, i, c) for i, c in enumerate(_list(data, "clients")))
    names = [c.name for c in clients]
    if len(set(names)) != len(names):
        raise ConfigError("two [[clients]] have the same name")
    return RadiusConfig(
        listen=tuple(str(x) for x in listen),
        metrics_listen=str(data.get("metrics_listen", DEFAULT_METRICS_LISTEN)),
        missed_interims=_number(data, "missed_interims", 3.0, low=1),
        default_interim_interval=int(_number(data, "default_interim_interval", 300, low=0)),
        sweep_interval=_number(data, "sweep_interval", 10.0, low=0.1),
        realms=frozenset(str(r).lower() for r in _list(data, "realms")),
        strip_any_realm=bool(data.get("strip_any_realm", False)),
        batch_max=int(_number(data, "batch_max", 500, low=1)),
        clients=clients,
    )


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"'{key}' must be a list")
    return value


def _number(data: dict[str, Any], key: str, default: float, low: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ConfigError(f"'{key}' must be a number >= {low}, not {value!r}")
    return float(value)


def _client(path: Path, index: int, raw: Any) -> Client:
    """One [[clients]] entry; errors name it by its name or position, never the secret."""
    label = f"[[clients]] #{index + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{label} must be a table")
    label = f"client '{raw.get('name', index + 1)}'"
    unknown = set(raw) - _CLIENT_KEYS
    if unknown:
        raise ConfigError(f"{label}: unknown key(s) {', '.join(sorted(unknown))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise ConfigError(f"{label}: 'name' must be text of 1..64 characters")
    try:
        network = ipaddress.ip_network(str(raw.get("address", "")), strict=False)
    except ValueError:
        raise ConfigError(f"{label}: 'address' must be an IPv4/IPv6 address or prefix") from None
    dpid = raw.get("dpid")
    try:
        dpid = None if dpid is None else int(str(dpid), 0)
        where = None if raw.get("port") is None else Where(int(raw["port"]), _vlan(raw))
        ports = {str(k): _where(v) for k, v in dict(raw.get("ports", {})).items()}
    except (TypeError, ValueError):
        raise ConfigError(f"{label}: 'dpid', 'port', 'vlan' and 'ports' must be numbers "
                          "(ports: PORT or \"PORT:VLAN\")") from None
    if dpid is None and (where is not None or ports):
        raise ConfigError(f"{label}: a port needs the switch's 'dpid'")
    return Client(name, network, _secret(path, label, raw), dpid, where, ports)


def _vlan(raw: dict[str, Any]) -> int | None:
    return None if raw.get("vlan") is None else int(raw["vlan"])


def _where(value: Any) -> Where:
    if isinstance(value, int) and not isinstance(value, bool):
        return Where(value)
    port, _, vlan = str(value).partition(":")
    return Where(int(port), int(vlan) if vlan else None)


def _secret(path: Path, label: str, raw: dict[str, Any]) -> bytes:
    if "secret_file" in raw:
        file = path.parent / str(raw["secret_file"])
        try:
            secret = file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"{label}: cannot read secret_file {file}: "
                              f"{error.strerror}") from None
    else:
        secret = raw.get("secret", "")
    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"{label}: needs a non-empty 'secret' or 'secret_file'")
    return secret.encode("utf-8")
