"""The cost model: presets, the formula, and that the delay is real server time."""
from __future__ import annotations

import time

import pytest

from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox.cost import PRESETS, CostModel, resolve_cost
from bitrix_fast.testing.sandbox.outcome import Outcome


def test_formula():
    model = CostModel(per_command=1, per_row=10, per_counted_row=100, per_skipped_row=1000, per_written_row=10000)
    assert model.delay(Outcome(result=None, rows=1, counted=2, skipped=3, written=4)) == 1 + 10 + 200 + 3000 + 40000


def test_presets():
    assert PRESETS["none"].is_free and not PRESETS["light"].is_free
    heavy = PRESETS["heavy"]
    # the docs' COUNT: 49.9 s over 2,387,743 rows
    assert heavy.per_counted_row * 2_387_743 == pytest.approx(49.9, rel=0.01)
    light = PRESETS["light"]
    # an offset page at 300k rows stays well under the 0.1 s billing threshold
    assert light.delay(Outcome(result=None, rows=50, counted=300_000, skipped=300_000)) < 0.06
    assert resolve_cost(None) is PRESETS["none"] and resolve_cost("Heavy") is heavy
    custom = CostModel(per_command=0.2)
    assert resolve_cost(custom) is custom
    with pytest.raises(ValueError):
        resolve_cost("expensive")


def test_delay_is_slept_and_reported(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(cost=CostModel(per_command=0.06, per_row=0.001),
                                    clock=FakeClock())
    body = http.get(portal.webhook + "crm.deal.list", params={"select[]": "ID"}).json()
    assert portal.clock.sleeps == [pytest.approx(0.11)]  # 0.06 + 50 rows x 1 ms
    assert body["time"]["processing"] == pytest.approx(0.11)
    assert body["time"]["duration"] == pytest.approx(0.11)
    assert body["time"]["operating"] == pytest.approx(0.11)  # over the 0.1 s threshold: billed
    cheap = http.get(portal.webhook + "crm.deal.get", params={"id": 1}).json()["time"]
    assert cheap["operating"] == 0  # 0.06 s is too short to count, and crm.deal.get has its own budget


def test_delays_of_concurrent_requests_overlap(bitrix_sandbox_factory):
    """The delay is slept outside every lock: 4 parallel calls take ~1x, not 4x."""
    import concurrent.futures

    import requests

    portal = bitrix_sandbox_factory(cost=CostModel(per_command=0.3))
    url = portal.webhook + "crm.deal.get?id=1"
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: requests.get(url).status_code, range(4)))
    assert codes == [200] * 4
    assert time.perf_counter() - began < 0.9
    assert portal.stats()["max_in_flight"] >= 2


def test_a_batch_command_reports_what_it_is_billed(bitrix_sandbox_factory, http):
    """On the system clock a command of a batch reports its modelled cost, or its own work
    where that took longer -- never their sum: a 80 ms page that waited 60 ms for the
    database is not a 0.14 s call, which a client would take for billed (over 0.1 s) while
    the ledger, billing the model, bills nothing."""
    import threading

    portal = bitrix_sandbox_factory(deals=10, cost=CostModel(per_command=0.08))
    held = threading.Event()

    def hold() -> None:
        with portal.store.locked():
            held.set()
            time.sleep(0.06)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    body = http.post(portal.webhook + "batch", json={"halt": 0, "cmd": {
        "a": "crm.deal.get?id=1", "b": "crm.deal.get?id=2"}}).json()
    holder.join()
    times = body["result"]["result_time"]
    assert times["a"]["duration"] == pytest.approx(0.08, abs=0.015)  # waited 0.06: not added
    assert times["b"]["duration"] == pytest.approx(0.08, abs=0.015)
    assert times["a"]["operating"] == 0 and times["b"]["operating"] == 0  # nor billed
