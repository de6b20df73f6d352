"""An in-memory portal on a FakeClock: its limits, tokens, workers and churn in virtual time.

Minutes of portal time in milliseconds of test time: nothing here sleeps for real.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Dict, List, Optional

import pytest

from bitrix_fast.net.transport import HttpRequest, HttpResponse
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox.cost import CostModel


def call(portal: Any, method: str, params: Optional[Dict[str, Any]] = None,
         base: Optional[str] = None) -> HttpResponse:
    url = (base or portal.webhook) + method
    return portal.transport().exchange(HttpRequest(
        "POST", url, json.dumps(params or {}).encode(), {"Content-Type": "application/json"}))


def error(reply: HttpResponse) -> str:
    return str(json.loads(reply.content).get("error", ""))


def test_the_leaky_bucket_refuses_burst_plus_one_then_drains(bitrix_portal_factory):
    portal = bitrix_portal_factory(plan="standard")  # 50 burst, 2 per second
    statuses = [call(portal, "server.time").status for _ in range(51)]
    assert statuses == [200] * 50 + [503]
    portal.clock.advance(0.49)
    assert call(portal, "server.time").status == 503
    portal.clock.advance(0.01)  # 1 / rate since the first 503: one request has drained
    assert call(portal, "server.time").status == 200
    assert call(portal, "server.time").status == 503
    stats = portal.stats(timeline=True)
    assert stats["refused_503"] == 3 and stats["timeline"][-1] == pytest.approx(0.5)
    assert portal.max_window_excess() > 0  # the client went over: the portal saw it


def test_the_operating_budget_blocks_then_resets_with_its_window(bitrix_portal_factory):
    portal = bitrix_portal_factory(plan="enterprise", cost=CostModel(per_command=0.5),
                                   operating_limit=1.0, operating_window=60)
    for _ in range(3):  # 0.5 + 0.5 + 0.5: the third call crosses the limit and completes
        assert call(portal, "crm.deal.get", {"id": 1}).status == 200
    blocked = call(portal, "crm.deal.get", {"id": 1})
    assert blocked.status == 429 and error(blocked) == "OPERATION_TIME_LIMIT"
    assert call(portal, "crm.deal.list", {"start": -1}).status == 200  # per method
    first = json.loads(call(portal, "crm.deal.list", {"start": -1}).content)["time"]
    assert first["operating"] == pytest.approx(1.0)
    portal.clock.advance(60)
    reply = call(portal, "crm.deal.get", {"id": 1})
    assert reply.status == 200
    assert json.loads(reply.content)["time"]["operating"] == pytest.approx(0.5)
    assert portal.stats()["refused_429"] == 1


def test_a_token_expires_on_the_clock_and_a_refresh_renews_it(bitrix_portal_factory):
    portal = bitrix_portal_factory(token_ttl=60)
    tokens = portal.issue_tokens()
    assert tokens["expires"] == int(portal.clock.wall()) + 60
    assert call(portal, "crm.deal.get", {"id": 1, "auth": tokens["access_token"]},
                base=portal.rest_base).status == 200
    portal.clock.advance(60)
    expired = call(portal, "crm.deal.get", {"id": 1, "auth": tokens["access_token"]},
                   base=portal.rest_base)
    assert expired.status == 401 and error(expired) == "expired_token"
    refresh = (f"{portal.oauth_endpoint}?grant_type=refresh_token&client_id={portal.client_id}"
               f"&client_secret={portal.client_secret}&refresh_token={tokens['refresh_token']}")
    renewed = json.loads(portal.transport().exchange(HttpRequest("GET", refresh)).content)
    assert call(portal, "crm.deal.get", {"id": 1, "auth": renewed["access_token"]},
                base=portal.rest_base).status == 200


def test_an_authorization_code_lives_30_seconds(bitrix_portal):
    portal = bitrix_portal

    def grant(code: str) -> int:
        url = (f"{portal.oauth_endpoint}?grant_type=authorization_code&client_id="
               f"{portal.client_id}&client_secret={portal.client_secret}&code={code}")
        return portal.transport().exchange(HttpRequest("GET", url)).status

    fresh, stale = portal.authorization_code(), portal.authorization_code()
    portal.clock.advance(29)
    assert grant(fresh) == 200
    portal.clock.advance(1)
    assert grant(stale) == 400


def test_cost_is_slept_on_the_clock_and_reported_exactly(bitrix_portal_factory):
    portal = bitrix_portal_factory(cost=CostModel(per_command=0.25, per_row=0.01))
    reply = json.loads(call(portal, "crm.deal.list", {"start": -1}).content)
    assert portal.clock.sleeps == [pytest.approx(0.75)]  # 0.25 + 50 rows x 0.01
    assert reply["time"]["processing"] == pytest.approx(0.75)
    assert reply["time"]["duration"] == pytest.approx(0.75)
    batch = json.loads(call(portal, "batch", {"cmd": ["crm.deal.get?id=1"] * 4}).content)
    assert portal.clock.sleeps[1:] == [pytest.approx(4 * 0.26)]  # one sleep for the batch
    assert batch["time"]["processing"] == pytest.approx(1.04)


class Held:
    """A store whose first call holds its worker until the test lets go."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.release = threading.Event()
        self.first = True

    def knows(self, method: str) -> bool:
        return bool(self.store.knows(method))

    def call(self, method: str, params: Dict[str, Any], ctx: Any) -> Any:
        if self.first:
            self.first = False
            assert self.release.wait(10)
        return self.store.call(method, params, ctx)


def test_the_worker_queue_never_waits_on_virtual_time(bitrix_portal_factory):
    from bitrix_fast.testing.sandbox.store import Store

    store = Store()
    store.seed(deals=3)
    held = Held(store)
    portal = bitrix_portal_factory(plan="enterprise", workers=1, cost=CostModel(per_command=1.0),
                                   store=held)
    statuses: List[int] = []
    lock = threading.Lock()

    def one() -> None:
        status = call(portal, "crm.deal.get", {"id": 1}).status
        with lock:
            statuses.append(status)

    began = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    while portal.stats()["queued"] < 5 and time.monotonic() - began < 5:
        time.sleep(0.001)
    assert portal.stats()["queued"] == 5 and portal.stats()["executing"] == 1
    held.release.set()
    for thread in threads:
        thread.join(10)
    assert statuses == [200] * 6
    assert time.monotonic() - began < 5  # six seconds of portal time, no real wait
    assert portal.clock.now() == pytest.approx(6.0)
    stats = portal.stats()
    assert stats["max_executing"] == 1 and stats["max_queued"] == 5 and stats["waited"] == 5
    assert stats["executing"] == stats["queued"] == 0
    portal.close()
    store.close()


def test_churn_on_a_virtual_clock_happens_as_requests_arrive(bitrix_portal_factory):
    before = threading.active_count()
    portal = bitrix_portal_factory(churn=10)
    assert threading.active_count() == before  # no churn thread
    initial = portal.store.ids("deal")
    call(portal, "server.time")
    assert portal.churner.inserted_ids == set()
    portal.clock.advance(1.0)
    assert portal.churner.inserted_ids == set()  # nothing happens between requests ...
    call(portal, "server.time")  # ... and one arriving brings the portal up to date
    assert len(portal.churner.inserted_ids) == 5 and len(portal.churner.deleted_ids) == 5
    assert portal.store.ids("deal") == (initial | portal.churner.inserted_ids) - portal.churner.deleted_ids
    portal.stop_churn()
    portal.clock.advance(1.0)
    call(portal, "server.time")
    assert len(portal.churner.inserted_ids) == 5


def test_the_timeline_and_uptime_are_in_virtual_seconds(bitrix_portal_factory):
    clock = FakeClock(start=500.0)
    portal = bitrix_portal_factory(clock=clock)
    assert portal.clock is clock
    call(portal, "server.time")
    clock.advance(2.5)
    call(portal, "server.time")
    assert portal.timeline() == [0.0, 2.5]
    assert portal.stats()["uptime"] == 2.5
