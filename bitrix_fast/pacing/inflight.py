"""How many requests may be in flight: as many as the portal's limits allow, not a thread
constant.

The bucket decides when a request may start. On a real portal a batch takes from under a
second to over ten, so reaching the bucket's rate needs ``rate x time per request`` requests
in flight (Little's law): an Enterprise portal (5/s) with 5 s batches wants 25 at once, a
standard one (2/s) with 15 s batches wants 30. So the limit is

* the tokens the bucket has free right now (its burst, at the start) -- they may all go at
  once, unless the portal has slowed down -- plus
* ``rate x time per request x margin`` for the rest, with the time per request measured from
  replies, per kind of work (a batch of 50 list pages and a batch of 50 adds differ);

capped at ``ceiling`` (the client's ``request_pool_size``, or ``max_workers``).

And the portal slowing down is a signal, not a reason to add requests: the time used in the
formula is at most ``SLOWDOWN`` times the best seen for that kind, so when replies get slower
than that the limit stops growing, and the requests per second fall with the portal's pace.

Sans-I/O: times come in through :meth:`observe`; nothing here sleeps or reads a clock.
"""
from __future__ import annotations

import math
import threading
from typing import Any, Dict, Hashable, Optional

#: Slack over Little's law: replies vary, and a request sent late costs a token's worth.
MARGIN = 1.25
#: Times per request above this multiple of the best seen do not raise the limit further.
SLOWDOWN = 2.0
#: Weight of the newest reply in the running mean of the time per request.
ALPHA = 0.3


class InFlight:
    """The limit on requests in flight (see the module docstring). Thread-safe."""

    def __init__(self, ceiling: int) -> None:
        if isinstance(ceiling, bool) or int(ceiling) != ceiling or ceiling < 1:
            raise ValueError(f"ceiling must be a whole number >= 1, not {ceiling!r}")
        self.ceiling = int(ceiling)
        self._lock = threading.Lock()
        self._mean: Dict[Hashable, float] = {}
        self._best: Dict[Hashable, float] = {}

    def observe(self, kind: Hashable, seconds: float) -> None:
        """A reply to a request of ``kind`` took ``seconds`` from send to answer."""
        if not seconds >= 0 or math.isinf(seconds):
            return
        with self._lock:
            mean = self._mean.get(kind)
            mean = seconds if mean is None else (1 - ALPHA) * mean + ALPHA * seconds
            self._mean[kind] = mean
            self._best[kind] = min(self._best.get(kind, mean), mean)

    def seconds(self, kind: Hashable) -> Optional[float]:
        """The time per request of ``kind`` the limit uses (capped at the slowdown), or None
        before any reply."""
        with self._lock:
            mean = self._mean.get(kind)
            if mean is None:
                return None
            return min(mean, SLOWDOWN * self._best[kind])

    def limit(self, kind: Hashable, rate: float, free: float) -> int:
        """Requests of ``kind`` that may be in flight now, with the bucket at ``rate`` per
        second and ``free`` tokens to spare."""
        with self._lock:
            mean = self._mean.get(kind)
            if mean is None:
                return self.ceiling  # nothing measured yet: the bucket alone decides
            best = self._best[kind]
        need = math.ceil(rate * min(mean, SLOWDOWN * best) * MARGIN) + 1
        if mean > SLOWDOWN * best:
            # Slowed down: tokens pile up because less is sent; they are no licence to send
            # a burst into a portal that is struggling.
            free = 0.0
        return max(1, min(self.ceiling, int(max(0.0, free)) + need))

    def snapshot(self) -> Dict[str, Any]:
        with self._lock:
            return {"ceiling": self.ceiling,
                    "seconds": {str(k): round(v, 4) for k, v in self._mean.items()},
                    "best": {str(k): round(v, 4) for k, v in self._best.items()}}
