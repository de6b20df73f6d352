"""Requests in flight sized by the portal (issue 16): the burst at once, then rate x time per
request, fewer when the portal slows down, and never more than the bucket admits."""
import heapq
import math
from typing import List, Optional, Tuple

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.pacing.inflight import MARGIN, SLOWDOWN, InFlight
from bitrix_fast.pacing.bucket import TokenBucket
from fakes import FakeClock
from portals_a import Crowd, memory_portal


def test_nothing_measured_means_the_ceiling() -> None:
    assert InFlight(50).limit("batch", rate=2.0, free=0) == 50


def test_littles_law_with_a_margin_plus_the_free_tokens() -> None:
    flight = InFlight(250)
    flight.observe("list", 5.0)
    # Enterprise: 5 req/s x 5 s batches -> 25 in flight (plus the margin)
    assert flight.limit("list", rate=5.0, free=0) == math.ceil(5 * 5 * MARGIN) + 1
    assert flight.limit("list", rate=5.0, free=200) == math.ceil(5 * 5 * MARGIN) + 1 + 200
    assert flight.limit("list", rate=5.0, free=1_000) == 250  # never past the ceiling


def test_each_kind_of_work_has_its_own_time() -> None:
    flight = InFlight(100)
    flight.observe("lists", 1.5)
    flight.observe("adds", 2.5)
    assert flight.limit("adds", rate=20, free=0) > flight.limit("lists", rate=20, free=0)


def test_a_slowing_portal_gets_no_more_requests() -> None:
    """Replies five times slower than the best: the limit stops at twice the best time."""
    flight = InFlight(500)
    flight.observe("list", 1.0)
    for _ in range(30):
        flight.observe("list", 5.0)
    assert flight.seconds("list") == pytest.approx(SLOWDOWN * 1.0)
    assert flight.limit("list", rate=20, free=0) == math.ceil(20 * SLOWDOWN * MARGIN) + 1


def simulate(rate: float, burst: int, latency: float, requests: int, ceiling: int = 50,
             slow_after: Optional[int] = None,
             slow_latency: Optional[float] = None) -> Tuple[List[float], List[int]]:
    """Discrete events on a fake clock: a request starts when both the in-flight limit and
    the bucket allow; it is answered ``latency`` seconds later. Returns the start times and
    the number in flight at each start."""
    clock = FakeClock()
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    flight = InFlight(ceiling)
    answers: List[Tuple[float, float]] = []  # (time, started)
    starts: List[float] = []
    in_flight_at: List[int] = []
    sent = 0
    while sent < requests:
        now = clock.now()
        while answers and answers[0][0] <= now:
            done, began = heapq.heappop(answers)
            flight.observe("list", done - began)
        limit = flight.limit("list", rate, bucket.available)
        if len(answers) < limit and bucket.try_acquire() == 0.0:
            took = latency
            if slow_after is not None and slow_latency is not None and sent >= slow_after:
                took = slow_latency
            heapq.heappush(answers, (now + took, now))
            starts.append(now)
            in_flight_at.append(len(answers))
            sent += 1
            continue
        wait = bucket.try_acquire() if len(answers) < limit else answers[0][0] - now
        clock.advance(max(1e-3, min(wait, answers[0][0] - now if answers else wait)))
    return starts, in_flight_at


def test_the_burst_goes_at_once_then_rate_times_latency() -> None:
    starts, in_flight = simulate(rate=20, burst=50, latency=1.5, requests=300)
    assert starts[:50] == [0.0] * 50  # the whole burst at once
    steady = in_flight[150:]
    assert 0.8 * 20 * 1.5 <= sum(steady) / len(steady) <= 20 * 1.5 * MARGIN + 1


def test_never_more_than_the_bucket_admits() -> None:
    starts, _ = simulate(rate=20, burst=50, latency=1.5, requests=400)
    for i in range(len(starts)):
        for j in range(i, len(starts), 7):
            assert j - i + 1 <= 50 + 20 * (starts[j] - starts[i]) + 1e-6


def test_a_slower_portal_is_sent_fewer_requests_per_second() -> None:
    """Latency rising from 1 s to 5 s: in flight stops at rate x 2 s, so the request rate
    falls to about 40% of the bucket's instead of piling 100 requests onto the portal."""
    starts, in_flight = simulate(rate=20, burst=50, latency=1.0, requests=1_000,
                                 ceiling=500, slow_after=200, slow_latency=5.0)
    assert max(in_flight[600:]) <= 20 * SLOWDOWN * MARGIN + 2
    late = starts[700:]
    assert (len(late) - 1) / (late[-1] - late[0]) < 0.6 * 20


def test_a_slow_portal_gets_rate_times_latency_in_flight_and_no_refusal() -> None:
    """On the x10 plan with batches of 1.5 s (the issue's portal), far more than the old 16
    requests are in flight at once, and the bucket still refuses nothing.

    In memory on a fake clock: a reply comes back at CPU speed, so the requests after the
    first (which goes alone) are held on their way until 30 wait together (or none comes
    for half a second);
    ``largest`` counts the requests that were on the wire at once, as the portal's
    ``max_executing`` did over HTTP.
    """
    with memory_portal(deals=4_000, plan="x10", cost="x10-latency") as sb:
        crowd = Crowd(sb.transport(), size=30, after=1)
        with Bitrix(sb.webhook, verbose=False, requests_per_second=20, transport=crowd,
                    clock=sb.clock) as bx:
            got = bx.get_by_ID("crm.deal.get", list(range(1, 4_001)))
            peak = bx.stats()["in_flight_peak"]
        stats = sb.stats()
    assert len(got) == 4_000
    assert stats["refused_503"] == 0
    assert peak >= 30 and crowd.largest >= 30
