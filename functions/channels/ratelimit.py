"""A per-client token bucket, in memory.

It is per instance: each Cloud Functions instance (and each `serve` process) keeps its own
buckets, so the effective limit is the per-client limit times the number of live instances
(the form runs with at most a handful). That is enough to stop one client hammering the form;
it is not a quota.

Clients are keyed by IP address. Behind Google's front end the client address is the entry
the trusted proxy appended, i.e. the last of `X-Forwarded-For` (what a client writes itself
sits to the left of it and is ignored, so a bot cannot pick a fresh key per request). With
another proxy in front (a load balancer), set `KMC_TRUSTED_PROXY_HOPS=2`. Without the header
(local `serve`), the socket's remote address is used. Mobile carriers put many citizens behind
one address (CGNAT), so the limits are generous.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable


def client_key(request, hops: int = 1) -> str:
    """The client's address: the `hops`-th entry from the right of X-Forwarded-For."""
    forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
    if forwarded and hops > 0:
        return forwarded[-min(hops, len(forwarded))]
    return request.remote_addr or "unknown"


class RateLimiter:
    """`capacity` requests at once per key, refilled evenly over `per_seconds`."""

    def __init__(self, capacity: int, per_seconds: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000):
        self.capacity = float(capacity)
        self.rate = capacity / per_seconds  # tokens per second
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - last) * self.rate)

    def take(self, key: str) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until the next token."""
        with self._lock:
            now = self.clock()
            tokens = self._tokens(key, now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                self._prune(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def would_allow(self, key: str) -> bool:
        with self._lock:
            return self._tokens(key, self.clock()) >= 1.0

    def _prune(self, now: float) -> None:
        """Forget full buckets when the table grows, so memory stays bounded."""
        if len(self._buckets) <= self.max_keys:
            return
        for key in [k for k in self._buckets if self._tokens(k, now) >= self.capacity]:
            del self._buckets[key]
        if len(self._buckets) > self.max_keys:  # under attack from many addresses: start over
            self._buckets.clear()


def retry_minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))
