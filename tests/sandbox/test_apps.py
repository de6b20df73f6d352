"""The sandbox as an OAuth application's world: one OAuth server that rotates refresh tokens
and refuses a spent one, several portals each with its own member_id, bucket and tokens,
install and uninstall posts carrying the application token, and the offline event queue
fed by CRM deletions. In memory, on a FakeClock; raw requests, no client."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional
from urllib.parse import parse_qs, urlencode

import pytest

from bitrix_fast.net.transport import HttpRequest
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox import AppPortals
from bitrix_fast.app.incoming import parse_form

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def cloud():
    with AppPortals(2, deals=60, leads=5, token_ttl=60, http=False, clock=FakeClock()) as cloud:
        yield cloud


def rest(cloud: AppPortals, portal: Any, method: str, params: Optional[Dict[str, Any]] = None,
         token: Optional[str] = None, webhook: bool = False) -> Any:
    url = (portal.webhook if webhook else portal.rest_base) + method
    body = dict(params or {})
    if token is not None:
        body["auth"] = token
    reply = cloud.transport().exchange(HttpRequest("POST", url, json.dumps(body).encode(), JSON,
                                                   (10.0, 75.0), method))
    return reply.status, json.loads(reply.content)


def grant(cloud: AppPortals, refresh: str, client_secret: Optional[str] = None) -> Any:
    query = urlencode({"grant_type": "refresh_token", "client_id": cloud.client_id,
                       "client_secret": client_secret or cloud.client_secret,
                       "refresh_token": refresh})
    reply = cloud.transport().exchange(HttpRequest("GET", f"{cloud.token_url}?{query}", b"",
                                                   {}, (10.0, 75.0), "oauth/token"))
    return reply.status, json.loads(reply.content)


# -- the OAuth server and the portals ------------------------------------------------------------

def test_each_portal_has_its_own_member_id_host_and_tokens(cloud):
    a, b = cloud.portals
    assert a.member_id != b.member_id and a.base_url != b.base_url
    assert a.client_id == b.client_id == cloud.client_id
    token_a = a.issue_tokens()["access_token"]
    assert rest(cloud, a, "server.time", token=token_a)[0] == 200
    status, body = rest(cloud, b, "server.time", token=token_a)
    assert status == 401 and body["error"] == "invalid_token"


def test_the_oauth_server_rotates_refresh_tokens_for_every_portal(cloud):
    a, b = cloud.portals
    first_a, first_b = a.issue_tokens(), b.issue_tokens()
    status, reply = grant(cloud, first_a["refresh_token"])
    assert status == 200 and reply["member_id"] == a.member_id
    assert reply["client_endpoint"] == a.rest_base and reply["refresh_token"] != first_a["refresh_token"]
    assert grant(cloud, first_b["refresh_token"])[1]["member_id"] == b.member_id
    # A spent refresh token is refused: the second process to try loses the portal.
    status, refused = grant(cloud, first_a["refresh_token"])
    assert status == 400 and refused["error"] == "invalid_grant"
    assert grant(cloud, reply["refresh_token"], client_secret="wrong")[1]["error"] == "invalid_client"
    stats = cloud.stats()["oauth"]
    assert stats["by_portal"] == {a.member_id: 1, b.member_id: 1}
    assert stats["invalid_grant"] == 1


def test_access_tokens_expire_on_the_portals_clock(cloud):
    a = cloud.portals[0]
    token = a.issue_tokens()["access_token"]
    cloud.clock.advance(59)
    assert rest(cloud, a, "server.time", token=token)[0] == 200
    cloud.clock.advance(2)
    status, body = rest(cloud, a, "server.time", token=token)
    assert status == 401 and body["error"] == "expired_token"


def test_each_portal_has_its_own_bucket(cloud):
    a, b = cloud.portals
    token_a, token_b = a.issue_tokens()["access_token"], b.issue_tokens()["access_token"]
    statuses = [rest(cloud, a, "server.time", token=token_a)[0] for _ in range(55)]
    assert statuses.count(503) > 0  # a's burst of 50 is spent ...
    assert rest(cloud, b, "server.time", token=token_b)[0] == 200  # ... b's is not


def test_install_and_uninstall_posts_carry_the_application_token(cloud):
    a = cloud.portals[0]
    install = parse_form(a.install_post().decode())
    assert install["event"] == "ONAPPINSTALL"
    auth = install["auth"]
    assert auth["member_id"] == a.member_id and auth["application_token"]
    assert auth["client_endpoint"] == a.rest_base and auth["refresh_token"]
    assert rest(cloud, a, "server.time", token=auth["access_token"])[0] == 200
    uninstall = parse_form(a.uninstall_post().decode())
    assert uninstall["event"] == "ONAPPUNINSTALL"
    assert uninstall["auth"]["application_token"] == auth["application_token"]
    assert "access_token" not in uninstall["auth"]
    # Uninstalled: every token of the app stops working.
    assert rest(cloud, a, "server.time", token=auth["access_token"])[1]["error"] == "invalid_token"
    assert grant(cloud, auth["refresh_token"])[1]["error"] == "invalid_grant"
    # Installed again: a new application token.
    again = parse_form(a.install_post().decode())
    assert again["auth"]["application_token"] != auth["application_token"]


def test_refresh_tokens_can_die_as_after_180_days(cloud):
    a = cloud.portals[0]
    refresh = a.issue_tokens()["refresh_token"]
    assert a.credentials.expire_refresh_tokens() >= 1
    assert grant(cloud, refresh)[1]["error"] == "invalid_grant"


# -- the offline event queue -----------------------------------------------------------------------

@pytest.fixture
def app_portal(cloud):
    portal = cloud.portals[0]
    token = portal.issue_tokens()["access_token"]

    def call(method: str, **params: Any) -> Any:
        status, body = rest(cloud, portal, method, params, token=token)
        assert status == 200, body
        return body["result"]

    return portal, call


def test_binding_offline_events(app_portal, cloud):
    portal, call = app_portal
    assert call("event.bind", event="ONCRMDEALDELETE", event_type="offline") is True
    status, body = rest(cloud, portal, "event.bind",
                        {"event": "onCrmDealDelete", "event_type": "offline"},
                        token=portal.issue_tokens()["access_token"])
    assert status == 400 and "already binded" in body["error_description"]
    assert call("event.get") == [{"event": "ONCRMDEALDELETE", "connector_id": "",
                                  "offline": 1}]
    assert call("event.unbind", event="ONCRMDEALDELETE", event_type="offline") == {"count": 1}
    assert call("event.get") == []


def test_webhooks_cannot_use_events(app_portal, cloud):
    portal, _ = app_portal
    status, body = rest(cloud, portal, "event.offline.get", webhook=True)
    assert status == 403 and body["error"] == "WRONG_AUTH_TYPE"


def test_crm_deletions_feed_the_queue_once_bound(app_portal, cloud):
    portal, call = app_portal
    call("crm.deal.delete", id=1)  # not bound yet: not queued
    call("event.bind", event="ONCRMDEALDELETE", event_type="offline")
    call("crm.deal.delete", id=2)
    portal.store.delete("deal", 3)  # churn, or a user in the portal's UI
    call("crm.lead.delete", id=1)  # another event, not bound
    entries = portal.offline.entries()
    assert [e["EVENT_DATA"] for e in entries] == [{"FIELDS": {"ID": 2}}, {"FIELDS": {"ID": 3}}]
    assert {e["EVENT_NAME"] for e in entries} == {"ONCRMDEALDELETE"}


def test_reading_with_clear_0_hides_keeps_and_rereads(app_portal, cloud):
    portal, call = app_portal
    call("event.bind", event="ONCRMDEALDELETE", event_type="offline")
    for row in range(1, 8):
        portal.store.delete("deal", row)
    first = call("event.offline.get", clear=0, limit=5)
    assert len(first["events"]) == 5 and first["process_id"]
    # Hidden from other readers, kept on the portal.
    second = call("event.offline.get", clear=0, limit=5)
    assert len(second["events"]) == 2 and second["process_id"] != first["process_id"]
    assert call("event.offline.get", clear=0)["events"] == []
    # The reader that died comes back with its process_id: its batch again.
    again = call("event.offline.get", clear=0, process_id=first["process_id"])
    assert again["events"] == first["events"]
    listed = call("event.offline.list")
    assert {e["PROCESS_ID"] for e in listed} == {first["process_id"], second["process_id"]}
    # Cleared by ID: only those go.
    ids = [e["ID"] for e in first["events"][:2]]
    assert call("event.offline.clear", process_id=first["process_id"], id=ids) is True
    assert len(call("event.offline.get", clear=0, process_id=first["process_id"])["events"]) == 3
    call("event.offline.clear", process_id=first["process_id"])
    assert len(call("event.offline.list")) == 2


def test_reading_with_clear_1_deletes_at_once(app_portal):
    portal, call = app_portal
    call("event.bind", event="ONCRMDEALDELETE", event_type="offline")
    portal.store.delete("deal", 5)
    got = call("event.offline.get")
    assert got["process_id"] is None and got["events"][0]["EVENT_DATA"] == {"FIELDS": {"ID": 5}}
    assert call("event.offline.list") == []


def test_one_entry_per_object_and_event(app_portal):
    portal, call = app_portal
    call("event.bind", event="ONCRMDEALUPDATE", event_type="offline")
    for _ in range(3):
        portal.offline.record("ONCRMDEALUPDATE", {"FIELDS": {"ID": 9}})
    assert len(call("event.offline.list")) == 1
    marked = call("event.offline.get", clear=0)
    portal.offline.record("ONCRMDEALUPDATE", {"FIELDS": {"ID": 9}})  # changed again meanwhile
    listed = call("event.offline.list")
    assert len(listed) == 2 and {e["PROCESS_ID"] for e in listed} == {marked["process_id"], ""}


def test_queue_filters_and_errors(app_portal):
    portal, call = app_portal
    for name in ("ONCRMDEALDELETE", "ONCRMLEADDELETE"):
        call("event.bind", event=name, event_type="offline")
    portal.store.delete("deal", 1)
    portal.store.delete("lead", 1)
    leads = call("event.offline.get", clear=0, filter={"=EVENT_NAME": "ONCRMLEADDELETE"})
    assert [e["EVENT_NAME"] for e in leads["events"]] == ["ONCRMLEADDELETE"]
    message = leads["events"][0]["MESSAGE_ID"]
    call("event.offline.error", process_id=leads["process_id"], message_id=[message])
    assert call("event.offline.get", clear=0, error=1)["events"][0]["MESSAGE_ID"] == message
    assert [e["ID"] for e in call("event.offline.list", filter={">ID": 1})] == ["2"]
