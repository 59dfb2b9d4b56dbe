"""FlowSpec <-> OpenFlow 1.3 messages, through a datapath's own parser.

No framework import: the parser and constants come from the connected
datapath object (``datapath.ofproto_parser`` / ``datapath.ofproto``), so this
module works unchanged under Ryu or os-ken and is unit-tested with a mocked
datapath.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import netaddr

from op25b_app.core import constants
from op25b_app.core.actions import (
    DROP_KIND,
    GOTO_KIND,
    NORMAL_KIND,
    PUNT_MAX_LEN,
    SAMPLE_KIND,
    Action,
)
from op25b_app.core.flowspec import ADDRESS_FIELDS, FlowSpec
from op25b_app.openflow import wire

LOG = logging.getLogger(__name__)

_ADDRESS_FIELDS = frozenset({"ipv4_src", "ipv4_dst", "ipv6_src", "ipv6_dst"})
#: Largest byte string handed to the datapath's send queue at once. Batching
#: thousands of flow mods into few socket writes is what makes a 10k-entry
#: install take well under a second (one queue put per message does not).
SEND_CHUNK_BYTES = 256 * 1024


def _match_kwargs(spec: FlowSpec) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for field, value in spec.match:
        if field in ADDRESS_FIELDS:
            net = netaddr.IPNetwork(str(value))
            full = 32 if net.version == 4 else 128
            kwargs[field] = (str(net.ip) if net.prefixlen == full
                             else (str(net.ip), str(net.netmask)))
        elif field == "ip_frag":
            # A Nicira extension field (OVS's nw_frag), always masked.
            kwargs[field] = constants.IP_FRAG_MATCHES[str(value)]
        else:
            kwargs[field] = value
    return kwargs


def _match(datapath: Any, spec: FlowSpec) -> Any:
    """The OFPMatch of ``spec`` with its fields in FlowSpec's canonical order.

    OpenFlow 1.3 wants every field after its prerequisites (OFPBMC_BAD_PREREQ
    otherwise). Ryu's keyword form sorts by OXM class, which puts an
    experimenter field such as ``ip_frag`` before ``eth_type``; the canonical
    order (eth_type, ip_proto, ip_frag, addresses, ports) is a valid one.
    """
    return datapath.ofproto_parser.OFPMatch(_ordered_fields=list(_match_kwargs(spec).items()))


def _instructions(datapath: Any, actions: Action, cookie: int = 0) -> list[Any]:
    """The OpenFlow instructions of an op25b action (see ``core.actions``)."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    action = Action.parse(actions)
    if action.kind == DROP_KIND:
        return []
    if action.kind == NORMAL_KIND:
        out = parser.OFPActionOutput(ofp.OFPP_NORMAL, 0)
        return [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [out])]
    if action.kind == GOTO_KIND:
        return [parser.OFPInstructionGotoTable(action.target)]
    if action.kind == SAMPLE_KIND:
        # The metadata carries the attachment id to the sample table, so the
        # copy that reaches the controller is still attributable.
        out = parser.OFPActionOutput(ofp.OFPP_NORMAL, 0)
        return [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [out]),
                parser.OFPInstructionWriteMetadata(constants.attachment_of(cookie),
                                                   constants.COOKIE_ATTACHMENT_MAX),
                parser.OFPInstructionGotoTable(action.target)]
    out = parser.OFPActionOutput(ofp.OFPP_CONTROLLER, PUNT_MAX_LEN)
    return [parser.OFPInstructionMeter(action.target),
            parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [out])]


def flow_add(datapath: Any, spec: FlowSpec) -> Any:
    """OFPFC_ADD for ``spec`` (replaces an entry with the same key in place)."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    return parser.OFPFlowMod(
        datapath,
        cookie=spec.cookie,
        table_id=spec.table,
        command=ofp.OFPFC_ADD,
        priority=spec.priority,
        buffer_id=ofp.OFP_NO_BUFFER,
        match=_match(datapath, spec),
        instructions=_instructions(datapath, spec.actions, spec.cookie),
    )


def flow_modify_strict(datapath: Any, spec: FlowSpec) -> Any:
    """OFPFC_MODIFY_STRICT: new instructions, same entry (counters keep counting)."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    return parser.OFPFlowMod(
        datapath,
        cookie=spec.cookie,
        cookie_mask=0xFFFFFFFFFFFFFFFF,
        table_id=spec.table,
        command=ofp.OFPFC_MODIFY_STRICT,
        priority=spec.priority,
        buffer_id=ofp.OFP_NO_BUFFER,
        match=_match(datapath, spec),
        instructions=_instructions(datapath, spec.actions, spec.cookie),
    )


def flow_delete_strict(datapath: Any, spec: FlowSpec) -> Any:
    """OFPFC_DELETE_STRICT for ``spec``, limited to op25b's cookie range."""
    return raw_delete_strict(
        datapath, spec.table, spec.priority, _match(datapath, spec)
    )


def raw_delete_strict(datapath: Any, table: int, priority: int, match: Any) -> Any:
    """Strict delete of an entry known only by its raw match (unparseable drift)."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    return parser.OFPFlowMod(
        datapath,
        cookie=constants.COOKIE_BASE,
        cookie_mask=constants.COOKIE_MASK,
        table_id=table,
        command=ofp.OFPFC_DELETE_STRICT,
        priority=priority,
        out_port=ofp.OFPP_ANY,
        out_group=ofp.OFPG_ANY,
        match=match,
    )


def flow_stats_request(datapath: Any, counted_only: bool = False,
                       slice_index: int | None = None) -> Any:
    """Request op25b's entries (cookie-masked), in all tables.

    ``counted_only`` narrows it to the entries whose packets are (would-be)
    blocked attempts. ``slice_index`` (0..STATS_SLICES-1) narrows it further
    to one slice of attachment ids, so a large table is read in parts.
    """
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    cookie, mask = constants.COOKIE_BASE, constants.COOKIE_MASK
    if counted_only:
        cookie |= constants.COOKIE_COUNTED
        mask |= constants.COOKIE_COUNTED
    if slice_index is not None:
        slice_mask = (constants.STATS_SLICES - 1) << constants.STATS_SLICE_SHIFT
        cookie |= (slice_index << constants.STATS_SLICE_SHIFT) & slice_mask
        mask |= slice_mask
    return parser.OFPFlowStatsRequest(
        datapath,
        0,
        ofp.OFPTT_ALL,
        ofp.OFPP_ANY,
        ofp.OFPG_ANY,
        cookie,
        mask,
        parser.OFPMatch(),
    )


def reserve_xids(datapath: Any, count: int) -> int:
    """Take ``count`` consecutive xids from the datapath's counter; returns the first.

    Reserved on the event loop so messages can then be built on a native
    thread without racing Ryu's own xid use (echo requests).
    """
    first = (datapath.xid + 1) & 0xFFFFFFFF
    datapath.xid = (datapath.xid + count) & 0xFFFFFFFF
    return first


def build_chunks(datapath: Any, kind: str, specs: Sequence[FlowSpec], first_xid: int,
                 bundle: tuple[int, int] | None = None) -> list[tuple[bytes, list[int]]]:
    """Flow mods for ``specs`` as byte chunks: ``[(chunk, xids), ...]``, xids in order.

    ``kind`` is "add", "modify" or "delete"; with ``bundle=(id, flags)`` every
    flow mod travels in an ONF bundle add. Pure CPU work with no event-loop
    state, so the caller runs it on a native thread. Encoded by ``wire`` (the
    fast path); ``ryu_chunks`` is the same through Ryu's serializer.
    """
    return list(wire.chunked(wire.encode(kind, specs, first_xid, bundle), SEND_CHUNK_BYTES))


def encode_slice(kind: str, specs: Sequence[FlowSpec], first_xid: int,
                 bundle: tuple[int, int] | None = None) -> bytes:
    """One slice of ``build_chunks`` as a single byte string (a native-thread job)."""
    return b"".join(data for data, _xid in wire.encode(kind, specs, first_xid, bundle))


def ryu_chunks(datapath: Any, kind: str, specs: Sequence[FlowSpec], first_xid: int,
               limit: int = SEND_CHUNK_BYTES) -> list[tuple[bytes, list[int]]]:
    """``build_chunks`` through Ryu's own message objects: the reference encoding."""
    build = {"add": flow_add, "modify": flow_modify_strict, "delete": flow_delete_strict}[kind]

    def serialized() -> Iterator[tuple[bytes, int]]:
        for index, spec in enumerate(specs):
            msg = build(datapath, spec)
            xid = (first_xid + index) & 0xFFFFFFFF
            msg.set_xid(xid)
            msg.serialize()
            yield bytes(msg.buf), xid

    return list(wire.chunked(serialized(), limit))


def serialize_chunks(datapath: Any, msgs: Iterable[Any]) -> Iterator[tuple[bytes, list[int]]]:
    """Serialize ready-made messages (assigning xids) into byte chunks (small batches)."""

    def serialized() -> Iterator[tuple[bytes, int]]:
        for msg in msgs:
            datapath.set_xid(msg)
            msg.serialize()
            yield bytes(msg.buf), msg.xid

    return wire.chunked(serialized(), SEND_CHUNK_BYTES)


def barrier_request(datapath: Any) -> Any:
    """A barrier: its reply confirms every message sent before it was processed."""
    return datapath.ofproto_parser.OFPBarrierRequest(datapath)


def meter_config_request(datapath: Any) -> Any:
    """Every meter's configuration (asking for one unknown meter is an error on OVS)."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    return parser.OFPMeterConfigStatsRequest(datapath, 0, ofp.OFPM_ALL)


def punt_meter_bands(datapath: Any, rate: int) -> tuple[int, list[tuple[int, int, int]]]:
    """``(flags, [(band type, rate, burst)])`` op25b wants for its punt meter.

    In the form a meter-config reply is compared in: packets per second, a
    burst as large as the rate, and everything above it dropped.
    """
    ofp = datapath.ofproto
    return ofp.OFPMF_PKTPS | ofp.OFPMF_BURST, [(ofp.OFPMBT_DROP, rate, rate)]


def meter_mod(datapath: Any, meter_id: int, rate: int, exists: bool) -> Any:
    """Add (or modify, if it ``exists``) op25b's punt meter at ``rate`` packets/s."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    flags, _bands = punt_meter_bands(datapath, rate)
    return parser.OFPMeterMod(datapath, command=ofp.OFPMC_MODIFY if exists else ofp.OFPMC_ADD,
                              flags=flags, meter_id=meter_id,
                              bands=[parser.OFPMeterBandDrop(rate=rate, burst_size=rate)])


def packet_out(datapath: Any, port: int, data: bytes) -> Any:
    """Send ``data`` out of ``port`` (a TCP RST answering a blocked SYN)."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    return parser.OFPPacketOut(datapath, buffer_id=ofp.OFP_NO_BUFFER,
                               in_port=ofp.OFPP_CONTROLLER,
                               actions=[parser.OFPActionOutput(port, 0)], data=data)


def set_config(datapath: Any, flags: int, miss_send_len: int) -> Any:
    """OFPT_SET_CONFIG: the switch's fragment handling (``flags``) and packet-in size."""
    return datapath.ofproto_parser.OFPSetConfig(datapath, flags, miss_send_len)


def get_config_request(datapath: Any) -> Any:
    """OFPT_GET_CONFIG_REQUEST: read back what the switch really does with fragments."""
    return datapath.ofproto_parser.OFPGetConfigRequest(datapath)


def bundle_control(datapath: Any, bundle_id: int, control: int) -> Any:
    """An ONF bundle control request (open, commit or discard) for an atomic update."""
    return datapath.ofproto_parser.ONFBundleCtrlMsg(
        datapath, bundle_id, control, wire.ONF_BF_ATOMIC | wire.ONF_BF_ORDERED, [])
