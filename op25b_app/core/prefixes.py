"""Fast parsing of plain prefix text, shared by input validation and the snapshot loader.

``netaddr.IPNetwork(text)`` costs about 10 us a prefix. That was most of a
100k-line import and more than the rest of a 100k-subscriber snapshot load.
Nearly every prefix op25b reads is plain ``address/length`` text, whether it
comes from an export, a billing system or op25b's own storage form. Such text
is parsed here with the C ``inet_pton``/``inet_ntop``, and the IPNetwork is
built from integers.

Anything this parser does not plainly understand gives ``None``. The caller
then asks netaddr, which has the final word. So the fast path can only be
faster, never more lenient. netaddr formats addresses with the same
``inet_ntop``, so the canonical text is identical on either path.
"""

from __future__ import annotations

import socket

import netaddr

#: IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) never appear as IPv6 sources on
#: the wire; a subscriber or MTA written that way is an operator mistake.
IPV4_MAPPED = netaddr.IPNetwork("::ffff:0:0/96")


def plain_prefix(text: str) -> tuple[netaddr.IPNetwork, str] | None:
    """``(network, canonical text)`` for plain ``address[/length]`` text, else None.

    The network has its host bits cleared ("10.1.0.5/24" is 10.1.0.0/24).
    The canonical text is the storage form ``address/length``. It is ``text``
    itself when ``text`` already is canonical, so the loader can tell stored
    rows that bypassed normalisation by comparing the two. ``None`` means "ask
    netaddr": text that is not plain, or is IPv4-mapped IPv6 (netaddr's path
    reports that with its own message).
    """
    address, slash, length_text = text.partition("/")
    if slash and (not length_text.isdigit() or not length_text.isascii()
                  or (length_text[0] == "0" and length_text != "0")):
        return None
    family, bits, version = (
        (socket.AF_INET6, 128, 6) if ":" in address else (socket.AF_INET, 32, 4)
    )
    try:
        packed = socket.inet_pton(family, address)
    except (OSError, ValueError):
        return None
    if socket.inet_ntop(family, packed) != address:
        return None
    length = int(length_text) if slash else bits
    if length > bits:
        return None
    value = int.from_bytes(packed, "big")
    host_bits = value & ((1 << (bits - length)) - 1)
    if host_bits:
        value ^= host_bits
        canonical = f"{socket.inet_ntop(family, value.to_bytes(bits // 8, 'big'))}/{length}"
    elif slash:
        canonical = text
    else:
        canonical = f"{text}/{length}"
    if version == 6 and value >> 32 == 0xFFFF:
        return None
    return netaddr.IPNetwork((value, length), version), canonical


def network_text(network: netaddr.IPNetwork) -> str:
    """``str(network.cidr)``: the storage and ``ovs-ofctl`` form of a prefix.

    netaddr's own ``str()`` goes through several layers of Python and costs
    about 2.5 us. The compiler formats every attachment prefix of a switch,
    and at 100k attachments that was a quarter of the compile time. Here the
    text is built with the same ``inet_ntop`` straight from the integers.
    """
    length = network.prefixlen
    if network.version == 4:
        family, size = socket.AF_INET, 4
    else:
        family, size = socket.AF_INET6, 16
    bits = size * 8
    value = network.value >> (bits - length) << (bits - length)
    return f"{socket.inet_ntop(family, value.to_bytes(size, 'big'))}/{length}"
