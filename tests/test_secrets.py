"""No secret -- webhook code, access or refresh token, client secret -- ever shows in a log
line, an exception (or its causes), a repr, the stats or the progress output."""
import logging

import pytest

from bitrix_fast import BatchError, BitrixError, Bitrix, OAuthRefresher
from bitrix_fast.testing.sandbox import Sandbox


def texts_of(error: BaseException):
    """The message and repr of an error and of everything in its cause chain."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield str(error)
        yield repr(error)
        for value in vars(error).values() if hasattr(error, "__dict__") else ():
            yield repr(value)
        error = error.__cause__ or error.__context__


def test_no_secret_anywhere(caplog, capfd):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's request lines included
    texts = []
    with Sandbox(deals=3_000, plan="x10", token_ttl=0.5, faults="502=0.2,drop=0.1",
                 seed=3) as sb:
        code = sb.webhook.rstrip("/").rsplit("/", 1)[1]
        secrets = {code, sb.client_secret}
        tokens = sb.issue_tokens()
        secrets |= {tokens["access_token"], tokens["refresh_token"]}

        with Bitrix(sb.webhook, progress=True, requests_per_second=20) as bx:
            bx.get_all("crm.deal.list", {"select": ["ID"]})
            try:
                bx.call("crm.deal.add", [{"fields": {"TITLE": str(i)}} for i in range(400)])
            except BatchError as error:  # dropped connections: items in doubt
                texts.extend(texts_of(error))
                for inner in list(error.errors.values()) + list(error.in_doubt.values()):
                    texts.extend(texts_of(inner))
            texts += [repr(bx), str(bx.stats())]

        wrong = sb.webhook.replace(code, code[::-1])
        with Bitrix(wrong, verbose=False) as bx:
            with pytest.raises(BitrixError) as caught:
                bx.get_all("crm.deal.list")
            texts.extend(texts_of(caught.value))
            texts.append(repr(bx))

        refresher = OAuthRefresher(sb.client_id, sb.client_secret, tokens["refresh_token"],
                                   access_token=tokens["access_token"],
                                   on_update=lambda t: secrets.update(
                                       {t["access_token"], t["refresh_token"]}),
                                   endpoint=sb.oauth_endpoint)
        with Bitrix(sb.rest_base, token_func=refresher, progress=True, request_pool_size=2,
                    requests_per_second=4) as bx:
            bx.get_all("crm.deal.list", {"select": ["ID"]})
            texts += [repr(bx), repr(refresher), str(bx.stats())]

        dead = OAuthRefresher(sb.client_id, sb.client_secret, tokens["refresh_token"],
                              endpoint=sb.oauth_endpoint)  # that refresh token was rotated
        with pytest.raises(BitrixError) as caught:
            dead()
        texts.extend(texts_of(caught.value))

    out, err = capfd.readouterr()
    texts += [caplog.text, out, err]
    assert len(secrets) > 4  # tokens were really rotated during the run
    assert "urllib3" in caplog.text or "bitrix_fast" in caplog.text  # logs were captured
    everything = "\n".join(texts)
    leaked = sorted(secret for secret in secrets if secret in everything)
    assert not leaked, f"secrets leaked: {len(leaked)}"
