"""The leaky bucket (503) and the operating budget (429): unit timelines, then over HTTP."""
from __future__ import annotations

import time

import pytest

from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox.cost import CostModel
from bitrix_fast.testing.sandbox.limits import LeakyBucket, OperatingLedger, make_plan
from bitrix_fast.testing.sandbox.stats import window_excess


# -- plans ----------------------------------------------------------------------------------------
def test_plans():
    assert (make_plan("standard").burst, make_plan("standard").rate) == (50, 2)
    assert (make_plan("enterprise").burst, make_plan("enterprise").rate) == (250, 5)
    x10 = make_plan("x10")
    assert (x10.burst, x10.rate, x10.operating_limit, x10.operating_window) == (50, 20, 48, 60)
    assert make_plan("enterprise-x10").rate == 50
    assert make_plan("standard", burst=5, rate=1, operating_limit=0.3).operating_limit == 0.3
    for bad in ("gold", "x0", "standard-y2"):
        with pytest.raises(ValueError):
            make_plan(bad)


# -- leaky bucket ------------------------------------------------------------------------------------
def test_bucket_admits_burst_then_drains_at_rate():
    clock = FakeClock()
    bucket = LeakyBucket(50, 2, clock=clock)
    assert all(bucket.try_acquire()[0] for _ in range(50))
    assert not bucket.try_acquire()[0]
    clock.advance(0.49)
    assert not bucket.try_acquire()[0]  # 0.98 drained: level 49.02 + 1 > 50
    clock.advance(0.01)
    assert bucket.try_acquire()[0]
    assert not bucket.try_acquire()[0]
    clock.advance(100)
    assert bucket.level == 0


def test_refused_requests_do_not_fill_the_bucket_unless_asked():
    clock = FakeClock()
    plain = LeakyBucket(2, 1, clock=clock)
    counting = LeakyBucket(2, 1, count_refused=True, clock=clock)
    for bucket in (plain, counting):
        assert bucket.try_acquire()[0] and bucket.try_acquire()[0]
        for _ in range(3):
            assert not bucket.try_acquire()[0]
    clock.advance(1)
    assert plain.try_acquire()[0]
    assert not counting.try_acquire()[0]  # level 5 - 1 = 4: still over


def test_window_excess():
    assert window_excess([0.0] * 50, burst=50, rate=2) == 0
    assert window_excess([0.0] * 51, burst=50, rate=2) == 1
    assert window_excess([i * 0.5 for i in range(200)], burst=1, rate=2) <= 0
    assert window_excess([0.0] * 50 + [0.1 * i for i in range(1, 11)], burst=50, rate=2) > 0


# -- operating ledger ------------------------------------------------------------------------------------
def test_ledger_counts_only_calls_over_the_threshold_and_blocks_after_crossing():
    clock = FakeClock(wall_start=6000.0)
    ledger = OperatingLedger(1.0, 600, clock=clock)
    key = ("apauth", "1", "crm.deal.list")
    assert not ledger.record(key, clock.wall(), 0.1)
    assert ledger.snapshot(key, clock.wall()) == (0, 6600)
    ledger.record(key, clock.wall(), 0.6)
    assert not ledger.blocked(key)
    ledger.record(key, clock.wall(), 0.6)  # this call crosses the limit and still completes
    assert ledger.blocked(key)
    assert not ledger.blocked(("apauth", "1", "crm.deal.get"))
    operating, reset_at = ledger.snapshot(key, clock.wall())
    assert operating == pytest.approx(1.2) and reset_at == 6600


def test_ledger_buckets_expire_one_by_one():
    clock = FakeClock(wall_start=6000.0)
    ledger = OperatingLedger(1.0, 600, clock=clock)
    key = "k"
    ledger.record(key, 6000.0, 0.8)
    ledger.record(key, 6070.0, 0.8)  # the next one-minute bucket
    clock.advance(100)
    assert ledger.blocked(key) and ledger.snapshot(key, 6100.0) == (pytest.approx(1.6), 6600)
    clock.advance(500)  # 6600: the first bucket drops out; 0.8 is within the limit again
    assert not ledger.blocked(key)
    assert ledger.snapshot(key, 6600.0) == (pytest.approx(0.8), 6670)
    clock.advance(70)
    assert ledger.snapshot(key, 6670.0) == (0, 7270)


# -- over HTTP -------------------------------------------------------------------------------------------
def test_seventy_quick_requests_first_fifty_pass(bitrix_sandbox, http):
    url = bitrix_sandbox.webhook + "server.time"
    began = time.monotonic()
    codes = [http.get(url).status_code for _ in range(70)]
    elapsed = time.monotonic() - began
    assert codes[:50] == [200] * 50
    # after the burst only what drained (2/s) while the loop ran gets through
    assert codes.count(200) <= 50 + 2 * elapsed + 1 and codes.count(503) >= 1
    assert set(codes) == {200, 503}
    refused = http.get(url)
    if refused.status_code == 503:
        assert refused.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    stats = bitrix_sandbox.stats()
    assert stats["accepted"] + stats["refused_503"] == stats["requests"] == 71
    assert bitrix_sandbox.max_window_excess(include_refused=False) <= 0
    assert bitrix_sandbox.max_window_excess() > 0  # counting refused arrivals shows the overrun


def test_a_refused_write_is_not_executed(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(burst=1, rate=0.01)
    before = portal.store.count("deal")
    assert http.post(portal.webhook + "crm.deal.add", json={"fields": {"TITLE": "one"}}).status_code == 200
    reply = http.post(portal.webhook + "crm.deal.add", json={"fields": {"TITLE": "two"}})
    assert reply.status_code == 503
    assert portal.store.count("deal") == before + 1


def test_oauth_and_control_endpoints_do_not_use_the_bucket(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(burst=1, rate=0.01)
    for _ in range(3):
        assert http.get(portal.base_url + "/sandbox/stats").status_code == 200
        http.get(portal.oauth_endpoint)
    assert http.get(portal.webhook + "server.time").status_code == 200
    assert http.post(portal.webhook + "batch", json={"cmd": ["server.time"] * 3}).status_code == 503


def test_operating_budget_blocks_with_429_after_the_crossing_call(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(operating_limit=0.25, cost=CostModel(per_command=0.15),
                                    clock=FakeClock())
    url = portal.webhook + "crm.deal.get"
    first = http.get(url, params={"id": 1}).json()["time"]
    second = http.get(url, params={"id": 2}).json()["time"]
    assert first["operating"] == pytest.approx(0.15)  # the modelled cost, not SQLite's time
    assert second["operating"] == pytest.approx(0.30)  # running total including this call and second["operating_reset_at"] == first["operating_reset_at"]
    assert first["operating_reset_at"] == first["start"] + 600  # the first bucket's expiry
    blocked = http.get(url, params={"id": 3})
    assert blocked.status_code == 429
    assert blocked.json() == {"error": "OPERATION_TIME_LIMIT",
                              "error_description": "Method is blocked due to operation time limit."}
    other = http.get(portal.webhook + "crm.deal.list", params={"select[]": "ID"})
    assert other.status_code == 200  # other methods have their own budget
    stats = portal.stats()
    assert stats["refused_429"] == 1 and stats["errors"]["OPERATION_TIME_LIMIT"] == 1


def test_batch_billing_own(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(operating_limit=0.25, cost=CostModel(per_command=0.15),
                                    clock=FakeClock())
    cmd = ["crm.deal.get?id=1", "crm.deal.get?id=2", "crm.deal.get?id=3", "crm.deal.list?select[]=ID&start=-1"]
    reply = http.post(portal.webhook + "batch", json={"cmd": cmd})
    assert reply.status_code == 200
    body = reply.json()
    times = body["result"]["result_time"]
    assert times["0"]["operating"] < times["1"]["operating"]
    assert body["result"]["result_error"] == {"2": {"error": "OPERATION_TIME_LIMIT",
                                                    "error_description": "Method is blocked due to operation time limit."}}
    assert times["3"]["operating"] == pytest.approx(0.15)  # crm.deal.list has its own budget
    assert body["time"]["operating"] == max(t["operating"] for t in times.values())
    stats = portal.stats()
    assert stats["refused_429_commands"] == 1 and stats["refused_429"] == 0
    # the batch wrapper itself is never billed: a single crm.deal.list call still passes
    assert http.get(portal.webhook + "crm.deal.list", params={"select[]": "ID"}).status_code == 200


def test_batch_billing_batch(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(operating_limit=0.25, cost=CostModel(per_command=0.15),
                                    batch_billing="batch", clock=FakeClock())
    cmd = ["crm.deal.get?id=1", "crm.deal.get?id=2", "crm.deal.get?id=3"]
    body = http.post(portal.webhook + "batch", json={"cmd": cmd}).json()
    assert body["result"]["result_error"] == []
    assert [t["operating"] for t in body["result"]["result_time"]] == [0, 0, 0]  # the batch total so far
    assert body["time"]["operating"] == pytest.approx(0.45)  # the whole batch billed to `batch`
    # sub-methods were not billed: a single call reads only its own time
    single = http.get(portal.webhook + "crm.deal.get", params={"id": 1}).json()["time"]
    assert single["operating"] == pytest.approx(0.15)
    refused = http.post(portal.webhook + "batch", json={"cmd": cmd})
    assert refused.status_code == 429 and refused.json()["error"] == "OPERATION_TIME_LIMIT"
    assert portal.stats()["refused_429"] == 1
