"""The RADIUS server's own Prometheus metrics (it is its own process: its own /metrics).

Label values are bounded: request types and results are fixed words, drop
reasons too. Clients are not labels (a prefix client covers many sources).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RadiusMetrics:
    """Requests by type and result, live sessions, dropped packets by reason, commit time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "op25b_radius_requests_total",
            "Accounting-Requests answered or refused, by Acct-Status-Type and result "
            "(created, updated, refreshed, ended, ignored, reset, duplicate, unsupported, "
            "invalid, rejected, database-error).",
            ["type", "result"], registry=r)
        self.dropped = Counter(
            "op25b_radius_dropped_packets_total",
            "Packets dropped without a reply, by reason (unknown-client, bad-authenticator, "
            "malformed, not-accounting).",
            ["reason"], registry=r)
        self.live_sessions = Gauge(
            "op25b_radius_live_sessions", "Sessions live in the database (every feed).",
            registry=r)
        self.commit_seconds = Histogram(
            "op25b_radius_commit_seconds",
            "Time from a batch's first request received to its commit (the reply waits for it).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r)
        self.batch_size = Histogram(
            "op25b_radius_batch_requests", "Requests committed per transaction.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), registry=r)
        self.expired = Counter(
            "op25b_radius_expired_sessions_total",
            "Sessions ended by the expiry sweep (missed interim updates, lease over).",
            registry=r)
