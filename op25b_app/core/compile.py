"""Compile the OP25B policy for one switch into the flow entries it should hold.

``compile_policy`` is pure: a ``PolicySnapshot`` (one database revision), a
dpid and a clock reading go in; a set of ``FlowSpec`` and the time at which
the result would change by itself come out. The reconciler diffs that set
against what the switch reports.

Semantics, highest precedence first (priority = options.priority_base +
constants.BAND_OFFSET[band]; cookie = constants.cookie_for(band)):

UPLINK
    ``in_port=P`` -> pass, for each uplink port of the switch. Traffic from the
    core is never ours to block.
MTA
    TCP/25 to one of the ISP's relays -> pass, from any port. Prefixes are
    merged per family with ``netaddr.cidr_merge``: these entries carry no
    per-subscriber counter, so merging changes nothing but the entry count.
ATTACHMENT
    For each attachment of the switch and each address family it covers, TCP/25
    from ``in_port`` (+ VLAN if given, + source prefix if given) -> pass when
    the subscriber is not blocked at ``now`` (type not blocking, or an active
    opt-out), otherwise drop. An attachment without a prefix yields an IPv4
    and an IPv6 entry; with a prefix, one entry of that family. Entries are
    NOT merged: each entry's packet counter is that subscriber's count of
    blocked attempts.
DEFAULT_DROP
    Any other TCP/25 (IPv4 and IPv6) -> drop. Unknown senders fail closed.
MISS
    Priority 0, empty match -> pass: op25b only ever decides about TCP/25.

"pass" is ``options.pass_action``: ``normal`` or ``goto:N`` (N > table_id).

Decisions
---------
*Most specific description wins.* Inside the ATTACHMENT band the priority is
``base + 1000 + specificity`` with ``specificity = (prefixlen + 1) * 2 +
(1 if vlan else 0)`` and ``prefixlen = -1`` without a prefix. So a longer
source prefix beats a shorter one, at equal prefix a VLAN match beats none,
and a port-only attachment is lowest. Exempt and blocked attachments are
interleaved by specificity, not grouped by verdict: an exempt /32 inside a
blocked /24 on the same port passes, and a blocked /32 inside an exempt /24
drops. This is what lets an operator carve one customer out of a shared
segment in either direction. A ``/0`` prefix counts as prefix length 0 (it
beats a prefix-less attachment of the same family) even though its match
field is a wildcard.

*Identical descriptions are a conflict.* Two attachments with the same port,
VLAN and prefix produce entries with the same priority and match, which
OpenFlow would overlap (one silently replaces the other). The writer refuses
them, but raw SQL can still create them, so compile raises ``PolicyConflict``
naming both accounts and the controller keeps its last good policy. The one
harmless case - same account, same verdict - is de-duplicated.

*Switch roles.* A ``core`` switch gets only the MISS entry (op25b blocks at
the customer edge). A dpid that is not registered at all compiles as an edge
switch with no uplinks and no attachments: every TCP/25 except to the MTAs
is dropped until an operator registers it. Failing closed is deliberate; an
unknown switch must not become an open relay path. A registered switch with
an unrecognised role is treated the same way as edge (logged).

*next_change_time* is the earliest ``exempt_until`` after ``now`` among this
switch's exempt attachments whose type blocks: the only moment the policy
changes without a database write. Expiry of an opt-out on a non-blocking type
changes no verdict and so schedules nothing.

*Entry cap.* IPv6 entries weigh ``options.ipv6_entry_weight`` (128-bit matches
take two TCAM slots on many ASICs), others 1. Above ``options.max_entries``
(when > 0) compile raises ``PolicyTooLarge`` rather than let the switch
refuse an arbitrary subset with OFPFMFC_TABLE_FULL.

The attachment loop builds canonical match tuples directly and uses the
trusted ``FlowSpec`` constructor, because ``FlowSpec.make`` re-parses every
address and would dominate compile time at 100k subscribers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import netaddr

from op25b_app.core import constants, limits
from op25b_app.core.constants import Band
from op25b_app.core.flowspec import MAX_TABLE_ID, FlowSpec, FlowSpecError, Match, check_actions
from op25b_app.core.gc_pause import gc_paused
from op25b_app.core.prefixes import network_text
from op25b_app.core.errors import PolicyConflict, PolicyError, PolicyTooLarge
from op25b_app.core.options import DEFAULT_OPTIONS, PolicyOptions, validate_options
from op25b_app.core.snapshot import (
    ROLE_CORE,
    ROLES,
    AttachmentRule,
    PolicySnapshot,
    SwitchInfo,
)

LOG = logging.getLogger(__name__)

_IPV4 = constants.ETH_TYPE_IPV4
_IPV6 = constants.ETH_TYPE_IPV6
_TCP = constants.IP_PROTO_TCP
_SMTP = constants.SMTP_PORT
_ETH_TYPE_FOR_VERSION = {4: _IPV4, 6: _IPV6}
_DST_FIELD = {4: "ipv4_dst", 6: "ipv6_dst"}
_OFPVID_PRESENT = constants.OFPVID_PRESENT
# Shared (field, value) pairs for the attachment hot loop.
_ETH4_PAIR = ("eth_type", _IPV4)
_ETH6_PAIR = ("eth_type", _IPV6)
_TCP_PAIR = ("ip_proto", _TCP)
_SMTP_PAIR = ("tcp_dst", _SMTP)


def weighted_entry_count(specs: Iterable[FlowSpec], options: PolicyOptions) -> int:
    """How many table slots ``specs`` take, counting IPv6 entries as
    ``options.ipv6_entry_weight`` each; this is what the cap is checked on."""
    weight = options.ipv6_entry_weight
    return sum(weight if spec.is_ipv6 else 1 for spec in specs)


#: The name the design brief used; same function.
describe_entry_count = weighted_entry_count


def attachment_specificity(rule: AttachmentRule) -> int:
    """Rank of an attachment inside the ATTACHMENT band (higher wins)."""
    prefixlen = -1 if rule.prefix is None else rule.prefix.prefixlen
    return (prefixlen + 1) * 2 + (1 if rule.vlan is not None else 0)


def compile_policy(
    snapshot: PolicySnapshot,
    dpid: int,
    now: dt.datetime,
    options: PolicyOptions = DEFAULT_OPTIONS,
) -> tuple[frozenset[FlowSpec], dt.datetime | None]:
    """The entries switch ``dpid`` should hold at ``now``, and when that changes.

    Returns ``(specs, next_change_time)``; see the module docstring for the
    semantics. Raises PolicyConflict, PolicyTooLarge or PolicyOptionError
    (all PolicyError) instead of returning a policy that would be wrong.
    """
    if now.tzinfo is None:
        # exempt_until is aware; comparing naive and aware would raise anyway,
        # but only when some opt-out has an expiry. Fail the same way always.
        raise ValueError("now must be timezone-aware")
    validate_options(options)
    table = options.table_id
    pass_action = check_actions(table, options.pass_action)
    miss = FlowSpec(table, 0, (), pass_action, constants.cookie_for(Band.MISS))

    switch = snapshot.switches.get(dpid)
    if switch is not None and switch.role == ROLE_CORE:
        return frozenset((miss,)), None
    if switch is None:
        stray = snapshot.attachments_for(dpid)
        LOG.warning(
            "dpid %#x is not registered: compiling fail-closed edge policy"
            " (no uplinks, ignoring %d attachment(s))",
            dpid,
            len(stray),
        )
        switch = SwitchInfo(dpid=dpid, name="", uplink_ports=frozenset())
        attachments: tuple[AttachmentRule, ...] = ()
    else:
        if switch.role not in ROLES:
            LOG.warning(
                "dpid %#x has unknown role %r: compiling it as an edge switch",
                dpid,
                switch.role,
            )
        attachments = snapshot.attachments_for(dpid)

    mode, mode_change = snapshot.enforcement(dpid, now)
    # In monitor mode the would-be drops pass but keep their own (counted)
    # entries, so the ISP sees who is affected before the enforcement date.
    block_action = "drop" if mode == constants.MODE_ENFORCE else pass_action
    if mode == constants.MODE_ENFORCE and options.punt_meter:
        # Blocked SYNs go through the meter to the controller (and nowhere
        # else): sampled for the abuse desk and, with reject, answered by RST.
        block_action = f"punt:{options.punt_meter}"
    sampling_copy = (mode == constants.MODE_MONITOR and options.punt_meter
                     and options.sample_table and pass_action == "normal")
    if sampling_copy:
        # Monitor mode: the mail is forwarded untouched by this very entry;
        # only a copy continues to the sample table, where the meter applies.
        block_action = f"sample:{options.sample_table}"
    specs: list[FlowSpec] = [miss]
    if sampling_copy:
        specs.append(FlowSpec(options.sample_table, 0, (), f"punt:{options.punt_meter}",
                              constants.cookie_for(Band.SAMPLE)))
    specs.extend(_uplink_entries(switch, table, options.priority_base, pass_action))
    specs.extend(_mta_entries(snapshot, table, options.priority_base, pass_action))
    specs.extend(_default_drop_entries(table, options.priority_base, block_action))
    with gc_paused():  # a few hundred thousand tuples, no cycles
        specs.extend(_attachment_entries(attachments, dpid, now, table, options, pass_action,
                                         block_action))
        result = frozenset(specs)
    if options.max_entries > 0:
        count = weighted_entry_count(result, options)
        if count > options.max_entries:
            raise PolicyTooLarge(dpid, count, options.max_entries)
    changes = [t for t in (_next_change_time(attachments, now), mode_change) if t is not None]
    return result, min(changes) if changes else None


def _uplink_entries(switch: SwitchInfo, table: int, base: int, pass_action: str) -> list[FlowSpec]:
    priority = base + constants.BAND_OFFSET[Band.UPLINK]
    cookie = constants.cookie_for(Band.UPLINK)
    entries = []
    for port in sorted(switch.uplink_ports):
        try:
            entries.append(FlowSpec.make(table, priority, {"in_port": port}, pass_action, cookie))
        except FlowSpecError as exc:
            raise PolicyError(f"dpid {switch.dpid:#x}: bad uplink port: {exc}") from exc
    return entries


def _mta_entries(
    snapshot: PolicySnapshot, table: int, base: int, pass_action: str
) -> list[FlowSpec]:
    priority = base + constants.BAND_OFFSET[Band.MTA]
    cookie = constants.cookie_for(Band.MTA)
    by_version: dict[int, list[netaddr.IPNetwork]] = {4: [], 6: []}
    for mta in snapshot.mtas:
        by_version[mta.prefix.version].append(mta.prefix)
    entries = []
    for version, prefixes in by_version.items():
        for prefix in netaddr.cidr_merge(prefixes):
            match = {
                "eth_type": _ETH_TYPE_FOR_VERSION[version],
                "ip_proto": _TCP,
                _DST_FIELD[version]: prefix,
                "tcp_dst": _SMTP,
            }
            entries.append(FlowSpec.make(table, priority, match, pass_action, cookie))
    return entries


def _default_drop_entries(table: int, base: int, block_action: str = "drop") -> list[FlowSpec]:
    priority = base + constants.BAND_OFFSET[Band.DEFAULT_DROP]
    cookie = constants.cookie_for(Band.DEFAULT_DROP, counted=True)
    return [
        FlowSpec.make(
            table,
            priority,
            {"eth_type": eth_type, "ip_proto": _TCP, "tcp_dst": _SMTP},
            block_action,
            cookie,
        )
        for eth_type in (_IPV4, _IPV6)
    ]


def _attachment_entries(
    attachments: tuple[AttachmentRule, ...],
    dpid: int,
    now: dt.datetime,
    table: int,
    options: PolicyOptions,
    pass_action: str,
    block_action: str = "drop",
) -> list[FlowSpec]:
    """The hot loop: one or two entries per attachment, built without re-parsing.

    The match tuples are written in FlowSpec's canonical field order by hand
    (in_port, eth_type, vlan_vid, ip_proto, ipv*_src, tcp_dst); the property
    tests check that ``FlowSpec.make`` would produce exactly the same entries.
    Constant (field, value) pairs are shared to keep allocations down.
    """
    band_priority = options.priority_base + constants.BAND_OFFSET[Band.ATTACHMENT]
    # Each attachment's entries carry its id, so counters are attributable;
    # blocked ones also carry the COUNTED flag the counter poller filters on.
    cookie_pass = constants.cookie_for(Band.ATTACHMENT)
    cookie_counted = constants.cookie_for(Band.ATTACHMENT, counted=True)
    shift = constants.COOKIE_ATTACHMENT_SHIFT
    id_max = constants.COOKIE_ATTACHMENT_MAX
    both_families = ((_ETH4_PAIR, None), (_ETH6_PAIR, None))
    # priority -> match -> first rule that produced it: detects identical
    # descriptions without allocating a (priority, match) key per entry.
    seen: dict[int, dict[Match, AttachmentRule]] = {}
    in_port_pairs: dict[int, tuple[str, int]] = {}
    vlan_pairs: dict[int, tuple[str, int]] = {}
    entries: list[FlowSpec] = []
    for rule in attachments:
        port = rule.port
        if type(port) is not int or not limits.MIN_PORT <= port <= limits.MAX_PORT:
            raise PolicyError(
                f"dpid {dpid:#x}: attachment {rule.attachment_id} ({rule.account}) "
                f"has invalid port {port!r}"
            )
        in_port_pair = in_port_pairs.get(port)
        if in_port_pair is None:
            in_port_pair = in_port_pairs[port] = ("in_port", port)
        vlan = rule.vlan
        vlan_pair: tuple[str, int] | None = None
        if vlan is not None:
            if type(vlan) is not int or not limits.MIN_VLAN <= vlan <= limits.MAX_VLAN:
                raise PolicyError(
                    f"dpid {dpid:#x}: attachment {rule.attachment_id} ({rule.account}) "
                    f"has invalid vlan {vlan!r}"
                )
            vlan_pair = vlan_pairs.get(vlan)
            if vlan_pair is None:
                vlan_pair = vlan_pairs[vlan] = ("vlan_vid", _OFPVID_PRESENT | vlan)
        blocked = rule.blocked_at(now)
        action = block_action if blocked else pass_action
        attachment_id = rule.attachment_id
        if type(attachment_id) is not int or not 0 <= attachment_id <= id_max:
            raise PolicyError(f"dpid {dpid:#x}: attachment id {attachment_id!r} does not fit "
                              "in a cookie")
        cookie = (cookie_counted if blocked else cookie_pass) | (attachment_id << shift)
        prefix = rule.prefix
        families: tuple[tuple[tuple[str, int], tuple[str, str] | None], ...]
        if prefix is None:
            families = both_families
        else:
            v4 = prefix.version == 4
            # /0 is a wildcard: no source field, as FlowSpec.make canonicalises.
            source = (
                ("ipv4_src" if v4 else "ipv6_src", network_text(prefix))
                if prefix.prefixlen else None
            )
            families = ((_ETH4_PAIR if v4 else _ETH6_PAIR, source),)
        priority = band_priority + attachment_specificity(rule)
        seen_here = seen.get(priority)
        if seen_here is None:
            seen_here = seen[priority] = {}
        for eth_pair, source in families:
            if vlan_pair is None:
                if source is None:
                    match: Match = (in_port_pair, eth_pair, _TCP_PAIR, _SMTP_PAIR)
                else:
                    match = (in_port_pair, eth_pair, _TCP_PAIR, source, _SMTP_PAIR)
            elif source is None:
                match = (in_port_pair, eth_pair, vlan_pair, _TCP_PAIR, _SMTP_PAIR)
            else:
                match = (in_port_pair, eth_pair, vlan_pair, _TCP_PAIR, source, _SMTP_PAIR)
            other = seen_here.get(match)
            if other is not None:
                other_action = block_action if other.blocked_at(now) else pass_action
                if other.account == rule.account and other_action == action:
                    continue  # the same subscriber said the same thing twice
                raise PolicyConflict(
                    f"dpid {dpid:#x}: attachments {other.attachment_id} "
                    f"(account {other.account!r}) and {rule.attachment_id} "
                    f"(account {rule.account!r}) describe the same traffic "
                    f"(port {port}, vlan {vlan}, prefix {prefix})"
                )
            seen_here[match] = rule
            entries.append(FlowSpec(table, priority, match, action, cookie))
    return entries


def _next_change_time(
    attachments: tuple[AttachmentRule, ...], now: dt.datetime
) -> dt.datetime | None:
    expiries = [
        rule.exempt_until
        for rule in attachments
        if rule.exempt
        and rule.type_blocked
        and rule.exempt_until is not None
        and rule.exempt_until > now
    ]
    return min(expiries, default=None)
