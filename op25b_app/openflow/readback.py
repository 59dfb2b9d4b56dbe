"""OpenFlow 1.3 replies -> op25b's terms: flow stats to FlowSpecs, counters, errors.

The inverse of ``messages``: what a switch reports (its entries, their
counters, its error replies) is read back into the pure core's vocabulary so
the reconciler can diff it. No framework import: constants come from the
datapath's own ``ofproto``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import netaddr

from op25b_app.core import constants
from op25b_app.core.actions import DROP, NORMAL, Action, goto, punt, sample
from op25b_app.core.errors import FlowSpecError
from op25b_app.core.flowspec import ADDRESS_FIELDS, FlowSpec

LOG = logging.getLogger(__name__)


def _parse_actions(datapath: Any, instructions: list[Any]) -> Action | None:
    """The op25b action these instructions express; None when not in op25b's shape."""
    ofp = datapath.ofproto
    if not instructions:
        return DROP
    kinds = [inst.type for inst in instructions]
    if kinds == [ofp.OFPIT_APPLY_ACTIONS, ofp.OFPIT_WRITE_METADATA, ofp.OFPIT_GOTO_TABLE]:
        acts = list(instructions[0].actions)
        if len(acts) == 1 and getattr(acts[0], "port", None) == ofp.OFPP_NORMAL:
            return sample(instructions[2].table_id)
    if len(instructions) == 2 and instructions[0].type == ofp.OFPIT_METER \
            and instructions[1].type == ofp.OFPIT_APPLY_ACTIONS:
        acts = list(instructions[1].actions)
        if len(acts) == 1 and getattr(acts[0], "port", None) == ofp.OFPP_CONTROLLER:
            return punt(instructions[0].meter_id)
    if len(instructions) == 1:
        inst = instructions[0]
        if inst.type == ofp.OFPIT_GOTO_TABLE:
            return goto(inst.table_id)
        if inst.type == ofp.OFPIT_APPLY_ACTIONS:
            acts = list(inst.actions)
            if not acts:
                return DROP
            if len(acts) == 1 and getattr(acts[0], "port", None) == ofp.OFPP_NORMAL:
                return NORMAL
    # Anything else is not ours to have written: the caller deletes it.
    return None


#: (value, mask) of an ip_frag match -> its name (see constants.IP_FRAG_MATCHES).
_IP_FRAG_NAMES = {pair: name for name, pair in constants.IP_FRAG_MATCHES.items()}


def _canonical_value(field: str, value: Any) -> Any:
    if field == "ip_frag":
        pair = value if isinstance(value, tuple) else (value, 0xFF)
        name = _IP_FRAG_NAMES.get((pair[0] & pair[1] & 3, pair[1] & 3))
        if name is None:
            raise FlowSpecError("ip_frag", value, "not a fragment match op25b writes")
        return name
    if field in ADDRESS_FIELDS:
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
            if actions is None:
                raise FlowSpecError(f"field 'actions' of cookie {stat.cookie:#x}: not op25b's")
            yield FlowSpec.make(stat.table_id, stat.priority, match, actions, stat.cookie), stat
        except (FlowSpecError, ValueError, netaddr.AddrFormatError) as exc:
            LOG.info("entry with op25b cookie not in op25b's shape, will delete: %s", exc)
            yield None, stat


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
        passed = actions is not None and actions.forwards
        key = f"{stat.cookie:x}/{stat.table_id}/{stat.priority}/{sorted(stat.match.items())}"
        rows.append((key, stat.cookie, passed, packets,
                     stat.duration_sec + stat.duration_nsec / 1e9))
    return rows


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
