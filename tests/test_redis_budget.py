"""RedisOperatingBudget: one process's figures and 429s pace every process of the portal."""
from __future__ import annotations

import time

import pytest
import redis

from bitrix_fast import Bitrix
from bitrix_fast.pacing.budget import OperatingBudget
from bitrix_fast.pacing.shared import RedisLimiter, RedisOperatingBudget

SLACK = OperatingBudget._RESET_SLACK
WINDOW = 60.0


@pytest.fixture
def budgets(redis_url, redis_key):
    """Two budgets of one portal, as two processes would hold them."""
    limiters = [RedisLimiter(redis_url, key=redis_key) for _ in range(2)]
    yield [limiter.budget(48.0, window=WINDOW) for limiter in limiters]
    for limiter in limiters:
        limiter.close()


def test_a_429_blocks_the_method_for_every_process_and_no_other(budgets):
    mine, theirs = budgets
    mine.on_limit_hit("crm.deal.list")
    # The reset is unknown: a tenth of the window.
    assert theirs.delay("crm.deal.list") == pytest.approx(WINDOW / 10, abs=0.5)
    assert theirs.delay("CRM.DEAL.LIST") > 0  # method names are case-insensitive
    assert theirs.delay("crm.lead.list") == 0.0
    assert theirs.snapshot()["crm.deal.list"]["blocked"] is True


def test_a_429_waits_for_the_known_reset(budgets):
    mine, theirs = budgets
    now = time.time()
    theirs.observe("crm.deal.list", 10.0, now + 20, now)  # far below the limit: no pause
    assert mine.delay("crm.deal.list") == 0.0
    mine.on_limit_hit("crm.deal.list")
    assert theirs.delay("crm.deal.list") == pytest.approx(20 + SLACK, abs=0.5)


def test_a_figure_near_the_limit_pauses_every_process(budgets):
    mine, theirs = budgets
    now = time.time()
    # 48 - 5 s margin = 43: at or past it, wait for the reset.
    mine.observe("crm.deal.list", 44.0, now + 12, now)
    assert theirs.delay("crm.deal.list") == pytest.approx(12 + SLACK, abs=0.5)
    assert theirs.snapshot()["crm.deal.list"]["blocked"] is True
    # Between 80% (38.4) and the margin: a short pause, growing towards the wall.
    mine.observe("crm.lead.list", 41.0, now + 30, now)
    assert 0 < theirs.delay("crm.lead.list") <= WINDOW / 100


def test_the_latest_figure_by_the_server_clock_wins(budgets):
    mine, theirs = budgets
    now = time.time()
    mine.observe("crm.deal.list", 44.0, now + 12, now)
    theirs.observe("crm.deal.list", 1.0, now + 12, now - 5)  # an older reply, arriving late
    assert mine.snapshot()["crm.deal.list"]["operating"] == 44.0
    theirs.observe("crm.deal.list", 2.0, now + 40, now + 1)  # a newer one: the window drained
    assert mine.snapshot()["crm.deal.list"]["operating"] == 2.0
    assert mine.delay("crm.deal.list") == 0.0


def test_the_budget_hash_expires_a_window_after_the_last_write(budgets, redis_url, redis_key):
    budgets[0].on_limit_hit("crm.deal.list")
    ttl = redis.Redis.from_url(redis_url).pttl(f"bitrix_fast:{redis_key.lower()}:budget")
    assert (WINDOW + SLACK) * 1000 < ttl <= (WINDOW + SLACK) * 1000 + 1000


def test_bitrix_takes_the_shared_budget_from_the_limiter(redis_url, redis_key):
    from bitrix_fast.factory import fingerprint
    from bitrix_fast.net.credentials import Webhook

    webhook = "https://example.bitrix24.ru/rest/1/abcdefgh/"
    limiter = RedisLimiter(redis_url, key=redis_key)
    bx = Bitrix(webhook, limiter=limiter, operating_time_limit=123, verbose=False)
    try:
        # Another webhook's wall is its own (the portal keeps a budget per webhook).
        stranger = RedisLimiter(redis_url, key=redis_key).budget(owner="0123456789ab")
        stranger.on_limit_hit("crm.deal.list")
        assert "crm.deal.list" not in bx.stats()["operating"]
        # Another process with the same webhook hits the wall; this client's stats show
        # it, read from Redis.
        other = RedisLimiter(redis_url, key=redis_key).budget(
            owner=fingerprint(Webhook(webhook)))
        assert isinstance(other, RedisOperatingBudget)
        other.on_limit_hit("crm.deal.list")
        operating = bx.stats()["operating"]
        assert operating["crm.deal.list"]["blocked"] is True
        assert operating["crm.deal.list"]["delay"] > 50
        assert "abcdefgh" not in repr(redis.Redis.from_url(redis_url).hgetall(
            f"bitrix_fast:{redis_key.lower()}:budget"))
    finally:
        bx.close()
