"""The 2026 limits as the sandbox imitates them (issue 25): replies without ``time`` or
without ``operating``, the 60 s cut, a shorter batch length, a costlier COUNT. In memory, on
a FakeClock: minutes of portal time in milliseconds."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

import pytest

from bitrix_fast.net.transport import HttpRequest, HttpResponse
from bitrix_fast.testing.sandbox import Sandbox
from bitrix_fast.testing.sandbox.cost import CostModel


def call(portal: Any, method: str, params: Optional[Dict[str, Any]] = None) -> HttpResponse:
    return portal.transport().exchange(HttpRequest(
        "POST", portal.webhook + method, json.dumps(params or {}).encode(),
        {"Content-Type": "application/json"}, timeout=(10.0, 300.0)))


def body(reply: HttpResponse) -> Any:
    return json.loads(reply.content)


def batch(portal: Any, commands: Dict[str, str]) -> HttpResponse:
    return call(portal, "batch", {"halt": 0, "cmd": commands})


def titles(portal: Any) -> list:
    with portal.store.locked() as db:
        return [row[0] for row in db.execute('SELECT "TITLE" FROM "deal" ORDER BY "ID"')]


PAGES = {"a": "crm.deal.list?start=-1", "b": "crm.deal.get?id=1"}


def test_replies_without_time(bitrix_portal_factory):
    portal = bitrix_portal_factory(deals=10, time_fields="none")
    single = body(call(portal, "crm.deal.list", {"start": -1}))
    assert "time" not in single and len(single["result"]) == 10
    whole = body(batch(portal, PAGES))
    assert "time" not in whole and whole["result"]["result_time"] == []
    assert set(whole["result"]["result"]) == {"a", "b"}


def test_replies_without_operating(bitrix_portal_factory):
    portal = bitrix_portal_factory(deals=10, time_fields="no_operating")
    single = body(call(portal, "crm.deal.list", {"start": -1}))["time"]
    assert "duration" in single and "operating" not in single
    assert "operating_reset_at" not in single
    whole = body(batch(portal, PAGES))
    for block in [whole["time"], *whole["result"]["result_time"].values()]:
        assert "duration" in block and "operating" not in block


def test_a_batch_is_cut_at_60_s_after_the_commands_started_before_it(bitrix_portal_factory):
    portal = bitrix_portal_factory(deals=0, cost=CostModel(per_written_row=25.0))  # an add: 25 s
    started = portal.clock.now()
    reply = batch(portal, {f"c{i}": f"crm.deal.add?fields[TITLE]=n{i}" for i in range(4)})
    assert reply.status == 504 and b"504 Gateway Time-out" in reply.content
    assert portal.clock.now() - started == pytest.approx(60)
    assert titles(portal) == ["n0", "n1", "n2"]  # started at 0, 25 and 50 s: they ran
    assert portal.stats()["cut"] == 1


def test_a_single_call_past_the_cut_ran_and_gets_a_504(bitrix_portal_factory):
    portal = bitrix_portal_factory(deals=0, cost=CostModel(per_written_row=70.0))
    reply = call(portal, "crm.deal.add", {"fields": {"TITLE": "slow"}})
    assert reply.status == 504 and titles(portal) == ["slow"]


def test_the_cut_can_be_moved_or_switched_off(bitrix_portal_factory):
    portal = bitrix_portal_factory(deals=0, cost=CostModel(per_written_row=25.0), cut=None)
    assert batch(portal, {f"c{i}": f"crm.deal.add?fields[TITLE]=n{i}" for i in range(4)}
                 ).status == 200
    short = bitrix_portal_factory(deals=0, cost=CostModel(per_written_row=25.0), cut=30)
    assert batch(short, {"a": "crm.deal.add?fields[TITLE]=x",
                         "b": "crm.deal.add?fields[TITLE]=y"}).status == 504
    assert titles(short) == ["x", "y"]  # the second started at 25 s, before the cut


def test_commands_past_a_shorter_batch_length_fail_one_by_one(bitrix_portal_factory):
    portal = bitrix_portal_factory(deals=5, batch_length=3)
    whole = body(batch(portal, {f"c{i}": f"crm.deal.get?id={i + 1}" for i in range(5)}))
    assert sorted(whole["result"]["result"]) == ["c0", "c1", "c2"]
    assert {label: error["error"] for label, error in whole["result"]["result_error"].items()} \
        == {"c3": "ERROR_BATCH_LENGTH_EXCEEDED", "c4": "ERROR_BATCH_LENGTH_EXCEEDED"}


def test_a_batch_longer_than_the_portal_runs_can_fail_whole(bitrix_portal_factory):
    portal = bitrix_portal_factory(deals=0, batch_length=3, batch_length_error="whole")
    reply = batch(portal, {f"c{i}": f"crm.deal.add?fields[TITLE]=n{i}" for i in range(4)})
    assert reply.status == 400 and body(reply)["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"
    assert titles(portal) == []  # nothing ran
    assert batch(portal, {f"c{i}": f"crm.deal.add?fields[TITLE]=n{i}" for i in range(3)}
                 ).status == 200


def test_count_factor_makes_only_the_count_costlier(bitrix_portal_factory):
    cost = CostModel(per_command=0.01, per_counted_row=0.001)
    durations = []
    for factor in (1.0, 2.0):
        portal = bitrix_portal_factory(deals=1_000, cost=cost, count_factor=factor)
        counted = body(call(portal, "crm.deal.list", {"start": 0}))["time"]["duration"]
        plain = body(call(portal, "crm.deal.list", {"start": -1}))["time"]["duration"]
        durations.append((counted, plain))
    assert durations[0] == pytest.approx((1.01, 0.01))
    assert durations[1] == pytest.approx((2.01, 0.01))


@pytest.mark.parametrize("switches", [dict(time_fields="sometimes"), dict(cut=0),
                                      dict(batch_length=0), dict(batch_length_error="all"),
                                      dict(count_factor=-1)])
def test_switches_are_checked(switches):
    with pytest.raises(ValueError):
        Sandbox(http=False, **switches)
