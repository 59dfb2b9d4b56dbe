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
from op25b_app.core.snapshot import MtaRule, SwitchInfo

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
