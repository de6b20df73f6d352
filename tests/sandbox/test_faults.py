"""Injected faults: what each kind does on the wire, and whether the request ran."""
from __future__ import annotations

import time

import pytest
import requests

from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox.faults import FaultPlan, parse_faults


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
    portal = bitrix_sandbox_factory(faults="slow=1", slow_seconds=0.3, clock=FakeClock())
    reply = http.get(portal.webhook + "crm.deal.get", params={"id": 1})
    assert reply.status_code == 200 and reply.json()["result"]["ID"] == "1"
    assert portal.clock.sleeps == [0.3]  # held back on the portal's clock
    assert reply.json()["time"]["duration"] == 0  # the server's own time excludes the hold-back


def test_refused_requests_draw_no_fault(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="500=1", burst=1, rate=0.01)
    assert http.get(portal.webhook + "server.time").status_code == 500
    assert http.get(portal.webhook + "server.time").status_code == 503
    assert portal.stats()["faults"] == {"500": 1}


# -- the modes a client needs to prove bounded waiting, redirects and malformed batches -------

def _batch(portal, http, count, halt=0):
    cmd = {f"a{i}": f"crm.deal.add?fields[TITLE]=b{i}" for i in range(count)}
    return http.post(portal.webhook + "batch", json={"halt": halt, "cmd": cmd})


def test_hang_reads_the_request_and_never_answers_nor_executes(bitrix_sandbox_factory):
    portal = bitrix_sandbox_factory(faults="hang=1")
    before = portal.store.count("deal")
    began = time.perf_counter()
    with requests.Session() as session:
        with pytest.raises(requests.exceptions.ReadTimeout):
            session.post(portal.webhook + "crm.deal.add", json={"fields": {"TITLE": "x"}},
                         timeout=(2, 0.4))
    assert 0.4 <= time.perf_counter() - began < 2
    assert portal.store.count("deal") == before
    assert portal.stats()["faults"] == {"hang": 1} and portal.stats()["commands"] == 0


def test_a_hung_connection_does_not_hold_up_closing_the_sandbox(bitrix_sandbox_factory):
    """The client is still waiting (60 s timeout) when the portal closes: close() returns at
    once and the client sees the connection end."""
    import threading

    portal = bitrix_sandbox_factory(faults="hang=1")
    seen = []

    def client():
        try:
            requests.post(portal.webhook + "server.time", timeout=60)
        except requests.RequestException as error:
            seen.append(error)

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 5
    while not portal.stats()["faults"] and time.monotonic() < deadline:
        time.sleep(0.02)
    began = time.perf_counter()
    portal.close()
    thread.join(timeout=5)
    assert time.perf_counter() - began < 2 and not thread.is_alive()
    assert seen and isinstance(seen[0], requests.ConnectionError)


def test_504_is_an_html_page_after_executing(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="504=1")
    before = portal.store.count("deal")
    reply = http.post(portal.webhook + "crm.deal.add", json={"fields": {"TITLE": "x"}})
    assert reply.status_code == 504 and reply.headers["Content-Type"].startswith("text/html")
    assert b"504 Gateway Time-out" in reply.content
    assert portal.store.count("deal") == before + 1  # the write happened


def test_redirect_points_to_https_and_executes_nothing(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="redirect=1")
    before = portal.store.count("deal")
    reply = http.post(portal.webhook + "crm.deal.add", json={"fields": {"TITLE": "x"}},
                      allow_redirects=False)
    assert reply.status_code == 301
    expected = portal.webhook.replace("http://", "https://", 1) + "crm.deal.add"
    assert reply.headers["Location"] == expected
    assert portal.store.count("deal") == before and portal.stats()["faults"] == {"redirect": 1}


def test_partial_runs_every_command_and_leaves_every_other_label_out(
        bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="partial=1")
    before = portal.store.count("deal")
    groups = _batch(portal, http, 5).json()["result"]
    assert portal.store.count("deal") == before + 5  # all five ran
    assert sorted(groups["result"]) == ["a0", "a2", "a4"]
    assert sorted(groups["result_time"]) == ["a0", "a2", "a4"]
    (one,) = [_batch(portal, http, 1).json()["result"]]
    assert one["result"] == [] and one["result_time"] == []
    assert portal.stats()["faults"] == {"partial": 2}


def test_partial_keeps_php_encoding_of_list_style_batches(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="partial=1")
    cmd = ["crm.deal.get?id=1", "crm.deal.get?id=2", "crm.deal.get?id=3"]
    groups = http.post(portal.webhook + "batch", json={"cmd": cmd}).json()["result"]
    assert sorted(groups["result"]) == ["0", "2"]  # a gap: an object, as PHP sends it


def test_nullresult_runs_the_batch_and_answers_null(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="nullresult=1")
    before = portal.store.count("deal")
    reply = _batch(portal, http, 3)
    assert reply.status_code == 200 and reply.json()["result"] is None
    assert "time" in reply.json() and portal.store.count("deal") == before + 3


def test_batch_only_faults_leave_single_calls_alone(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(faults="partial=0.5,nullresult=0.5")
    reply = http.post(portal.webhook + "crm.deal.get", json={"id": 1})
    assert reply.status_code == 200 and reply.json()["result"]["ID"] == "1"
    assert portal.stats()["faults"] == {}


def test_new_kinds_parse_and_old_specs_draw_as_before():
    assert parse_faults("hang=0.1,504=0.1,redirect=0.1,partial=0.1,nullresult=0.1") == {
        "hang": 0.1, "504": 0.1, "redirect": 0.1, "partial": 0.1, "nullresult": 0.1}
    old = FaultPlan("500=0.2,drop=0.1", seed=7)
    assert [old.draw() for _ in range(200)].count("hang") == 0
