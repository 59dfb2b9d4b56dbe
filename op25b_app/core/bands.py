"""The fixed bands of a switch's policy: uplinks, MTAs, the default drop, the miss.

These are a handful of entries per switch whatever its size; the per-subscriber
ATTACHMENT band is built by ``attachment_entries``. Each builder states the
band's meaning; ``compile_policy`` assembles them.
"""

from __future__ import annotations

import netaddr

from op25b_app.core import constants
from op25b_app.core.actions import Action, punt
from op25b_app.core.constants import Band
from op25b_app.core.errors import FlowSpecError, PolicyError
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.snapshot import AttachmentRule, MtaRule, SwitchInfo

_ETH_TYPE_FOR_VERSION = {4: constants.ETH_TYPE_IPV4, 6: constants.ETH_TYPE_IPV6}
_DST_FIELD = {4: "ipv4_dst", 6: "ipv6_dst"}


def miss_entry(table: int, pass_action: Action) -> FlowSpec:
    """Priority 0, empty match: everything op25b does not decide about passes."""
    return FlowSpec(table, 0, (), pass_action, constants.cookie_for(Band.MISS))


def sample_entry(sample_table: int, meter: int) -> FlowSpec:
    """The sample table's only entry: copies go through the meter to the controller."""
    return FlowSpec(sample_table, 0, (), punt(meter), constants.cookie_for(Band.SAMPLE))


def uplink_entries(switch: SwitchInfo, table: int, base: int,
                   pass_action: Action) -> list[FlowSpec]:
    """``in_port=P`` passes for each uplink: traffic from the core is never ours to block."""
    priority = base + constants.BAND_OFFSET[Band.UPLINK]
    cookie = constants.cookie_for(Band.UPLINK)
    entries = []
    for port in sorted(switch.uplink_ports):
        try:
            entries.append(FlowSpec.make(table, priority, {"in_port": port}, pass_action, cookie))
        except FlowSpecError as exc:
            raise PolicyError(f"dpid {switch.dpid:#x}: bad uplink port: {exc}") from exc
    return entries


def mta_entries(mtas: tuple[MtaRule, ...], table: int, base: int,
                pass_action: Action) -> list[FlowSpec]:
    """TCP/25 to an ISP relay passes, from any port.

    Prefixes are merged per family with ``netaddr.cidr_merge``: these entries
    carry no per-subscriber counter, so merging changes only the entry count.
    """
    priority = base + constants.BAND_OFFSET[Band.MTA]
    cookie = constants.cookie_for(Band.MTA)
    by_version: dict[int, list[netaddr.IPNetwork]] = {4: [], 6: []}
    for mta in mtas:
        by_version[mta.prefix.version].append(mta.prefix)
    entries = []
    for version, prefixes in by_version.items():
        for prefix in netaddr.cidr_merge(prefixes):
            match = {
                "eth_type": _ETH_TYPE_FOR_VERSION[version],
                "ip_proto": constants.IP_PROTO_TCP,
                _DST_FIELD[version]: prefix,
                "tcp_dst": constants.SMTP_PORT,
            }
            entries.append(FlowSpec.make(table, priority, match, pass_action, cookie))
    return entries


def default_drop_entries(table: int, base: int, block_action: Action) -> list[FlowSpec]:
    """Any other TCP/25 (IPv4 and IPv6) is blocked: unknown senders fail closed."""
    priority = base + constants.BAND_OFFSET[Band.DEFAULT_DROP]
    cookie = constants.cookie_for(Band.DEFAULT_DROP, counted=True)
    return [
        FlowSpec.make(table, priority,
                      {"eth_type": eth_type, "ip_proto": constants.IP_PROTO_TCP,
                       "tcp_dst": constants.SMTP_PORT},
                      block_action, cookie)
        for eth_type in (constants.ETH_TYPE_IPV4, constants.ETH_TYPE_IPV6)
    ]


def guard_entries(table: int, base: int, block_action: Action) -> list[FlowSpec]:
    """Crafted packets from customer ports that would carry TCP past the other bands.

    * A TCP first fragment whose ports the switch could not read (``tp_dst=0``:
      the RFC 1858 tiny fragment, or any first fragment on a switch whose
      fragment handling is not ``nx-match``). A first fragment that holds the
      whole TCP header has its ports and meets the subscriber's own entry
      instead; later fragments carry no ports and are useless without it.
    * An IPv6 packet whose extension-header chain the switch could not parse
      to the end (Open vSwitch reports protocol 0): a first fragment that
      hides its TCP header behind a truncated chain (RFC 7112).
    * Frames that carry IP where the match cannot see it: stacked VLAN tags,
      MPLS, PPPoE sessions (``constants.ENCAPSULATIONS``), unless an
      attachment says its port carries them (``carried_entries``).

    Uplinks pass at a higher priority, so only customer ports are guarded.
    The entries are counted: their packets are blocked attempts too.
    """
    priority = base + constants.BAND_OFFSET[Band.GUARD]
    cookie = constants.cookie_for(Band.GUARD, counted=True)
    tcp = constants.IP_PROTO_TCP
    matches: list[dict[str, int | str]] = [
        {"eth_type": eth_type, "ip_proto": tcp, "ip_frag": "first", "tcp_dst": 0}
        for eth_type in (constants.ETH_TYPE_IPV4, constants.ETH_TYPE_IPV6)
    ]
    matches.append({"eth_type": constants.ETH_TYPE_IPV6,
                    "ip_proto": constants.IP_PROTO_UNPARSED})
    matches.extend({"eth_type": eth_type}
                   for kinds in constants.ENCAPSULATIONS.values() for eth_type in kinds)
    return [FlowSpec.make(table, priority, match, block_action, cookie) for match in matches]


def carried_entries(attachments: tuple[AttachmentRule, ...], table: int, base: int,
                    pass_action: Action) -> list[FlowSpec]:
    """Encapsulated frames pass on the ports (and VLANs) whose attachments carry them.

    One entry per (port, VLAN, ethertype), however many attachments there
    share it; it names the first attachment in its cookie. Just above the
    guard, so it wins over the guard's drop for exactly these frames.
    """
    priority = base + constants.BAND_OFFSET[Band.GUARD] + 1
    entries: dict[tuple[int, int | None, int], FlowSpec] = {}
    for rule in attachments:
        for kind in sorted(rule.carries):
            for eth_type in constants.ENCAPSULATIONS.get(kind, ()):
                key = (rule.port, rule.vlan, eth_type)
                if key in entries:
                    continue
                match: dict[str, int | str] = {"in_port": rule.port, "eth_type": eth_type}
                if rule.vlan is not None:
                    match["vlan_vid"] = constants.OFPVID_PRESENT | rule.vlan
                entries[key] = FlowSpec.make(
                    table, priority, match, pass_action,
                    constants.cookie_for(Band.GUARD, rule.attachment_id))
    return list(entries.values())
