"""Test doubles shared by the test modules."""
from __future__ import annotations

import threading
import time
from typing import List


class FakeClock:
    """A virtual clock (``bitrix_fast.clock.Clock``): ``sleep`` advances time instead of waiting.

    Safe to share between threads: each ``sleep(s)`` moves the time forward by ``s`` under a
    lock, then yields the GIL so other threads run. Sleeps from several threads therefore add
    up instead of overlapping, so elapsed virtual time is an upper bound on the real thing.
    ``sleeps`` records every requested sleep; ``wall()`` is ``wall_start`` plus the time so far.
    """

    def __init__(self, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = wall_start - start
        self._lock = threading.Lock()
        self.sleeps: List[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        with self._lock:
            return self._now + self._wall_offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)
        time.sleep(0)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass without anyone sleeping."""
        with self._lock:
            self._now += seconds
