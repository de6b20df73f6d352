"""The client's own account of a method's server time, for portals whose replies do not
report it.

Self-hosted portals answer without ``time.operating`` (their load limiter is off by
default, b24jssdk #459), some replies lack ``time`` altogether (fast_bitrix24 #269). A
portal may still limit what it does not report, so the budget then paces by this: the
seconds this client's calls billed -- the way the portal counts them, calls over 0.1 s only
-- in ten one-minute baskets, the oldest dropping out as the window slides. Sans-I/O,
thread-safe; time from an injected clock.
"""
from __future__ import annotations

import math
import threading
from typing import Dict, List, Tuple

from ..clock import Clock

#: Calls this short or shorter are not billed (rest ``LoadLimiter::minimalFixTime``).
BILLED_FROM = 0.1


class OwnLedger:
    """Billed seconds per method in ``baskets`` baskets over ``window`` seconds."""

    def __init__(self, clock: Clock, *, window: float = 600.0, baskets: int = 10) -> None:
        self._clock = clock
        self._window = float(window)
        self._width = self._window / baskets
        self._lock = threading.Lock()
        self._baskets: Dict[str, Dict[int, List[float]]] = {}  # method -> {basket: [s, ends]}

    def spend(self, method: str, seconds: float) -> None:
        """A call of ``method`` ran ``seconds`` on the server (billed if over 0.1 s)."""
        if not seconds > BILLED_FROM or math.isinf(seconds):
            return
        now = self._clock.now()
        index = int(now // self._width)
        with self._lock:
            baskets = self._baskets.setdefault(method.lower(), {})
            basket = baskets.get(index)
            if basket is None:
                baskets[index] = [seconds, now + self._window]
            else:
                basket[0] += seconds

    def figure(self, method: str) -> Tuple[float, float]:
        """(seconds billed over the window, seconds until the oldest basket drops out)."""
        now = self._clock.now()
        with self._lock:
            baskets = self._baskets.get(method.lower(), {})
            for index in [i for i, (_, ends) in baskets.items() if ends <= now]:
                del baskets[index]
            total = sum(seconds for seconds, _ in baskets.values())
            ends = [end for _, end in baskets.values()]
        return total, (min(ends) - now if ends else self._width)
