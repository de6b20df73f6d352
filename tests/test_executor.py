"""The executor: bounded read-ahead, failures that stop everything, order kept for bulk calls."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bitrix_fast.protocol.batch import Command, CommandResult
from bitrix_fast.run.scheduler import drive, map_ordered
from bitrix_fast.run.work import Work


class CountingPlan:
    """Hands out ``works`` units; each reply yields 10 rows."""

    unique = True

    def __init__(self, works):
        self.left = works
        self.out = 0
        self.total = works * 10
        self.done = False

    def next_work(self):
        if not self.left:
            return None
        self.left -= 1
        self.out += 1
        return Work([Command("c0000", "x.list")], tags=[self.left])

    def feed(self, work, results):
        self.out -= 1
        self.done = not self.left and not self.out
        return [(work.tags[0], i) for i in range(10)]


def test_read_ahead_is_bounded():
    """Never more than max_in_flight units started, however slow the consumer."""
    plan = CountingPlan(40)
    busy, peak, lock = [0], [0], threading.Lock()

    def run(work):
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], plan.out)
        time.sleep(0.002)
        with lock:
            busy[0] -= 1
        return [CommandResult("c0000", "x.list", result=[])]

    with ThreadPoolExecutor(8) as pool:
        rows = []
        for row in drive(plan, run, pool, max_in_flight=3):
            rows.append(row)
            time.sleep(0.0002)  # a slow consumer
    assert len(rows) == 400 and peak[0] <= 3


def test_a_failure_stops_the_iteration_and_propagates():
    plan = CountingPlan(20)
    calls = []

    def run(work):
        calls.append(work)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return []

    with ThreadPoolExecutor(2) as pool:
        with pytest.raises(RuntimeError, match="boom"):
            list(drive(plan, run, pool, max_in_flight=2))
    assert len(calls) < 20


def test_closing_early_cancels_what_has_not_started():
    plan = CountingPlan(100)
    started = []

    def run(work):
        started.append(1)
        return []

    with ThreadPoolExecutor(1) as pool:
        rows = drive(plan, run, pool, max_in_flight=4)
        next(rows)
        rows.close()
    assert len(started) <= 6


def test_progress_gets_counts_and_the_total():
    seen = []
    with ThreadPoolExecutor(2) as pool:
        list(drive(CountingPlan(3), lambda w: [], pool, max_in_flight=2,
                   on_rows=lambda n, total: seen.append((n, total))))
    assert seen == [(10, 30)] * 3


def test_map_ordered_keeps_input_order():
    def slow_square(x):
        time.sleep(0.001 * (5 - x % 5))
        return x * x

    done = []
    with ThreadPoolExecutor(4) as pool:
        out = map_ordered(slow_square, list(range(20)), pool,
                          on_done=lambda chunk, result: done.append(chunk))
    assert out == [x * x for x in range(20)] and sorted(done) == list(range(20))


def test_after_a_halt_replies_already_received_are_still_used_and_the_rest_dropped():
    """A halt's grace can run out while the consumer is busy: replies that are already here
    are still fed (a resume need not read them again); those not back are dropped unfed."""
    plan = CountingPlan(6)
    release = threading.Event()
    halt_at = []

    def run(work):
        unit = work.tags[0]
        if unit < 2:  # the last two units hang until the test ends
            release.wait(5)
        elif unit < 5:  # these land while the consumer is busy with unit 5's rows
            time.sleep(0.05)
        return [CommandResult("c0000", "x.list", result=[])]

    def halted():
        return halt_at[0] if halt_at else None

    with ThreadPoolExecutor(8) as pool:
        rows = []
        try:
            for row in drive(plan, run, pool, max_in_flight=6, halted=halted):
                if not halt_at:
                    # Halted at unit 5's first row, with a grace that is over before the
                    # consumer comes back; meanwhile units 2-4 arrive.
                    halt_at.append(time.monotonic() + 0.01)
                    time.sleep(0.2)
                rows.append(row)
        finally:
            release.set()
    units = {unit for unit, _ in rows}
    assert units == {2, 3, 4, 5} and len(rows) == 40
