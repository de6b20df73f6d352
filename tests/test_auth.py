"""Client credentials: webhook parsing, secrets kept out of text, single-flight token refresh."""
import asyncio
import logging
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest
import responses
from responses import matchers

from bitrix_fast import OAuthRefresher
from bitrix_fast.errors import AuthError
from bitrix_fast.net.credentials import TokenAuth, Webhook
from bitrix_fast.protocol.redaction import redact

CODE = "q1w2e3r4t5y6u7i8"


def test_webhook_normalised_and_secret_hidden() -> None:
    hook = Webhook(f" https://portal.example/rest/1/{CODE} ")
    assert hook.url("crm.deal.list") == f"https://portal.example/rest/1/{CODE}/crm.deal.list"
    assert CODE not in repr(hook) and CODE not in hook.display
    assert hook.secrets == (CODE,)


@pytest.mark.parametrize("url", ["portal.example/rest/1/x/", "https://portal.example",
                                 f"ftp://portal.example/rest/1/{CODE}/",
                                 f"https:///rest/1/{CODE}/"])
def test_bad_webhooks_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        Webhook(url)
    assert CODE not in str(caught.value)


def test_redact_replaces_every_secret() -> None:
    assert redact(f"GET /rest/1/{CODE}/x?auth=tok12345", [CODE, "tok12345"]) == \
        "GET /rest/1/***/x?auth=***"


def test_refresh_is_single_flight_across_sixteen_threads() -> None:
    """Sixteen threads see the same expired token: token_func runs once."""
    calls: List[int] = []

    def token_func() -> str:
        calls.append(1)
        time.sleep(0.05)
        return f"token-{len(calls)}"

    auth = TokenAuth("https://portal.example/rest/", token_func)
    stale = auth.params()["auth"]
    barrier = threading.Barrier(16)
    seen: List[str] = []

    def worker() -> None:
        barrier.wait()
        seen.append(auth.refresh(stale))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 2  # the first token, then exactly one refresh
    assert set(seen) == {"token-2"}


def test_async_token_func_works_even_inside_a_running_loop() -> None:
    async def token_func() -> Dict[str, str]:
        await asyncio.sleep(0)
        return {"access_token": "async-tok", "client_endpoint": "https://other.example/rest/"}

    # as in Jupyter: a loop is running in this thread
    async def main() -> Tuple[Dict[str, Any], str]:
        auth = TokenAuth("https://portal.example/rest/", token_func)
        return auth.params(), auth.url("x.get")

    params, url = asyncio.run(main())
    assert params == {"auth": "async-tok"} and url == "https://other.example/rest/x.get"


def test_token_func_must_return_a_token() -> None:
    auth = TokenAuth("https://portal.example/rest/", lambda: None)
    with pytest.raises(TypeError):
        auth.params()


def test_tokens_are_secrets() -> None:
    auth = TokenAuth("https://portal.example/rest/", lambda: "tok-abcdef")
    auth.params()
    assert "tok-abcdef" in auth.secrets and "tok-abcdef" not in repr(auth)


TOKEN_URL = "https://oauth.example/oauth/token/"


@responses.activate
def test_refresher_rotates_refresh_tokens_and_reports_them() -> None:
    """Each refresh sends the latest refresh token and hands the new set to on_update."""
    for old, new in (("r0", "r1"), ("r1", "r2")):
        responses.get(TOKEN_URL, json={"access_token": f"a-{new}", "refresh_token": new,
                                       "expires_in": 3600,
                                       "client_endpoint": "https://portal.example/rest/"},
                      match=[matchers.query_param_matcher({
                          "grant_type": "refresh_token", "client_id": "app",
                          "client_secret": "csecret99", "refresh_token": old})])
    saved: List[Dict[str, Any]] = []
    refresher = OAuthRefresher("app", "csecret99", "r0", on_update=saved.append,
                               endpoint=TOKEN_URL)
    assert refresher()["access_token"] == "a-r1"
    assert refresher()["access_token"] == "a-r2"
    assert [s["refresh_token"] for s in saved] == ["r1", "r2"]
    assert "csecret99" not in repr(refresher)


@responses.activate
def test_refresher_uses_a_given_access_token_first() -> None:
    refresher = OAuthRefresher("app", "csecret99", "r0", access_token="a0", endpoint=TOKEN_URL)
    assert refresher() == {"access_token": "a0"}
    assert len(responses.calls) == 0


@responses.activate
def test_dead_refresh_token_is_an_auth_error_without_secrets() -> None:
    responses.get(TOKEN_URL, status=400, json={
        "error": "invalid_grant", "error_description": "refresh token r0-secret is not valid"})
    refresher = OAuthRefresher("app", "csecret99", "r0-secret", endpoint=TOKEN_URL)
    with pytest.raises(AuthError) as caught:
        refresher()
    assert caught.value.code == "invalid_grant"
    assert "r0-secret" not in str(caught.value) and "csecret99" not in str(caught.value)


def test_http_library_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """urllib3 logs request lines with the URL at DEBUG: the webhook code must not show."""
    hook = Webhook(f"https://portal.example/rest/1/{CODE}/")  # live while the line is logged
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug(
            '%s "%s %s"', "https://portal.example", "POST", f"/rest/1/{CODE}/crm.deal.list")
    assert CODE not in caplog.text and "/rest/1/***/crm.deal.list" in caplog.text
    assert hook.secrets == (CODE,)
