"""One switch's OpenFlow channel: xids, requests that wait for replies, errors by xid.

Every request op25b makes of a switch (a barrier, a multipart flow or meter
read) is sent with its own xid and waited for with a timeout, so a switch
that does not answer fails the update instead of hanging it. Error replies
are matched to what caused them by xid (as Faucet's ``Valve.oferror`` does):
an error naming a flow mod is logged with the exact entry, and an error for
a request being waited for ends the wait at once.

No framework import: the parser comes from the datapath object.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from op25b_app.core import constants
from op25b_app.core.flowspec import FlowSpec
from op25b_app.openflow import messages, readback, wire
from op25b_app.openflow.runtime import Runtime

LOG = logging.getLogger("op25b.channel")

#: Flow mods encoded per native-thread call: about SEND_CHUNK_BYTES of bytes.
SLICE_ENTRIES = 2500


class UpdateFailed(Exception):
    """A switch did not confirm an update (error reply, timeout or disconnect)."""


@dataclasses.dataclass
class Pending:
    """One outstanding request: a barrier or a multipart reply being collected."""

    event: Any
    body: list[Any] = dataclasses.field(default_factory=list)


class Channel:
    """Requests to and replies from one connected switch."""

    def __init__(self, dpid: int, datapath: Any, runtime: Runtime, timeout: float) -> None:
        self.dpid = dpid
        self.datapath = datapath
        self.runtime = runtime
        self.timeout = timeout
        self.pending: dict[int, Pending] = {}
        #: (first xid, entries) of each batch of the current update's flow mods.
        self.xid_ranges: list[tuple[int, Sequence[FlowSpec]]] = []
        #: Errors the switch reported since ``reset_errors``.
        self.errors: list[str] = []
        self.table_full = False
        self.closed = False

    @property
    def label(self) -> str:
        return f"{self.dpid:016x}"

    # -- sending ---------------------------------------------------------
    def send_msg(self, msg: Any) -> None:
        """Send one ready-made message (a meter mod, a packet-out)."""
        self.datapath.send_msg(msg)

    def send_specs(self, kind: str, specs: Sequence[FlowSpec], keep_xids: bool = False,
                   bundle: int | None = None) -> None:
        """Flow mods of ``kind`` for ``specs``: built off the event loop, sent in chunks.

        Xids are reserved on the event loop (so they never race Ryu's own echo
        requests). Each slice of about SEND_CHUNK_BYTES is encoded on a native
        thread while the previous one is on its way to the switch, so encoding
        and the switch's own work overlap, and echo replies and other switches
        are never starved by a 100k-entry install. An error reply names its
        entry through the xid ranges kept here (no per-entry bookkeeping).
        """
        dp = self.datapath
        first = messages.reserve_xids(dp, len(specs))
        wrap = None if bundle is None else (bundle, wire.ONF_BF_ATOMIC | wire.ONF_BF_ORDERED)
        if not keep_xids:
            self.xid_ranges = []
        self.xid_ranges.append((first, specs))
        step = SLICE_ENTRIES
        for start in range(0, len(specs), step):
            chunk = self.runtime.run_blocking(messages.encode_slice, kind,
                                              specs[start:start + step], first + start, wrap)
            if not dp.send(chunk):
                raise UpdateFailed(f"switch {self.label}: connection closed while sending")
            self.runtime.sleep(0)

    def spec_for(self, xid: int) -> FlowSpec | None:
        """The entry the flow mod with ``xid`` carried, if it was one of this update's."""
        for first, specs in self.xid_ranges:
            index = (xid - first) & 0xFFFFFFFF
            if index < len(specs):
                return specs[index]
        return None

    def send_raw(self, msgs: Sequence[Any]) -> None:
        """Serialize ready-made messages in chunks (deleting unparseable drift)."""
        for chunk, _xids in messages.serialize_chunks(self.datapath, msgs):
            self.datapath.send(chunk)

    def request(self, req: Any, what: str) -> list[Any]:
        """Send ``req`` and wait for its reply (barrier, or all parts of a multipart).

        Returns the reply bodies. An error reply for ``req`` ends the wait at
        once (see ``on_error``); no answer within the timeout, or a
        disconnect, raises ``UpdateFailed``.
        """
        dp = self.datapath
        dp.set_xid(req)
        pending = Pending(self.runtime.Event())
        self.pending[req.xid] = pending
        try:
            dp.send_msg(req)
            if not pending.event.wait(timeout=self.timeout):
                raise UpdateFailed(f"switch {self.label}: {what} not answered in "
                                   f"{self.timeout:.0f} s")
        finally:
            self.pending.pop(req.xid, None)
        if self.closed:
            raise UpdateFailed(f"switch {self.label}: disconnected during update")
        return pending.body

    def barrier(self) -> None:
        """Wait until the switch has processed everything sent before."""
        self.request(messages.barrier_request(self.datapath), "barrier")

    def read_flows(self, counted_only: bool) -> list[Any]:
        """Flow stats of op25b's entries, read slice by slice (see STATS_SLICES).

        Ryu parses each reply on its event loop without yielding; slices keep
        each parse short so echo replies keep flowing during a 100k read.
        """
        body: list[Any] = []
        for index in range(constants.STATS_SLICES):
            req = messages.flow_stats_request(self.datapath, counted_only=counted_only,
                                              slice_index=index)
            body.extend(self.request(req, "flow read"))
            self.runtime.sleep(0)
        return body

    def reset_errors(self) -> None:
        """Forget the errors of the previous update."""
        self.errors = []
        self.table_full = False

    # -- replies ---------------------------------------------------------
    def on_reply(self, xid: int, body: list[Any], more: bool) -> None:
        """A (part of a) multipart reply: collect it, wake the waiter at the last part."""
        pending = self.pending.get(xid)
        if pending is None:
            return
        pending.body.extend(body)
        if not more:
            pending.event.set()

    def on_barrier(self, xid: int) -> None:
        pending = self.pending.get(xid)
        if pending is not None:
            pending.event.set()

    def error(self, xid: int, err_type: int, code: int) -> tuple[str, str]:
        """Handle an error reply for ``xid``: ``(error name, text naming what failed)``.

        A table-full error is remembered (a capacity problem: reported, never
        retried in a loop); a request being waited for stops waiting now.
        """
        ofp = self.datapath.ofproto
        name = readback.error_name(ofp, err_type, code)
        if readback.is_table_full(ofp, err_type, code):
            self.table_full = True
        spec = self.spec_for(xid)
        what = f"entry [{spec}]" if spec is not None else f"request xid {xid}"
        text = f"switch {self.label} rejected {what}: {name}"
        self.errors.append(text)
        pending = self.pending.get(xid)
        if pending is not None:
            pending.event.set()
        return name, text

    def close(self) -> None:
        """The connection is gone: every waiter wakes and fails."""
        self.closed = True
        for pending in self.pending.values():
            pending.event.set()
