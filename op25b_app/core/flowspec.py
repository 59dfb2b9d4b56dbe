"""One OpenFlow 1.3 flow entry as plain, hashable data.

``FlowSpec`` is what the policy compiler produces and what the reconciler
compares with the entries a switch reports, so two rules shape it:

* **Canonical.** Equal entries must compare (and hash) equal however they were
  written, or the reconciler would churn. ``FlowSpec.make`` therefore orders
  match fields in one fixed order, writes every address as ``str(cidr)`` with
  its prefix length (``"10.0.0.5/32"``, host bits cleared) and leaves out an
  address field whose prefix is ``/0``: that is a wildcard, and a switch never
  reports it back (``ovs-ofctl`` drops ``nw_src=0.0.0.0/0`` too).
* **Only what a switch accepts.** OpenFlow 1.3 rejects a match whose
  prerequisites are missing (``OFPBMC_BAD_PREREQ``), e.g. ``tcp_dst`` without
  ``ip_proto=6``. Refusing these here, with the field and value named, turns a
  switch-side error into a local one at compile time.

The dataclass constructor itself does no checking: it is the trusted, fast
path for code (the compiler) that builds canonical matches directly. Anything
else should call ``FlowSpec.make``.

``str(spec)`` renders the entry the way ``ovs-ofctl -O OpenFlow13 dump-flows``
does (without the statistics), so log lines can be compared with a switch by
eye. Checked against ``ovs-ofctl parse-flow`` from Open vSwitch 3.1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import netaddr

from op25b_app.core import constants, limits
from op25b_app.core.actions import (
    DROP_KIND,
    GOTO_KIND,
    NORMAL_KIND,
    PUNT_KIND,
    PUNT_MAX_LEN,
    Action,
)
from op25b_app.core.errors import FlowSpecError
from op25b_app.core.limits import MAX_TABLE_ID

#: A canonical match: (field, value) pairs in FIELD_ORDER, addresses as strings.
Match = tuple[tuple[str, int | str], ...]

#: The match fields op25b uses, in canonical order.
FIELD_ORDER: tuple[str, ...] = (
    "in_port",
    "eth_type",
    "vlan_vid",
    "ip_proto",
    "ip_frag",
    "ipv4_src",
    "ipv4_dst",
    "ipv6_src",
    "ipv6_dst",
    "tcp_dst",
)
_FIELD_RANK: dict[str, int] = {name: rank for rank, name in enumerate(FIELD_ORDER)}

#: Address fields and the IP version each one carries.
ADDRESS_FIELDS: dict[str, int] = {
    "ipv4_src": 4,
    "ipv4_dst": 4,
    "ipv6_src": 6,
    "ipv6_dst": 6,
}
#: The eth_type an address field of each IP version requires.
_ETH_TYPE_FOR_VERSION: dict[int, int] = {
    4: constants.ETH_TYPE_IPV4,
    6: constants.ETH_TYPE_IPV6,
}
#: Inclusive value ranges of the integer fields. in_port stops at OFPP_MAX:
#: reserved ports are never subscriber-facing.
_INT_FIELD_RANGE: dict[str, tuple[int, int]] = {
    "in_port": (limits.MIN_PORT, limits.MAX_PORT),
    "eth_type": (0, 0xFFFF),
    "vlan_vid": (constants.OFPVID_PRESENT, constants.OFPVID_PRESENT | 0x0FFF),
    "ip_proto": (0, 0xFF),
    "tcp_dst": (0, 0xFFFF),
}

MAX_COOKIE = 2**64 - 1
#: ovs-ofctl leaves the priority out when it equals OpenFlow's default.
OFP_DEFAULT_PRIORITY = 0x8000

#: ovs-ofctl shorthands for (eth_type, ip_proto); None = no ip_proto matched.
_OVS_SHORTHAND: dict[tuple[int, int | None], str] = {
    (constants.ETH_TYPE_IPV4, None): "ip",
    (constants.ETH_TYPE_IPV4, 1): "icmp",
    (constants.ETH_TYPE_IPV4, constants.IP_PROTO_TCP): "tcp",
    (constants.ETH_TYPE_IPV4, constants.IP_PROTO_UDP): "udp",
    (constants.ETH_TYPE_IPV4, 132): "sctp",
    (constants.ETH_TYPE_IPV6, None): "ipv6",
    (constants.ETH_TYPE_IPV6, 58): "icmp6",
    (constants.ETH_TYPE_IPV6, constants.IP_PROTO_TCP): "tcp6",
    (constants.ETH_TYPE_IPV6, constants.IP_PROTO_UDP): "udp6",
    (constants.ETH_TYPE_IPV6, 132): "sctp6",
}
_OVS_ETH_TYPE_ONLY: dict[int, str] = {0x0806: "arp", 0x8035: "rarp", 0x8847: "mpls",
                                       0x8848: "mplsm"}
_OVS_ADDRESS_NAME: dict[str, str] = {
    "ipv4_src": "nw_src",
    "ipv4_dst": "nw_dst",
    "ipv6_src": "ipv6_src",
    "ipv6_dst": "ipv6_dst",
}


def _check_int(field: str, value: object, low: int, high: int) -> int:
    """Return ``value`` if it is an int in [low, high]; bool is refused because
    ``True`` silently meaning 1 would hide a caller's mistake."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FlowSpecError(field, value, "must be an integer")
    if not low <= value <= high:
        raise FlowSpecError(field, value, f"must be in {low}..{high}")
    return value


def _check_int_field(field: str, value: object) -> int:
    """Range-check an integer match field; vlan_vid gets its own message because
    forgetting OFPVID_PRESENT is the classic mistake (it then matches untagged
    frames, or nothing)."""
    if (
        field == "vlan_vid"
        and isinstance(value, int)
        and not isinstance(value, bool)
        and not value & constants.OFPVID_PRESENT
    ):
        raise FlowSpecError(field, value, "needs the OFPVID_PRESENT bit (0x1000 | vid)")
    low, high = _INT_FIELD_RANGE[field]
    return _check_int(field, value, low, high)


def check_actions(table: int, actions: object) -> Action:
    """``actions`` checked for an entry in ``table`` (goto and sample point forward)."""
    return Action.parse(actions, table)


def _canonical_address(field: str, value: object) -> netaddr.IPNetwork:
    """Parse an address field value to its cidr; refuse the wrong IP version."""
    if isinstance(value, bool) or not isinstance(
        value, (str, netaddr.IPNetwork, netaddr.IPAddress)
    ):
        # netaddr would read an int as an address; an int here is a mistake.
        raise FlowSpecError(field, value, "must be an address or prefix")
    try:
        network = netaddr.IPNetwork(value).cidr
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise FlowSpecError(field, value, f"not an address or prefix ({exc})") from exc
    if network.version != ADDRESS_FIELDS[field]:
        raise FlowSpecError(field, value, f"is not IPv{ADDRESS_FIELDS[field]}")
    return network


def _check_ip_frag(value: object) -> str:
    """``ip_frag`` is one of the names of ``constants.IP_FRAG_MATCHES`` (OVS's nw_frag)."""
    if not isinstance(value, str) or value not in constants.IP_FRAG_MATCHES:
        raise FlowSpecError("ip_frag", value,
                            f"must be one of {', '.join(constants.IP_FRAG_MATCHES)}")
    return value


def _check_prerequisites(values: Mapping[str, int | str | netaddr.IPNetwork]) -> None:
    """Refuse matches OpenFlow 1.3 would reject with OFPBMC_BAD_PREREQ."""
    eth_type = values.get("eth_type")
    if "ip_frag" in values and eth_type not in _ETH_TYPE_FOR_VERSION.values():
        raise FlowSpecError("ip_frag", values["ip_frag"], "needs eth_type 0x0800 or 0x86dd")
    if "ip_proto" in values and eth_type not in _ETH_TYPE_FOR_VERSION.values():
        raise FlowSpecError("ip_proto", values["ip_proto"], "needs eth_type 0x0800 or 0x86dd")
    for field, version in ADDRESS_FIELDS.items():
        if field in values and eth_type != _ETH_TYPE_FOR_VERSION[version]:
            raise FlowSpecError(
                field, str(values[field]), f"needs eth_type {_ETH_TYPE_FOR_VERSION[version]:#06x}"
            )
    if "tcp_dst" in values and values.get("ip_proto") != constants.IP_PROTO_TCP:
        raise FlowSpecError("tcp_dst", values["tcp_dst"], "needs ip_proto=6")


def _ovs_address(value: str) -> str:
    """ovs-ofctl writes a host route without its length."""
    address, _, length = value.partition("/")
    full = "32" if ":" not in address else "128"
    return address if length == full else value


@dataclasses.dataclass(frozen=True, slots=True)
class FlowSpec:
    """One flow entry: where it lives, what it matches, what it does.

    Construct through ``make`` unless the match is already canonical.
    """

    table: int
    priority: int
    match: Match
    actions: Action
    cookie: int
    #: The hash, computed once: a 100k-entry policy is hashed by every set
    #: operation of a diff, and hashing the nested match each time was most
    #: of a diff's cost. Not part of the value (excluded from eq and repr).
    _hash: int = dataclasses.field(default=0, compare=False, repr=False)

    def __hash__(self) -> int:
        cached = self._hash
        if not cached:
            cached = hash((self.table, self.priority, self.match, self.actions,
                           self.cookie)) or 1
            object.__setattr__(self, "_hash", cached)
        return cached

    @classmethod
    def make(
        cls,
        table: int,
        priority: int,
        match: Mapping[str, int | str | netaddr.IPNetwork],
        actions: str | Action,
        cookie: int,
    ) -> FlowSpec:
        """Validate and canonicalise an entry; raise FlowSpecError if a switch
        would refuse it."""
        _check_int("table", table, 0, MAX_TABLE_ID)
        _check_int("priority", priority, 0, constants.MAX_PRIORITY)
        _check_int("cookie", cookie, 0, MAX_COOKIE)
        canonical_actions = check_actions(table, actions)
        if not isinstance(match, Mapping):
            raise FlowSpecError("match", match, "must be a mapping of field to value")
        values: dict[str, int | str | netaddr.IPNetwork] = {}
        for field, value in match.items():
            if field in ADDRESS_FIELDS:
                values[field] = _canonical_address(field, value)
            elif field == "ip_frag":
                values[field] = _check_ip_frag(value)
            elif field in _INT_FIELD_RANGE:
                values[field] = _check_int_field(field, value)
            else:
                raise FlowSpecError(
                    str(field), value, f"unknown match field (known: {', '.join(FIELD_ORDER)})"
                )
        _check_prerequisites(values)
        items: list[tuple[str, int | str]] = []
        for field in sorted(values, key=_FIELD_RANK.__getitem__):
            value = values[field]
            if isinstance(value, netaddr.IPNetwork):
                if value.prefixlen == 0:
                    continue  # a /0 prefix is a wildcard; switches omit it
                items.append((field, str(value)))
            else:
                items.append((field, value))
        return cls(table, priority, tuple(items), canonical_actions, cookie)

    @property
    def key(self) -> tuple[int, int, Match]:
        """OpenFlow's identity of the entry: what strict modify/delete select on."""
        return (self.table, self.priority, self.match)

    @property
    def match_dict(self) -> dict[str, int | str]:
        """The match as a dict, e.g. to build an OFPMatch from."""
        return dict(self.match)

    @property
    def is_ipv6(self) -> bool:
        """Whether the entry matches IPv6 only (it costs more TCAM on many ASICs)."""
        for field, value in self.match:
            if field == "eth_type":
                return value == constants.ETH_TYPE_IPV6
        return False

    @property
    def goto_table(self) -> int | None:
        """The table a goto action continues in, or None."""
        action = Action.parse(self.actions)
        return action.target if action.kind == GOTO_KIND else None

    def __str__(self) -> str:
        """Render like ``ovs-ofctl -O OpenFlow13 dump-flows`` minus the stats."""
        fields = dict(self.match)
        parts: list[str] = []
        if self.priority != OFP_DEFAULT_PRIORITY:
            parts.append(f"priority={self.priority}")
        eth_type = fields.get("eth_type")
        ip_proto = fields.get("ip_proto")
        shorthand: str | None = None
        proto_shown_by_shorthand = False
        if isinstance(eth_type, int):
            if (eth_type, ip_proto) in _OVS_SHORTHAND:
                shorthand = _OVS_SHORTHAND[(eth_type, ip_proto)]  # type: ignore[index]
                proto_shown_by_shorthand = True
            elif ip_proto is None and eth_type in _OVS_ETH_TYPE_ONLY:
                shorthand = _OVS_ETH_TYPE_ONLY[eth_type]
            elif eth_type in _ETH_TYPE_FOR_VERSION.values():
                # An IP protocol without a name: ovs says "ip,...,nw_proto=N".
                shorthand = _OVS_SHORTHAND[(eth_type, None)]
        if shorthand is not None:
            parts.append(shorthand)
        if "in_port" in fields:
            parts.append(f"in_port={fields['in_port']}")
        if "vlan_vid" in fields:
            parts.append(f"dl_vlan={int(fields['vlan_vid']) & 0x0FFF}")
        if eth_type is not None and shorthand is None:
            parts.append(f"dl_type={int(eth_type):#06x}")
        for field, name in _OVS_ADDRESS_NAME.items():
            if field in fields:
                parts.append(f"{name}={_ovs_address(str(fields[field]))}")
        if ip_proto is not None and not proto_shown_by_shorthand:
            parts.append(f"nw_proto={ip_proto}")
        if "ip_frag" in fields:
            parts.append(f"nw_frag={fields['ip_frag']}")
        if "tcp_dst" in fields:
            parts.append(f"tp_dst={fields['tcp_dst']}")
        match_text = ",".join(parts)
        return (
            f"cookie={self.cookie:#x}, table={self.table}, "
            f"{match_text}{' ' if match_text else ''}actions={self._ovs_actions()}"
        )

    def _ovs_actions(self) -> str:
        action = Action.parse(self.actions)
        if action.kind == NORMAL_KIND:
            return "NORMAL"
        if action.kind == DROP_KIND:
            return "drop"
        if action.kind == PUNT_KIND:
            return f"meter:{action.target},CONTROLLER:{PUNT_MAX_LEN}"
        if action.kind == GOTO_KIND:
            return f"goto_table:{action.target}"
        attachment = constants.attachment_of(self.cookie)
        return f"NORMAL,write_metadata:{attachment:#x},goto_table:{action.target}"
