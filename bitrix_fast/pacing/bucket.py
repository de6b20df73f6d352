"""The client-side copy of the portal's request bucket, so it never has to refuse us.

The portal admits 50 requests at once, then 2/s (Enterprise 250, 5/s), per portal and
source IP, a batch counting once; past that, 503 QUERY_LIMIT_EXCEEDED. :class:`TokenBucket`
grants requests at that pace. Thread-safe, no I/O, time only from an injected ``Clock``.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, Optional

from .bucket_level import Level, LevelState, MemoryState
from ..clock import CHECK_EVERY, SYSTEM_CLOCK, Clock

#: A token short by less than this still counts as whole. It absorbs float rounding, so a
#: waiter woken exactly on time does not go back to sleep for 1e-17 s.
_EPSILON = 1e-9


def _check_rate(rate: float) -> float:
    if not 0 < rate < math.inf:
        raise ValueError(f"rate must be a positive number of requests per second, not {rate!r}")
    return float(rate)


class TokenBucket:
    """Grants ``burst`` requests at once, then ``rate`` per second.

    Waiters are served first come, first served: the head of the queue sleeps on the clock
    until its token is due, the others wait for their turn. A newcomer takes a token at once
    only when there is one to spare after every waiter ahead of it has had one.

    ``headroom`` tokens of the burst are never used: requests reach the portal a little
    earlier or later than their tokens were granted, and the spare tokens absorb that.

    ``state`` is where the portal's fill level is kept (:mod:`bitrix_fast.pacing.bucket_level`):
    by default this bucket's own memory; ``Bitrix`` passes the level shared by every client
    of the portal on this machine, so a second client or process starts from what the first
    one left in the portal's bucket instead of from an empty one.
    """

    def __init__(self, rate: float = 2.0, burst: int = 50, *, clock: Optional[Clock] = None,
                 headroom: int = 0, state: Any = None) -> None:
        if int(burst) != burst or burst < 1:
            raise ValueError(f"burst must be a whole number >= 1, not {burst!r}")
        if int(headroom) != headroom or not 0 <= headroom < burst:
            raise ValueError(f"headroom must be a whole number in [0, burst), not {headroom!r}")
        self._rate = _check_rate(rate)
        self._burst = int(burst)
        self._headroom = int(headroom)
        self._capacity = float(burst - headroom)
        self._clock = clock or SYSTEM_CLOCK
        self._state = state if state is not None else MemoryState()
        self._cond = threading.Condition()
        self._queue: Deque[object] = deque()

    def acquire(self, check: Optional[Callable[[], None]] = None) -> float:
        """Block until a request may be sent; return the seconds waited. ``check`` is called
        while waiting, at least every ``CHECK_EVERY`` seconds: it raises to give up (a call's
        deadline, a cancel), and then no token is taken."""
        clock = self._clock
        start = clock.now()
        with self._cond:
            if self._take(len(self._queue) + 1) == 0.0:
                return 0.0
            ticket = object()
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    while self._queue[0] is not ticket:
                        if check is not None:
                            check()
                        self._cond.wait(CHECK_EVERY if check is not None else None)
                    wait = self._take(1)
                    if wait == 0.0:
                        return clock.now() - start
                if check is not None:
                    check()
                    wait = min(wait, CHECK_EVERY)
                # Sleep without the lock. If the rate drops meanwhile, _take() finds the
                # token not yet due and we sleep again; if it rises, we are late at most once.
                clock.sleep(wait)
        finally:
            with self._cond:
                self._queue.remove(ticket)
                self._cond.notify_all()

    def try_acquire(self) -> float:
        """Take a token if one is free now (0.0), else return the seconds until one would be."""
        with self._cond:
            return self._take(len(self._queue) + 1)

    def on_refused(self) -> None:
        # The portal's bucket is full whatever we thought (other clients share it). It
        # drains one request per 1/rate, so start again from full: the next grant waits.
        with self._cond, self._state.transaction() as value:
            value.level, value.stamp = self._capacity, self._clock.now()

    @property
    def available(self) -> float:
        with self._cond, self._state.transaction() as value:
            return self._capacity - self._drained(value, self._clock.now())

    @property
    def free_tokens(self) -> float:
        """Tokens free right now (the in-flight sizing may send that many at once)."""
        return self.available

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        value = _check_rate(value)
        with self._cond, self._state.transaction() as level:
            # Drain the time so far at the old rate; otherwise all of it since the last
            # grant would be counted at the new one.
            now = self._clock.now()
            if level.stamp is not None:
                level.level, level.stamp = self._drained(level, now), now
            self._rate = value

    @property
    def burst(self) -> int:
        return self._burst

    def snapshot(self) -> Dict[str, Any]:
        with self._cond:
            waiting = len(self._queue)
        return {"rate": self._rate, "burst": self._burst, "headroom": self._headroom,
                "available": self.available, "waiting": waiting}

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self._rate}, burst={self._burst}, headroom={self._headroom})"

    def _drained(self, value: Level, now: float) -> float:
        """The level at ``now``; a stamp from the future (another boot) is an empty bucket."""
        if value.stamp is None or value.stamp > now:
            return 0.0
        return max(0.0, value.level - (now - value.stamp) * self._rate)

    def _take(self, needed: int) -> float:
        # With self._cond held: take a token if ``needed`` are free (ours, and one for each
        # waiter ahead of us) and return 0.0; else the seconds until they will be.
        with self._state.transaction() as value:
            now = self._clock.now()
            level = self._drained(value, now)
            free = self._capacity - level
            if free >= needed - _EPSILON:
                value.level, value.stamp = level + 1.0, now
                return 0.0
            return (needed - free) / self._rate
