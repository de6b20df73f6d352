"""The HTTP layer over real sockets: routes, parameters, envelopes, malformed input."""
from __future__ import annotations

import socket
import time

import pytest
import requests

from bitrix_fast.testing.sandbox.outcome import ApiFault, Outcome


def _last_params(portal):
    return portal.recorder.calls[-1][1]


# -- routes ------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["crm.deal.list", "crm.deal.list.json", "crm.deal.list/", "crm.deal.list.json/",
                                    "CRM.Deal.List", "Crm.Deal.LIST.JSON/"])
def test_webhook_url_forms_and_case(bitrix_sandbox, http, suffix):
    reply = http.get(bitrix_sandbox.webhook + suffix)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert len(body["result"]) == 50 and body["total"] == 120 and body["next"] == 50


def test_oauth_route_forms(bitrix_sandbox, http):
    token = bitrix_sandbox.issue_tokens()["access_token"]
    for path in ("crm.deal.list", "crm.deal.list.json", "crm.deal.list/", "CRM.DEAL.LIST.json/"):
        reply = http.get(bitrix_sandbox.rest_base + path, params={"auth": token})
        assert reply.status_code == 200, (path, reply.text)


def test_success_envelope_headers_and_time(bitrix_sandbox, http):
    reply = http.post(bitrix_sandbox.webhook + "crm.deal.get", json={"id": 3})
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    body = reply.json()
    assert set(body) == {"result", "time"} and body["result"]["ID"] == "3"
    t = body["time"]
    assert isinstance(t["start"], int) and isinstance(t["finish"], float)
    assert t["start"] <= t["finish"] < t["start"] + 5
    assert 0 <= t["processing"] <= t["duration"] + 1
    assert t["date_start"][10] == "T" and t["date_start"][-6] in "+-" and t["date_start"][-3] == ":"
    assert t["operating"] == 0 and t["operating_reset_at"] >= t["start"] + 590


def test_error_envelope_has_no_result_or_time(bitrix_sandbox, http):
    reply = http.get(bitrix_sandbox.webhook + "crm.deal.get", params={"id": 10**9})
    assert reply.status_code >= 400
    body = reply.json()
    assert set(body) >= {"error", "error_description"} and "result" not in body and "time" not in body


def test_unknown_method_is_404_even_with_bad_credentials(bitrix_sandbox, http):
    bad = bitrix_sandbox.rest_base + "1/wrongcode/"
    for base in (bitrix_sandbox.webhook, bad, bitrix_sandbox.rest_base):
        reply = http.get(base + "no.such.method")
        assert reply.status_code == 404
        assert reply.json() == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    assert http.get(bitrix_sandbox.rest_base + "api/1/x/crm.deal.list").status_code == 404
    assert http.get(bitrix_sandbox.base_url + "/rest/").status_code == 404


def test_keep_alive_connection_is_reused(bitrix_sandbox):
    url = bitrix_sandbox.webhook + "server.time"
    with requests.Session() as session:
        for _ in range(5):
            reply = session.get(url)
            assert reply.status_code == 200 and "close" not in reply.headers.get("Connection", "")
    assert bitrix_sandbox.stats()["connections"] == 1


# -- parameters ------------------------------------------------------------------------------
def test_query_form_json_precedence(recording_portal, http):
    url = recording_portal.webhook + "crm.deal.list"
    http.post(url + "?select[]=ID&filter[>ID]=5&start=0", data={"filter[<ID]": "9"})
    params = _last_params(recording_portal)
    assert params["filter"] == {"<ID": "9"} and params["select"] == ["ID"] and params["start"] == "0"
    http.post(url + "?start=50&order[ID]=DESC", json={"start": 0, "filter": {">ID": 3}})
    params = _last_params(recording_portal)
    assert params["start"] == 0 and params["filter"] == {">ID": 3} and params["order"] == {"ID": "DESC"}


def test_invalid_json_means_no_body_params(recording_portal, http):
    url = recording_portal.webhook + "crm.deal.list?start=50"
    for body in (b"{not json", b"\xff\xfe", b"NaN", b'"a string"', b"[" * 600 + b"]" * 600):
        reply = http.post(url, data=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 200, reply.text
        assert _last_params(recording_portal) == {"start": "50"}


def test_json_list_body_gives_positional_params(recording_portal, http):
    http.post(recording_portal.webhook + "crm.deal.get", json=[7])
    assert _last_params(recording_portal) == {"0": 7}


def test_other_content_types_are_read_as_query_strings(recording_portal, http):
    http.post(recording_portal.webhook + "crm.deal.get", data=b"id=4&x[]=1", headers={"Content-Type": "text/plain"})
    assert _last_params(recording_portal) == {"id": "4", "x": ["1"]}


def test_multipart_fields_are_params_and_files_are_not(recording_portal, http):
    http.post(recording_portal.webhook + "crm.deal.get?id=1",
              files={"id": (None, "5"), "select[]": (None, "ID"), "doc": ("a.txt", b"hello")})
    assert _last_params(recording_portal) == {"id": "5", "select": ["ID"]}
    # a multipart body without a boundary carries nothing
    http.post(recording_portal.webhook + "crm.deal.get?id=2", data=b"--x\r\n",
              headers={"Content-Type": "multipart/form-data"})
    assert _last_params(recording_portal) == {"id": "2"}


def test_percent_encoded_operators_and_unicode(recording_portal, http):
    http.get(recording_portal.webhook + "crm.deal.list?filter%5B%3E%3DID%5D=5&filter[TITLE]=%D0%9F%D1%80%D0%B8+x")
    assert _last_params(recording_portal)["filter"] == {">=ID": "5", "TITLE": "При x"}


def test_get_with_body_ignores_the_body(recording_portal, http):
    http.request("GET", recording_portal.webhook + "crm.deal.get?id=3", data="id=9",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert _last_params(recording_portal) == {"id": "3"}


# -- malformed input ----------------------------------------------------------------------------
def test_malformed_requests_get_envelopes_and_the_server_survives(bitrix_sandbox, http):
    url = bitrix_sandbox.webhook
    cases = [
        ("crm.deal.list", {"filter": "not-a-dict"}),
        ("crm.deal.list", {"filter": {"%%%ID": 1}}),
        ("crm.deal.list", {"order": {"ID": "SIDEWAYS"}}),
        ("crm.deal.list", {"select": {"a": {"b": [1, 2, {"c": None}]}}}),
        ("crm.deal.get", {"id": {"nested": True}}),
        ("crm.deal.add", {"fields": "TITLE"}),
        ("crm.deal.update", {"id": "x", "fields": []}),
        ("batch", {"cmd": "not a list"}),
        ("batch", {"cmd": [None, 5, {"x": 1}, ["crm.deal.list"]]}),
    ]
    for method, body in cases:
        reply = http.post(url + method, json=body)
        assert reply.headers["Content-Type"].startswith("application/json"), (method, body)
        payload = reply.json()
        assert ("error" in payload) == (reply.status_code >= 400), (method, body, payload)
        assert reply.status_code < 500, (method, body, payload)
    deep = "a" + "[b]" * 100 + "=1"
    assert http.get(url + "crm.deal.list?" + deep).status_code == 200
    assert http.get(url + "crm.deal.list?%zz=%&&&=&[=]").status_code == 200
    assert http.get(url + "server.time").status_code == 200
    assert bitrix_sandbox.stats()["internal_errors"] == 0


def _raw(portal, data: bytes) -> bytes:
    """Send raw bytes; read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", portal.port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_broken_http_framing(bitrix_sandbox, http):
    path = f"/rest/1/{bitrix_sandbox.credentials.webhook_code}/server.time"
    reply = _raw(bitrix_sandbox, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 400") and b"INVALID_REQUEST" in reply
    reply = _raw(bitrix_sandbox, f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 413")
    # an unparsable request line: the stdlib answers 400 in HTTP/0.9 style (no status line)
    assert b"400" in _raw(bitrix_sandbox, b"GET / HTTP/1.1 junk\r\n\r\n")
    assert b"400" in _raw(bitrix_sandbox, b"\x00\xff\xfe GARBAGE\r\n\r\n")
    chunked = (f"POST {path.replace('server.time', 'crm.deal.get')} HTTP/1.1\r\nHost: x\r\n"
               "Transfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               "Connection: close\r\n\r\n4\r\nid=5\r\n0\r\n\r\n").encode()
    reply = _raw(bitrix_sandbox, chunked)
    assert reply.startswith(b"HTTP/1.1 200") and b'"ID":"5"' in reply
    assert http.get(bitrix_sandbox.webhook + "server.time").status_code == 200


def test_unexpected_exceptions_become_500_and_are_counted(bitrix_sandbox_factory, http):
    class Exploding:
        def knows(self, method):
            return True

        def call(self, method, params, ctx):
            if method == "boom":
                raise RuntimeError("bug")
            if method == "unencodable":
                return Outcome(result={"when": object()})
            raise ApiFault("", "Parameter 'filter' must be array.", 400)

    portal = bitrix_sandbox_factory(store=Exploding())
    reply = http.get(portal.webhook + "boom")
    assert reply.status_code == 500 and reply.json()["error"] == "INTERNAL_SERVER_ERROR"
    reply = http.get(portal.webhook + "unencodable")
    assert reply.status_code == 500 and reply.json()["error"] == "INTERNAL_SERVER_ERROR"
    reply = http.get(portal.webhook + "legacy.list")
    assert reply.status_code == 400 and reply.json() == {"error": "", "error_description": "Parameter 'filter' must be array."}
    stats = portal.stats()
    assert stats["internal_errors"] == 2 and stats["errors"]["INTERNAL_SERVER_ERROR"] == 2


# -- control endpoints ----------------------------------------------------------------------------
def test_stats_endpoints(bitrix_sandbox, http):
    for _ in range(3):
        http.get(bitrix_sandbox.webhook + "crm.deal.list", params={"select[]": "ID"})
    http.get(bitrix_sandbox.webhook + "nope")
    stats = http.get(bitrix_sandbox.base_url + "/sandbox/stats").json()
    assert stats["requests"] == 4 and stats["accepted"] == 4 and stats["commands"] == 3
    assert stats["rows_served"] == 150 and stats["rows_counted"] == 360
    assert stats["methods"] == {"crm.deal.list": 3} and stats["errors"] == {"ERROR_METHOD_NOT_FOUND": 1}
    assert "timeline" not in stats
    timeline = http.get(bitrix_sandbox.base_url + "/sandbox/stats?timeline=1").json()["timeline"]
    assert len(timeline) == 4 and timeline == sorted(timeline)
    assert http.post(bitrix_sandbox.base_url + "/sandbox/stats/reset").json() == {"result": True}
    assert bitrix_sandbox.stats()["requests"] == 0
    assert http.get(bitrix_sandbox.base_url + "/elsewhere").status_code == 404


def test_options_preflight(bitrix_sandbox, http):
    reply = http.options(bitrix_sandbox.webhook + "crm.deal.list")
    assert reply.status_code == 200 and reply.headers["Access-Control-Allow-Origin"] == "*"


def test_close_cuts_keep_alive_connections(bitrix_sandbox_factory):
    portal = bitrix_sandbox_factory(deals=1)
    url = portal.webhook + "server.time"
    session = requests.Session()
    assert session.get(url).status_code == 200
    portal.close()
    with pytest.raises(requests.ConnectionError):
        session.get(url, timeout=2)


def test_xml_transport(bitrix_sandbox, http):
    reply = http.get(bitrix_sandbox.webhook + "crm.deal.list.xml", params={"select[]": "ID"})
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/xml")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(reply.content)
    assert root.tag == "response" and root.find("total").text == "120"
    assert [item.find("ID").text for item in root.find("result")][:3] == ["1", "2", "3"]
    error = http.get(bitrix_sandbox.webhook + "no.such.xml")
    assert error.status_code == 404 and ET.fromstring(error.content).find("error").text == "ERROR_METHOD_NOT_FOUND"


# -- the Sandbox object ---------------------------------------------------------------------------
def test_sandbox_lifecycle_and_churn():
    from bitrix_fast.testing.sandbox import Sandbox

    portal = Sandbox(deals=200, churn=200, seed=1)
    with pytest.raises(RuntimeError):
        portal.webhook
    with portal:
        assert portal.webhook.startswith(f"http://127.0.0.1:{portal.port}/rest/1/")
        assert portal.oauth_endpoint == portal.base_url + "/oauth/token/"
        deadline = time.monotonic() + 5
        while not (portal.churner.inserted_ids and portal.churner.deleted_ids) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert portal.churner.inserted_ids and portal.churner.deleted_ids
        survivors = portal.churner.survivors(set(range(1, 201)))
        assert survivors < set(range(1, 201)) and survivors <= portal.store.ids("deal")
        portal.stop_churn()
        frozen = portal.store.ids("deal")
        time.sleep(0.05)
        assert portal.store.ids("deal") == frozen
    assert portal.store is None
    portal.close()  # idempotent


def test_sandbox_validates_before_starting():
    from bitrix_fast.testing.sandbox import Sandbox

    for bad in ({"plan": "gold"}, {"cost": "cheap"}, {"faults": "418=1"}, {"batch_billing": "both"}):
        with pytest.raises(ValueError):
            Sandbox(**bad)
