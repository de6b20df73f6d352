"""What the sandbox saw: counters for tests and benchmarks, and the arrival timeline.

One lock guards plain ints and dicts; every hook is a few dict operations, cheap enough to
sit on each request. The arrival timeline (seconds on the portal's clock since it started, or
since the last reset) lets a test prove a client's pacing from the server side with
:meth:`Stats.max_window_excess`.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

from ...clock import SYSTEM_CLOCK, Clock
from .outcome import Outcome

__all__ = ["Stats", "window_excess"]

#: arrivals kept for the timeline; beyond this the counters go on but the list stops
TIMELINE_CAP = 1_000_000


def window_excess(arrivals: Sequence[float], burst: float, rate: float) -> float:
    """Largest ``count - (burst + rate * span)`` over every window of consecutive arrivals.

    A leaky bucket that starts empty admits at most ``burst + rate * t`` requests in any
    window of length ``t``, so a result <= 0 means the arrivals respect the limit. O(n):
    for window [i, j] the excess is (j - rate*t_j) - (i - rate*t_i) + 1 - burst.
    """
    times = sorted(arrivals)
    best = float("-inf")
    lowest = float("inf")
    for j, t in enumerate(times):
        lowest = min(lowest, j - rate * t)
        best = max(best, (j - rate * t) - lowest + 1 - burst)
    return best if times else 0.0 - burst


class Stats:
    """Thread-safe counters of one portal."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._executing = self._queued = 0
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._origin = self._clock.now()
            self._n: Counter[str] = Counter()
            self._errors: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._methods: Counter[str] = Counter()
            self._accepted: List[float] = []
            self._refused: List[float] = []
            self._in_flight = 0
            self._max_in_flight = 0
            # requests being served right now stay counted across a reset; the peaks restart
            self._max_executing = self._executing
            self._max_queued = self._queued

    # -- hooks -------------------------------------------------------------------------
    def request(self, accepted: bool, at: float) -> None:
        """A ``/rest/`` request met the bucket at monotonic time ``at``."""
        with self._lock:
            self._n["requests"] += 1
            self._n["accepted" if accepted else "refused_503"] += 1
            timeline = self._accepted if accepted else self._refused
            if len(timeline) < TIMELINE_CAP:
                timeline.append(at - self._origin)

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    # -- the worker pool (see workers.py) -----------------------------------------------
    def worker_wait(self) -> None:
        """A request found every worker busy and joined the queue."""
        with self._lock:
            self._queued += 1
            self._n["waited"] += 1
            self._max_queued = max(self._max_queued, self._queued)

    def worker_waited(self) -> None:
        with self._lock:
            self._queued -= 1

    def worker_start(self) -> None:
        with self._lock:
            self._executing += 1
            self._max_executing = max(self._max_executing, self._executing)

    def worker_done(self) -> None:
        with self._lock:
            self._executing -= 1

    def command(self, method: str, outcome: Outcome) -> None:
        with self._lock:
            self._n["commands"] += 1
            self._n["rows_served"] += outcome.rows
            self._n["rows_counted"] += outcome.counted
            self._n["rows_skipped"] += outcome.skipped
            self._n["rows_written"] += outcome.written
            self._methods[method] += 1

    def error(self, code: str, *, in_batch: bool = False, status: int = 0) -> None:
        with self._lock:
            self._errors[code] += 1
            if code == "OPERATION_TIME_LIMIT":
                self._n["refused_429_commands" if in_batch else "refused_429"] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def internal_error(self) -> None:
        with self._lock:
            self._n["internal_errors"] += 1

    def bump(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._n[name] += by

    # -- reading -----------------------------------------------------------------------
    def snapshot(self, timeline: bool = False) -> Dict[str, Any]:
        """All counters as one dict.

        ``requests`` (``/rest/`` requests that reached the bucket) = ``accepted`` +
        ``refused_503``; ``refused_429`` (whole requests) and ``refused_429_commands``
        (batch commands); ``commands`` (method calls that ran, batch commands included,
        the batch wrapper not); ``rows_served`` / ``rows_counted`` / ``rows_skipped`` /
        ``rows_written`` (from the store's Outcomes); ``max_in_flight`` (requests inside the
        portal at once, waiting ones included); ``executing`` / ``max_executing`` (requests
        holding a worker now / at the peak) and ``queued`` / ``max_queued`` / ``waited``
        (requests waiting for a worker now / at the peak / in all, see ``workers=``); ``faults`` and
        ``errors`` by kind/code (per-command errors included); ``methods`` (commands per
        method); ``internal_errors``; ``connections`` opened; ``dropped`` replies; ``cut``
        requests (past the 60 s cut); ``oauth_requests``; ``v3_requests`` (``/rest/api/``
        calls) and ``idempotent_replays`` (REST 3.0 writes answered from their
        Idempotency-Key); ``uptime``. With ``timeline=True`` also ``timeline`` and
        ``refused_timeline``: arrival times, seconds since start or reset.
        """
        with self._lock:
            out: Dict[str, Any] = {
                name: self._n[name]
                for name in (
                    "requests", "accepted", "refused_503", "refused_429", "refused_429_commands",
                    "commands", "rows_served", "rows_counted", "rows_skipped", "rows_written",
                    "internal_errors", "oauth_requests", "connections", "dropped", "waited",
                    "v3_requests", "idempotent_replays", "cut",
                )
            }
            out["max_in_flight"] = self._max_in_flight
            out["in_flight"] = self._in_flight
            out["executing"] = self._executing
            out["max_executing"] = self._max_executing
            out["queued"] = self._queued
            out["max_queued"] = self._max_queued
            out["faults"] = dict(self._faults)
            out["errors"] = dict(self._errors)
            out["methods"] = dict(self._methods)
            out["uptime"] = self._clock.now() - self._origin
            if timeline:
                out["timeline"] = list(self._accepted)
                out["refused_timeline"] = list(self._refused)
            return out

    def timeline(self, include_refused: bool = False) -> List[float]:
        """Arrival times of accepted requests (plus refused ones if asked), sorted."""
        with self._lock:
            times = list(self._accepted)
            if include_refused:
                times.extend(self._refused)
        return sorted(times)

    def max_window_excess(self, burst: float, rate: float, *, include_refused: bool = True) -> float:
        """How far the busiest window of arrivals went over ``burst + rate * t``.

        <= 0: the client stayed within the limit. Refused arrivals are included by default:
        accepted ones alone always fit, because the server's own bucket admitted them.
        """
        return window_excess(self.timeline(include_refused), burst, rate)

    def since_start(self, at: Optional[float] = None) -> float:
        return (self._clock.now() if at is None else at) - self._origin
