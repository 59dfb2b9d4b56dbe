"""Recognise op25b's own entries in a flow-stats read by their bytes.

Reading a 100k-entry switch back used to cost seconds of parsing (Ryu's
objects, then FlowSpecs validated field by field) on every reconcile, and
the switch's changes waited behind it. But the entries a switch reports are
nearly always exactly the ones op25b wrote: so the specs the session expects
are encoded (``wire.Encoder``, microseconds each) into a key of their table,
priority, cookie, match fields and instructions, and each reported entry
whose key is known *is* that spec. Only the rest (drift, other shapes) goes
through the full parse in ``readback``. Match fields are compared as a
sorted set of OXM TLVs, because a switch may report them in its own order.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from op25b_app.core.flowspec import FlowSpec
from op25b_app.openflow import wire

#: Size of the fixed part of an OpenFlow 1.3 flow-stats entry (before the match).
FLOW_STATS_HEAD = 48
_MATCH_HEAD = struct.Struct("!HH")

EntryKey = tuple[int, int, int, tuple[bytes, ...], bytes]

#: An ip_frag match masked with 0x03 is exact for that field: OVS reports it
#: without the mask (NXM_NX_IP_FRAG, one byte), so it is compared that way.
_IP_FRAG_MASKED = b"\x00\x01\x35\x02"
_IP_FRAG_EXACT = b"\x00\x01\x34\x01"
_IP_FRAG_FULL_MASK = 0x03


def entry_key(table: int, priority: int, cookie: int, tail: bytes) -> EntryKey:
    """The key of an entry from its ofp_match + instructions bytes (``tail``)."""
    _type, length = _MATCH_HEAD.unpack_from(tail, 0)
    tlvs = []
    offset = 4
    while offset < length:
        size = 4 + tail[offset + 3]
        tlv = tail[offset:offset + size]
        if tlv[:4] == _IP_FRAG_MASKED and tlv[5] == _IP_FRAG_FULL_MASK:
            tlv = _IP_FRAG_EXACT + tlv[4:5]
        tlvs.append(tlv)
        offset += size
    tlvs.sort()
    return table, priority, cookie, tuple(tlvs), tail[length + (-length % 8):]


def keys_of(specs: Iterable[FlowSpec]) -> dict[EntryKey, FlowSpec]:
    """Key -> spec for the entries a switch is expected to hold."""
    encoder = wire.Encoder()
    return {entry_key(spec.table, spec.priority, spec.cookie,
                      encoder.match(spec) + encoder.instructions(spec)): spec
            for spec in specs}


def recognise(stats: list[Any], expected: Iterable[FlowSpec]) -> tuple[list[FlowSpec],
                                                                        list[Any]]:
    """``(specs recognised, stats left to parse)`` of a flow-stats read.

    A stat without raw bytes (a framework that parsed it eagerly, a test's
    object) is always left to parse.
    """
    known = keys_of(expected)
    found: list[FlowSpec] = []
    rest: list[Any] = []
    for stat in stats:
        raw = getattr(stat, "raw", None)
        spec = None
        if raw is not None and known:
            try:
                spec = known.get(entry_key(stat.table_id, stat.priority, stat.cookie,
                                           raw[FLOW_STATS_HEAD:]))
            except (struct.error, IndexError):
                spec = None
        if spec is None:
            rest.append(stat)
        else:
            found.append(spec)
    return found, rest
