"""The ATTACHMENT band: one or two entries per subscriber attachment (the hot loop).

At 100k subscribers this loop is most of a compile, so it builds canonical
match tuples directly (in ``FlowSpec``'s field order: in_port, eth_type,
vlan_vid, ip_proto, ipv*_src, tcp_dst) and uses the trusted ``FlowSpec``
constructor; ``FlowSpec.make`` would re-parse every address. The property
tests check that ``FlowSpec.make`` produces exactly the same entries.
Constant (field, value) pairs are shared to keep allocations down.

Priority inside the band is ``base + 1000 + specificity``: the most specific
description wins (see ``attachment_specificity``). Identical descriptions
from different accounts or with different verdicts are a ``PolicyConflict``;
the same account saying the same thing twice is de-duplicated.
"""

from __future__ import annotations

import datetime as dt

from op25b_app.core import constants, limits
from op25b_app.core.actions import Action
from op25b_app.core.constants import Band
from op25b_app.core.errors import PolicyConflict, PolicyError
from op25b_app.core.flowspec import FlowSpec, Match
from op25b_app.core.prefixes import network_text
from op25b_app.core.snapshot import AttachmentRule

_ETH4_PAIR = ("eth_type", constants.ETH_TYPE_IPV4)
_ETH6_PAIR = ("eth_type", constants.ETH_TYPE_IPV6)
_TCP_PAIR = ("ip_proto", constants.IP_PROTO_TCP)
_SMTP_PAIR = ("tcp_dst", constants.SMTP_PORT)
_BOTH_FAMILIES: tuple[tuple[tuple[str, int], tuple[str, str] | None], ...] = (
    (_ETH4_PAIR, None), (_ETH6_PAIR, None))


def attachment_specificity(rule: AttachmentRule) -> int:
    """Rank of an attachment inside the ATTACHMENT band (higher wins).

    ``(prefixlen + 1) * 2 + (1 if vlan)`` with prefixlen -1 without a prefix:
    a longer source prefix beats a shorter one, at equal prefix a VLAN match
    beats none, and a port-only attachment is lowest.
    """
    prefixlen = -1 if rule.prefix is None else rule.prefix.prefixlen
    return (prefixlen + 1) * 2 + (1 if rule.vlan is not None else 0)


def _bad_rule(rule: AttachmentRule, dpid: int) -> PolicyError | None:
    """Why ``rule`` cannot become an entry (the loader already refuses these)."""
    port, vlan, ident = rule.port, rule.vlan, rule.attachment_id
    where = f"dpid {dpid:#x}: attachment {ident} ({rule.account})"
    if type(port) is not int or not limits.MIN_PORT <= port <= limits.MAX_PORT:
        return PolicyError(f"{where} has invalid port {port!r}")
    if vlan is not None and (type(vlan) is not int
                             or not limits.MIN_VLAN <= vlan <= limits.MAX_VLAN):
        return PolicyError(f"{where} has invalid vlan {vlan!r}")
    if type(ident) is not int or not 0 <= ident <= constants.COOKIE_ATTACHMENT_MAX:
        return PolicyError(f"dpid {dpid:#x}: attachment id {ident!r} does not fit in a cookie")
    return None


def _families(rule: AttachmentRule) -> tuple[tuple[tuple[str, int], tuple[str, str] | None], ...]:
    """(eth_type pair, source pair or None) for each family the attachment covers.

    No prefix covers IPv4 and IPv6; a /0 prefix is a wildcard of one family
    (no source field, as ``FlowSpec.make`` canonicalises it).
    """
    prefix = rule.prefix
    if prefix is None:
        return _BOTH_FAMILIES
    v4 = prefix.version == 4
    source = (("ipv4_src" if v4 else "ipv6_src", network_text(prefix))
              if prefix.prefixlen else None)
    return ((_ETH4_PAIR if v4 else _ETH6_PAIR, source),)


def _match(in_port: tuple[str, int], eth: tuple[str, int], vlan: tuple[str, int] | None,
           source: tuple[str, str] | None) -> Match:
    if vlan is None:
        if source is None:
            return (in_port, eth, _TCP_PAIR, _SMTP_PAIR)
        return (in_port, eth, _TCP_PAIR, source, _SMTP_PAIR)
    if source is None:
        return (in_port, eth, vlan, _TCP_PAIR, _SMTP_PAIR)
    return (in_port, eth, vlan, _TCP_PAIR, source, _SMTP_PAIR)


def _conflict(dpid: int, other: AttachmentRule, rule: AttachmentRule) -> PolicyConflict:
    return PolicyConflict(
        f"dpid {dpid:#x}: attachments {other.attachment_id} (account {other.account!r}) "
        f"and {rule.attachment_id} (account {rule.account!r}) describe the same traffic "
        f"(port {rule.port}, vlan {rule.vlan}, prefix {rule.prefix})")


def attachment_entries(attachments: tuple[AttachmentRule, ...], dpid: int, now: dt.datetime,
                       table: int, priority_base: int, pass_action: Action,
                       block_action: Action) -> list[FlowSpec]:
    """The entries of ``attachments`` at ``now``: pass when not blocked, else ``block_action``.

    Each entry carries its attachment id in the cookie, so its counter is
    that subscriber's; blocked ones also carry the COUNTED flag the counter
    poller filters on.
    """
    band_priority = priority_base + constants.BAND_OFFSET[Band.ATTACHMENT]
    cookie_pass = constants.cookie_for(Band.ATTACHMENT)
    cookie_counted = constants.cookie_for(Band.ATTACHMENT, counted=True)
    shift = constants.COOKIE_ATTACHMENT_SHIFT
    # priority -> match -> first rule that produced it: detects identical
    # descriptions without allocating a (priority, match) key per entry.
    seen: dict[int, dict[Match, AttachmentRule]] = {}
    in_port_pairs: dict[int, tuple[str, int]] = {}
    vlan_pairs: dict[int, tuple[str, int]] = {}
    entries: list[FlowSpec] = []
    for rule in attachments:
        error = _bad_rule(rule, dpid)
        if error is not None:
            raise error
        port, vlan = rule.port, rule.vlan
        in_port = in_port_pairs.get(port) or in_port_pairs.setdefault(port, ("in_port", port))
        vlan_pair = None if vlan is None else (
            vlan_pairs.get(vlan)
            or vlan_pairs.setdefault(vlan, ("vlan_vid", constants.OFPVID_PRESENT | vlan)))
        blocked = rule.blocked_at(now)
        action = block_action if blocked else pass_action
        cookie = (cookie_counted if blocked else cookie_pass) | (rule.attachment_id << shift)
        priority = band_priority + attachment_specificity(rule)
        seen_here = seen.get(priority) or seen.setdefault(priority, {})
        for eth_pair, source in _families(rule):
            match = _match(in_port, eth_pair, vlan_pair, source)
            other = seen_here.get(match)
            if other is not None:
                other_action = block_action if other.blocked_at(now) else pass_action
                if other.account == rule.account and other_action == action:
                    continue  # the same subscriber said the same thing twice
                raise _conflict(dpid, other, rule)
            seen_here[match] = rule
            entries.append(FlowSpec(table, priority, match, action, cookie))
    return entries
