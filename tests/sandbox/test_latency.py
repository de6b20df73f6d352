"""Realistic latencies: the cost presets' figures, batches taking their sum, and the worker cap."""
from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests

from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox.cost import PRESETS, CostModel, resolve_cost
from bitrix_fast.testing.sandbox.outcome import Outcome
from bitrix_fast.testing.sandbox.portal import Sandbox
from bitrix_fast.testing.sandbox.stats import Stats
from bitrix_fast.testing.sandbox.workers import WorkerPool

PAGE = Outcome(None, rows=50)  # a list page without the count (start=-1)
GET = Outcome(None, rows=1)
WRITE = Outcome(None, written=1)


def cost(preset, outcome):
    return PRESETS[preset].delay(outcome)


def test_x10_latency_is_the_issue_16_portal():
    assert 50 * cost("x10-latency", PAGE) == pytest.approx(1.5)
    assert 50 * cost("x10-latency", Outcome(None, rows=3)) == pytest.approx(1.5)  # per command
    assert 50 * cost("x10-latency", WRITE) == pytest.approx(2.5)
    assert 50 * cost("x10-latency", Outcome(None, rows=1, written=1)) == pytest.approx(2.5)
    assert cost("x10-latency", GET) == pytest.approx(0.03)
    # no table-size terms: the same for every client
    assert cost("x10-latency", Outcome(None, rows=50, counted=10**6, skipped=10**6)) == \
        pytest.approx(0.03)


def test_real_presets_match_their_sources():
    assert cost("real-small", PAGE) == pytest.approx(0.015)
    assert cost("real-big", PAGE) == pytest.approx(0.097)  # the docs' 2.4M-row page
    assert 50 * cost("real-wide", PAGE) == pytest.approx(15.0)  # issue 16's 15 s batch
    for preset in ("real-small", "real-big", "real-wide"):
        assert 0.030 <= cost(preset, WRITE) <= 0.100
        assert cost(preset, GET) < cost(preset, PAGE)
    # the recorded crm.lead.list batches: 30.1 / 40.3 / 47.1 ms at mean offsets 1,275 / 3,775
    # / 6,275 of 7,531 counted rows
    for offset, measured in ((1275, 0.0301), (3775, 0.0403), (6275, 0.0471)):
        page = Outcome(None, rows=50, counted=7531, skipped=offset)
        assert cost("real-small", page) == pytest.approx(measured, rel=0.05)
    # the docs' COUNT over 2,387,743 rows
    assert PRESETS["real-big"].per_counted_row * 2_387_743 == pytest.approx(49.9, rel=0.01)


def test_x10_counterparts_are_a_tenth_in_every_figure():
    fields = ("per_command", "per_row", "per_counted_row", "per_skipped_row", "per_written_row")
    for name in ("real-small", "real-big", "real-wide"):
        real, fast = PRESETS[name], PRESETS[f"{name}-x10"]
        for field in fields:
            assert getattr(fast, field) == pytest.approx(getattr(real, field) / 10)
    assert resolve_cost("Real-Big-X10") is PRESETS["real-big-x10"]


def test_the_old_presets_are_unchanged():
    assert PRESETS["none"] == CostModel()
    assert PRESETS["light"] == CostModel(0.5e-3, 20e-6, 0.05e-6, 0.1e-6, 1e-3)
    assert PRESETS["heavy"] == CostModel(5e-3, 0.1e-3, 20.9e-6, 5e-6, 30e-3)


def test_a_batch_takes_the_sum_of_its_commands_times(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(deals=120, cost="x10-latency", clock=FakeClock())
    cmd = {f"c{i}": f"crm.deal.list?select[]=ID&start=-1&filter[>ID]={i}" for i in range(10)}
    body = http.post(portal.webhook + "batch", json={"cmd": cmd}).json()
    assert portal.clock.sleeps == [pytest.approx(0.3)]  # one sleep: 10 x 30 ms
    times = body["result"]["result_time"]
    assert all(t["processing"] == pytest.approx(0.03) for t in times.values())
    assert body["time"]["processing"] == pytest.approx(0.3)
    adds = {f"a{i}": f"crm.deal.add?fields[TITLE]=x{i}" for i in range(5)}
    http.post(portal.webhook + "batch", json={"cmd": adds}).json()
    assert portal.clock.sleeps[1:] == [pytest.approx(0.25)]  # 5 x 50 ms


def test_server_time_of_parallel_batches_overlaps(bitrix_sandbox_factory):
    """Batches sleep outside every lock: three 0.5 s batches at once take ~0.5 s, not 1.5 s."""
    portal = bitrix_sandbox_factory(cost=CostModel(per_command=0.1))
    cmd = {f"c{i}": f"crm.deal.get?id={i + 1}" for i in range(5)}

    def run(_):
        return requests.post(portal.webhook + "batch", json={"cmd": cmd}).status_code

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        assert list(pool.map(run, range(3))) == [200] * 3
    assert time.perf_counter() - began < 1.2
    assert portal.stats()["max_executing"] >= 2


def test_workers_cap_how_many_requests_execute_and_queue_the_rest(bitrix_sandbox_factory):
    portal = bitrix_sandbox_factory(cost=CostModel(per_command=0.2), workers=2, plan="enterprise")
    url = portal.webhook + "crm.deal.get?id=1"
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: requests.get(url).status_code, range(6)))
    elapsed = time.perf_counter() - began
    assert codes == [200] * 6  # waited, never refused
    assert elapsed >= 0.55  # three rounds of two
    stats = portal.stats()
    assert stats["max_executing"] == 2 and stats["max_queued"] >= 1 and stats["waited"] >= 1
    assert stats["executing"] == 0 and stats["queued"] == 0
    assert stats["refused_503"] == 0


def test_without_a_cap_nothing_waits(bitrix_sandbox_factory):
    portal = bitrix_sandbox_factory(cost=CostModel(per_command=0.2))
    url = portal.webhook + "crm.deal.get?id=1"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: requests.get(url).status_code, range(4))) == [200] * 4
    stats = portal.stats()
    assert stats["max_executing"] >= 2 and stats["max_queued"] == 0 and stats["waited"] == 0


def test_worker_pool_counts_and_validates():
    stats = Stats()
    pool = WorkerPool(1, stats)
    with pool:
        assert stats.snapshot()["executing"] == 1
    assert stats.snapshot()["max_executing"] == 1 and stats.snapshot()["executing"] == 0
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ValueError):
            WorkerPool(bad, stats)
    with pytest.raises(ValueError):
        Sandbox(workers=0)


def test_a_waiting_request_runs_when_a_worker_frees_up():
    stats = Stats()
    pool = WorkerPool(1, stats)
    order = []

    def second():
        with pool:
            order.append("second")

    with concurrent.futures.ThreadPoolExecutor(1) as waiter:
        with pool:
            future = waiter.submit(second)
            deadline = time.monotonic() + 5
            while stats.snapshot()["queued"] != 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert stats.snapshot()["queued"] == 1 and order == []
            order.append("first")
        future.result(timeout=5)
    assert order == ["first", "second"]
    snapshot = stats.snapshot()
    assert snapshot["max_queued"] == 1 and snapshot["waited"] == 1
    assert snapshot["queued"] == snapshot["executing"] == 0 and snapshot["max_executing"] == 1
