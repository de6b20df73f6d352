"""Real failures, built over real sockets, carry no webhook code and no OAuth token anywhere
in their exception chains: not in a message, a repr, an attribute, a ``__cause__`` or
``__context__``, nor in the traceback Python would print. The HTTP library's own exceptions
(which hold the URL) never ride along. So these stay over loopback HTTP; retries back off
for milliseconds only (how long is not what they are about)."""
from __future__ import annotations

import socket
import ssl
import threading
import traceback
from pathlib import Path
from typing import Iterator, List, Optional

import pytest
import requests
import urllib3

from bitrix_fast import (AuthError, BatchError, BitrixError, Bitrix, ConnectError, Redirected,
                         RetryExhausted)
from bitrix_fast.errors import ResponseTimeout
from bitrix_fast.run.retry import Retry
from bitrix_fast.testing.sandbox import Sandbox

CERT = Path(__file__).parent / "data" / "tls" / "selfsigned.pem"


def exceptions_in(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything reachable from it: causes, contexts, ``last_error``, the
    errors a BatchError holds, exceptions among the arguments; each once."""
    seen = set()
    stack: List[Optional[BaseException]] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__cause__, current.__context__]
        if isinstance(current, RetryExhausted):
            stack.append(current.last_error)
        if isinstance(current, BatchError):
            stack += list(current.errors.values()) + list(current.in_doubt.values())
        stack += [arg for arg in current.args if isinstance(arg, BaseException)]


def texts(error: BaseException) -> str:
    parts = ["".join(traceback.format_exception(type(error), error, error.__traceback__))]
    for item in exceptions_in(error):
        parts += [str(item), repr(item)]
        parts += [repr(value) for value in vars(item).values()]
        parts += [repr(arg) for arg in item.args]
    return "\n".join(parts)


def assert_clean(error: BaseException, *secrets: str) -> None:
    chain = list(exceptions_in(error))
    foreign = [type(e).__name__ for e in chain
               if isinstance(e, (requests.RequestException, urllib3.exceptions.HTTPError))]
    assert not foreign, f"the HTTP library's exceptions ride along: {foreign}"
    everything = texts(error)
    leaked = [secret for secret in secrets if secret in everything]
    assert not leaked, f"{type(error).__name__} leaks a secret"


def _code(portal: Sandbox) -> str:
    return str(portal.webhook).rstrip("/").rsplit("/", 1)[1]


class TLSServer:
    """Accepts TLS connections with a self-signed certificate (untrusted by any client)."""

    def __init__(self) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(CERT)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(connection, server_side=True):
                    pass  # the client refuses the certificate during the handshake
            except (ssl.SSLError, OSError):
                pass

    def close(self) -> None:
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CODE = "f1e2d3c4b5a69788"


def quick(total: int = Retry.DEFAULT_TOTAL, *,
          timeouts: int = Retry.DEFAULT_TIMEOUTS) -> Retry:
    return Retry(total, timeouts=timeouts, backoff_factor=0.01, backoff_max=0.05)


def test_connection_refused() -> None:
    hook = f"http://127.0.0.1:{_free_port()}/rest/1/{CODE}/"
    with Bitrix(hook, verbose=False, retry=Retry(connect=0)) as bx:
        for attempt in (lambda: bx.get_all("crm.deal.list"),
                        lambda: bx.call("crm.deal.get", {"id": 1})):
            with pytest.raises(RetryExhausted) as caught:
                attempt()
            assert isinstance(caught.value.last_error, ConnectError)
            assert "Connection refused" in str(caught.value)
            assert_clean(caught.value, CODE)


def test_read_timeout_and_redirect_and_wrong_code() -> None:
    with Sandbox(faults="hang=1") as sb:
        code = _code(sb)
        with Bitrix(sb.webhook, verbose=False, timeout=0.1, retry=quick(timeouts=0)) as bx:
            with pytest.raises(RetryExhausted) as exhausted:
                bx.call("crm.deal.get", {"id": 1})
        assert isinstance(exhausted.value.last_error, ResponseTimeout)
        assert_clean(exhausted.value, code)
        with Bitrix(sb.webhook, verbose=False, timeout=0.1, retry=quick()) as bx:
            with pytest.raises(BatchError) as failed:  # writes: in doubt, never resent
                bx.call("crm.deal.add", [{"fields": {"TITLE": "x"}}])
        assert failed.value.in_doubt
        assert_clean(failed.value, code)

    with Sandbox(faults="redirect=1") as sb:
        code = _code(sb)
        with Bitrix(sb.webhook, verbose=False) as bx:
            with pytest.raises(Redirected) as moved:
                bx.get_all("crm.deal.list")
        assert "***" in moved.value.location
        assert_clean(moved.value, code)

    with Sandbox() as sb:
        code = _code(sb)
        wrong = sb.webhook.replace(code, CODE)
        with Bitrix(wrong, verbose=False) as bx:
            with pytest.raises(AuthError) as refused:
                bx.call("crm.deal.get", {"id": 1})
        assert refused.value.status == 401
        assert_clean(refused.value, CODE, code)


def test_https_to_a_plain_http_port_and_an_untrusted_certificate() -> None:
    with Sandbox() as sb:
        code = _code(sb)
        with Bitrix(sb.webhook.replace("http://", "https://"), verbose=False) as bx:
            with pytest.raises(ConnectError) as caught:
                bx.get_all("crm.deal.list")
        assert "does not speak TLS" in str(caught.value) and "ssl=False" not in str(caught.value)
        assert sb.stats()["requests"] == 0
        assert_clean(caught.value, code)

    server = TLSServer()
    try:
        with Bitrix(f"https://127.0.0.1:{server.port}/rest/1/{CODE}/", verbose=False) as bx:
            with pytest.raises(ConnectError) as caught:
                bx.call("crm.deal.get", {"id": 1})
    finally:
        server.close()
    message = str(caught.value)
    assert "certificate is not trusted" in message and "ssl=False" in message
    assert "ssl='/path/to/ca.pem'" in message
    assert_clean(caught.value, CODE)


def test_malformed_batch_replies() -> None:
    with Sandbox(deals=10, faults="nullresult=1") as sb:
        code = _code(sb)
        with Bitrix(sb.webhook, verbose=False, retry=quick(total=1)) as bx:
            with pytest.raises(BatchError) as caught:
                bx.call("crm.deal.add", [{"fields": {"TITLE": "x"}}] * 3)
            assert_clean(caught.value, code)
            with pytest.raises(BatchError) as caught:
                bx.get_by_ID("crm.deal.get", [1, 2])
            assert_clean(caught.value, code)


def test_an_oauth_token_stays_out_of_every_error() -> None:
    """The same failures with OAuth: the token travels in the body, and a server echoing it
    back in an error text must not put it into a message."""
    with Sandbox(faults="redirect=0.3,hang=0.2,nullresult=0.2,500=0.3", seed=4) as sb:
        tokens = sb.issue_tokens()
        token = tokens["access_token"]
        errors: List[BaseException] = []
        with Bitrix(sb.rest_base, token_func=lambda: token, verbose=False, timeout=0.1,
                    retry=quick(total=1)) as bx:
            for _ in range(12):
                try:
                    bx.call("crm.deal.add", [{"fields": {"TITLE": "x"}}] * 2)
                except BitrixError as error:
                    errors.append(error)
        kinds = {type(e).__name__ for failure in errors for e in exceptions_in(failure)}
    assert {"Redirected", "BadResponse"} <= kinds
    for failure in errors:
        assert_clean(failure, token, tokens["refresh_token"])
