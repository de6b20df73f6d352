"""How many requests are on the wire at once: a semaphore whose limit can change while
threads wait on it (``slow()``, the throttle after overloads) and that also honours a soft
limit read afresh while waiting (the in-flight sizing of :mod:`.inflight`)."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Optional


class ConcurrencyGate:
    """A semaphore whose limit may change at run time; raising it wakes the waiters.

    ``limit`` is the hard cap (``slow()``, the throttle after overloads). :meth:`slot` may
    also be given a soft limit, a function read each time a waiter checks (it changes with
    time: tokens refill, replies are measured), so waiters look again every ``recheck``
    seconds as well as when a request ends. Lowering a limit never interrupts requests in
    flight: new ones wait until enough have ended.
    """

    def __init__(self, limit: int, *, recheck: float = 0.05) -> None:
        self._limit = self._check(limit)
        self._recheck = recheck
        self._in_flight = 0
        self._peak = 0
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        value = self._check(value)
        with self._cond:
            self._limit = value
            self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def peak(self) -> int:
        """The most requests ever in flight at once."""
        return self._peak

    @contextmanager
    def slot(self, soft: Optional[Callable[[], int]] = None,
             check: Optional[Callable[[], None]] = None) -> Iterator[None]:
        """Hold one place for the duration of one HTTP request. ``check`` is called while
        waiting (it raises to give up: a deadline, a cancel)."""
        timed = soft is not None or check is not None
        with self._cond:
            while self._in_flight >= self._limit or (
                    soft is not None and self._in_flight >= soft()):
                if check is not None:
                    check()
                self._cond.wait(self._recheck if timed else None)
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()

    @staticmethod
    def _check(limit: int) -> int:
        if isinstance(limit, bool) or int(limit) != limit or limit < 1:
            raise ValueError(f"limit must be a whole number >= 1, not {limit!r}")
        return int(limit)
