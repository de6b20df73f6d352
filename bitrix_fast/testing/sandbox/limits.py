"""The portal's two limits: the request-rate leaky bucket and the per-method time budget.

- :class:`LeakyBucket` (``QUERY_LIMIT_EXCEEDED``, HTTP 503): every ``/rest/`` request adds 1
  to a counter that drains at ``rate`` per second; a request is accepted iff the drained
  level + 1 stays within ``burst``. A batch is one request. Refused requests add nothing
  unless ``count_refused`` is set (the docs do not say; limits.md).
- :class:`OperatingLedger` (``OPERATION_TIME_LIMIT``, HTTP 429): server time per
  (credential, method) in 10 buckets over a sliding window; calls of 0.1 s or less are not
  counted; a call is refused when the sum is already over the limit *before* it starts, so
  the call that crosses the limit completes (rest ``LoadLimiter``, limits.md).
- :class:`Plan` and :func:`make_plan`: the published numbers, and time-scaled variants
  (``x10``: 10x the drain rate, a tenth of the window and of the budget) for benchmarks
  that must show minutes of portal behaviour in seconds.

Both classes read the portal's :class:`~bitrix_fast.clock.Clock` (the bucket its monotonic
``now``, the ledger its Unix ``wall`` time, which ``operating_reset_at`` reports), so tests
drive time by hand with a :class:`~bitrix_fast.testing.clock.FakeClock`.
"""
from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, replace
from typing import Dict, Hashable, List, Optional, Tuple

from ...clock import SYSTEM_CLOCK, Clock

__all__ = ["Plan", "PLANS", "make_plan", "LeakyBucket", "OperatingLedger"]


@dataclass(frozen=True)
class Plan:
    """Limits of one portal.

    :param burst: requests the bucket holds before refusing (X in limits.md)
    :param rate: requests drained per second (Y)
    :param operating_limit: seconds of server time per method and credential per window
    :param operating_window: the sliding window, seconds (10 buckets)
    :param min_counted: calls this short or shorter are not billed
    """

    burst: float = 50.0
    rate: float = 2.0
    operating_limit: float = 480.0
    operating_window: float = 600.0
    min_counted: float = 0.1


PLANS: Dict[str, Plan] = {
    # limits.md: "all other plans" 50 / 2 per s; Enterprise 250 / 5 per s; 480 s per 10 min
    "standard": Plan(burst=50, rate=2),
    "enterprise": Plan(burst=250, rate=5),
}

_SCALED = re.compile(r"^(?:(standard|enterprise)[-_]?)?x(\d+(?:\.\d+)?)$")


def make_plan(
    name: str = "standard",
    *,
    burst: Optional[float] = None,
    rate: Optional[float] = None,
    operating_limit: Optional[float] = None,
    operating_window: Optional[float] = None,
) -> Plan:
    """Resolve a plan name (``standard``, ``enterprise``, ``x10``, ``enterprise-x10``...)
    and apply explicit overrides on top."""
    key = name.strip().lower()
    if key in PLANS:
        plan = PLANS[key]
    else:
        match = _SCALED.match(key)
        if not match:
            raise ValueError(f"unknown plan {name!r}: use standard, enterprise, x10 or <plan>-x<N>")
        base = PLANS[match.group(1) or "standard"]
        factor = float(match.group(2))
        if factor <= 0:
            raise ValueError("the time scale must be positive")
        # Time runs `factor` times faster: the bucket drains faster and the operating window
        # and budget shrink; the burst and the 0.1 s threshold are sizes, not times.
        plan = replace(
            base,
            rate=base.rate * factor,
            operating_limit=base.operating_limit / factor,
            operating_window=base.operating_window / factor,
        )
    overrides = {
        "burst": burst,
        "rate": rate,
        "operating_limit": operating_limit,
        "operating_window": operating_window,
    }
    plan = replace(plan, **{k: float(v) for k, v in overrides.items() if v is not None})
    if plan.burst < 1 or plan.rate <= 0 or plan.operating_window <= 0 or plan.operating_limit < 0:
        raise ValueError(f"impossible limits: {plan}")
    return plan


class LeakyBucket:
    """Thread-safe leaky bucket; :meth:`try_acquire` answers accept/refuse at once."""

    def __init__(
        self,
        burst: float,
        rate: float,
        *,
        count_refused: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.burst = float(burst)
        self.rate = float(rate)
        self.count_refused = count_refused
        self._clock = clock
        self._lock = threading.Lock()
        self._level = 0.0
        self._last = clock.now()

    def _drain(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._level = max(0.0, self._level - elapsed * self.rate)
        self._last = now

    def try_acquire(self) -> Tuple[bool, float]:
        """Admit one request or refuse it; returns (accepted, the clock reading used)."""
        with self._lock:
            now = self._clock.now()
            self._drain(now)
            if self._level + 1.0 <= self.burst + 1e-9:
                self._level += 1.0
                return True, now
            if self.count_refused:
                self._level += 1.0
            return False, now

    @property
    def level(self) -> float:
        with self._lock:
            self._drain(self._clock.now())
            return self._level

    def reset(self) -> None:
        with self._lock:
            self._level = 0.0
            self._last = self._clock.now()


class OperatingLedger:
    """Per-key server time in ``buckets`` slots over a sliding ``window``.

    A key is whatever identifies (auth type, app or webhook, method). A slot covers
    ``window / buckets`` seconds of wall time and expires ``window`` seconds after the
    first call billed to it, which is what ``operating_reset_at`` reports.
    """

    def __init__(
        self,
        limit: float,
        window: float,
        *,
        buckets: int = 10,
        min_counted: float = 0.1,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.limit = float(limit)
        self.window = float(window)
        self.min_counted = float(min_counted)
        self._width = self.window / buckets
        self._clock = clock
        self._lock = threading.Lock()
        # key -> {slot index: [seconds, expires_at]}
        self._slots: Dict[Hashable, Dict[int, List[float]]] = {}

    def _live(self, key: Hashable, now: float) -> Dict[int, List[float]]:
        slots = self._slots.get(key)
        if not slots:
            return {}
        for index in [i for i, (_, expires) in slots.items() if expires <= now]:
            del slots[index]
        return slots

    def blocked(self, key: Hashable, now: Optional[float] = None) -> bool:
        """True when the key has already used more than its budget (checked before a call)."""
        now = self._clock.wall() if now is None else now
        with self._lock:
            return sum(s for s, _ in self._live(key, now).values()) > self.limit

    def record(self, key: Hashable, started: float, duration: float) -> bool:
        """Bill one call that began at ``started`` (wall clock); False if too short to count."""
        if duration <= self.min_counted:
            return False
        index = int(math.floor(started / self._width))
        with self._lock:
            slots = self._slots.setdefault(key, {})
            slot = slots.get(index)
            if slot is None:
                slots[index] = [duration, started + self.window]
            else:
                slot[0] += duration
        return True

    def snapshot(self, key: Hashable, started: float, now: Optional[float] = None) -> Tuple[float, int]:
        """(``operating``, ``operating_reset_at``) as a reply reports them."""
        now = self._clock.wall() if now is None else now
        with self._lock:
            slots = self._live(key, now)
            total = sum(s for s, _ in slots.values())
            expiries = [expires for _, expires in slots.values()]
        reset_at = min(expiries) if expiries else started + self.window
        return total, int(reset_at)

    def reset(self) -> None:
        with self._lock:
            self._slots.clear()
