"""Webhook and OAuth credentials, token expiry, refresh rotation and the token endpoint."""
from __future__ import annotations

import time

import pytest

from bitrix_fast.testing.clock import FakeClock


def test_webhook_credentials(bitrix_sandbox, http):
    assert http.get(bitrix_sandbox.webhook + "server.time").status_code == 200
    code = bitrix_sandbox.credentials.webhook_code
    for base in (f"/rest/1/{code[:-1]}x/", f"/rest/2/{code}/", "/rest/admin/abc/"):
        reply = http.get(bitrix_sandbox.base_url + base + "crm.deal.list")
        assert reply.status_code == 401
        assert reply.json() == {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}


def test_no_credentials_at_all(bitrix_sandbox, http):
    reply = http.get(bitrix_sandbox.rest_base + "crm.deal.list")
    assert reply.status_code == 401
    assert reply.json() == {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}


def test_oauth_token_places_and_header_precedence(recording_portal, http):
    token = recording_portal.issue_tokens()["access_token"]
    url = recording_portal.rest_base + "crm.deal.get"
    assert http.get(url, params={"auth": token, "id": 1}).status_code == 200
    assert http.post(url, json={"access_token": token, "id": 1}).status_code == 200
    assert http.get(url, params={"id": 1}, headers={"Authorization": "Bearer " + token}).status_code == 200
    # the header wins over a bad parameter, and `auth` wins over `access_token`
    assert http.get(url, params={"auth": "bad", "id": 1}, headers={"Authorization": "Bearer " + token}).ok
    assert http.get(url, params={"auth": token, "access_token": "bad", "id": 1}).ok
    reply = http.get(url, params={"auth": "bad", "access_token": token, "id": 1})
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_token"
    # the method never sees the auth parameters
    assert all(set(params) == {"id"} for _, params, _ in recording_portal.recorder.calls)
    assert all(ctx.user_id == 1 for _, _, ctx in recording_portal.recorder.calls)


def test_token_response_shape(bitrix_sandbox):
    tokens = bitrix_sandbox.issue_tokens()
    assert set(tokens) >= {"access_token", "refresh_token", "expires", "expires_in", "client_endpoint",
                           "server_endpoint", "domain", "member_id", "scope", "status", "user_id"}
    assert tokens["client_endpoint"] == bitrix_sandbox.rest_base
    assert tokens["expires_in"] == 3600 and abs(tokens["expires"] - (time.time() + 3600)) < 5
    assert tokens["access_token"] != bitrix_sandbox.issue_tokens()["access_token"]


def test_expiry_refresh_rotation(bitrix_sandbox_factory, http):
    bitrix_sandbox = bitrix_sandbox_factory(token_ttl=0.5, deals=3, clock=FakeClock())
    tokens = bitrix_sandbox.issue_tokens()
    url = bitrix_sandbox.rest_base + "crm.deal.list"
    assert http.get(url, params={"auth": tokens["access_token"]}).status_code == 200
    bitrix_sandbox.clock.advance(0.55)
    reply = http.get(url, params={"auth": tokens["access_token"]})
    assert reply.status_code == 401
    assert reply.json() == {"error": "expired_token", "error_description": "The access token provided has expired"}
    refresh = {"grant_type": "refresh_token", "client_id": bitrix_sandbox.client_id,
               "client_secret": bitrix_sandbox.client_secret, "refresh_token": tokens["refresh_token"]}
    fresh = http.get(bitrix_sandbox.oauth_endpoint, params=refresh)
    assert fresh.status_code == 200
    new = fresh.json()
    assert new["refresh_token"] != tokens["refresh_token"] and new["access_token"] != tokens["access_token"]
    assert http.get(url, params={"auth": new["access_token"]}).status_code == 200
    again = http.post(bitrix_sandbox.oauth_endpoint, data=refresh)  # the old refresh token is spent
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    batch = http.post(bitrix_sandbox.rest_base + "batch", json={"auth": new["access_token"], "cmd": ["crm.deal.list"]})
    assert batch.status_code == 200 and len(batch.json()["result"]["result"][0]) == 3


def test_token_endpoint_errors(bitrix_sandbox, http):
    tokens = bitrix_sandbox.issue_tokens()
    base = {"grant_type": "refresh_token", "client_id": bitrix_sandbox.client_id,
            "client_secret": bitrix_sandbox.client_secret, "refresh_token": tokens["refresh_token"]}
    for change, status, code in (
        ({"client_secret": "nope"}, 401, "invalid_client"),
        ({"client_id": "local.x.1"}, 401, "invalid_client"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"refresh_token": "unknown"}, 400, "invalid_grant"),
    ):
        reply = http.get(bitrix_sandbox.oauth_endpoint, params={**base, **change})
        assert (reply.status_code, reply.json()["error"]) == (status, code)
    assert http.get(bitrix_sandbox.oauth_endpoint, params=base).status_code == 200  # still unspent
    assert bitrix_sandbox.stats()["oauth_requests"] == 6
    assert bitrix_sandbox.stats()["requests"] == 0


def test_authorization_code_grant(bitrix_sandbox, http):
    code = bitrix_sandbox.authorization_code()
    params = {"grant_type": "authorization_code", "client_id": bitrix_sandbox.client_id,
              "client_secret": bitrix_sandbox.client_secret, "code": code}
    reply = http.get(bitrix_sandbox.base_url + "/oauth/token", params=params)
    assert reply.status_code == 200
    token = reply.json()["access_token"]
    assert http.get(bitrix_sandbox.rest_base + "server.time", params={"auth": token}).status_code == 200
    assert http.get(bitrix_sandbox.oauth_endpoint, params=params).json()["error"] == "invalid_grant"


def test_secrets_are_random_per_portal(bitrix_sandbox_factory):
    one, two = bitrix_sandbox_factory(deals=0), bitrix_sandbox_factory(deals=0)
    assert one.credentials.webhook_code != two.credentials.webhook_code
    assert one.client_secret != two.client_secret and len(one.client_secret) >= 32
    assert one.credentials.webhook_code not in repr(one)
