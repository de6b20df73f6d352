"""Client credentials: webhook parsing, secrets kept out of text, single-flight token refresh."""
import asyncio
import threading
import time

import pytest

from bitrix_fast.auth import TokenAuth, Webhook, redact

CODE = "q1w2e3r4t5y6u7i8"


def test_webhook_normalised_and_secret_hidden():
    hook = Webhook(f" https://portal.example/rest/1/{CODE} ")
    assert hook.url("crm.deal.list") == f"https://portal.example/rest/1/{CODE}/crm.deal.list"
    assert CODE not in repr(hook) and CODE not in hook.display
    assert hook.secrets == (CODE,)


@pytest.mark.parametrize("url", ["portal.example/rest/1/x/", "https://portal.example/",
                                 f"ftp://portal.example/rest/1/{CODE}/", f"https:///rest/1/{CODE}/"])
def test_bad_webhooks_are_refused_without_echoing_them(url):
    with pytest.raises(ValueError) as caught:
        Webhook(url)
    assert CODE not in str(caught.value)


def test_redact_replaces_every_secret():
    assert redact(f"GET /rest/1/{CODE}/x?auth=tok12345", [CODE, "tok12345"]) == \
        "GET /rest/1/***/x?auth=***"


def test_refresh_is_single_flight_across_sixteen_threads():
    """Sixteen threads see the same expired token: token_func runs once."""
    calls = []

    def token_func():
        calls.append(1)
        time.sleep(0.05)
        return f"token-{len(calls)}"

    auth = TokenAuth("https://portal.example/rest/", token_func)
    stale = auth.params()["auth"]
    barrier = threading.Barrier(16)
    seen = []

    def worker():
        barrier.wait()
        seen.append(auth.refresh(stale))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 2  # the first token, then exactly one refresh
    assert set(seen) == {"token-2"}


def test_async_token_func_works_even_inside_a_running_loop():
    async def token_func():
        await asyncio.sleep(0)
        return {"access_token": "async-tok", "client_endpoint": "https://other.example/rest/"}

    async def main():  # as in Jupyter: a loop is running in this thread
        auth = TokenAuth("https://portal.example/rest/", token_func)
        return auth.params(), auth.url("x.get")

    params, url = asyncio.run(main())
    assert params == {"auth": "async-tok"} and url == "https://other.example/rest/x.get"


def test_token_func_must_return_a_token():
    auth = TokenAuth("https://portal.example/rest/", lambda: None)
    with pytest.raises(TypeError):
        auth.params()


def test_tokens_are_secrets():
    auth = TokenAuth("https://portal.example/rest/", lambda: "tok-abcdef")
    auth.params()
    assert "tok-abcdef" in auth.secrets and "tok-abcdef" not in repr(auth)
