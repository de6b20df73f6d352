"""A portal in virtual time for the list planner: how long an export takes, deterministically.

:func:`simulate` drives a plan (:class:`bitrix_fast.listing.Listing`) the way the scheduler
does -- it asks for work when a reply lands, every ``poll`` seconds and when a work asked
to be asked again (``Work.wake_after``), sends whatever the
plan hands out as soon as the portal's bucket allows (``burst`` at once, then ``rate`` a
second) -- against a :class:`~listfakes.FakeList` whose every command costs server time as
the sandbox's cost model says: ``per_command + rows * per_row + counted * per_counted_row``.
A batch's commands run one after another, batches in parallel. Replies are fed in the
order they land. Nothing sleeps: time is a number.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from listfakes import FakeList


class SimClock:
    """The plan's clock: ``now()`` is the simulation's time."""

    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time

    def wall(self) -> float:
        return 1_700_000_000.0 + self.time

    def sleep(self, seconds: float) -> None:
        raise AssertionError("a plan never sleeps")


@dataclass(frozen=True)
class Cost:
    """Server seconds per command, per row returned and per row counted."""

    per_command: float = 0.005
    per_row: float = 0.00184
    per_counted_row: float = 20.9e-6


REAL_BIG = Cost()
X10_LATENCY = Cost(per_command=0.03, per_row=0.0, per_counted_row=0.0)


@dataclass
class Run:
    rows: List[Any]
    seconds: float
    requests: int
    commands: int
    #: when each request was sent and answered
    log: List[Tuple[float, float, int]] = field(default_factory=list)

    def floor(self, burst: int, rate: float, latency: float) -> float:
        """The least time the portal allows for these requests (benchmarks' floor)."""
        return max(0.0, (self.requests - burst) / rate) + latency


def simulate(plan: Any, server: FakeList, clock: SimClock, *, cost: Cost, burst: int,
             rate: float, poll: float = 0.25, limit: float = 3600.0) -> Run:
    """Drive ``plan`` to its end (see the module docstring)."""
    order = itertools.count()
    arrivals: List[Tuple[float, int, Any, Any]] = []  # (time, seq, work, results)
    tokens, refilled = float(burst), 0.0
    rows: List[Any] = []
    log: List[Tuple[float, float, int]] = []
    next_poll = poll
    wakes: List[float] = []  # polls a work asked for (Work.wake_after)

    def send_all() -> None:
        nonlocal tokens, refilled
        while True:
            work = plan.next_work()
            if work is None:
                return
            tokens = min(float(burst), tokens + (clock.time - refilled) * rate)
            refilled = clock.time
            start = clock.time
            if tokens < 1:
                start += (1 - tokens) / rate  # the bucket admits it a little later
                tokens, refilled = 1.0, start
            tokens -= 1
            if work.wake_after is not None:
                heapq.heappush(wakes, start + work.wake_after)
            results = server.batch(work.commands)
            took = sum(_cost(c, r, cost) for c, r in zip(work.commands, results))
            log.append((start, start + took, len(work.commands)))
            heapq.heappush(arrivals, (start + took, next(order), work, results))

    send_all()
    while not plan.done:
        if not arrivals:
            raise AssertionError("the plan stalled: nothing in flight and not done")
        landing = arrivals[0][0]
        if wakes and wakes[0] < min(landing, next_poll):
            clock.time = heapq.heappop(wakes)
            send_all()
            continue
        if next_poll < landing:
            clock.time = next_poll
            next_poll += poll
            send_all()
            continue
        clock.time, _, work, results = heapq.heappop(arrivals)
        rows.extend(plan.feed(work, results))
        send_all()
        assert clock.time < limit, "the plan does not end"
    return Run(rows, clock.time, server.requests, server.commands, log)


def _cost(command: Any, result: Any, cost: Cost) -> float:
    page = result.result if isinstance(result.result, list) else []
    counted = result.total if int(command.params.get("start", 0)) >= 0 else 0
    return cost.per_command + len(page) * cost.per_row + (counted or 0) * cost.per_counted_row


def latency(cost: Cost, pages: int = 50, rows: int = 50) -> float:
    """A batch of ``pages`` uncounted pages of ``rows`` rows."""
    return pages * (cost.per_command + rows * cost.per_row)
