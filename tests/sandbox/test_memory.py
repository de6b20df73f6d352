"""MemoryTransport: the same bytes as the HTTP server, faults as a client meets them.

Parity tests send one HttpRequest through the real transport (requests, over loopback) and
through ``portal.transport()`` of the same portal. The portal runs on a FakeClock that no
one advances, so the ``time`` blocks in both replies read the same.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Dict, List, Optional

import pytest

from bitrix_fast.errors import ConnectError, ConnectionDropped, ResponseTimeout
from bitrix_fast.net.transport import HttpRequest, HttpResponse, RequestsTransport
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox.cost import CostModel
from bitrix_fast.testing.sandbox.faults import MOVED_HTML

JSON = {"Content-Type": "application/json"}


def post(url: str, params: Optional[Dict[str, Any]] = None, timeout: float = 75.0) -> HttpRequest:
    return HttpRequest("POST", url, json.dumps(params or {}).encode(), JSON, (10.0, timeout),
                       url.rsplit("/", 1)[-1])


def body(response: HttpResponse) -> Any:
    return json.loads(response.content)


# -- parity with the HTTP server ------------------------------------------------------------
@pytest.fixture
def both(bitrix_sandbox_factory):
    """(portal, HTTP transport, in-memory transport) of one HTTP portal on a still FakeClock."""
    portal = bitrix_sandbox_factory(clock=FakeClock(), plan="enterprise")
    http = RequestsTransport(portal.base_url)
    yield portal, http, portal.transport()
    http.close()


def _same(both, request: HttpRequest) -> HttpResponse:
    _, http, memory = both
    over_http, in_memory = http.exchange(request), memory.exchange(request)
    assert over_http.status == in_memory.status
    assert over_http.content == in_memory.content
    assert over_http.headers["content-type"] == in_memory.headers["content-type"]
    assert over_http.headers.get("location") == in_memory.headers.get("location")
    assert {k: v for k, v in over_http.headers.items() if k != "connection"} == in_memory.headers
    return in_memory


def test_a_list_call_is_byte_for_byte_the_same(both):
    portal = both[0]
    reply = _same(both, post(portal.webhook + "crm.deal.list",
                             {"order": {"ID": "ASC"}, "filter": {">ID": 10}, "start": 0}))
    assert reply.status == 200 and len(body(reply)["result"]) == 50
    assert body(reply)["time"]["processing"] == 0  # the clock stood still


def test_a_batch_is_the_same(both):
    portal = both[0]
    cmd = {"a": "crm.deal.get?id=1", "b": "crm.deal.list?start=-1&order[ID]=DESC",
           "c": "crm.deal.get?id=99999", "d": "no.such.method"}
    reply = _same(both, post(portal.webhook + "batch", {"halt": 0, "cmd": cmd}))
    result = body(reply)["result"]
    assert set(result["result"]) == {"a", "b"} and set(result["result_error"]) == {"c", "d"}


def test_errors_are_the_same(both):
    portal = both[0]
    assert _same(both, post(portal.webhook + "no.such.method")).status == 404
    assert _same(both, post(portal.rest_base + "1/wrongcode/crm.deal.list")).status == 401
    assert _same(both, post(portal.rest_base + "crm.deal.list")).status == 401
    assert _same(both, post(portal.webhook + "crm.deal.get", {"id": 10**9})).status >= 400
    assert _same(both, HttpRequest("GET", portal.base_url + "/elsewhere")).status == 404


def test_an_xml_call_is_the_same(both):
    portal = both[0]
    reply = _same(both, HttpRequest("GET", portal.webhook + "crm.deal.get.xml?id=5"))
    assert reply.headers["content-type"].startswith("text/xml")
    assert b"<ID>5</ID>" in reply.content


def test_the_oauth_endpoint_is_the_same(both):
    portal, http, memory = both
    wrong = f"{portal.oauth_endpoint}?grant_type=refresh_token&client_id=x&client_secret=y"
    assert _same(both, HttpRequest("GET", wrong)).status == 401
    # Success hands out fresh random tokens: compare the shape, then use each one.
    replies = []
    for transport in (http, memory):
        refresh = portal.issue_tokens()["refresh_token"]
        url = (f"{portal.oauth_endpoint}?grant_type=refresh_token&client_id={portal.client_id}"
               f"&client_secret={portal.client_secret}&refresh_token={refresh}")
        replies.append(transport.exchange(HttpRequest("GET", url)))
    assert [r.status for r in replies] == [200, 200]
    assert replies[0].headers == replies[1].headers
    tokens = [body(r) for r in replies]
    assert set(tokens[0]) == set(tokens[1]) and tokens[0]["client_endpoint"] == portal.rest_base
    for token in tokens:
        call = post(portal.rest_base + "crm.deal.get", {"id": 1, "auth": token["access_token"]})
        assert memory.exchange(call).status == 200


def test_a_redirect_is_the_same(bitrix_sandbox_factory):
    portal = bitrix_sandbox_factory(clock=FakeClock(), faults="redirect=1")
    http = RequestsTransport(portal.base_url)
    reply = _same((portal, http, portal.transport()), post(portal.webhook + "crm.deal.list"))
    assert reply.status == 301 and reply.content == MOVED_HTML
    assert reply.headers["location"] == "https://" + portal.webhook[len("http://"):] + "crm.deal.list"
    http.close()


# -- faults, as a client meets them ------------------------------------------------------------
def _portal(factory, **options):
    portal = factory(**options)
    return portal, portal.transport(), portal.clock


def test_drop_runs_the_request_then_loses_the_connection(bitrix_portal_factory):
    portal, transport, _ = _portal(bitrix_portal_factory, faults="drop=1")
    with pytest.raises(ConnectionDropped) as caught:
        transport.exchange(post(portal.webhook + "crm.deal.add", {"fields": {"TITLE": "x"}}))
    assert caught.value.executed_maybe and caught.value.method == "crm.deal.add"
    assert portal.store.count("deal") == 121  # it ran
    assert portal.stats()["dropped"] == 1
    assert portal.credentials.webhook_code not in str(caught.value)


def test_hang_times_out_on_the_clock_and_runs_nothing(bitrix_portal_factory):
    portal, transport, clock = _portal(bitrix_portal_factory, faults="hang=1")
    with pytest.raises(ResponseTimeout):
        transport.exchange(post(portal.webhook + "crm.deal.add", {"fields": {}}, timeout=30))
    assert clock.now() == 30 and clock.sleeps == [30]
    assert portal.store.count("deal") == 120


def test_slow_answers_late_or_times_out(bitrix_portal_factory):
    portal, transport, clock = _portal(bitrix_portal_factory, faults="slow=1", slow_seconds=4)
    reply = transport.exchange(post(portal.webhook + "crm.deal.get", {"id": 1}))
    assert reply.status == 200 and clock.now() == 4
    with pytest.raises(ResponseTimeout):
        transport.exchange(post(portal.webhook + "crm.deal.add", {"fields": {}}, timeout=3))
    assert clock.now() == 7 and portal.store.count("deal") == 121  # ran, answered too late


def test_a_request_costlier_than_the_read_timeout_times_out_after_running(bitrix_portal_factory):
    portal, transport, clock = _portal(bitrix_portal_factory, cost=CostModel(per_command=5.0))
    assert transport.exchange(post(portal.webhook + "crm.deal.get", {"id": 1})).status == 200
    assert clock.now() == 5
    with pytest.raises(ResponseTimeout):
        transport.exchange(post(portal.webhook + "crm.deal.add", {"fields": {}}, timeout=2))
    assert portal.store.count("deal") == 121


@pytest.mark.parametrize("kind,status,kind_of_body", [
    ("500", 500, "application/json"), ("502", 502, "text/html"), ("504", 504, "text/html")])
def test_error_pages(bitrix_portal_factory, kind, status, kind_of_body):
    portal, transport, _ = _portal(bitrix_portal_factory, faults=f"{kind}=1")
    reply = transport.exchange(post(portal.webhook + "crm.deal.add", {"fields": {}}))
    assert reply.status == status and reply.headers["content-type"].startswith(kind_of_body)
    assert portal.store.count("deal") == 120 + (kind == "504")


def test_redirect_is_a_301_to_https(bitrix_portal_factory):
    portal, transport, _ = _portal(bitrix_portal_factory, faults="redirect=1")
    reply = transport.exchange(post(portal.webhook + "crm.deal.list"))
    assert reply.status == 301
    assert reply.headers["location"] == portal.webhook.replace("http://", "https://") + "crm.deal.list"


# -- the in-memory portal ----------------------------------------------------------------------
def test_an_in_memory_portal_has_addresses_but_no_socket(bitrix_portal):
    assert bitrix_portal.webhook.startswith("http://sandbox-")
    assert ".invalid/rest/1/" in bitrix_portal.webhook
    assert bitrix_portal.oauth_endpoint.endswith(".invalid/oauth/token/")
    with pytest.raises(RuntimeError, match="no port"):
        bitrix_portal.port
    assert bitrix_portal.issue_tokens()["domain"] == bitrix_portal.webhook.split("/")[2]
    assert "in memory" in repr(bitrix_portal)


def test_every_portal_has_its_own_host(bitrix_portal_factory):
    a, b = bitrix_portal_factory(), bitrix_portal_factory()
    assert a.base_url != b.base_url
    with pytest.raises(ConnectError, match="serves"):
        a.transport().exchange(post(b.webhook + "crm.deal.list"))
    with pytest.raises(ConnectError, match="http"):
        a.transport().exchange(HttpRequest("GET", "ftp://x/rest/"))
    with pytest.raises(ConnectError) as caught:
        a.transport().exchange(HttpRequest("GET", "http://me:s3cret@elsewhere.invalid/rest/"))
    assert "s3cret" not in str(caught.value) and "elsewhere.invalid" in str(caught.value)


def test_a_closed_portal_refuses_connections(bitrix_portal_factory):
    portal = bitrix_portal_factory()
    transport = portal.transport()
    webhook = portal.webhook
    assert transport.exchange(post(webhook + "crm.deal.list")).status == 200
    portal.close()
    with pytest.raises(ConnectError) as caught:
        transport.exchange(post(webhook + "crm.deal.list"))
    assert not caught.value.executed_maybe
    with pytest.raises(RuntimeError):
        portal.transport()


def test_many_threads_share_one_transport(bitrix_portal_factory):
    portal = bitrix_portal_factory(plan="enterprise", cost=CostModel(per_command=0.01))
    transport = portal.transport()
    statuses: List[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(25):
            reply = transport.exchange(post(portal.webhook + "crm.deal.add",
                                            {"fields": {"TITLE": f"{n}-{i}"}}))
            with lock:
                statuses.append(reply.status)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert statuses == [200] * 200
    assert portal.store.count("deal") == 320
    stats = portal.stats()
    assert stats["accepted"] == 200 and stats["connections"] == 0
    assert portal.clock.now() == pytest.approx(2.0)  # 200 sleeps of 10 ms, added up


def test_head_and_query_quoting_follow_the_wire(bitrix_portal):
    transport = bitrix_portal.transport()
    head = transport.exchange(HttpRequest("HEAD", bitrix_portal.webhook + "crm.deal.get?id=1"))
    assert head.status == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    title = "a b&c"
    added = transport.exchange(post(bitrix_portal.webhook + "crm.deal.add",
                                    {"fields": {"TITLE": title}}))
    found = transport.exchange(HttpRequest(
        "GET", bitrix_portal.webhook + "crm.deal.list?filter[TITLE]=a b%26c&select[]=ID"))
    assert [row["ID"] for row in body(found)["result"]] == [str(body(added)["result"])]


def test_the_transport_works_with_the_clients_sender(bitrix_portal):
    from bitrix_fast.net.credentials import Webhook
    from bitrix_fast.net.sender import Sender

    sender = Sender(Webhook(bitrix_portal.webhook), bitrix_portal.transport(),
                    clock=bitrix_portal.clock)
    reply = sender.send("crm.deal.list", {"select": ["ID"], "start": -1, "order": {"ID": "ASC"}})
    assert [row["ID"] for row in reply.body["result"]][:3] == ["1", "2", "3"]
