"""A virtual clock for tests: :class:`FakeClock`, a :class:`bitrix_fast.clock.Clock` whose
``sleep`` moves time forward instead of waiting.

Give the same instance to the client and to an in-memory sandbox portal
(``Sandbox(http=False, clock=clock)``) and a test that spans minutes of portal time (the
leaky bucket draining, the operating budget resetting, tokens expiring, slow replies) runs
in milliseconds, with no socket and no real sleep.

Several threads may sleep at once. Each ``sleep(s)`` adds ``s`` to the time under a lock,
so concurrent sleeps add up instead of overlapping: virtual time is an upper bound on the
real time the same work would take. Nothing ever waits *for* virtual time to pass, so no
thread can block on it; a thread that wants time to pass sleeps, and sleeping is instant.
"""
from __future__ import annotations

import threading
import time
from typing import List

__all__ = ["FakeClock"]


class FakeClock:
    """Virtual monotonic and wall time; ``sleep`` advances it, thread-safely.

    :param start: the first ``now()`` reading
    :param wall_start: the first ``wall()`` reading (Unix time); both move together
    ``sleeps`` lists every requested sleep, in order (a test can assert the pacing).
    """

    def __init__(self, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self._lock = threading.Lock()
        self.sleeps: List[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        with self._lock:
            return self._now + self._wall_offset

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` (nothing for a negative value) and let other threads run."""
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)
        # Hand the GIL over: a thread polling in a sleep loop must not starve the others.
        time.sleep(0)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without anyone sleeping (not recorded in ``sleeps``)."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now():g})"
