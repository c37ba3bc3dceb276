"""A per-client token bucket, in memory.

It is per instance: each Cloud Functions instance (and each `serve` process) keeps its own
buckets, so the effective limit is the per-client limit times the number of live instances
(the form runs with at most a handful). That is enough to stop one client hammering the form;
it is not a quota.

Clients are keyed by IP address. `X-Forwarded-For` is believed only when the request comes
from a trusted proxy (`KMC_TRUSTED_PROXIES`: addresses or networks, `*` = whoever connects,
which is right behind Google's front end, the only way into a Cloud Function; default `*` in
the cloud and nobody under local `serve`). Then the client address is the entry the trusted
proxy appended, i.e. the last of the header (what a client writes itself sits to the left of
it and is ignored, so a bot cannot pick a fresh key per request); with another proxy in front
(a load balancer), set `KMC_TRUSTED_PROXY_HOPS=2`. A value that is not an IP address is never
used as a key. IPv6 clients are keyed by their /64 (one subscriber gets a whole /64 and could
otherwise take a fresh address per request). Mobile carriers put many citizens behind one
address (CGNAT), so the limits are generous.
"""
from __future__ import annotations

import ipaddress
import math
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..services.context import Services


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple:
    nets = []
    for item in trusted:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            continue
    return tuple(nets)


def _ip(value: str):
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def trusts(remote: str, trusted: tuple[str, ...]) -> bool:
    """Whether a request from `remote` may tell us the client address (X-Forwarded-For)."""
    if "*" in trusted:
        return True
    ip = _ip(remote or "")
    return ip is not None and any(ip in net for net in _networks(tuple(trusted)))


def _key(ip) -> str:
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_key(request, settings) -> str:
    """The client's address as a rate-limit key (see the module docstring)."""
    remote = request.remote_addr or ""
    trusted = tuple(settings.trusted_proxies or ())
    hops = max(1, int(settings.trusted_proxy_hops or 1))
    if trusted and trusts(remote, trusted):
        forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
        if forwarded:
            ip = _ip(forwarded[-min(hops, len(forwarded))])
            if ip is not None:
                return _key(ip)
    ip = _ip(remote)
    return _key(ip) if ip is not None else "unknown"


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


def shared_limiter(svc: "Services", name: str, burst: int, window: float) -> RateLimiter:
    """The instance's limiter of that name (kept with the services, so each app/test has its
    own; the status page and Open311 share `status-miss`: one budget for guessing tickets)."""
    limiters = svc.state.rate_limiters
    if name not in limiters:
        limiters[name] = RateLimiter(burst, window)
    return limiters[name]


# Ticket look-ups that find nothing, per client (status page and Open311 together): enough for
# typos, too few to guess tickets.
MISS_BURST, MISS_WINDOW_SECONDS = 20, 3600


def retry_minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))
