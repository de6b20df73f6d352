"""Bounded waiting and cancellation (issue 15): ``deadline=`` bounds a whole call and says how
far it got; cancelling a BitrixAsync task stops its queued sends, writes included."""
import asyncio
import time

import pytest

from bitrix_fast import Bitrix, BitrixAsync
from bitrix_fast.errors import Cancelled, DeadlineExceeded
from bitrix_fast.testing.sandbox import CostModel, Sandbox


def titles(sb):
    with sb.store.locked() as db:
        return [row[0] for row in db.execute('SELECT "TITLE" FROM "deal"')]


def test_a_portal_that_stops_answering_raises_by_the_deadline():
    with Sandbox(deals=100, faults="hang=1") as sb:
        with Bitrix(sb.webhook, verbose=False, timeout=5, deadline=3) as bx:
            began = time.monotonic()
            with pytest.raises(DeadlineExceeded) as caught:
                bx.get_all("crm.deal.list")
            took = time.monotonic() - began
    assert took < 4.5, took
    assert "crm.deal.list: deadline of 3 s passed" in str(caught.value)


def test_without_a_deadline_a_silent_portal_still_fails_within_30_s():
    """timeout=5: a read timeout is retried at most twice (issue 15's bound)."""
    with Sandbox(deals=100, faults="hang=1") as sb:
        with Bitrix(sb.webhook, verbose=False, timeout=5) as bx:
            began = time.monotonic()
            with pytest.raises(Exception):
                bx.get_all("crm.deal.list")
            assert time.monotonic() - began < 30


def test_a_listing_past_its_deadline_says_how_far_it_got():
    cost = CostModel(per_command=0.02)  # a batch of 50 pages takes a second
    with Sandbox(deals=60_000, plan="x10", cost=cost) as sb:
        with Bitrix(sb.webhook, verbose=False, requests_per_second=20,
                    request_pool_size=50, max_workers=4) as bx:
            with pytest.raises(DeadlineExceeded) as caught:
                bx.get_all("crm.deal.list", {"select": ["ID"]}, deadline=1.5)
            requests_at_deadline = sb.stats()["requests"]
            time.sleep(1.0)
            assert sb.stats()["requests"] == requests_at_deadline  # nothing sent after it
    error = caught.value
    assert error.method == "crm.deal.list" and error.seconds == 1.5
    assert "rows of ~60,000" in error.progress


def test_writes_past_the_deadline_are_reported_item_by_item():
    cost = CostModel(per_command=0.01)  # a batch of 50 adds takes half a second
    items = [{"fields": {"TITLE": f"deal {i}"}} for i in range(6_000)]
    with Sandbox(plan="x10", cost=cost) as sb:
        with Bitrix(sb.webhook, verbose=False, requests_per_second=20) as bx:
            began = time.monotonic()
            with pytest.raises(DeadlineExceeded) as caught:
                bx.call("crm.deal.add", items, deadline=1.0)
            assert time.monotonic() - began < 2.0
            time.sleep(1.0)  # whatever was on the wire finishes on the portal
            made = {int(t.split()[1]) for t in titles(sb)}
    report = caught.value.partial
    assert report is not None
    accounted = set(report.results) | set(report.in_doubt) | set(report.not_sent) | \
        set(report.errors)
    assert accounted == set(range(6_000))
    assert made <= set(report.results) | set(report.in_doubt)  # nothing created unreported
    assert report.not_sent and not made & set(report.not_sent)


def test_cancelling_an_async_write_stops_its_queued_sends():
    cost = CostModel(per_command=0.01)
    items = [{"fields": {"TITLE": f"deal {i}"}} for i in range(10_000)]

    async def scenario(sb):
        async with BitrixAsync(sb.webhook, verbose=False, requests_per_second=20) as bx:
            task = asyncio.create_task(bx.call("crm.deal.add", items))
            await asyncio.sleep(1.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as caught:
                await task
            return caught.value

    with Sandbox(plan="x10", cost=cost) as sb:
        cancelled = asyncio.run(scenario(sb))
        sent = sb.stats()["requests"]
        time.sleep(1.0)
        assert sb.stats()["requests"] == sent  # the queued batches were never sent
        made = {int(t.split()[1]) for t in titles(sb)}
    cause = cancelled.__cause__
    assert isinstance(cause, Cancelled)
    report = cause.partial
    assert made <= set(report.results) | set(report.in_doubt)
    assert len(report.not_sent) > 5_000 and not made & set(report.not_sent)


def test_cancelling_an_async_listing_ends_it_cleanly():
    cost = CostModel(per_command=0.01)

    async def scenario(sb):
        async with BitrixAsync(sb.webhook, verbose=False, requests_per_second=20,
                               max_workers=4) as bx:
            seen = []

            async def consume():
                async for row in bx.iter_all("crm.deal.list", {"select": ["ID"]}):
                    seen.append(row)

            task = asyncio.create_task(consume())
            while len(seen) < 2_500:
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return len(seen)

    with Sandbox(deals=100_000, plan="x10", cost=cost) as sb:
        seen = asyncio.run(scenario(sb))
        sent = sb.stats()["requests"]
        time.sleep(0.8)
        assert sb.stats()["requests"] == sent
    assert 2_500 <= seen < 100_000
