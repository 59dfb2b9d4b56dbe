"""Prometheus metrics of the controller (prometheus_client).

Why a registry of our own: tests and a second app in the same Ryu process
must not collide with the default global registry. Per-subscriber series are
bounded: the first ``subscriber_limit`` accounts seen get their own label,
every further one is summed into ``account="_other"`` so an outbreak cannot
blow up Prometheus' memory.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
)

LOG = logging.getLogger("op25b.metrics")
OTHER = "_other"


class Metrics:
    """All series op25b exports; methods are called by the enforcer."""

    def __init__(self, subscriber_limit: int = 100) -> None:
        self.registry = CollectorRegistry()
        self.subscriber_limit = subscriber_limit
        self._accounts: set[str] = set()
        self._lock = threading.Lock()
        r = self.registry
        self.switches_connected = Gauge(
            "op25b_switches_connected", "Switches connected to this controller", registry=r)
        self.entries = Gauge(
            "op25b_switch_entries", "op25b flow entries installed per switch", ["dpid"],
            registry=r)
        self.revision_database = Gauge(
            "op25b_policy_revision_database", "Newest policy revision in the database",
            registry=r)
        self.revision_applied = Gauge(
            "op25b_policy_revision_applied", "Policy revision confirmed on each switch",
            ["dpid"], registry=r)
        self.change_latency = Histogram(
            "op25b_change_to_enforced_seconds",
            "From the controller noticing a new revision to the switch confirming it",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=r)
        self.blocked_packets = Counter(
            "op25b_blocked_packets", "TCP/25 packets dropped (enforce) or counted (monitor)",
            ["dpid", "mode"], registry=r)
        self.subscriber_blocked_packets = Counter(
            "op25b_subscriber_blocked_packets",
            "TCP/25 packets dropped or counted per subscriber (bounded cardinality)",
            ["account", "mode"], registry=r)
        self.fragment_mode = Gauge(
            "op25b_switch_fragment_mode",
            "1 for the fragment handling each switch reports (nx-match is wanted)",
            ["dpid", "mode"], registry=r)
        self.database_up = Gauge(
            "op25b_database_up", "1 while the last policy poll reached the database", registry=r)
        self.quarantined_rows = Gauge(
            "op25b_quarantined_rows",
            "Stored rows left out of the policy because they failed validation",
            ["table"], registry=r)
        self.openflow_errors = Counter(
            "op25b_openflow_errors", "OpenFlow error replies", ["dpid", "error"], registry=r)

    def account_label(self, account: str | None) -> str:
        """The label for ``account``, folding accounts past the limit into _other."""
        name = account or "(unregistered)"
        with self._lock:
            if name in self._accounts:
                return name
            if len(self._accounts) < self.subscriber_limit:
                self._accounts.add(name)
                return name
        return OTHER

    def wsgi_app(self) -> Any:
        """A WSGI app serving ``/metrics``; the controller runs it on its own hub.

        prometheus_client's own ``start_http_server`` cannot be used inside the
        controller: it calls ``socket.getaddrinfo`` with keyword arguments that
        eventlet's green resolver does not accept.
        """
        return make_wsgi_app(self.registry)
