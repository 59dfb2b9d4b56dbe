"""An independent reader of ``ovs-ofctl -O OpenFlow13 dump-flows`` lines.

Written from OVS's output format, not from op25b's formatter, so comparing
the switch's entries with ``op25b policy show --json`` checks both ends.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re

_SHORTHAND = {
    "ip": {"eth_type": 0x0800},
    "ipv6": {"eth_type": 0x86DD},
    "tcp": {"eth_type": 0x0800, "ip_proto": 6},
    "tcp6": {"eth_type": 0x86DD, "ip_proto": 6},
    "udp": {"eth_type": 0x0800, "ip_proto": 17},
    "udp6": {"eth_type": 0x86DD, "ip_proto": 17},
    "mpls": {"eth_type": 0x8847},
    "mplsm": {"eth_type": 0x8848},
}
_FIELDS = {
    "in_port": "in_port",
    "dl_type": "eth_type",
    "nw_proto": "ip_proto",
    "nw_src": "ipv4_src",
    "nw_dst": "ipv4_dst",
    "ipv6_src": "ipv6_src",
    "ipv6_dst": "ipv6_dst",
    "tp_dst": "tcp_dst",
    "dl_vlan": "vlan_vid",
    "nw_frag": "ip_frag",
}
_STATS = {"cookie", "duration", "table", "n_packets", "n_bytes", "idle_age", "hard_age",
          "priority", "reset_counts", "idle_timeout", "hard_timeout"}


@dataclasses.dataclass(frozen=True)
class OfctlFlow:
    cookie: int
    table: int
    priority: int
    match: tuple[tuple[str, object], ...]
    actions: str
    n_packets: int
    duration: float


def _addr(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=False))


def parse_line(line: str) -> OfctlFlow:
    head, _, actions = line.strip().partition(" actions=")
    fields: dict[str, str] = {}
    match: dict[str, object] = {}
    for token in re.split(r",\s*|\s+", head.strip()):
        if not token:
            continue
        if "=" in token:
            key, value = token.split("=", 1)
            if key in _STATS:
                fields[key] = value
            elif key in _FIELDS:
                name = _FIELDS[key]
                if name in ("ipv4_src", "ipv4_dst", "ipv6_src", "ipv6_dst"):
                    match[name] = _addr(value)
                elif name == "vlan_vid":
                    match[name] = 0x1000 | int(value)
                elif name == "ip_frag":
                    match[name] = value
                else:
                    match[name] = int(value, 0)
            else:
                raise ValueError(f"unknown field {key!r} in {line!r}")
        elif token in _SHORTHAND:
            match.update(_SHORTHAND[token])
        else:
            raise ValueError(f"unknown token {token!r} in {line!r}")
    act = actions.strip()
    norm = {"NORMAL": "normal", "drop": "drop"}.get(act)
    if norm is None and act.startswith("goto_table:"):
        norm = "goto:" + act.split(":", 1)[1]
    punt = re.fullmatch(r"meter:(\d+),CONTROLLER:\d+", act)
    if norm is None and punt:
        norm = f"punt:{punt.group(1)}"
    return OfctlFlow(
        cookie=int(fields.get("cookie", "0"), 16),
        table=int(fields.get("table", "0")),
        priority=int(fields.get("priority", "32768")),
        match=tuple(sorted(match.items())),
        actions=norm or act,
        n_packets=int(fields.get("n_packets", "0")),
        duration=float(fields.get("duration", "0s").rstrip("s")),
    )


def comparable(table: int, priority: int, match: dict, actions: str, cookie: int) -> tuple:
    """The identity op25b and OVS must agree on."""
    norm = {}
    for key, value in match.items():
        norm[key] = _addr(value) if isinstance(value, str) and key != "ip_frag" else value
    return (cookie, table, priority, tuple(sorted(norm.items())), actions)
