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
from op25b_app.core.flowspec import (
    PUNT_MAX_LEN,
    PUNT_PREFIX,
    SAMPLE_PREFIX,
    FlowSpec,
    FlowSpecError,
    punt_meter,
)

LOG = logging.getLogger(__name__)

_ADDRESS_FIELDS = frozenset({"ipv4_src", "ipv4_dst", "ipv6_src", "ipv6_dst"})
#: Largest byte string handed to the datapath's send queue at once. Batching
#: thousands of flow mods into few socket writes is what makes a 10k-entry
#: install take well under a second (one queue put per message does not).
SEND_CHUNK_BYTES = 256 * 1024


def _match_kwargs(spec: FlowSpec) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for field, value in spec.match:
        if field in _ADDRESS_FIELDS:
            net = netaddr.IPNetwork(str(value))
            full = 32 if net.version == 4 else 128
            kwargs[field] = (str(net.ip) if net.prefixlen == full
                             else (str(net.ip), str(net.netmask)))
        else:
            kwargs[field] = value
    return kwargs


def _instructions(datapath: Any, actions: str, cookie: int = 0) -> list[Any]:
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    if actions == "drop":
        return []
    if actions == "normal":
        out = parser.OFPActionOutput(ofp.OFPP_NORMAL, 0)
        return [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [out])]
    if actions.startswith("goto:"):
        return [parser.OFPInstructionGotoTable(int(actions.split(":", 1)[1]))]
    if actions.startswith(SAMPLE_PREFIX):
        # The metadata carries the attachment id to the sample table, so the
        # copy that reaches the controller is still attributable.
        out = parser.OFPActionOutput(ofp.OFPP_NORMAL, 0)
        return [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [out]),
                parser.OFPInstructionWriteMetadata(constants.attachment_of(cookie),
                                                   constants.COOKIE_ATTACHMENT_MAX),
                parser.OFPInstructionGotoTable(int(actions[len(SAMPLE_PREFIX):]))]
    if actions.startswith(PUNT_PREFIX):
        out = parser.OFPActionOutput(ofp.OFPP_CONTROLLER, PUNT_MAX_LEN)
        return [parser.OFPInstructionMeter(punt_meter(actions)),
                parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [out])]
    raise FlowSpecError(f"field 'actions' value {actions!r}: not an op25b action")


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
        match=parser.OFPMatch(**_match_kwargs(spec)),
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
        match=parser.OFPMatch(**_match_kwargs(spec)),
        instructions=_instructions(datapath, spec.actions, spec.cookie),
    )


def flow_delete_strict(datapath: Any, spec: FlowSpec) -> Any:
    """OFPFC_DELETE_STRICT for ``spec``, limited to op25b's cookie range."""
    return raw_delete_strict(
        datapath, spec.table, spec.priority, datapath.ofproto_parser.OFPMatch(**_match_kwargs(spec))
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


def _parse_actions(datapath: Any, instructions: list[Any]) -> str:
    ofp = datapath.ofproto
    if not instructions:
        return "drop"
    kinds = [inst.type for inst in instructions]
    if kinds == [ofp.OFPIT_APPLY_ACTIONS, ofp.OFPIT_WRITE_METADATA, ofp.OFPIT_GOTO_TABLE]:
        acts = list(instructions[0].actions)
        if len(acts) == 1 and getattr(acts[0], "port", None) == ofp.OFPP_NORMAL:
            return f"{SAMPLE_PREFIX}{instructions[2].table_id}"
    if len(instructions) == 2 and instructions[0].type == ofp.OFPIT_METER \
            and instructions[1].type == ofp.OFPIT_APPLY_ACTIONS:
        acts = list(instructions[1].actions)
        if len(acts) == 1 and getattr(acts[0], "port", None) == ofp.OFPP_CONTROLLER:
            return f"{PUNT_PREFIX}{instructions[0].meter_id}"
    if len(instructions) == 1:
        inst = instructions[0]
        if inst.type == ofp.OFPIT_GOTO_TABLE:
            return f"goto:{inst.table_id}"
        if inst.type == ofp.OFPIT_APPLY_ACTIONS:
            acts = list(inst.actions)
            if not acts:
                return "drop"
            if len(acts) == 1 and getattr(acts[0], "port", None) == ofp.OFPP_NORMAL:
                return "normal"
    # Anything else is not ours to have written: make it differ from every
    # desired spec so the reconciler replaces it.
    return "foreign"


def _canonical_value(field: str, value: Any) -> Any:
    if field in _ADDRESS_FIELDS:
        if isinstance(value, tuple):
            addr, mask = value
            return str(netaddr.IPNetwork(f"{addr}/{mask}").cidr)
        return str(netaddr.IPNetwork(str(value)).cidr)
    return value


def parse_flow_stats(datapath: Any, stats: Iterable[Any]) -> Iterator[tuple[FlowSpec | None, Any]]:
    """Yield ``(FlowSpec or None, raw stat)`` for each entry read back.

    None means the entry carries op25b's cookie but cannot be expressed as a
    FlowSpec (added by hand with other fields): the caller deletes it.
    """
    for stat in stats:
        try:
            match = {f: _canonical_value(f, v) for f, v in stat.match.items()}
            actions = _parse_actions(datapath, list(stat.instructions))
            if actions == "foreign":
                raise FlowSpecError(f"field 'actions' of cookie {stat.cookie:#x}: not op25b's")
            yield FlowSpec.make(stat.table_id, stat.priority, match, actions, stat.cookie), stat
        except (FlowSpecError, ValueError, netaddr.AddrFormatError) as exc:
            LOG.info("entry with op25b cookie not in op25b's shape, will delete: %s", exc)
            yield None, stat


def reserve_xids(datapath: Any, count: int) -> int:
    """Take ``count`` consecutive xids from the datapath's counter; returns the first.

    Reserved on the event loop so messages can then be built on a native
    thread without racing Ryu's own xid use (echo requests).
    """
    first = (datapath.xid + 1) & 0xFFFFFFFF
    datapath.xid = (datapath.xid + count) & 0xFFFFFFFF
    return first


def build_chunks(datapath: Any, kind: str, specs: Sequence[FlowSpec],
                 first_xid: int) -> list[tuple[bytes, list[int]]]:
    """Build and serialize flow mods for ``specs`` into byte chunks.

    ``kind`` is "add", "modify" or "delete". Pure CPU work with no event-loop state, so
    the enforcer runs it on a native thread: serializing 100k flow mods takes
    seconds, and the event loop must keep answering echo requests meanwhile.
    Returns ``[(chunk, xids), ...]`` with xids in ``specs`` order.
    """
    build = {"add": flow_add, "modify": flow_modify_strict, "delete": flow_delete_strict}[kind]

    def serialized() -> Iterator[tuple[bytes, int]]:
        for index, spec in enumerate(specs):
            msg = build(datapath, spec)
            xid = (first_xid + index) & 0xFFFFFFFF
            msg.set_xid(xid)
            msg.serialize()
            yield bytes(msg.buf), xid

    return list(_chunked(serialized()))


def counter_rows(datapath: Any, stats: Iterable[Any]) -> list[tuple[str, int, bool, int, float]]:
    """``(key, cookie, passed, packets, duration)`` of counted entries that saw packets.

    Cheaper than ``parse_flow_stats`` (no FlowSpec validation): the counter
    poll reads every counted entry each interval, and most have no packets.
    ``passed`` is True when the entry forwards (monitor mode), False when it
    drops or punts (enforced).
    """
    rows = []
    for stat in stats:
        packets = int(stat.packet_count)
        if packets <= 0 or not constants.is_counted(stat.cookie):
            continue
        actions = _parse_actions(datapath, list(stat.instructions))
        passed = actions == "normal" or actions.startswith(("goto:", SAMPLE_PREFIX))
        key = f"{stat.cookie:x}/{stat.table_id}/{stat.priority}/{sorted(stat.match.items())}"
        rows.append((key, stat.cookie, passed, packets,
                     stat.duration_sec + stat.duration_nsec / 1e9))
    return rows


def serialize_chunks(datapath: Any, msgs: Iterable[Any]) -> Iterator[tuple[bytes, list[int]]]:
    """Serialize ready-made messages (assigning xids) into byte chunks (small batches)."""

    def serialized() -> Iterator[tuple[bytes, int]]:
        for msg in msgs:
            datapath.set_xid(msg)
            msg.serialize()
            yield bytes(msg.buf), msg.xid

    return _chunked(serialized())


def _chunked(messages: Iterable[tuple[bytes, int]]) -> Iterator[tuple[bytes, list[int]]]:
    """Group serialized ``(bytes, xid)`` messages into ``(chunk, xids)`` of about
    SEND_CHUNK_BYTES: one socket write per chunk instead of one per flow mod,
    while a chunk stays small enough to interleave with echo replies."""
    buf: list[bytes] = []
    xids: list[int] = []
    size = 0
    for data, xid in messages:
        buf.append(data)
        xids.append(xid)
        size += len(data)
        if size >= SEND_CHUNK_BYTES:
            yield b"".join(buf), xids
            buf, xids, size = [], [], 0
    if buf:
        yield b"".join(buf), xids


_ERROR_CODE_PREFIX = {
    "OFPET_BAD_REQUEST": "OFPBRC_",
    "OFPET_BAD_ACTION": "OFPBAC_",
    "OFPET_BAD_INSTRUCTION": "OFPBIC_",
    "OFPET_BAD_MATCH": "OFPBMC_",
    "OFPET_FLOW_MOD_FAILED": "OFPFMFC_",
    "OFPET_TABLE_FEATURES_FAILED": "OFPTFFC_",
    "OFPET_METER_MOD_FAILED": "OFPMMFC_",
}


def error_name(ofp: Any, err_type: int, code: int) -> str:
    """``OFPET_FLOW_MOD_FAILED/OFPFMFC_TABLE_FULL`` style name for an error."""
    type_name = next(
        (n for n in dir(ofp) if n.startswith("OFPET_") and getattr(ofp, n) == err_type),
        f"type {err_type}",
    )
    prefix = _ERROR_CODE_PREFIX.get(type_name)
    code_name = f"code {code}"
    if prefix:
        code_name = next(
            (n for n in dir(ofp) if n.startswith(prefix) and getattr(ofp, n) == code), code_name
        )
    return f"{type_name}/{code_name}"


def is_table_full(ofp: Any, err_type: int, code: int) -> bool:
    """Table full is a capacity problem: report it, never retry in a loop."""
    return err_type == ofp.OFPET_FLOW_MOD_FAILED and code == ofp.OFPFMFC_TABLE_FULL
