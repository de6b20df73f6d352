"""The transport's wire contract: what goes out, and how every answer (or its absence) maps."""
import json
import http.client
from typing import Any, Dict, Optional, Tuple, Type, Union

import pytest
import requests
import responses
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from responses import matchers

from bitrix_fast.config import TimeoutSpec
from bitrix_fast.errors import (ApiError, AuthError, BadResponse, ConnectError, ConnectionDropped,
                                MethodNotFound, RateLimited, Redirected, ResponseTimeout,
                                TransportError)
from bitrix_fast.net.credentials import Credentials, TokenAuth, Webhook
from bitrix_fast.clock import SYSTEM_CLOCK
from bitrix_fast.config import timeout_pair
from bitrix_fast.net.sender import Sender, get_json
from bitrix_fast.net.transport import DEFAULT_TIMEOUT, RequestsTransport
from bitrix_fast.protocol.redaction import redact


def Transport(credentials: Credentials, *, session: Optional[requests.Session] = None,
              pool_size: int = 10, timeout: TimeoutSpec = DEFAULT_TIMEOUT,
              verify: Union[bool, str] = True) -> Sender:
    """The HTTP seam as the client builds it: a sender over the requests transport."""
    return Sender(credentials,
                  RequestsTransport(credentials.base_url, session=session, pool_size=pool_size,
                                    verify=verify,
                                    hide=lambda text: redact(text, credentials.secrets)),
                  clock=SYSTEM_CLOCK, timeout=timeout_pair(timeout))

CODE = "s3cr3tc0de0123"
HOOK = f"https://portal.example/rest/7/{CODE}/"


def transport(**kwargs: Any) -> Sender:
    return Transport(Webhook(HOOK), pool_size=kwargs.pop("pool_size", 4), **kwargs)


@responses.activate
def test_posts_json_to_the_method_url() -> None:
    responses.post(HOOK + "crm.deal.list", json={"result": [], "total": 0},
                   match=[matchers.json_params_matcher({"filter": {">ID": 5},
                                                        "title": "Ёж"}),
                          matchers.header_matcher({"Content-Type": "application/json"})])
    reply = transport().send("crm.deal.list", {"filter": {">ID": 5}, "title": "Ёж"})
    assert reply.body == {"result": [], "total": 0} and reply.status == 200 and reply.size > 0


@responses.activate
def test_oauth_token_travels_in_the_body_as_auth() -> None:
    responses.post("https://portal.example/rest/server.time",
                   json={"result": "2024-01-01T00:00:00+03:00"},
                   match=[matchers.json_params_matcher({"auth": "tok-1"})])
    auth = TokenAuth("https://portal.example/rest/", lambda: "tok-1")
    assert Transport(auth).send("server.time", {}).body["result"].startswith("2024")


@responses.activate
@pytest.mark.parametrize("status,body,cls,code", [
    (401, {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"},
     AuthError, "INVALID_CREDENTIALS"),
    (503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"},
     RateLimited, "QUERY_LIMIT_EXCEEDED"),
    (404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
     MethodNotFound, "ERROR_METHOD_NOT_FOUND"),
    (200, {"error": "expired_token", "error_description": "The access token provided has expired"},
     AuthError, "expired_token"),
])
def test_error_envelopes_become_typed_errors(status: int, body: Dict[str, str],
                                             cls: Type[ApiError], code: str) -> None:
    responses.post(HOOK + "crm.deal.list", json=body, status=status)
    with pytest.raises(cls) as caught:
        transport().send("crm.deal.list", {})
    error = caught.value
    assert (error.code, error.status, error.method) == (code, status, "crm.deal.list")
    assert str(error).startswith(f"crm.deal.list: {code} ({status}) ")
    assert CODE not in str(error) and CODE not in repr(error)


@responses.activate
def test_html_error_page_is_a_bad_response_with_a_redacted_snippet() -> None:
    page = (f"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
            f"<p>upstream for /rest/7/{CODE}/crm.deal.add failed</p></body></html>")
    responses.post(HOOK + "crm.deal.add", body=page, status=502, content_type="text/html")
    with pytest.raises(BadResponse) as caught:
        transport().send("crm.deal.add", {})
    error = caught.value
    assert error.status == 502 and "502 Bad Gateway" in error.snippet
    assert CODE not in str(error) and "***" in error.snippet
    assert error.executed_maybe


@responses.activate
def test_truncated_json_is_a_bad_response() -> None:
    responses.post(HOOK + "x.get", body='{"result": [1, 2', status=200)
    with pytest.raises(BadResponse):
        transport().send("x.get", {})


@responses.activate
@pytest.mark.parametrize("raised,cls,sent", [
    (requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, "/",  # type: ignore[arg-type]  # no pool or connection: only the chain matters
        urllib3.exceptions.NewConnectionError(None, "refused"))),  # type: ignore[arg-type]
     ConnectError, False),
    (requests.exceptions.ConnectTimeout("connect timed out"), ConnectError, False),
    (requests.exceptions.SSLError("certificate verify failed"), ConnectError, False),
    (requests.exceptions.ReadTimeout("read timed out"), ResponseTimeout, True),
    (requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        "Connection aborted.", http.client.RemoteDisconnected("closed"))), ConnectionDropped, True),
    (requests.exceptions.ChunkedEncodingError("broken"), ConnectionDropped, True),
])
def test_network_failures_map_to_transport_errors(raised: Exception,
                                                  cls: Type[TransportError],
                                                  sent: bool) -> None:
    """Only failures that prove the request never left say executed_maybe = False."""
    responses.post(HOOK + "crm.deal.add", body=raised)
    with pytest.raises(cls) as caught:
        transport().send("crm.deal.add", {})
    assert caught.value.executed_maybe is sent
    assert CODE not in str(caught.value)
    # Raised outside the except block: the requests exception (holding the URL) is not kept.
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_ssl_error_names_the_ssl_switch() -> None:
    with responses.RequestsMock() as mock:
        mock.post(HOOK + "x.get", body=requests.exceptions.SSLError("certificate verify failed"))
        with pytest.raises(ConnectError, match="ssl=False"):
            transport().send("x.get", {})


def test_pool_sized_to_workers_without_urllib3_retries() -> None:
    session = requests.Session()
    transport(pool_size=37, session=session)
    adapter = session.get_adapter(HOOK)
    assert isinstance(adapter, HTTPAdapter)
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 37
    assert adapter.max_retries.total == 0


def test_callers_session_keeps_its_other_adapters() -> None:
    session = requests.Session()
    other = session.get_adapter("https://elsewhere.example/")
    Transport(Webhook(HOOK), session=session, pool_size=9)
    assert session.get_adapter("https://elsewhere.example/") is other
    ours = session.get_adapter(HOOK)
    assert isinstance(ours, HTTPAdapter) and ours.poolmanager.connection_pool_kw["maxsize"] == 9


@responses.activate
def test_timeouts_and_verify_reach_requests() -> None:
    seen: Dict[str, Any] = {}

    def callback(request: requests.PreparedRequest) -> Tuple[int, Dict[str, str], str]:
        assert isinstance(request.body, (bytes, str))
        seen["body"] = json.loads(request.body)
        return 200, {}, json.dumps({"result": True})

    responses.add_callback(responses.POST, HOOK + "x.get", callback=callback)
    t = transport(timeout=(1.5, 9), verify="/etc/ssl/ca.pem")
    t.send("x.get", {"n": 1})
    sent = responses.calls[0].request.req_kwargs  # type: ignore[attr-defined]  # set by responses
    assert sent["timeout"] == (1.5, 9.0)
    assert sent["verify"] == "/etc/ssl/ca.pem"
    assert seen["body"] == {"n": 1}


@pytest.mark.parametrize("bad", [0, -1, "5", (1,), (1, 0)])
def test_bad_timeouts_are_refused(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        transport(timeout=bad)


@responses.activate
def test_secrets_echoed_in_an_error_description_are_redacted() -> None:
    responses.post(HOOK + "crm.deal.list", status=401, json={
        "error": "INVALID_CREDENTIALS",
        "error_description": f"webhook {CODE} is not valid for user 7"})
    with pytest.raises(AuthError) as caught:
        transport().send("crm.deal.list", {})
    assert CODE not in str(caught.value) and "webhook *** is not valid" in str(caught.value)


# -- redirects ---------------------------------------------------------------------------------

@responses.activate
@pytest.mark.parametrize("location, expected", [
    (f"https://portal.example/rest/7/{CODE}/crm.deal.add",
     "crm.deal.add: the portal redirects this request to "
     "https://portal.example/rest/7/***/crm.deal.add; use https:// in the address: "
     "https://portal.example/rest/7/***/ (HTTP 301)"),
    (f"https://new.example/rest/7/{CODE}/crm.deal.add.json",
     "crm.deal.add: the portal redirects this request to "
     "https://new.example/rest/7/***/crm.deal.add.json; the portal has moved: use "
     "https://new.example/rest/7/***/ (HTTP 301)"),
    ("/maintenance.html",
     "crm.deal.add: the portal redirects this request to "
     "https://portal.example/maintenance.html; use https://portal.example/maintenance.html "
     "(HTTP 301)"),
])
def test_a_redirect_is_raised_not_followed(location: str, expected: str) -> None:
    hook = HOOK.replace("https://", "http://") if location.startswith("https://portal") else HOOK
    responses.post(hook + "crm.deal.add", status=301, headers={"Location": location})
    t = Transport(Webhook(hook), pool_size=2)
    with pytest.raises(Redirected) as caught:
        t.send("crm.deal.add", {})
    error = caught.value
    assert str(error) == expected and CODE not in repr(vars(error))
    assert error.executed_maybe is False and error.retryable is False
    assert len(responses.calls) == 1  # not followed


@responses.activate
def test_a_redirect_without_a_location_still_says_what_happened() -> None:
    responses.post(HOOK + "x.get", status=302)
    with pytest.raises(Redirected, match="names no address"):
        transport().send("x.get", {})


@responses.activate
def test_the_oauth_token_endpoint_redirect_hides_the_client_secret() -> None:
    url = "http://oauth.example/oauth/token/"
    responses.get(url, status=301, headers={
        "Location": "https://oauth.example/oauth/token/?client_secret=sekr3tvalue"})
    with requests.Session() as session, pytest.raises(Redirected) as caught:
        get_json(RequestsTransport(url, session=session,
                                   hide=lambda text: redact(text, ["sekr3tvalue"])),
                 url, {"client_secret": "sekr3tvalue"}, secrets=["sekr3tvalue"])
    assert "sekr3tvalue" not in str(caught.value) and "client_secret=***" in str(caught.value)


# -- messages a user can act on ----------------------------------------------------------------

@pytest.mark.parametrize("text, trusted_hint, plain_hint", [
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
     True, False),
    ("hostname '10.0.0.1' doesn't match 'portal.example'", True, False),
    ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", False, True),
    ("[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure", False, False),
])
def test_the_ssl_hint_only_for_certificates_and_its_own_for_http_https(
        text: str, trusted_hint: bool, plain_hint: bool) -> None:
    with responses.RequestsMock() as mock:
        mock.post(HOOK + "x.get", body=requests.exceptions.SSLError(text))
        with pytest.raises(ConnectError) as caught:
            transport().send("x.get", {})
    message = str(caught.value)
    assert ("ssl=False" in message and "ssl='/path/to/ca.pem'" in message) is trusted_hint
    assert ("does not speak TLS" in message) is plain_hint
    assert "_ssl.c" not in message
    # a certificate or a scheme is wrong every time: no point in sending it again
    assert caught.value.retryable is not (trusted_hint or plain_hint)


def test_connection_refused_names_the_host_and_the_reason_only() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = Transport(Webhook(f"http://127.0.0.1:{port}/rest/7/{CODE}/"), pool_size=1)
    with pytest.raises(ConnectError) as caught:
        t.send("crm.deal.get", {})
    assert str(caught.value) == (f"crm.deal.get: could not connect to 127.0.0.1:{port}: "
                                 f"Connection refused")


@responses.activate
def test_plain_http_to_an_https_port_says_use_https() -> None:
    page = ("<html><head><title>400 The plain HTTP request was sent to HTTPS port</title>"
            "</head><body>400 Bad Request The plain HTTP request was sent to HTTPS port"
            "</body></html>")
    responses.post(HOOK + "x.add", body=page, status=400, content_type="text/html")
    with pytest.raises(BadResponse) as caught:
        transport().send("x.add", {})
    assert str(caught.value) == "x.add: the portal only speaks https://: use https:// in the " \
                                "address (HTTP 400)"
    assert caught.value.retryable is False and caught.value.executed_maybe is False


@responses.activate
def test_an_error_without_a_code_shows_the_status_not_no_code() -> None:
    responses.post(HOOK + "crm.deal.get", status=400,
                   json={"error": "", "error_description": "Not found"})
    with pytest.raises(ApiError) as caught:
        transport().send("crm.deal.get", {"id": 5})
    error = caught.value
    assert type(error) is ApiError and (error.code, error.status) == ("", 400)
    assert str(error) == "crm.deal.get: Not found (HTTP 400)"


@responses.activate
def test_extra_keys_of_an_error_reply_are_redacted() -> None:
    responses.post(HOOK + "x.get", status=400, json={
        "error": "ERROR_ARGUMENT", "error_description": "bad", "argument": f"/rest/7/{CODE}/"})
    with pytest.raises(ApiError) as caught:
        transport().send("x.get", {})
    error = caught.value
    assert type(error) is ApiError and (error.code, error.status) == ("ERROR_ARGUMENT", 400)
    assert error.extra == {"argument": "/rest/7/***/"}
    assert CODE not in str(error) and CODE not in repr(vars(error))
