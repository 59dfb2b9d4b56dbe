"""Whose page is this: the requester's source address, through trusted proxies only.

The page's whole answer is keyed by the address the request comes from, so
that address must be one the requester cannot choose. The TCP peer is such an
address. ``X-Forwarded-For`` is not: anyone can send the header, and a page
that believed it would tell anybody the verdict of any address they type.
So the header counts only when the peer is one of the configured trusted
proxies (``trusted_proxies`` prefixes), and then it is read from the right,
the way each proxy appended to it: every hop that is itself a trusted proxy
is skipped, and the first one that is not is the client. Entries left of
that one were written by the client and are ignored.

Addresses are normalised the way the lookup stores them: an IPv4-mapped IPv6
peer (a dual-stack ``[::]`` listener) is the IPv4 address, a zone index is
dropped.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: ``[2001:db8::1]:443`` or ``192.0.2.1:443``: some proxies append the port.
_WITH_PORT = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::\d+)?$|^(\d{1,3}(?:\.\d{1,3}){3}):\d+$")
#: A request's X-Forwarded-For hops beyond this are not read (a chain is a few hops).
MAX_HOPS = 32


def parse_address(text: str | None) -> IPAddress | None:
    """A normalised address from a peer or header entry, or None if it is not one."""
    if text is None:
        return None
    value = text.strip()
    match = _WITH_PORT.match(value)
    if match is not None:
        value = match.group(1) or match.group(2)
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(peer: str | None, forwarded_for: Iterable[str],
                   trusted_proxies: Sequence[IPNetwork]) -> IPAddress | None:
    """The requester's address: the peer, or what trusted proxies say they forwarded.

    ``forwarded_for`` is every ``X-Forwarded-For`` header of the request, in
    order. None when the peer is not an IP address at all (a Unix socket).
    """
    current = parse_address(peer)
    if current is None or not _trusted(current, trusted_proxies):
        return current
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops[-MAX_HOPS:]):
        address = parse_address(hop)
        if address is None:
            # A hop we cannot read: stop at the last proxy we trust, whose own
            # address then gets the answer (an unknown one, not someone else's).
            return current
        current = address
        if not _trusted(address, trusted_proxies):
            return address
    return current


def _trusted(address: IPAddress, trusted_proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted_proxies)
