"""Bounded waiting and cancellation (issue 15): ``deadline=`` bounds a whole call and says how
far it got; cancelling a BitrixAsync task stops its queued sends, writes included.

In memory on a fake clock: deadlines, read timeouts and backoffs pass in virtual time, and
the test asserts on that time. Where a test must stop a call part-way, a :class:`Gate`
holds the requests at the chosen point, so the stop lands there every run.
"""
import asyncio
import time
from typing import Any, Callable, List, Tuple

import pytest

from bitrix_fast import BatchError, BitrixAsync
from bitrix_fast.errors import Cancelled, DeadlineExceeded, ResponseTimeout, RetryExhausted
from bitrix_fast.run.stop import CHECK_EVERY
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import CostModel, Sandbox
from portals_a import Gate, memory_portal


def titles(sb: Sandbox) -> List[str]:
    with sb.store.locked() as db:
        return [row[0] for row in db.execute('SELECT "TITLE" FROM "deal"')]


def test_a_portal_that_stops_answering_raises_by_the_deadline() -> None:
    with memory_portal(deals=100, faults="hang=1") as sb:
        with connect(sb, timeout=5, deadline=3) as bx:
            began = sb.clock.now()
            with pytest.raises(DeadlineExceeded) as caught:
                bx.get_all("crm.deal.list")
            took = sb.clock.now() - began
        hung = sb.stats()["faults"]["hang"]
    # the read timeout is cut to what is left of the deadline: one attempt, no longer
    assert 3 <= took <= 3 + CHECK_EVERY, took
    assert hung == 1
    assert "crm.deal.list: deadline of 3 s passed" in str(caught.value)


def test_without_a_deadline_a_silent_portal_still_fails_within_30_s() -> None:
    """timeout=5: a read timeout is retried at most twice (issue 15's bound)."""
    with memory_portal(deals=100, faults="hang=1") as sb:
        with connect(sb, timeout=5) as bx:
            began = sb.clock.now()
            with pytest.raises(RetryExhausted) as caught:
                bx.get_all("crm.deal.list")
            took = sb.clock.now() - began
        hung = sb.stats()["faults"]["hang"]
    assert isinstance(caught.value.last_error, ResponseTimeout)
    assert caught.value.attempts == 3 and hung == 3
    assert 3 * 5 <= took < 30, took  # three read timeouts and two short backoffs


def in_virtual_time(took: float, deadline: float, in_flight: int,
                    seconds_each: float) -> bool:
    """The bound a deadline puts on a call's virtual time. On a FakeClock concurrent waits
    add up: each request on the wire when the deadline passes is answered (its cost slept
    on the clock) before its thread lets go, where over HTTP the client stops listening at
    the deadline. So the clock may pass the deadline by one request's time per request in
    flight, plus one check of the stop context."""
    return took <= deadline + CHECK_EVERY + in_flight * seconds_each


def test_a_listing_past_its_deadline_says_how_far_it_got() -> None:
    cost = CostModel(per_command=0.02)  # a batch of 50 pages takes a second
    with memory_portal(deals=60_000, plan="x10", cost=cost) as sb:
        with connect(sb, requests_per_second=20, request_pool_size=50, max_workers=4) as bx:
            began = sb.clock.now()
            with pytest.raises(DeadlineExceeded) as caught:
                bx.get_all("crm.deal.list", {"select": ["ID"]}, deadline=1.5)
            took = sb.clock.now() - began
            sent = bx.stats()["requests"]
        # the client is closed: its threads are done, nothing more can come
        arrived = sb.stats()["requests"]
    error = caught.value
    assert error.method == "crm.deal.list" and error.seconds == 1.5
    assert "rows of ~60,000" in error.progress
    assert 0 < arrived == sent  # nothing sent after the deadline raised
    assert arrived < 24  # far from the whole listing (24 requests)
    assert in_virtual_time(took, 1.5, in_flight=4, seconds_each=1.0), took


def test_writes_past_the_deadline_are_reported_item_by_item() -> None:
    cost = CostModel(per_command=0.01)  # a batch of 50 adds takes half a second
    items = [{"fields": {"TITLE": f"deal {i}"}} for i in range(6_000)]
    with memory_portal(plan="x10", cost=cost) as sb:
        with connect(sb, requests_per_second=20, max_workers=4) as bx:
            began = sb.clock.now()
            with pytest.raises(DeadlineExceeded) as caught:
                bx.call("crm.deal.add", items, deadline=1.0)
            took = sb.clock.now() - began
            sent = bx.stats()["requests"]
        made = {int(t.split()[1]) for t in titles(sb)}  # the client is closed: all landed
        arrived = sb.stats()["requests"]
    assert in_virtual_time(took, 1.0, in_flight=4, seconds_each=0.5), took
    report = caught.value.partial
    assert isinstance(report, BatchError)
    accounted = set(report.results) | set(report.in_doubt) | set(report.not_sent) | \
        set(report.errors)
    assert accounted == set(range(6_000))
    assert made <= set(report.results) | set(report.in_doubt)  # nothing created unreported
    assert report.not_sent and not made & set(report.not_sent)
    assert arrived == sent


async def _cancel_when_held(bx: BitrixAsync, gate: Gate, task: "asyncio.Task[Any]", *,
                            in_flight: int, ready: Callable[[], bool] = lambda: True) -> int:
    """Wait (in real time) until ``in_flight`` requests are held at the gate and ``ready()``,
    then cancel ``task``, let the cancel reach the call's thread, and release the gate.
    Returns the requests the client had sent when it was cancelled."""
    began = time.monotonic()
    while gate.held < in_flight or not ready():
        assert time.monotonic() - began < 10, f"only {gate.held} requests reached the gate"
        await asyncio.sleep(0.002)
    sent = bx.stats()["requests"]
    task.cancel()
    for _ in range(5):  # the task takes the CancelledError and signals the thread
        await asyncio.sleep(0)
    gate.release()
    return int(sent)


def test_cancelling_an_async_write_stops_its_queued_sends() -> None:
    """Four requests on the wire when the task is cancelled: they land, nothing queued
    behind them (200 batches of 50) is sent, and every item is accounted for."""
    cost = CostModel(per_command=0.01)
    items = [{"fields": {"TITLE": f"deal {i}"}} for i in range(10_000)]

    async def scenario(sb: Sandbox, gate: Gate) -> Tuple[BaseException, int, int]:
        async with BitrixAsync(sb.webhook, verbose=False, requests_per_second=20,
                               max_workers=4, transport=gate, clock=sb.clock) as bx:
            task = asyncio.create_task(bx.call("crm.deal.add", items))
            sent = await _cancel_when_held(bx, gate, task, in_flight=4)
            with pytest.raises(asyncio.CancelledError) as caught:
                await task
            return caught.value, sent, bx.stats()["requests"]

    with memory_portal(plan="x10", cost=cost) as sb:
        gate = Gate(sb.transport(), open_for=3)
        cancelled, sent, after = asyncio.run(scenario(sb, gate))
        arrived = sb.stats()["requests"]
        made = {int(t.split()[1]) for t in titles(sb)}
    assert not gate.timed_out
    assert after == sent == arrived == 3 + 4  # the queued batches were never sent
    cause = cancelled.__cause__
    assert isinstance(cause, Cancelled)
    report = cause.partial
    assert isinstance(report, BatchError)
    assert made <= set(report.results) | set(report.in_doubt)
    assert len(report.not_sent) > 5_000 and not made & set(report.not_sent)
    accounted = set(report.results) | set(report.in_doubt) | set(report.not_sent) | \
        set(report.errors)
    assert accounted == set(range(10_000))


def test_cancelling_an_async_listing_ends_it_cleanly() -> None:
    cost = CostModel(per_command=0.01)

    async def scenario(sb: Sandbox, gate: Gate) -> Tuple[int, int, int]:
        async with BitrixAsync(sb.webhook, verbose=False, requests_per_second=20,
                               max_workers=4, transport=gate, clock=sb.clock) as bx:
            seen: List[Any] = []

            async def consume() -> None:
                async for row in bx.iter_all("crm.deal.list", {"select": ["ID"]}):
                    seen.append(row)

            task = asyncio.create_task(consume())
            sent = await _cancel_when_held(bx, gate, task, in_flight=4,
                                           ready=lambda: len(seen) >= 2_500)
            with pytest.raises(asyncio.CancelledError):
                await task
            return len(seen), sent, bx.stats()["requests"]

    with memory_portal(deals=100_000, plan="x10", cost=cost) as sb:
        gate = Gate(sb.transport(), open_for=3)
        seen, sent, after = asyncio.run(scenario(sb, gate))
        arrived = sb.stats()["requests"]
    assert not gate.timed_out
    assert after == sent == arrived == 3 + 4  # nothing sent after the cancel
    assert 2_500 <= seen < 100_000
