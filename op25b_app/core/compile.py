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

*Compact switches* (``SwitchInfo.compact``) get the ATTACHMENT band without
the blocked attachments' own entries, where the bands below block them
anyway: same verdicts, fewer entries, no per-subscriber counters (``compact``).

Where each band is built: ``bands`` (uplinks, MTAs, default drop, miss) and
``attachment_entries`` (the per-subscriber hot loop).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from op25b_app.core import constants
from op25b_app.core.actions import (
    DROP,
    NORMAL_KIND,
    Action,
    parse_pass_action,
    punt,
    sample,
)
from op25b_app.core.attachment_entries import attachment_entries, attachment_specificity
from op25b_app.core.compact import compact_entries
from op25b_app.core.bands import (
    carried_entries,
    default_drop_entries,
    guard_entries,
    miss_entry,
    mta_entries,
    sample_entry,
    uplink_entries,
)
from op25b_app.core.errors import PolicyTooLarge
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.gc_pause import gc_paused
from op25b_app.core.options import DEFAULT_OPTIONS, PolicyOptions, validate_options
from op25b_app.core.snapshot import (
    ROLE_CORE,
    ROLES,
    AttachmentRule,
    PolicySnapshot,
    SwitchInfo,
)

LOG = logging.getLogger(__name__)

__all__ = ["attachment_specificity", "block_action_for", "compile_policy", "switch_for",
           "weighted_entry_count"]


def weighted_entry_count(specs: Iterable[FlowSpec], options: PolicyOptions) -> int:
    """How many table slots ``specs`` take, counting IPv6 entries as
    ``options.ipv6_entry_weight`` each; this is what the cap is checked on."""
    weight = options.ipv6_entry_weight
    return sum(weight if spec.is_ipv6 else 1 for spec in specs)


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
    pass_action = parse_pass_action(options.pass_action, table)
    miss = miss_entry(table, pass_action)
    switch = snapshot.switches.get(dpid)
    if switch is not None and switch.role == ROLE_CORE:
        return frozenset((miss,)), None
    switch, attachments = switch_for(snapshot, dpid)
    mode, mode_change = snapshot.enforcement(dpid, now)
    block_action = block_action_for(mode, options)[1]
    specs: list[FlowSpec] = [miss]
    if block_action.kind == "sample":
        specs.append(sample_entry(options.sample_table, options.punt_meter))
    base = options.priority_base
    specs.extend(uplink_entries(switch, table, base, pass_action))
    specs.extend(mta_entries(snapshot.mtas, table, base, pass_action))
    specs.extend(default_drop_entries(table, base, block_action))
    specs.extend(guard_entries(table, base, block_action))
    specs.extend(carried_entries(attachments, table, base, pass_action))
    with gc_paused():  # a few hundred thousand tuples, no cycles
        entries = attachment_entries(attachments, dpid, now, table, base, pass_action,
                                     block_action)
        if switch.compact:
            entries = compact_entries(attachments, entries, now, table, base, pass_action,
                                      block_action)
        specs.extend(entries)
        result = frozenset(specs)
    if options.max_entries > 0:
        count = weighted_entry_count(result, options)
        if count > options.max_entries:
            raise PolicyTooLarge(dpid, count, options.max_entries)
    changes = [t for t in (_next_change_time(attachments, now), mode_change) if t is not None]
    return result, min(changes) if changes else None


def switch_for(snapshot: PolicySnapshot, dpid: int,
               ) -> tuple[SwitchInfo, tuple[AttachmentRule, ...]]:
    """The switch to compile as an edge, and its attachments.

    An unregistered dpid is an edge with no uplinks and no attachments:
    every TCP/25 except to the MTAs is dropped until it is registered. A
    core switch has no attachments (it only gets the miss entry).
    """
    switch = snapshot.switches.get(dpid)
    if switch is not None and switch.role == ROLE_CORE:
        return switch, ()
    if switch is None:
        LOG.warning("dpid %#x is not registered: compiling fail-closed edge policy"
                    " (no uplinks, ignoring %d attachment(s))",
                    dpid, len(snapshot.attachments_for(dpid)))
        return SwitchInfo(dpid=dpid, name="", uplink_ports=frozenset()), ()
    if switch.role not in ROLES:
        LOG.warning("dpid %#x has unknown role %r: compiling it as an edge switch",
                    dpid, switch.role)
    return switch, snapshot.attachments_for(dpid)


def block_action_for(mode: str, options: PolicyOptions) -> tuple[Action, Action]:
    """``(pass action, block action)``: what passing traffic gets, and what a
    blocked (or, in monitor mode, would-be blocked) TCP/25 packet gets."""
    pass_action = parse_pass_action(options.pass_action, options.table_id)
    if mode == constants.MODE_ENFORCE:
        # With a punt meter, blocked SYNs go through it to the controller (and
        # nowhere else): sampled for the abuse desk and, with reject, answered by RST.
        return pass_action, punt(options.punt_meter) if options.punt_meter else DROP
    if options.punt_meter and options.sample_table and pass_action.kind == NORMAL_KIND:
        # Monitor mode with sampling: the mail is forwarded untouched by this
        # very entry; only a copy continues to the sample table and its meter.
        return pass_action, sample(options.sample_table)
    # Monitor mode: the would-be drops pass but keep their own (counted)
    # entries, so the ISP sees who is affected before the enforcement date.
    return pass_action, pass_action


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
