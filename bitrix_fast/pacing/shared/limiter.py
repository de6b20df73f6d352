"""``RedisLimiter``: the portal's request bucket kept in Redis, one for every process and
machine that talks to the portal.

The in-process ``TokenBucket`` keeps one process within the portal's 50-then-2/s; four
processes with one each send four times that and collect 503s. This limiter keeps the
bucket in Redis instead and changes it only inside Lua scripts (:mod:`.scripts`), timed by
Redis ``TIME``, so they share one budget whatever their clocks say.
"""
from __future__ import annotations

import logging
import math
import random as _random
import threading
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Union
from urllib.parse import urlsplit

from ...clock import CHECK_EVERY, SYSTEM_CLOCK, Clock
from ..bucket import TokenBucket
from ..protocols import SharedLimiter
from . import scripts
from .budget import RedisOperatingBudget
from .connection import RedisConnection, RedisUnavailable

logger = logging.getLogger("bitrix_fast.pacing.shared")


def portal_key(key: str) -> str:
    """The name of one portal's limits in Redis, from its host or any URL on it.

    Of a URL only ``host[:port]`` is kept, so a webhook passed here leaves its code behind.
    """
    if not isinstance(key, str) or not key.strip():
        raise TypeError("key must be a non-empty str naming the portal, e.g. "
                        "'example.bitrix24.ru'")
    text = key.strip()
    if "://" in text:
        host = urlsplit(text).netloc.rpartition("@")[2]
    elif any(c in text for c in "/@ \t"):
        raise ValueError("key must be the portal's host name (e.g. 'example.bitrix24.ru') or a "
                         "URL on it")
    else:
        host = text
    if not host:
        raise ValueError("key: the URL names no host")
    return host.lower()


class _Turns:
    """First come, first served among this process's threads: only the head asks Redis.

    Without it sixteen workers would each poll Redis for the same next token.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: Deque[object] = deque()

    @contextmanager
    def turn(self) -> Iterator[None]:
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            while self._queue[0] is not ticket:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._queue.popleft()
                self._cond.notify_all()


class RedisLimiter(SharedLimiter):
    """A ``Limiter`` shared through Redis by every process that uses the same ``key``.

    ::

        limiter = RedisLimiter("redis://:password@redis-host:6379/0", key="example.bitrix24.ru")
        bx = Bitrix(webhook, limiter=limiter)   # also shares the operating budget: budget()

    :param url: the Redis server (see :class:`.RedisConnection`); its password is never
        logged, shown in a repr or written to Redis
    :param rate, burst: the portal's bucket: 2/s and 50 (Enterprise 5/s and 250). Every
        process sharing a key must pass the same numbers.
    :param key: one key per portal -- its host, e.g. ``"example.bitrix24.ru"`` (a URL such as
        the webhook also works: only its host is kept). The portal counts per portal *and*
        source IP, so processes on machines with different public IPs may use separate keys.
    :param headroom: tokens of the burst never used (default 1; 0 when ``burst`` is 1).
        Requests granted ``1/rate`` apart can reach the portal closer together: a process's
        first request also opens its connection (TLS and all) and arrives late, the next
        one arrives on time. With the bucket at its edge that is a 503 -- in the sandbox,
        one per run of four processes in our runs without headroom, none with 1. ``headroom`` tokens
        absorb ``headroom / rate`` seconds of such jitter (0.5 s on a standard portal).
    :param on_error: what ``acquire()`` does when Redis fails during a run. ``"fail"`` (the
        default) raises :class:`RedisUnavailable` within ``timeout``: several processes each
        falling back to a private bucket would send several times the portal's rate and
        collect 503s, and a shared limiter exists precisely to prevent that, so losing it is
        reported rather than papered over. ``"local"`` prefers liveness: it limits this
        process with an in-process bucket of the same rate and burst (starting empty, as the
        portal's level is unknown) and logs one WARNING. Either way an unreachable Redis at
        construction raises, and after a failure Redis is tried again only every
        ``retry_every`` seconds (meanwhile "fail" raises at once). Under ``Bitrix`` nothing
        was sent, so the engine retries such a request like any other unsent one; the call
        ends in ``RetryExhausted`` naming Redis if it stays away.
    :param timeout: Redis socket timeouts, seconds: a hung Redis costs at most this
    :param retry_every: seconds between attempts to reach Redis again after a failure
    :param clock, random: time and jitter, injected for tests

    ``acquire()`` asks a Lua script for a token; when none is free the script says when one
    is due, and the caller sleeps that long (plus up to 10% jitter, so processes do not wake
    in lockstep) and asks again. Processes are not served in order, but nobody polls faster
    than a token can appear. Within a process, threads take turns, first come first served.

    ``rate`` is this process's own pace: the engine lowers it while the portal is overloaded.
    Below the portal's rate the process paces itself locally (one request per ``1/rate``)
    before asking Redis; the shared bucket keeps the portal's rate and burst.
    """

    _JITTER = 0.1

    def __init__(
        self, url: str, rate: float = 2.0, burst: int = 50, *, key: str,
        headroom: Optional[int] = None, on_error: str = "fail", timeout: float = 1.0,
        retry_every: float = 30.0, clock: Optional[Clock] = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._portal_rate = _check_rate(rate)
        if isinstance(burst, bool) or int(burst) != burst or burst < 1:
            raise ValueError(f"burst must be a whole number >= 1, not {burst!r}")
        if headroom is None:
            headroom = 1 if burst > 1 else 0
        if isinstance(headroom, bool) or int(headroom) != headroom or not 0 <= headroom < burst:
            raise ValueError(f"headroom must be a whole number in [0, burst), not {headroom!r}")
        self._burst = int(burst)
        self._headroom = int(headroom)
        self.key = portal_key(key)
        self._clock = clock or SYSTEM_CLOCK
        self._random = random
        self._rate = self._portal_rate
        self._pacer: Optional[TokenBucket] = None
        self._rate_lock = threading.Lock()
        self._turns = _Turns()
        self._local = TokenBucket(self._portal_rate, self._burst, clock=self._clock,
                                  headroom=self._headroom)
        self._local_active = False
        self._conn = RedisConnection(url, timeout=timeout, on_error=on_error,
                                     retry_every=retry_every, clock=self._clock)
        self._bucket = f"bitrix_fast:{self.key}:bucket"
        client = self._conn.client
        self._take = client.register_script(scripts.TAKE)
        self._empty = client.register_script(scripts.EMPTY)
        self._peek = client.register_script(scripts.PEEK)

    # -- the Limiter protocol -------------------------------------------------------------

    def acquire(self, check: Optional[Callable[[], None]] = None) -> float:
        """Block until the shared bucket grants a request; return the seconds waited.
        ``check`` is called while waiting and raises to give up (a deadline, a halt).

        :raises RedisUnavailable: Redis failed and ``on_error="fail"``
        """
        clock = self._clock
        start = clock.now()
        waited = False
        pacer = self._pacer
        if pacer is not None and pacer.acquire(check):
            waited = True
        with self._turns.turn():
            while True:
                if check is not None:
                    check()
                wait = self._conn.run(self._take_remote, _no_redis)
                if wait is None:  # Redis is down and on_error="local"
                    if not self._local_active:
                        # The portal's level is unknown: assume its bucket full, like a 503.
                        self._local_active = True
                        self._local.on_refused()
                    waited = self._local.acquire(check) > 0 or waited
                    break
                self._local_active = False
                if wait <= 0:
                    break
                waited = True
                pause = wait * (1.0 + self._JITTER * self._random())
                # Asking Redis again after a short slice costs one round trip, and lets a
                # stop end the wait promptly.
                clock.sleep(pause if check is None else min(pause, CHECK_EVERY))
        return clock.now() - start if waited else 0.0

    def on_refused(self) -> None:
        """A 503: the portal's bucket is full. Empty the shared bucket, for every process."""
        self._local.on_refused()
        try:
            self._conn.run(lambda: self._empty(keys=[self._bucket], args=self._args()),
                           _no_redis)
        except RedisUnavailable as error:
            # Under on_error="fail" the next acquire() raises; the refusal stays the error.
            logger.debug("could not empty the shared bucket: %s", error)

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        value = _check_rate(value)
        with self._rate_lock:
            self._rate = value
            if value >= self._portal_rate:
                self._pacer = None  # the shared bucket alone paces us
            elif self._pacer is None:
                self._pacer = TokenBucket(value, 1, clock=self._clock)
            else:
                self._pacer.rate = value

    @property
    def burst(self) -> int:
        return self._burst

    # -- the rest ---------------------------------------------------------------------------

    @property
    def portal_rate(self) -> float:
        """The shared bucket's rate, fixed at construction (``rate`` is this process's pace)."""
        return self._portal_rate

    def budget(self, limit: float = 480.0, *, window: float = 600.0,
               owner: str = "") -> RedisOperatingBudget:
        """The portal's per-method operating budget, shared the same way (``Bitrix`` calls
        this with its ``operating_time_limit`` and its credential's fingerprint when given
        this limiter): one per webhook or application (``owner``) and method, as the portal
        keeps it."""
        return RedisOperatingBudget(self._conn, self.key, limit, window=window,
                                    clock=self._clock, owner=owner)

    @property
    def free_tokens(self) -> float:
        """0: the in-flight sizing asks this on every wait, and a Redis round trip each time
        would cost more than the tokens it might find (``available()`` asks Redis)."""
        return 0.0

    def available(self) -> float:
        """Tokens in the shared bucket now (the local fallback's while Redis is down)."""
        return self._conn.run(
            lambda: float(self._peek(keys=[self._bucket], args=self._args())),
            lambda: self._local.available)

    def snapshot(self) -> Dict[str, Any]:
        try:
            available: Any = self.available()
        except RedisUnavailable:
            available = None
        return {"key": self.key, "redis": self._conn.address, "rate": self._portal_rate,
                "pace": self._rate, "burst": self._burst, "headroom": self._headroom,
                "available": available,
                "fallback": self._conn.down and self._conn.on_error == "local"}

    def close(self) -> None:
        """Close the connections to Redis (the shared state stays for the other processes)."""
        self._conn.close()

    def __enter__(self) -> "RedisLimiter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RedisLimiter({self._conn.address!r}, rate={self._portal_rate}, "
                f"burst={self._burst}, key={self.key!r}, on_error={self._conn.on_error!r})")

    def _take_remote(self) -> float:
        return float(self._take(keys=[self._bucket], args=self._args()))

    def _args(self) -> List[Union[str, int]]:
        return [repr(self._portal_rate), self._burst - self._headroom]


def _no_redis() -> None:
    return None


def _check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < math.inf:
        raise ValueError(f"rate must be a positive number of requests per second, not {rate!r}")
    return float(rate)
