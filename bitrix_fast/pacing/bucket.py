"""Client-side copies of the portal's two limits, so it never has to refuse us.

TokenBucket       requests: 50 at once, then 2/s (Enterprise 250, 5/s) per portal and source
                  IP, a batch counting once; past that, 503 QUERY_LIMIT_EXCEEDED.
OperatingBudget   server time: 480 s per method and credential per 10 minutes; past that,
                  429 OPERATION_TIME_LIMIT for that method.

Both are thread-safe, do no I/O and read time only from an injected ``Clock``.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, Optional, Protocol

from .bucket_level import Level, MemoryState
from ..clock import SYSTEM_CLOCK, Clock

#: Longest sleep between two ``check`` calls while a caller may have to give up.
CHECK_EVERY = 0.25
#: A token short by less than this still counts as whole. It absorbs float rounding, so a
#: waiter woken exactly on time does not go back to sleep for 1e-17 s.
_EPSILON = 1e-9


class Limiter(Protocol):
    """What the transport needs from a request-rate limiter, local or shared between processes."""

    def acquire(self) -> float:
        """Block until one request may be sent; return the seconds waited."""

    def on_refused(self) -> None:
        """The portal answered 503 QUERY_LIMIT_EXCEEDED: its bucket is full, resynchronise."""

    @property
    def rate(self) -> float: ...  # requests/s; the adaptive throttle lowers and restores it

    @rate.setter
    def rate(self, value: float) -> None: ...

    @property
    def burst(self) -> int: ...


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

    def snapshot(self) -> dict:
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


class _MethodState:
    # The figure, its server time, and local monotonic deadlines: the oldest basket drops
    # out at ``reset``; the figure says wait until ``pause_until``; a 429 until ``blocked_until``.
    __slots__ = ("operating", "stamp", "reset", "pause_until", "blocked_until", "reserved")

    def __init__(self) -> None:
        self.operating = 0.0
        #: server seconds the requests in flight are expected to add to ``operating``
        self.reserved = 0.0
        self.stamp = self.reset = self.pause_until = self.blocked_until = -math.inf


class OperatingBudget:
    """Per-method server-time budget, kept from the portal's own figures.

    A reply's ``time.operating`` is the server's running total for this credential and method
    over the sliding window (ten one-minute baskets), not the cost of the call, and
    ``operating_reset_at`` is when, on the server's clock, the oldest basket drops out. So we
    keep the latest figure per method, never a sum; latest by the server's clock, because
    replies from parallel threads arrive out of order.

    Pacing, with u the figure and hard = limit - margin:

    * u < slow_from x limit: no delay.
    * up to hard: after each reply, a pause growing linearly from 0 to ``window / 100`` (6 s),
      never past the reset: the window drains while we approach the wall, instead of a stall
      of minutes after a 429.
    * u >= hard: wait for the reset. The margin (5 s, as in b24jssdk) absorbs the calls in
      flight: the server refuses only once the total is over the limit.

    The budget knows nothing of how the portal bills batches: the docs bill each command to
    its own method and ``batch`` to nothing, b24jssdk PR #539 measured everything billed to
    ``batch``. It tracks whatever figure it is given under whatever method name it is given,
    so feed it the batch envelope (as "batch") and each command's ``result_time``.
    """

    _SLOW_FROM = 0.8
    _MARGIN = 5.0
    #: The longest pause before the wall, as a fraction of the window (b24jssdk: 0.01 x the
    #: time to reset, capped at 7 s).
    _SLOW_PAUSE = 0.01
    #: Added to every reset deadline: ``operating_reset_at`` is a whole second and the server's
    #: baskets are minute-aligned, so the exact moment may fall just after it.
    _RESET_SLACK = 1.0
    #: How soon to look again while work in flight is what holds a method back.
    _IN_FLIGHT_RECHECK = 0.2

    def __init__(
        self, limit: float = 480.0, *, window: float = 600.0, clock: Optional[Clock] = None,
        margin: float = _MARGIN, slow_from: float = _SLOW_FROM,
    ) -> None:
        if not (0 < limit < math.inf and 0 < window < math.inf and 0 <= margin < limit
                and 0 < slow_from <= 1):
            raise ValueError("OperatingBudget needs 0 <= margin < limit, window > 0 and "
                             "0 < slow_from <= 1")
        self._limit = float(limit)
        self._window = float(window)
        self._hard = self._limit - margin
        self._soft = self._limit * slow_from
        self._clock = clock or SYSTEM_CLOCK
        self._lock = threading.Lock()
        self._methods: Dict[str, _MethodState] = {}

    def observe(self, method: str, operating: float, reset_at: Optional[float],
                server_now: Optional[float]) -> None:
        """Record a reply's ``time.operating`` and ``operating_reset_at``.

        ``server_now`` is its ``time.finish`` (or ``start``): only differences between server
        timestamps are used, so clock skew between the machines cancels out.
        """
        now = self._clock.now()
        stamp = self._clock.wall() if server_now is None else float(server_now)
        if reset_at is None:
            to_reset = self._window / 10  # one basket drops out by then
        else:
            to_reset = float(reset_at) - stamp + self._RESET_SLACK
        to_reset = min(max(to_reset, 0.0), self._window + self._RESET_SLACK)
        with self._lock:
            state = self._methods.setdefault(method.lower(), _MethodState())
            if stamp < state.stamp or (stamp == state.stamp and operating < state.operating):
                return  # an older reply; at the same instant the higher figure is the safer
            state.operating = float(operating)
            state.stamp = stamp
            state.reset = now + to_reset
            state.pause_until = now + self._pause(state.operating, to_reset)

    def begin(self, method: str, seconds: float) -> None:
        """A request expected to bill ``seconds`` of server time to ``method`` is in flight:
        the figure the portal will report grows by that much when it is answered."""
        if seconds > 0:
            with self._lock:
                self._methods.setdefault(method.lower(), _MethodState()).reserved += seconds

    def end(self, method: str, seconds: float) -> None:
        """The request :meth:`begin` announced was answered (or failed)."""
        if seconds > 0:
            with self._lock:
                state = self._methods.get(method.lower())
                if state is not None:
                    state.reserved = max(0.0, state.reserved - seconds)

    def on_limit_hit(self, method: str) -> None:
        """The portal answered 429 for ``method``: wait for its reset (or a tenth of the window)."""
        now = self._clock.now()
        with self._lock:
            state = self._methods.setdefault(method.lower(), _MethodState())
            until = state.reset if state.reset > now else now + self._window / 10
            state.blocked_until = max(state.blocked_until, until)

    def delay(self, method: str) -> float:
        """Seconds to wait before sending ``method`` again (0: go). A deadline: ask as often as you like."""
        now = self._clock.now()
        with self._lock:
            state = self._methods.get(method.lower())
            return 0.0 if state is None else self._wait(state, now)

    def snapshot(self) -> dict:
        now = self._clock.now()
        with self._lock:
            return {
                method: {
                    "operating": state.operating,
                    "reset_in": max(0.0, state.reset - now) if state.reset > -math.inf else None,
                    "blocked": state.blocked_until > now
                    or (state.operating >= self._hard and state.reset > now),
                    "delay": self._wait(state, now),
                }
                for method, state in self._methods.items()
            }

    def _pause(self, operating: float, to_reset: float) -> float:
        if operating >= self._hard:
            return to_reset
        if operating < self._soft:
            return 0.0
        share = (operating - self._soft) / (self._hard - self._soft)
        return share * min(to_reset, self._window * self._SLOW_PAUSE)

    def _wait(self, state: _MethodState, now: float) -> float:
        wait = max(0.0, state.pause_until - now, state.blocked_until - now)
        if wait == 0.0 and state.operating < self._hard <= state.operating + state.reserved:
            # What is in flight will take the method to the wall: send nothing more of it
            # until replies show what that work really cost.
            return self._IN_FLIGHT_RECHECK
        return wait

    def in_flight_delay(self, method: str) -> float:
        """The wait that work in flight alone calls for (a shared budget adds it to its own)."""
        with self._lock:
            state = self._methods.get(method.lower())
            if state is None or not state.operating < self._hard <= state.operating + state.reserved:
                return 0.0
            return self._IN_FLIGHT_RECHECK
