"""No secret -- webhook code, access or refresh token, client secret -- ever shows in a log
line, an exception (or its causes), a repr, the stats or the progress output.

The whole scenario runs in memory on a fake clock (tokens live half a second of it); the
HTTP library's own log lines exist only over a socket, so a smaller run over loopback
checks those."""
import logging
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

import pytest

from bitrix_fast import BatchError, BitrixError, Bitrix, OAuthRefresher
from bitrix_fast.run.retry import Retry
from bitrix_fast.testing.sandbox import Sandbox
from portals_a import memory_portal


def texts_of(error: BaseException) -> Iterator[str]:
    """The message and repr of an error and of everything in its cause chain."""
    seen = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        for value in vars(current).values():
            yield repr(value)
        current = current.__cause__ or current.__context__


def run_everything(sb: Sandbox, secrets: Set[str], texts: List[str], *, deals: int, adds: int,
                   oauth_pace: Tuple[int, float] = (2, 4), **client: Any) -> None:
    """Every path a secret could take: a listing and adds through faults with a progress
    bar, a wrong webhook, OAuth with rotating tokens, a dead refresh token. ``client`` is
    what every client gets (``wire``: a function giving the transport, and a clock; nothing
    for HTTP). ``oauth_pace`` is the OAuth client's burst and rate: slow enough, tokens
    run out during its listing."""
    code = sb.webhook.rstrip("/").rsplit("/", 1)[1]
    secrets |= {code, sb.client_secret}
    tokens = sb.issue_tokens()
    secrets |= {tokens["access_token"], tokens["refresh_token"]}
    wire: Callable[[], Dict[str, Any]] = client.pop("wire", dict)

    with Bitrix(sb.webhook, progress=True, requests_per_second=20, **wire(), **client) as bx:
        assert len(bx.get_all("crm.deal.list", {"select": ["ID"]})) == deals
        try:
            bx.call("crm.deal.add", [{"fields": {"TITLE": str(i)}} for i in range(adds)])
        except BatchError as error:  # dropped connections: items in doubt
            texts.extend(texts_of(error))
            for inner in list(error.errors.values()) + list(error.in_doubt.values()):
                texts.extend(texts_of(inner))
        texts += [repr(bx), str(bx.stats())]

    wrong = sb.webhook.replace(code, code[::-1])
    with Bitrix(wrong, verbose=False, **wire(), **client) as bx:
        with pytest.raises(BitrixError) as caught:
            bx.get_all("crm.deal.list")
        texts.extend(texts_of(caught.value))
        texts.append(repr(bx))

    refresher = OAuthRefresher(sb.client_id, sb.client_secret, tokens["refresh_token"],
                               access_token=tokens["access_token"],
                               on_update=lambda t: secrets.update(
                                   {t["access_token"], t["refresh_token"]}),
                               endpoint=sb.oauth_endpoint, **wire())
    burst, rate = oauth_pace
    with Bitrix(sb.rest_base, token_func=refresher, progress=True, request_pool_size=burst,
                requests_per_second=rate, **wire(), **client) as bx:
        assert len(bx.get_all("crm.deal.list", {"select": ["ID"]})) == sb.store.count("deal")
        texts += [repr(bx), repr(refresher), str(bx.stats())]

    refresher()  # one more rotation, whatever the listing needed: the first one is dead now
    dead = OAuthRefresher(sb.client_id, sb.client_secret, tokens["refresh_token"],
                          endpoint=sb.oauth_endpoint, **wire())
    with pytest.raises(BitrixError) as caught:
        dead()
    texts.extend(texts_of(caught.value))


def assert_no_leak(secrets: Set[str], texts: List[str]) -> None:
    everything = "\n".join(texts)
    leaked = sorted(secret for secret in secrets if secret in everything)
    assert not leaked, f"secrets leaked: {len(leaked)}"


def test_no_secret_anywhere(caplog: pytest.LogCaptureFixture,
                            capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)  # every logger
    texts: List[str] = []
    secrets: Set[str] = set()
    with memory_portal(deals=3_000, plan="x10", token_ttl=0.5, faults="502=0.2,drop=0.1",
                       seed=3) as sb:
        run_everything(sb, secrets, texts, deals=3_000, adds=400,
                       wire=lambda: {"transport": sb.transport()}, clock=sb.clock)
        faults = sb.stats()["faults"]
    out, err = capfd.readouterr()
    texts += [caplog.text, out, err]
    assert faults.get("502") and faults.get("drop")  # the error paths were taken
    assert len(secrets) > 4  # tokens were really rotated during the run
    assert "bitrix_fast" in caplog.text and "crm.deal.list" in err  # logs and a bar
    assert_no_leak(secrets, texts)


def test_no_secret_in_the_http_librarys_log_lines(caplog: pytest.LogCaptureFixture,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    """urllib3 logs every request line, URL included, at DEBUG (the token endpoint's with
    the client secret and refresh token in its query); dropped connections too."""
    caplog.set_level(logging.DEBUG)
    texts: List[str] = []
    secrets: Set[str] = set()
    quick = Retry(backoff_factor=0.01, backoff_max=0.05)
    with Sandbox(deals=300, plan="x10", token_ttl=0.5, faults="502=0.2,drop=0.1",
                 seed=3) as sb:
        run_everything(sb, secrets, texts, deals=300, adds=100, oauth_pace=(50, 20),
                       retry=quick)
        faults = sb.stats()["faults"]
    out, err = capfd.readouterr()
    texts += [caplog.text, out, err]
    assert faults.get("502") or faults.get("drop")
    # request lines were logged, the token endpoint's among them
    assert "urllib3" in caplog.text and "/rest/" in caplog.text and "/oauth/token/" in caplog.text
    assert_no_leak(secrets, texts)
