"""Where the policy modules get their time from.

Nothing in ``limiter``, ``retry`` or ``throttle`` calls ``time`` directly: each takes a
``Clock`` (default ``SYSTEM_CLOCK``), so tests drive them with a fake clock and never sleep.
"""
from __future__ import annotations

import time
from typing import Protocol

#: The longest any wait goes without looking again at what may end it (a deadline, a cancel,
#: a halt): every sliced sleep and timed wait in the package uses this one figure.
CHECK_EVERY = 0.25


class Clock(Protocol):
    """A monotonic clock, a way to wait on it, and the wall clock."""

    def now(self) -> float:
        """Monotonic seconds; only differences mean anything."""

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds`` of this clock's time."""

    def wall(self) -> float:
        """Unix time, for comparing with the server's timestamps."""


class SystemClock:
    """The real clocks: ``time.monotonic``, ``time.sleep`` and ``time.time``."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wall(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()
