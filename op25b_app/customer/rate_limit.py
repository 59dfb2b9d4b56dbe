"""Per-source-address rate limit of the customer's page (a token bucket each).

The page is public and every answer is a database query, so one source must
not be able to keep the database busy for everyone. Each source gets a
bucket of ``limit`` answers that refills evenly over ``window`` seconds: a
customer reloading a few times never notices, a loop gets 429 after
``limit`` requests and then one answer every ``window / limit`` seconds.

The key is the requester's address as the page resolved it (through trusted
proxies), so customers behind one proxy are limited one by one, not
together. An IPv6 source is keyed by its /64: a customer is given at least
a /64, and counting each of its 2**64 addresses separately would be no limit.

Memory is bounded: at most ``max_sources`` buckets are kept. A bucket that
has refilled completely is the same as none and is dropped first; beyond
that the least recently used goes. Losing a bucket only ever grants a fresh
one, it never blocks anybody.
"""

from __future__ import annotations

import collections
import ipaddress
import math
import threading
import time
from collections.abc import Callable

from op25b_app.customer.client_address import IPAddress

#: Default: 20 answers per source per 60 seconds.
DEFAULT_LIMIT = 20
DEFAULT_WINDOW_SECONDS = 60.0
DEFAULT_MAX_SOURCES = 100_000
#: IPv6 sources are counted per this prefix length.
IPV6_KEY_PREFIXLEN = 64


def source_key(address: IPAddress) -> str:
    """What one bucket counts: an IPv4 address, or an IPv6 address's /64."""
    if address.version == 6:
        return str(ipaddress.IPv6Network((address, IPV6_KEY_PREFIXLEN), strict=False))
    return str(address)


class RateLimiter:
    """Token buckets per source; thread-safe (the page's routes run in a thread pool)."""

    def __init__(self, limit: int = DEFAULT_LIMIT, window: float = DEFAULT_WINDOW_SECONDS, *,
                 clock: Callable[[], float] = time.monotonic,
                 max_sources: int = DEFAULT_MAX_SOURCES) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._rate = limit / window  # tokens per second
        self._clock = clock
        self._max_sources = max_sources
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = \
            collections.OrderedDict()
        self._lock = threading.Lock()

    def check(self, address: IPAddress) -> int | None:
        """Take one token for ``address``'s source: None if allowed, else seconds to wait."""
        key = source_key(address)
        with self._lock:
            now = self._clock()
            tokens = self._tokens(key, now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                self._buckets.move_to_end(key)
                self._bound(now)
                return None
            self._buckets[key] = (tokens, now)
            self._buckets.move_to_end(key)
            return max(1, math.ceil((1.0 - tokens) / self._rate))

    def tracked(self) -> int:
        """How many sources have a bucket (for tests of the memory bound)."""
        with self._lock:
            return len(self._buckets)

    def _tokens(self, key: str, now: float) -> float:
        stored = self._buckets.get(key)
        if stored is None:
            return float(self.limit)
        tokens, then = stored
        return min(float(self.limit), tokens + (now - then) * self._rate)

    def _bound(self, now: float) -> None:
        """Past ``max_sources``: drop full buckets, then the least recently used.

        It prunes to nine tenths of the bound, so a flood of new sources pays
        for one full scan per tenth of the bound, not one per request.
        """
        if len(self._buckets) <= self._max_sources:
            return
        for key in [k for k in self._buckets if self._tokens(k, now) >= self.limit]:
            del self._buckets[key]
        target = self._max_sources * 9 // 10
        while len(self._buckets) > target:
            self._buckets.popitem(last=False)
