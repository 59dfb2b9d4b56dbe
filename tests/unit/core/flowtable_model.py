"""A deliberately small model of one OpenFlow 1.3 flow table, for tests.

It answers "what would the switch do with this packet?" for a set of
``FlowSpec``, so policy tests can assert on behaviour rather than on entry
lists. It is written from the OpenFlow spec, not from policy.py, so that a
bug in the compiler's idea of matching is not mirrored here. It also refuses
what a real table would make ambiguous: two different entries with the same
(priority, match), or two overlapping top-priority matches that disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import netaddr

from op25b_app.core.flowspec import FlowSpec

ETH_TYPE_IPV4 = 0x0800
ETH_TYPE_IPV6 = 0x86DD
TCP = 6
VID_PRESENT = 0x1000


class AmbiguousMatch(AssertionError):
    """Two matching entries at the top priority would act differently."""


@dataclasses.dataclass(frozen=True)
class Packet:
    """The header fields op25b's matches can look at, as the switch parsed them.

    ``eth_type`` is what follows the first VLAN tag (0x8100 for a frame with
    a second tag); ``frag`` is "no", "first" or "later"; ``dst_port`` is 0
    when the switch could not read the transport header (a later fragment, a
    first fragment too short to hold it); ``ip_proto`` 0 on IPv6 means the
    switch could not parse the extension-header chain.
    """

    in_port: int
    vlan: int | None
    eth_type: int
    ip_proto: int
    src: str
    dst: str
    dst_port: int
    frag: str = "no"

#: ip_frag match name -> the fragment kinds it matches (OVS nw_frag semantics).
_FRAG_KINDS = {"no": {"no"}, "yes": {"first", "later"}, "first": {"first"},
               "later": {"later"}, "not_later": {"no", "first"}}


@dataclasses.dataclass(frozen=True)
class _Entry:
    spec: FlowSpec
    fields: dict[str, object]  # field -> int or netaddr.IPNetwork


def _field_matches(field: str, wanted: object, packet: Packet) -> bool:
    """OpenFlow matching of one field against a packet (no masks except prefixes)."""
    if field == "in_port":
        return packet.in_port == wanted
    if field == "eth_type":
        return packet.eth_type == wanted
    if field == "vlan_vid":
        # A vlan_vid match only ever matches tagged frames with that VID.
        return packet.vlan is not None and (VID_PRESENT | packet.vlan) == wanted
    if field == "ip_proto":
        return packet.eth_type in (ETH_TYPE_IPV4, ETH_TYPE_IPV6) and packet.ip_proto == wanted
    if field in ("ipv4_src", "ipv4_dst", "ipv6_src", "ipv6_dst"):
        family = ETH_TYPE_IPV4 if field.startswith("ipv4") else ETH_TYPE_IPV6
        if packet.eth_type != family:
            return False
        address = netaddr.IPAddress(packet.src if field.endswith("_src") else packet.dst)
        assert isinstance(wanted, netaddr.IPNetwork)
        return address.version == wanted.version and address in wanted
    if field == "ip_frag":
        return (packet.eth_type in (ETH_TYPE_IPV4, ETH_TYPE_IPV6)
                and packet.frag in _FRAG_KINDS[str(wanted)])
    if field == "tcp_dst":
        return packet.ip_proto == TCP and packet.dst_port == wanted
    raise AssertionError(f"model does not know match field {field!r}")


class FlowTable:
    """One table holding ``specs``; lookups pick the highest-priority match."""

    def __init__(self, specs: Iterable[FlowSpec]) -> None:
        entries: dict[tuple[int, tuple[tuple[str, int | str], ...]], FlowSpec] = {}
        tables: set[int] = set()
        for spec in specs:
            tables.add(spec.table)
            previous = entries.get((spec.priority, spec.match))
            if previous is not None and previous != spec:
                raise AmbiguousMatch(f"two entries with the same key: {previous} / {spec}")
            entries[(spec.priority, spec.match)] = spec
        if len(tables) > 1:
            raise AssertionError(f"model holds one table, got {sorted(tables)}")
        self._entries = sorted(
            (
                _Entry(
                    spec,
                    {
                        field: netaddr.IPNetwork(value)
                        if isinstance(value, str) and field != "ip_frag" else value
                        for field, value in spec.match
                    },
                )
                for spec in entries.values()
            ),
            key=lambda entry: -entry.spec.priority,
        )

    def lookup(self, packet: Packet) -> FlowSpec | None:
        """The entry the packet hits, or None on a table miss."""
        best: list[FlowSpec] = []
        for entry in self._entries:
            if best and entry.spec.priority < best[0].priority:
                break
            if all(_field_matches(f, v, packet) for f, v in entry.fields.items()):
                best.append(entry.spec)
        if not best:
            return None
        if len({spec.actions for spec in best}) > 1:
            raise AmbiguousMatch(
                f"{packet} hits {len(best)} entries at priority {best[0].priority} "
                f"with different actions: " + " | ".join(str(spec) for spec in best)
            )
        return best[0]

    def verdict(self, packet: Packet) -> str:
        """ "pass" or "drop"; a miss without a table-miss entry drops (OF 1.3)."""
        spec = self.lookup(packet)
        if spec is None or spec.actions == "drop":
            return "drop"
        return "pass"
