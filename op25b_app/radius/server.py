"""``op25b radius``: the accounting server's process - sockets, batching, replies, signals.

Threads, and why:

* one **receiver** per listening socket reads datagrams, verifies them
  (``packets.decode``) and queues the checked events; a duplicate of a
  request already answered gets the same reply again, one still in flight
  gets nothing (its reply follows the commit);
* one **writer** takes everything queued (up to ``batch_max``), applies it in
  one service transaction and only then sends the replies: the
  Accounting-Response promises the change is committed, and one commit for
  many requests is what lets a single process answer thousands a second.
  It also runs the expiry sweep every ``sweep_interval``;
* the **main** thread waits for signals: SIGTERM/SIGINT stop reading, let
  the writer commit and answer what was received, close the sockets and
  return (exit 0); SIGHUP re-reads the client list.

No Ryu, no eventlet: plain threads around blocking sockets; the database is
the bottleneck, not Python.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pyrad.dictionary import Dictionary

from op25b_app.radius.config import ConfigError, RadiusConfig, load_config
from op25b_app.radius.metrics import RadiusMetrics
from op25b_app.radius.packets import Dropped, decode
from op25b_app.radius.sockets import bind_udp, start_metrics
from op25b_app.radius.writer import Pending, Writer
from op25b_app.service import PolicyService, ServiceError

log = logging.getLogger(__name__)

DICTIONARY = Path(__file__).with_name("dictionary")
#: Drops of one kind from one source are logged at most this often.
DROP_LOG_INTERVAL_S = 60.0
_POLL_S = 0.2


class RadiusServer:
    """The accounting server: ``start()``, then ``stop()`` (or ``serve()`` until a signal)."""

    def __init__(self, service: PolicyService, config: RadiusConfig,
                 config_path: Path | None = None) -> None:
        self.config = config
        self.metrics = RadiusMetrics()
        self._config_path = config_path
        self._dictionary = Dictionary(str(DICTIONARY))
        self._queue: queue.Queue[Pending | None] = queue.Queue()
        self._writer = Writer(service, self._queue, self.metrics, lambda: self.config)
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._receiving = threading.Event()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._drop_logged: dict[tuple[str, str], float] = {}
        self._metrics_server: Callable[[], None] | None = None
        self._clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where the server listens (the ports the OS chose for port 0)."""
        return [s.getsockname()[:2] for s in self._sockets]

    def start(self) -> None:
        """Bind every listen address and start the threads (raises OSError if one cannot)."""
        self._sockets = [bind_udp(address) for address in self.config.listen]
        if self.config.metrics_listen:
            self._metrics_server = start_metrics(self.config.metrics_listen,
                                                 self.metrics.registry)
        self._receiving.set()
        self._threads = [threading.Thread(target=self._receive_loop, args=(s,),
                                          name=f"radius-recv-{i}", daemon=True)
                         for i, s in enumerate(self._sockets)]
        self._threads.append(threading.Thread(target=self._writer.run, name="radius-writer",
                                              daemon=True))
        for thread in self._threads:
            thread.start()
        log.info("op25b radius listening on %s (%d client(s): %s)",
                 ", ".join(f"{h}:{p}" for h, p in self.addresses), len(self.config.clients),
                 ", ".join(c.name for c in self.config.clients) or "none")

    def stop(self) -> None:
        """Stop in order: no more reading, commit and answer what was read, close."""
        self._receiving.clear()
        for thread in self._threads[:-1]:
            thread.join(timeout=5)
        self._queue.put(None)
        self._threads[-1].join(timeout=30)
        for sock in self._sockets:
            sock.close()
        if self._metrics_server is not None:
            self._metrics_server()
        log.info("op25b radius stopped")

    def serve(self) -> None:
        """Run until SIGTERM/SIGINT; SIGHUP reloads the clients."""
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            self.start()
            while not self._stop.is_set():
                self._stop.wait(_POLL_S)
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        else:
            log.info("op25b radius stopping (signal %d)", signum)
            self._stop.set()

    def reload(self) -> None:
        """Re-read the client list (listen addresses stay); a bad file changes nothing."""
        try:
            new = load_config(self._config_path)
        except ConfigError as error:
            log.error("SIGHUP: config not reloaded, the old clients stay: %s", error)
            return
        self.config = dataclasses.replace(new, listen=self.config.listen,
                                          metrics_listen=self.config.metrics_listen)
        log.info("SIGHUP: reloaded %d client(s): %s", len(new.clients),
                 ", ".join(f"{c.name} ({c.network})" for c in new.clients) or "none")

    def _receive_loop(self, sock: socket.socket) -> None:
        sock.settimeout(_POLL_S)
        while self._receiving.is_set():
            try:
                data, source = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                if self._receiving.is_set():
                    log.exception("receiving failed")
                return
            try:
                self._receive(sock, data, source)
            except Exception:  # noqa: BLE001 - one bad datagram must not stop the server
                log.exception("request from %s not handled", source[0])

    def _receive(self, sock: socket.socket, data: bytes,
                 source: tuple[str, int] | tuple[str, int, int, int]) -> None:
        config = self.config
        client = config.client_for(source[0])
        if client is None:
            self._drop("unknown-client", source[0], "")
            return
        try:
            request = decode(data, client, config, self._dictionary, self._clock())
        except Dropped as dropped:
            self._drop(dropped.reason, source[0], dropped.detail)
            return
        key = (source[0], source[1], data[1], data[4:20])
        if self._writer.replay(key, sock, source):
            self.metrics.requests.labels(request.status, "duplicate").inc()
            return
        event = request.event
        if event is not None:
            try:
                event = self._writer.service.check_accounting_event(event)
            except ServiceError as error:
                self.metrics.requests.labels(request.status, "invalid").inc()
                self._log_once("invalid", source[0], f"{client.name}: {error}")
                return
        self._queue.put(Pending(request.status, event, request.reply, sock, source, key,
                                time.monotonic()))

    def _drop(self, reason: str, source: str, detail: str) -> None:
        self.metrics.dropped.labels(reason).inc()
        self._log_once(reason, source, detail)

    def _log_once(self, reason: str, source: str, detail: str) -> None:
        """Log a drop once per source and reason per minute (a flood must not fill the log)."""
        now = time.monotonic()
        last = self._drop_logged.get((reason, source))
        if last is not None and now - last < DROP_LOG_INTERVAL_S:
            return
        self._drop_logged[(reason, source)] = now
        log.warning("dropped a request from %s: %s%s (further ones from it logged at most "
                    "once a minute)", source, reason, f" ({detail})" if detail else "")
