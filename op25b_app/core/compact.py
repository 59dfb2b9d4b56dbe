"""Compact rendering: a switch's policy in fewer entries, with the same verdicts.

A hardware switch holds a few thousand entries; a full policy spends one (or
two) per subscriber attachment, most of them drops that the DEFAULT_DROP band
below would give anyway. A compact switch (``switches.compact``) gets:

* no entry for a blocked attachment, unless a less specific passing
  attachment on the same port overlaps it (the blocked /32 carved out of an
  exempt /24 must stay, or the /24 would pass it);
* passing attachments with a source prefix merged with ``netaddr.cidr_merge``
  per (port, VLAN, family), unless a kept blocked entry sits between a merged
  prefix's new priority and an original one's (merging lowers specificity);
* one drop per (customer port, family) whose blocked attachments were left
  out, just above the default drop: the same verdict, a per-port counter.

So ``entries <= uplinks + merged MTA prefixes + 2 * passing attachments +
2 * blocked attachments nested in a passing one + 2 * ports + constant``
(the constant: miss, sample, two default drops, nine guards, carried
encapsulations). For every packet the compact and the full policy give the
same action (``tests/unit/core/test_compact.py`` checks it over generated
subscribers and packets): a left-out blocked entry's packets fall through to
entries below it that all block with the same action.

What is lost: the per-subscriber counter of a blocked attachment (its packets
count on the per-port drop, unattributed), and the attachment id on punted or
sampled blocked SYNs. A compact switch is always compiled in full
(``SwitchPolicy`` does not patch it), since one change can move entries of
other attachments.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import netaddr

from op25b_app.core import constants
from op25b_app.core.actions import Action
from op25b_app.core.attachment_entries import attachment_specificity
from op25b_app.core.constants import Band
from op25b_app.core.flowspec import FlowSpec
from op25b_app.core.snapshot import AttachmentRule

_ETH = {4: constants.ETH_TYPE_IPV4, 6: constants.ETH_TYPE_IPV6}
_SRC = {4: "ipv4_src", 6: "ipv6_src"}


def _families(rule: AttachmentRule) -> frozenset[int]:
    return frozenset((4, 6)) if rule.prefix is None else frozenset((rule.prefix.version,))


def _covers(lower: AttachmentRule, higher: AttachmentRule) -> bool:
    """Whether some packet matches both, for ``lower`` less specific than ``higher``.

    On one port, prefixes are nested or disjoint, and the less specific one
    can only contain the other; a VLAN match overlaps no VLAN match or itself.
    """
    if lower.port != higher.port or not _families(lower) & _families(higher):
        return False
    if lower.vlan is not None and higher.vlan is not None and lower.vlan != higher.vlan:
        return False
    if lower.prefix is None:
        return True
    return higher.prefix is not None and higher.prefix in lower.prefix


def _kept_blocked(blocked: list[AttachmentRule],
                  passing: list[AttachmentRule]) -> set[int]:
    """Ids of blocked attachments that a less specific passing one overlaps.

    Passing attachments are indexed by (port, family, prefix length, network),
    so each blocked one looks up only its own supernets: a shared pool port
    with thousands of each stays linear, not quadratic.
    """
    wild: dict[int, list[AttachmentRule]] = defaultdict(list)
    by_net: dict[tuple[int, int, int, int], list[AttachmentRule]] = defaultdict(list)
    lengths: dict[tuple[int, int], set[int]] = defaultdict(set)
    for rule in passing:
        if rule.prefix is None:
            wild[rule.port].append(rule)
        else:
            net = rule.prefix
            by_net[(rule.port, net.version, net.prefixlen, int(net.network))].append(rule)
            lengths[(rule.port, net.version)].add(net.prefixlen)
    kept = set()
    for rule in blocked:
        rank = attachment_specificity(rule)
        candidates = list(wild.get(rule.port, ()))
        net = rule.prefix
        if net is not None:
            bits = 32 if net.version == 4 else 128
            value = int(net.network)
            for length in lengths.get((rule.port, net.version), ()):
                if length <= net.prefixlen:
                    supernet = value >> (bits - length) << (bits - length)
                    candidates.extend(by_net.get((rule.port, net.version, length, supernet), ()))
        if any(attachment_specificity(p) < rank and _covers(p, rule) for p in candidates):
            kept.add(rule.attachment_id)
    return kept


def _mergeable(members: list[AttachmentRule], kept: list[AttachmentRule]) -> bool:
    """No kept blocked entry lies below a member and overlaps it (merging lowers priority)."""
    return not any(
        attachment_specificity(k) < attachment_specificity(m) and _covers(k, m)
        for m in members for k in kept)


def compact_entries(attachments: tuple[AttachmentRule, ...], entries: list[FlowSpec],
                    now: dt.datetime, table: int, base: int, pass_action: Action,
                    block_action: Action) -> list[FlowSpec]:
    """``entries`` (the full ATTACHMENT band of ``attachments``) rendered compact.

    The full band is built first so that conflicts are found exactly as in a
    full compile; this only removes, merges and adds per-port drops.
    """
    blocked = [r for r in attachments if r.blocked_at(now)]
    passing = [r for r in attachments if not r.blocked_at(now)]
    kept_ids = _kept_blocked(blocked, passing)
    left_out = {r.attachment_id for r in blocked} - kept_ids
    kept_by_port: dict[int, list[AttachmentRule]] = defaultdict(list)
    for rule in blocked:
        if rule.attachment_id in kept_ids:
            kept_by_port[rule.port].append(rule)
    groups: dict[tuple[int, int | None, int], list[AttachmentRule]] = defaultdict(list)
    for rule in passing:
        if rule.prefix is not None and rule.prefix.prefixlen:
            groups[(rule.port, rule.vlan, rule.prefix.version)].append(rule)
    merged_ids: set[int] = set()
    result: list[FlowSpec] = []
    for (port, vlan, version), members in groups.items():
        if len(members) < 2 or not _mergeable(members, kept_by_port[port]):
            continue
        prefixes = netaddr.cidr_merge([m.prefix for m in members if m.prefix is not None])
        if len(prefixes) == len(members) or any(p.prefixlen == 0 for p in prefixes):
            continue  # nothing saved, or a wildcard that a /0 attachment may also be
        merged_ids.update(m.attachment_id for m in members)
        result.extend(_merged_entry(port, vlan, prefix, table, base, pass_action)
                      for prefix in prefixes)
    gone = left_out | merged_ids
    for spec in entries:
        if constants.attachment_of(spec.cookie) not in gone:
            result.append(spec)
    result.extend(_port_drops([r for r in blocked if r.attachment_id in left_out],
                              table, base, block_action))
    return result


def _merged_entry(port: int, vlan: int | None, prefix: netaddr.IPNetwork, table: int,
                  base: int, pass_action: Action) -> FlowSpec:
    """One passing entry for merged prefixes; no attachment id: passes are not counted."""
    rank = (prefix.prefixlen + 1) * 2 + (1 if vlan is not None else 0)
    match: dict[str, int | str | netaddr.IPNetwork] = {
        "in_port": port, "eth_type": _ETH[prefix.version],
        "ip_proto": constants.IP_PROTO_TCP, _SRC[prefix.version]: prefix,
        "tcp_dst": constants.SMTP_PORT}
    if vlan is not None:
        match["vlan_vid"] = constants.OFPVID_PRESENT | vlan
    return FlowSpec.make(table, base + constants.BAND_OFFSET[Band.ATTACHMENT] + rank, match,
                         pass_action, constants.cookie_for(Band.ATTACHMENT))


def _port_drops(left_out: list[AttachmentRule], table: int, base: int,
                block_action: Action) -> list[FlowSpec]:
    """TCP/25 from a port whose blocked attachments have no entry: blocked, counted per port.

    Just above the default drop and with its action, so no verdict changes.
    """
    places = sorted({(r.port, version) for r in left_out for version in _families(r)})
    priority = base + constants.BAND_OFFSET[Band.DEFAULT_DROP] + 1
    cookie = constants.cookie_for(Band.DEFAULT_DROP, counted=True)
    return [FlowSpec.make(table, priority,
                          {"in_port": port, "eth_type": _ETH[version],
                           "ip_proto": constants.IP_PROTO_TCP,
                           "tcp_dst": constants.SMTP_PORT},
                          block_action, cookie)
            for port, version in places]
