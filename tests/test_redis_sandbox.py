"""Four processes export one sandbox portal through one RedisLimiter: each gets every row,
and the portal refuses nothing.

The sandbox keeps the x10 plan's rate (20/s) but a burst of 5 instead of 50: 4 x 10k rows
take about 24 requests, which 50 would admit at once and prove nothing; with 5 the shared
bucket is at its edge for most of the run (per-process buckets would send 20 at once).
"""
from __future__ import annotations

import redis

from bitrix_fast.testing.sandbox import Sandbox

from redis_worker import run_workers

DEALS, PROCESSES, BURST = 10_000, 4, 5


def test_four_processes_export_one_portal_without_a_refusal(redis_url, redis_key):
    with Sandbox(deals=DEALS, plan="x10", burst=BURST) as sb:
        reports = run_workers("export", redis_url, redis_key, str(sb.plan.rate), str(BURST),
                              sb.webhook, processes=PROCESSES)
        stats = sb.stats()
        # every arrival at the portal, refused or not: the combined rate of all four
        # processes never exceeded burst + rate x t in any window
        excess = sb.max_window_excess()
        expected = sb.store.ids("deal")
        code = sb.webhook.rstrip("/").rsplit("/", 1)[-1]

    assert len(expected) == DEALS
    for report in reports:
        assert len(report["ids"]) == DEALS
        assert set(report["ids"]) == expected
        assert report["refused_503"] == 0 and report["retries"] == 0
    assert stats["refused_503"] == 0
    assert stats["refused_429"] == 0
    assert excess <= 0
    assert stats["accepted"] == sum(report["requests"] for report in reports)
    assert stats["accepted"] > 3 * BURST  # more than a burst: the shared level was the limit

    # Nothing of the webhook made it into Redis: neither key names nor values.
    client = redis.Redis.from_url(redis_url)
    names = client.keys(f"bitrix_fast:{redis_key.lower()}:*")
    assert names
    for name in names:
        dump = repr(name) + repr(client.dump(name))
        assert code not in dump
