"""Backing off from a struggling portal: fewer requests per second, and fewer at once.

:class:`AdaptiveThrottle` is the arithmetic alone (after b24jssdk's RestrictionManager): a
cluster of overloads lowers the rate and the concurrency, a run of successes brings them
back. The engine copies its values into the bucket and the gate (:mod:`.gate`).
"""
from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any, Deque, Dict, Optional

from ..clock import SYSTEM_CLOCK, Clock


class AdaptiveThrottle:
    """Lowers rate and concurrency while the portal is overloaded, raises them as it recovers.

    * ``overloads`` overloads within ``window`` seconds cut both by ``decrease`` (concurrency
      rounded down), never below the floors. The count then starts afresh: the requests
      already in flight were sent at the old settings and may fail too, and should not cut
      once each.
    * ``successes`` successes in a row, with fewer than half of ``overloads`` in the window,
      raise the rate by ``increase`` and the concurrency by one, up to the ceilings.

    Cut hard, climb gently (TCP's AIMD): from the floors back to 2/s and 16 workers takes
    about 300 successes. Defaults are b24jssdk's: 5 errors in 60 s cut by 20%, 20 successes
    raise by 10%, rate floor 0.5/s.

    Unlike fast_bitrix24's single signed counter, overloads (timed) and the success run are
    kept apart, so a slow trickle of errors never cuts; and nothing here decides whether a
    request is retried: that is each request's own ``Retry``.
    """

    _OVERLOADS = 5
    _WINDOW = 60.0
    _DECREASE = 0.8
    _SUCCESSES = 20
    _INCREASE = 1.1
    _MIN_RATE = 0.5

    def __init__(
        self,
        max_rate: float,
        max_concurrency: int,
        *,
        clock: Optional[Clock] = None,
        min_rate: float = _MIN_RATE,
        min_concurrency: int = 1,
        overloads: int = _OVERLOADS,
        window: float = _WINDOW,
        decrease: float = _DECREASE,
        successes: int = _SUCCESSES,
        increase: float = _INCREASE,
    ) -> None:
        if not 0 < min_rate < math.inf or min_concurrency < 1:
            raise ValueError("min_rate must be positive and min_concurrency at least 1")
        if overloads < 1 or successes < 1 or window <= 0:
            raise ValueError("overloads, successes and window must be positive")
        if not 0 < decrease < 1 or not increase > 1:
            raise ValueError("decrease must be in (0, 1) and increase above 1")
        self._min_rate = float(min_rate)
        self._min_concurrency = int(min_concurrency)
        self._threshold = overloads
        self._window = float(window)
        self._decrease = decrease
        self._successes = successes
        self._increase = increase
        self._clock = clock or SYSTEM_CLOCK
        self._lock = threading.Lock()
        self._overloads: Deque[float] = deque()
        self._streak = 0
        self._max_rate = self._rate = 0.0
        self._max_concurrency = self._concurrency = 0
        self.set_ceiling(max_rate=max_rate, max_concurrency=max_concurrency)

    def on_success(self) -> None:
        now = self._clock.now()
        with self._lock:
            self._streak += 1
            if self._streak < self._successes:
                return
            self._forget(now)
            if 2 * len(self._overloads) >= self._threshold:
                return  # errors still keep coming: hold, and try again on the next success
            self._streak = 0
            self._rate = min(self._max_rate, self._rate * self._increase)
            self._concurrency = min(self._max_concurrency, self._concurrency + 1)

    def on_overload(self) -> None:
        """A 5xx, an HTML page, a timeout or a dropped connection (not a 4xx, not a 503 refusal)."""
        now = self._clock.now()
        with self._lock:
            self._streak = 0
            self._overloads.append(now)
            self._forget(now)
            if len(self._overloads) < self._threshold:
                return
            self._overloads.clear()
            self._rate = max(self._floor_rate(), self._rate * self._decrease)
            self._concurrency = max(self._floor_concurrency(),
                                    int(self._concurrency * self._decrease))

    def set_ceiling(
        self, *, max_rate: Optional[float] = None, max_concurrency: Optional[int] = None,
    ) -> None:
        """Change the ceilings (``slow()``, a plan change).

        A value that was at its old ceiling follows the new one at once; a value held down by
        overloads stays, below the new ceiling, and climbs back as usual.
        """
        if max_rate is not None and not 0 < max_rate < math.inf:
            raise ValueError(f"max_rate must be a positive number, not {max_rate!r}")
        if max_concurrency is not None and (int(max_concurrency) != max_concurrency
                                            or max_concurrency < 1):
            raise ValueError(f"max_concurrency must be a whole number >= 1, not {max_concurrency!r}")
        with self._lock:
            if max_rate is not None:
                free = self._rate >= self._max_rate
                self._max_rate = float(max_rate)
                self._rate = self._max_rate if free else min(self._rate, self._max_rate)
            if max_concurrency is not None:
                free = self._concurrency >= self._max_concurrency
                self._max_concurrency = int(max_concurrency)
                self._concurrency = (self._max_concurrency if free
                                     else min(self._concurrency, self._max_concurrency))

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def concurrency(self) -> int:
        return self._concurrency

    def snapshot(self) -> Dict[str, Any]:
        with self._lock:
            self._forget(self._clock.now())
            return {"rate": self._rate, "concurrency": self._concurrency,
                    "max_rate": self._max_rate, "max_concurrency": self._max_concurrency,
                    "recent_overloads": len(self._overloads), "success_streak": self._streak}

    def _forget(self, now: float) -> None:
        while self._overloads and self._overloads[0] <= now - self._window:
            self._overloads.popleft()

    # A ceiling below a floor wins: slow(1) must mean one at a time even under 0.5/s floors.
    def _floor_rate(self) -> float:
        return min(self._min_rate, self._max_rate)

    def _floor_concurrency(self) -> int:
        return min(self._min_concurrency, self._max_concurrency)
