"""The portal's pool of PHP workers: at most N requests execute at once, the rest wait.

A real portal runs each request in one PHP-FPM worker; when all are busy, further requests
wait in the listen queue (they are not refused). ``Sandbox(workers=N)`` models that: a
request takes a slot after the leaky bucket admitted it (the bucket sees arrival times,
not the end of the wait) and holds it while its method runs and its server time is slept,
a whole batch included. ``workers=None`` (the default) means no cap.

The stats count requests executing and waiting (``max_executing``, ``max_queued``,
``waited``), with or without a cap.

The queue is a real semaphore, not a wait on the portal's clock, and that is what keeps it
safe on a virtual clock: a waiting request waits for a worker to be *released*, and a worker
is released as soon as its holder has slept its modelled time, which on a
:class:`~bitrix_fast.testing.clock.FakeClock` is at once. Nothing here waits for virtual time
to pass (no ``wait(timeout)`` measured on the clock), so a queue can never stall a test.
"""
from __future__ import annotations

import threading
from typing import Optional

from .stats import Stats

__all__ = ["WorkerPool"]


class WorkerPool:
    """``with pool:`` around the part of a request that needs a worker. Thread-safe."""

    def __init__(self, limit: Optional[int], stats: Stats) -> None:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"workers must be a positive integer or None, not {limit!r}")
        self.limit = limit
        self._stats = stats
        self._slots = threading.Semaphore(limit) if limit is not None else None

    def __enter__(self) -> "WorkerPool":
        slots = self._slots
        if slots is not None and not slots.acquire(blocking=False):
            self._stats.worker_wait()
            try:
                slots.acquire()
            finally:
                self._stats.worker_waited()
        self._stats.worker_start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stats.worker_done()
        if self._slots is not None:
            self._slots.release()
