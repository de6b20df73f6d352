"""The router on its own: (verb, target, headers, body) in, the bytes a wire would carry out.

No HTTP and no sleeping: a Router wired to a small store, on a FakeClock.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox import routing
from bitrix_fast.testing.sandbox.auth import Credentials
from bitrix_fast.testing.sandbox.cost import CostModel
from bitrix_fast.testing.sandbox.dispatch import Dispatcher
from bitrix_fast.testing.sandbox.faults import MOVED_HTML, FaultPlan
from bitrix_fast.testing.sandbox.limits import LeakyBucket, OperatingLedger
from bitrix_fast.testing.sandbox.outcome import Outcome
from bitrix_fast.testing.sandbox.routing import CORS_HEADERS, Router, rest_route
from bitrix_fast.testing.sandbox.stats import Stats
from bitrix_fast.testing.sandbox.store import Store
from bitrix_fast.testing.sandbox.wire import JSON_TYPE, XML_TYPE

HOST = {"host": "portal.example:8080"}


class Spy:
    """A store that records what each method received, and can misbehave on demand."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: List[Any] = []
        self.result: Any = None

    def knows(self, method: str) -> bool:
        return self.store.knows(method)

    def call(self, method: str, params: Dict[str, Any], ctx: Any) -> Outcome:
        self.calls.append((method, params))
        if method == "crm.deal.fields" and self.result is not None:
            if isinstance(self.result, Exception):
                raise self.result
            return Outcome(self.result)
        return self.store.call(method, params, ctx)


class Wired:
    def __init__(self, faults: str = "") -> None:
        self.clock = FakeClock()
        self.store = Store(clock=self.clock)
        self.store.seed(deals=60, users=2)
        self.spy = Spy(self.store)
        self.credentials = Credentials(clock=self.clock)
        self.stats = Stats(self.clock)
        self.arrivals = 0
        dispatcher = Dispatcher(
            self.spy, self.credentials, LeakyBucket(50, 2, clock=self.clock),
            OperatingLedger(480, 600, clock=self.clock), CostModel(), FaultPlan(faults),
            self.stats, clock=self.clock)
        self.router = Router(dispatcher, self.credentials, self.stats, slow_seconds=1.5,
                             on_request=self._arrived)
        self.webhook = f"/rest/1/{self.credentials.webhook_code}/"

    def _arrived(self) -> None:
        self.arrivals += 1

    def route(self, verb: str, target: str, body: bytes = b"", **headers: str) -> routing.Response:
        names = {**HOST, **{k.replace("_", "-").lower(): v for k, v in headers.items()}}
        return self.router.route(verb, target, names, body)


@pytest.fixture
def wired():
    portal = Wired()
    yield portal
    portal.store.close()


def _json(response: routing.Response) -> Any:
    assert response.content_type == JSON_TYPE
    return json.loads(response.body)


def test_rest_route_forms():
    assert rest_route("/rest/1/abc/crm.deal.list.xml/") == ("crm.deal.list", ("1", "abc"), "xml")
    assert rest_route("/rest/CRM.Deal.List.JSON") == ("crm.deal.list", None, "json")
    assert rest_route("/rest/1/a%2Fb/user.get") == ("user.get", ("1", "a/b"), "json")
    assert rest_route("/rest/1/user.get") == ("", None, "json")  # two segments: no route


def test_a_webhook_call_answers_json_with_the_portal_headers(wired):
    response = wired.route("GET", wired.webhook + "crm.deal.list?start=50")
    body = _json(response)
    assert response.status == 200 and response.fault is None and response.headers == CORS_HEADERS
    assert len(body["result"]) == 10 and body["total"] == 60
    assert wired.arrivals == 1


def test_body_parameters_replace_query_parameters(wired):
    wired.route("POST", wired.webhook + "crm.deal.get?id=1&select[]=ID", b'{"id": 2}',
                content_type="application/json")
    assert wired.spy.calls[-1] == ("crm.deal.get", {"id": 2, "select": ["ID"]})
    wired.route("POST", wired.webhook + "crm.deal.get?id=1", b"id=3",
                content_type="application/x-www-form-urlencoded")
    assert wired.spy.calls[-1][1] == {"id": "3"}
    wired.route("GET", wired.webhook + "crm.deal.get?id=1", b'{"id": 4}',
                content_type="application/json")
    assert wired.spy.calls[-1][1] == {"id": "1"}  # PHP reads no body for a GET


def test_the_token_comes_from_the_header_then_auth_then_access_token(wired):
    good = wired.credentials.issue_tokens()["access_token"]
    target = "/rest/crm.deal.get?id=1&access_token=bad1&auth=" + good
    assert wired.route("GET", target).status == 200  # auth wins over access_token
    assert "auth" not in wired.spy.calls[-1][1] and "access_token" not in wired.spy.calls[-1][1]
    assert wired.route("GET", "/rest/crm.deal.get?id=1&auth=bad").status == 401
    assert wired.route("GET", "/rest/crm.deal.get?id=1&auth=bad",
                       authorization="Bearer " + good).status == 200  # the header wins
    assert _json(wired.route("GET", "/rest/crm.deal.get?id=1"))["error"] == "NO_AUTH_FOUND"


def test_xml_routes_answer_xml(wired):
    response = wired.route("GET", wired.webhook + "crm.deal.get.xml?id=1")
    assert response.status == 200 and response.content_type == XML_TYPE
    assert response.body.startswith(b'<?xml version="1.0" encoding="utf-8"?><response><result>')
    error = wired.route("GET", wired.webhook + "crm.deal.get.xml?id=999999")
    assert error.content_type == XML_TYPE and b"<error>" in error.body


def test_the_token_endpoint_and_its_errors(wired):
    c = wired.credentials
    code = c.authorization_code()
    query = (f"grant_type=authorization_code&client_id={c.client_id}"
             f"&client_secret={c.client_secret}&code={code}")
    body = _json(wired.route("GET", "/oauth/token/?" + query))
    assert set(body) >= {"access_token", "refresh_token", "expires_in"}
    again = wired.route("POST", "/oauth/token", query.encode(),
                        content_type="application/x-www-form-urlencoded")
    assert again.status == 400 and _json(again)["error"] == "invalid_grant"  # codes are single-use
    assert wired.stats.snapshot()["oauth_requests"] == 2 and wired.arrivals == 0


def test_the_stats_routes(wired):
    wired.route("GET", wired.webhook + "server.time")
    snapshot = _json(wired.route("GET", "/sandbox/stats?timeline=1"))
    assert snapshot["requests"] == 1 and snapshot["timeline"] == [0.0]
    assert "timeline" not in _json(wired.route("GET", "/sandbox/stats"))
    assert wired.route("GET", "/sandbox/stats/reset").status == 404  # reset needs a POST
    assert _json(wired.route("POST", "/sandbox/stats/reset/")) == {"result": True}
    assert wired.stats.snapshot()["requests"] == 0


def test_other_paths_and_preflight(wired):
    assert wired.route("GET", "/nowhere").status == 404
    preflight = wired.route("OPTIONS", wired.webhook + "crm.deal.list")
    assert (preflight.status, preflight.body, preflight.content_type) == (200, b"", "text/plain")
    assert wired.spy.calls == []


def test_an_absolute_target_is_routed_by_its_path(wired):
    response = wired.route("GET", "http://elsewhere" + wired.webhook + "crm.deal.get?id=2")
    assert _json(response)["result"]["ID"] == "2"


def test_a_redirect_points_at_https_on_the_host_asked_for(wired):
    router = Wired(faults="redirect=1")
    target = router.webhook + "crm.deal.add?fields[TITLE]=x"
    response = router.route("POST", target)
    assert response.status == 301 and response.body == MOVED_HTML
    assert ("Location", "https://portal.example:8080" + target) in response.headers
    assert router.store.count("deal") == 60  # not executed
    router.store.close()


@pytest.mark.parametrize("kind", ["drop", "hang", "slow"])
def test_faults_for_the_carrier(kind):
    portal = Wired(faults=f"{kind}=1")
    response = portal.route("POST", portal.webhook + "crm.deal.add?fields[TITLE]=x")
    assert response.fault == kind
    executed = kind != "hang"
    assert portal.store.count("deal") == 60 + executed
    if kind == "slow":
        assert response.delay == 1.5 and response.status == 200 and _json(response)["result"] == 61
    else:
        assert response.body == b"" and response.delay == 0
    assert portal.stats.snapshot()["dropped"] == (kind == "drop")
    portal.store.close()


def test_anything_unexpected_is_a_500_envelope(wired):
    wired.spy.result = RuntimeError("boom")
    response = wired.route("GET", wired.webhook + "crm.deal.fields")
    assert response.status == 500 and _json(response)["error"] == "INTERNAL_SERVER_ERROR"
    wired.spy.result = {"not json": object()}
    response = wired.route("GET", wired.webhook + "crm.deal.fields.xml")
    assert response.status == 200  # XML prints anything
    response = wired.route("GET", wired.webhook + "crm.deal.fields")
    assert response.status == 500 and _json(response)["error"] == "INTERNAL_SERVER_ERROR"
    assert wired.stats.snapshot()["internal_errors"] == 2


def test_a_body_over_the_limit_is_413(wired, monkeypatch):
    monkeypatch.setattr(routing, "MAX_BODY", 10)
    response = wired.route("POST", wired.webhook + "crm.deal.list", b"x" * 11)
    assert response.status == 413 and _json(response)["error"] == "INVALID_REQUEST"
    assert wired.spy.calls == []


def test_server_time_and_row_stamps_read_the_portal_clock(wired):
    iso = _json(wired.route("GET", wired.webhook + "server.time"))["result"]
    assert iso == "2023-11-15T01:13:20+03:00"  # FakeClock's wall_start, 1_700_000_000
    wired.clock.advance(60)
    new_id = _json(wired.route("POST", wired.webhook + "crm.deal.add?fields[TITLE]=x"))["result"]
    row = _json(wired.route("GET", wired.webhook + f"crm.deal.get?id={new_id}"))["result"]
    assert row["DATE_CREATE"] == "2023-11-15T01:14:20+03:00"
