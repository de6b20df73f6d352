"""Injected faults: what each kind does on the wire, and whether the request ran."""
from __future__ import annotations

import time

import pytest
import requests

from bitrix_fast.sandbox.faults import FaultPlan, parse_faults


def test_parse_faults():
    assert parse_faults("500=0.05, 502=0.03,drop=0.01,slow=0.02") == {"500": 0.05, "502": 0.03, "drop": 0.01, "slow": 0.02}
    assert parse_faults({"DROP": "0.5"}) == {"drop": 0.5}
    assert parse_faults(None) == {} and parse_faults("") == {}
    for bad in ("404=0.1", "500", "500=x", "500=1.5", "500=0.6,502=0.6"):
        with pytest.raises(ValueError):
            parse_faults(bad)


def test_draws_are_seeded_and_follow_the_probabilities():
    a = [FaultPlan("500=0.2,drop=0.1", seed=7).draw() for _ in range(1)]
    plan_a, plan_b = FaultPlan("500=0.2,drop=0.1", seed=7), FaultPlan("500=0.2,drop=0.1", seed=7)
    draws = [plan_a.draw() for _ in range(2000)]
    assert draws == [plan_b.draw() for _ in range(2000)] and a[0] == draws[0]
    assert 300 <= draws.count("500") <= 500 and 130 <= draws.count("drop") <= 270
    assert draws.count("502") == 0 and not FaultPlan(None)


def test_500_before_executing(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="500=1")
    before = portal.store.count("deal")
    reply = http.post(portal.webhook + "crm.deal.add", json={"fields": {"TITLE": "x"}})
    assert reply.status_code == 500
    assert reply.json() == {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}
    assert portal.store.count("deal") == before
    assert portal.stats()["faults"] == {"500": 1}


def test_502_is_an_html_page_before_executing(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults={"502": 1.0})
    before = portal.store.count("deal")
    reply = http.post(portal.webhook + "crm.deal.add", json={"fields": {"TITLE": "x"}})
    assert reply.status_code == 502 and reply.headers["Content-Type"].startswith("text/html")
    assert b"502 Bad Gateway" in reply.content
    assert portal.store.count("deal") == before


def test_drop_executes_then_closes_without_a_reply(bitrix_sandbox_factory):
    portal = bitrix_sandbox_factory(faults="drop=1")
    before = portal.store.count("deal")
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError):
            session.post(portal.webhook + "crm.deal.add", json={"fields": {"TITLE": "dropped"}}, timeout=5)
    assert portal.store.count("deal") == before + 1  # the write happened: a blind retry duplicates it
    stats = portal.stats()
    assert stats["faults"] == {"drop": 1} and stats["dropped"] == 1 and stats["commands"] == 1


def test_slow_delays_the_reply_after_executing(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="slow=1", slow_seconds=0.3)
    began = time.perf_counter()
    reply = http.get(portal.webhook + "crm.deal.get", params={"id": 1})
    assert reply.status_code == 200 and reply.json()["result"]["ID"] == "1"
    assert time.perf_counter() - began >= 0.3
    assert reply.json()["time"]["duration"] < 0.3  # the server's own time excludes the hold-back


def test_refused_requests_draw_no_fault(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="500=1", burst=1, rate=0.01)
    assert http.get(portal.webhook + "server.time").status_code == 500
    assert http.get(portal.webhook + "server.time").status_code == 503
    assert portal.stats()["faults"] == {"500": 1}
