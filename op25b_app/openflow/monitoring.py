"""What the abuse desk sees: blocked-attempt counters and sampled SYN headers.

Every blocked (or, in monitor mode, would-be blocked) entry carries its
attachment id in the cookie, so its packet counter is that subscriber's count.
The counter poll reads only the counted entries, attributes what is new since
the last read, and stores it in hourly buckets; sampled SYNs (through the punt
meter) are recorded by their headers only - addresses, port, time, never
payload - and, with ``block-action reject``, answered with a TCP RST.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from op25b_app.core import constants, packets
from op25b_app.core.snapshot import PolicySnapshot
from op25b_app.db.counters import CountDelta, Sample
from op25b_app.openflow import messages, readback
from op25b_app.openflow.runtime import Runtime
from op25b_app.openflow.session import SwitchSession

LOG = logging.getLogger("op25b.monitoring")

#: Samples kept in memory while the database is unreachable (then dropped).
MAX_BUFFERED_SAMPLES = 10_000
#: An entry whose installation time moved by more than this was replaced.
REINSTALL_TOLERANCE_S = 2.0


class Monitor:
    """Counter polls and packet-ins for every switch of one controller."""

    def __init__(self, runtime: Runtime, source: Callable[[], Any],
                 snapshot: Callable[[], PolicySnapshot | None], block_action: str,
                 retention: dt.timedelta, metrics: Any = None) -> None:
        self.runtime = runtime
        self._source = source
        self._snapshot = snapshot
        self.block_action = block_action
        self.retention = retention
        self.metrics = metrics
        self.rejects_sent = 0
        self._samples: list[Sample] = []
        self._account_cache: dict[int, tuple[PolicySnapshot, dict[int, str]]] = {}

    def accounts(self, dpid: int) -> dict[int, str]:
        """attachment id -> account for ``dpid`` in the current snapshot (built once).

        Packet-ins and counter polls both attribute by attachment id; a scan of
        100k attachments per sampled packet would be the wrong place to pay.
        """
        snap = self._snapshot()
        if snap is None:
            return {}
        cached = self._account_cache.get(dpid)
        if cached is None or cached[0] is not snap:
            cached = (snap, {r.attachment_id: r.account for r in snap.attachments_for(dpid)})
            self._account_cache[dpid] = cached
        return cached[1]

    def poll(self, session: SwitchSession) -> list[CountDelta]:
        """Read the counted entries' packet counts and record what is new.

        Each entry is identified by cookie+table+priority+match; a count lower
        than last time, or a different installation time, means the entry was
        replaced, so its whole count is new. Only entries whose count moved are
        stored (a switch with 100k idle blocked subscribers costs nothing), and
        the last counts live in the database, so a restarted controller does
        not count the same packets twice.
        """
        source = self._source()
        if session.counter_marks is None:
            loader = getattr(source, "load_marks", None)
            session.counter_marks = (self.runtime.run_blocking(loader, session.dpid)
                                     if loader else {})
        body = session.channel.read_flows(counted_only=True)
        rows = self.runtime.run_blocking(readback.counter_rows, session.datapath, body)
        changed, deltas = self._deltas(session, rows)
        recorder = getattr(source, "record_counts", None)
        mine = [x for x in self._samples if x.dpid == session.dpid]
        if mine:
            self._samples = [x for x in self._samples if x.dpid != session.dpid]
        if recorder is not None and (deltas or changed or mine):
            self.runtime.run_blocking(recorder, session.dpid, deltas, changed,
                                      self.runtime.now(), self.retention, mine)
        return deltas

    def _deltas(self, session: SwitchSession, rows: list[tuple[str, int, bool, int, float]],
                ) -> tuple[dict[str, tuple[int, float]], list[CountDelta]]:
        accounts = self.accounts(session.dpid)
        marks = session.counter_marks if session.counter_marks is not None else {}
        changed: dict[str, tuple[int, float]] = {}
        deltas: list[CountDelta] = []
        wall = time.time()
        for key, cookie, passed, count, duration in rows:
            # When the entry was installed: stable from poll to poll, so an
            # entry replaced since the last read is recognised even if its
            # new count happens to be higher than the old one.
            installed = wall - duration
            prev = marks.get(key)
            replaced = (prev is None or count < prev[0]
                        or abs(installed - prev[1]) > REINSTALL_TOLERANCE_S)
            delta = count if replaced else count - prev[0]  # type: ignore[index]
            if delta <= 0:
                continue
            changed[key] = marks[key] = (count, installed)
            attachment_id = constants.attachment_of(cookie)
            mode = constants.MODE_MONITOR if passed else constants.MODE_ENFORCE
            account = accounts.get(attachment_id)
            deltas.append(CountDelta(session.dpid, attachment_id, account, mode, delta))
            if self.metrics is not None:
                self.metrics.blocked_packets.labels(session.label, mode).inc(delta)
                label = self.metrics.account_label(account)
                self.metrics.subscriber_blocked_packets.labels(label, mode).inc(delta)
        return changed, deltas

    def on_packet_in(self, session: SwitchSession, cookie: int, in_port: int | None,
                     data: bytes, metadata: int | None = None) -> None:
        """A blocked SYN came up through the punt meter: record its headers, maybe reject."""
        if not constants.is_op25b_cookie(cookie):
            return
        headers = packets.parse_tcp(data)
        if headers is None or headers.dport != constants.SMTP_PORT:
            return
        # A monitor-mode copy comes from the sample table: its attachment id
        # travelled in the metadata, and the original was forwarded, so it is
        # never answered with a RST.
        copy = constants.band_of(cookie) == constants.Band.SAMPLE
        attachment_id = (metadata or 0) if copy else constants.attachment_of(cookie)
        account = self.accounts(session.dpid).get(attachment_id) if attachment_id else None
        if len(self._samples) < MAX_BUFFERED_SAMPLES:
            self._samples.append(Sample(self.runtime.now(), session.dpid, attachment_id,
                                        account, headers.src, headers.dst, headers.dport))
        if (self.block_action == "reject" and in_port is not None and not copy
                and headers.flags & packets.FLAG_SYN and not headers.flags & packets.FLAG_ACK):
            session.channel.send_msg(messages.packet_out(session.datapath, in_port,
                                                         packets.build_rst(headers)))
            self.rejects_sent += 1

    def take_samples(self) -> list[Sample]:
        samples, self._samples = self._samples, []
        return samples
