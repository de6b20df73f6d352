"""Four processes, one RedisLimiter key: together they stay within one portal's bucket."""
from __future__ import annotations

from typing import List

from redis_worker import run_workers


def max_excess(times: List[float], burst: float, rate: float, slack: float) -> float:
    """The most any window [t_i, t_j] of grant times went over burst + rate * (t_j - t_i +
    slack); <= 0 means never."""
    times = sorted(times)
    worst = -float("inf")
    for i in range(len(times)):
        for j in range(i, len(times)):
            worst = max(worst, (j - i + 1) - (burst + rate * (times[j] - times[i] + slack)))
    return worst


def test_four_processes_share_one_bucket(redis_url, redis_key):
    rate, burst, per_process, processes = 50.0, 10, 15, 4
    # No headroom: the whole burst is used, so the bound below is exactly the portal's.
    reports = run_workers("tokens", redis_url, redis_key, str(rate), str(burst),
                          str(per_process), "0", processes=processes)
    grants = sorted(t for report in reports for t in report["grants"])
    assert [len(r["grants"]) for r in reports] == [per_process] * processes

    # Each time was read right after acquire() returned, so it lags the grant in Redis by
    # a delay d (the reply's trip back, parsing it, scheduling: well under 1 ms, rarely a
    # few ms). Two grants' recorded times can therefore be closer than the grants by at
    # most the spread of d; SLACK = 20 ms bounds it, worth one extra token at 50/s.
    slack = 0.02
    assert max_excess(grants, burst, rate, slack) <= 1e-9, max_excess(grants, burst, rate, 0)

    # 60 tokens: 10 at once, then 50 at 50/s = 1.0 s, plus the 10% jitter at worst.
    expected = (processes * per_process - burst) / rate
    elapsed = grants[-1] - grants[0]
    assert expected - slack <= elapsed <= expected * 1.1 + 0.2, (elapsed, expected)
