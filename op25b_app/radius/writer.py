"""The writer thread: batches of accounting events committed, then answered.

A batch is one service transaction. If the service refuses it (a request
that passed its checks still conflicts with the stored data), each request
is retried alone, so one bad request never costs the others their reply; the
refused one gets none (the BNG retransmits and the log says why). If the
database is unreachable, nothing is answered and the BNG's retransmissions
are processed afresh once it is back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from op25b_app.radius.config import RadiusConfig
from op25b_app.radius.metrics import RadiusMetrics
from op25b_app.service import (
    AccountingEvent,
    DatabaseUnavailable,
    ExpiryPolicy,
    PolicyService,
    ServiceError,
)

log = logging.getLogger(__name__)

#: How long an answered request's reply is kept for its retransmissions.
DUPLICATE_WINDOW_S = 30.0
_IDLE_WAIT_S = 0.2
_IN_FLIGHT = b""


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """A verified request waiting for its commit."""

    status: str
    event: AccountingEvent | None
    reply: bytes
    sock: socket.socket
    source: Any
    key: tuple[Any, ...]
    received: float


class Writer:
    """Commits queued requests in batches and answers them; sweeps expired sessions."""

    def __init__(self, service: PolicyService, requests: queue.Queue[Pending | None],
                 metrics: RadiusMetrics, config: Callable[[], RadiusConfig]) -> None:
        self.service = service
        self._queue = requests
        self._metrics = metrics
        self._config = config
        self._lock = threading.Lock()
        #: request key -> (when answered, reply; b"" while in flight)
        self._answered: dict[tuple[Any, ...], tuple[float, bytes]] = {}
        self._next_sweep = 0.0

    def replay(self, key: tuple[Any, ...], sock: socket.socket, source: Any) -> bool:
        """Handle a retransmission: resend an answered request's reply, drop one in flight.

        Returns False (and marks it in flight) for a request not seen before.
        """
        with self._lock:
            seen = self._answered.get(key)
            if seen is None:
                self._answered[key] = (time.monotonic(), _IN_FLIGHT)
                return False
        if seen[1] != _IN_FLIGHT:
            sock.sendto(seen[1], source)
        return True

    def run(self) -> None:
        """Take batches until the ``None`` that ``RadiusServer.stop`` queues."""
        while True:
            try:
                first = self._queue.get(timeout=_IDLE_WAIT_S)
            except queue.Empty:
                self._housekeeping()
                continue
            batch: list[Pending] = []
            done = first is None
            if first is not None:
                batch.append(first)
            while not done and len(batch) < self._config().batch_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                else:
                    batch.append(item)
            if batch:
                self._commit(batch)
            self._housekeeping()
            if done:
                return

    def _commit(self, batch: list[Pending]) -> None:
        config = self._config()
        expiry = ExpiryPolicy(config.missed_interims, dt.timedelta(seconds=config.default_interim_interval))
        events = [p.event for p in batch if p.event is not None]
        try:
            outcomes = iter(self.service.apply_accounting(events, expiry) if events else [])
        except DatabaseUnavailable as error:
            log.error("database unavailable, %d request(s) left unanswered (the NAS "
                      "retransmits): %s", len(batch), error)
            self._forget(batch, "database-error")
            return
        except ServiceError as error:
            if len(batch) > 1:
                for pending in batch:
                    self._commit([pending])
                return
            log.error("request %s from %s refused: %s", batch[0].status, batch[0].source[0],
                      error)
            self._forget(batch, "rejected")
            return
        self._metrics.commit_seconds.observe(time.monotonic() - batch[0].received)
        self._metrics.batch_size.observe(len(batch))
        now = time.monotonic()
        for pending in batch:
            result = next(outcomes) if pending.event is not None else "unsupported"
            with self._lock:
                self._answered[pending.key] = (now, pending.reply)
            try:
                pending.sock.sendto(pending.reply, pending.source)
            except OSError as error:
                log.warning("reply to %s not sent: %s", pending.source[0], error)
            self._metrics.requests.labels(pending.status, result).inc()

    def _forget(self, batch: list[Pending], result: str) -> None:
        """Unanswered: a retransmission must be processed, not taken for a duplicate."""
        with self._lock:
            for pending in batch:
                self._answered.pop(pending.key, None)
        for pending in batch:
            self._metrics.requests.labels(pending.status, result).inc()

    def _housekeeping(self) -> None:
        """Forget old replies; sweep expired sessions and count the live ones when due."""
        now = time.monotonic()
        with self._lock:
            old = [k for k, (at, reply) in self._answered.items()
                   if reply != _IN_FLIGHT and now - at > DUPLICATE_WINDOW_S]
            for key in old:
                del self._answered[key]
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._config().sweep_interval
        try:
            expired = self.service.expire_sessions()
            if expired:
                self._metrics.expired.inc(expired)
                log.info("%d session(s) expired (missed interim updates or lease over)",
                         expired)
            self._metrics.live_sessions.set(self.service.live_session_count())
        except ServiceError as error:
            log.error("expiry sweep failed: %s", error)
