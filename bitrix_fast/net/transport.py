"""Send one request to the portal and turn whatever comes back into a reply or one of our errors.

This is the only module that names ``requests`` / ``urllib3`` exceptions. It owns one
``requests.Session`` whose connection pool is at least as large as the worker pool (a smaller
pool makes urllib3 discard connections under load), with urllib3's own retries off: retrying
is a policy decision taken above, where we know whether a request is safe to resend.

Every error leaves here redacted and alone: the HTTP library's exceptions put the request URL
(so the webhook code) into their messages and their ``__context__`` chains, so our error is
built from their redacted text and raised outside the ``except`` block, with no chain.
Redirects are not followed: a 3xx raises :class:`~bitrix_fast.errors.Redirected` naming the
address the portal points to.
"""
from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from ..protocol import encoding
from ..protocol.redaction import hide_strings, redact
from ..errors import (BadResponse, ConnectError, ConnectionDropped, Redirected, ResponseTimeout, TransportError,
    api_error)

logger = logging.getLogger("bitrix_fast.net.transport")

#: Connect fast, but let a heavy batch run: the cloud itself kills a request after 60 s.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 75.0)
SNIPPET_CHARS = 200
USER_AGENT = "bitrix_fast"

TimeoutSpec = Union[float, Tuple[float, float], None]
Hide = Callable[[str], str]

#: What the HTTP stack may raise from a send; anything else is a bug and surfaces as itself.
_FOREIGN = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
            http.client.HTTPException, OSError)

#: OpenSSL's words for "the other side does not speak TLS": an https:// address on a plain
#: http port (and the reverse, seen from a TLS server, ends as a reset or a 400 page).
_NOT_TLS = ("wrong_version_number", "wrong version number", "unknown_protocol",
            "unknown protocol", "record layer failure", "packet length too long",
            "http_request", "record_layer_failure")
_UNTRUSTED = ("certificate_verify_failed", "certificate verify failed",
              "hostname mismatch", "doesn't match", "self signed", "self-signed")
#: nginx's page for an http:// request on its https port.
_PLAIN_ON_TLS_PORT = b"plain HTTP request was sent to HTTPS port"

_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")
SSL_HINT = ("for a self-hosted portal with its own CA pass ssl='/path/to/ca.pem', "
            "or ssl=False to skip the check")


@dataclass(frozen=True)
class Reply:
    """A parsed Bitrix envelope and what it cost to get it."""

    body: Any
    status: int
    elapsed: float
    size: int


class Transport:
    """POSTs JSON to ``credentials.url(method)`` and parses the envelope."""

    def __init__(
        self,
        credentials: Any,
        *,
        session: Optional[requests.Session] = None,
        pool_size: int = 10,
        timeout: TimeoutSpec = DEFAULT_TIMEOUT,
        verify: Union[bool, str] = True,
    ) -> None:
        self._credentials = credentials
        self._own_session = session is None
        self._session = session if session is not None else requests.Session()
        self._timeout = _timeout(timeout)
        self._verify = verify
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size),
                              max_retries=0, pool_block=False)
        parts = urlsplit(credentials.base_url)
        # Mounted for this portal only, so a caller's own session keeps its other adapters.
        self._session.mount(f"{parts.scheme}://{parts.netloc}/", adapter)

    def send(self, method: str, params: Mapping[str, Any], *,
             read_timeout: Optional[float] = None) -> Reply:
        """One HTTP request. Returns the envelope; raises ApiError for ``{"error": ...}``
        answers and a TransportError when there is no usable answer. ``read_timeout``
        shortens the read timeout for this request (what is left of a call's deadline)."""
        timeout = self._timeout
        if read_timeout is not None:
            timeout = (min(timeout[0], max(read_timeout, 0.001)),
                       min(timeout[1], max(read_timeout, 0.001)))
        body = {**params, **self._credentials.params()}
        data = json.dumps(body, default=encoding.json_default, ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
        url = self._credentials.url(method)
        started = time.monotonic()
        failure: Optional[TransportError] = None
        try:
            response = self._session.post(
                url, data=data, timeout=timeout, verify=self._verify,
                allow_redirects=False,
                headers={"Content-Type": "application/json", "Accept": "application/json",
                         "User-Agent": USER_AGENT})
            content = response.content
        except _FOREIGN as error:
            # Built here, raised below: raised in this block, the new error would keep
            # ``error`` -- and the URL in it -- as its __context__.
            failure = translate(method, error, self._redact, timeout[1], url=url)
        if failure is not None:
            raise failure
        elapsed = time.monotonic() - started
        if 300 <= response.status_code < 400:
            raise redirected(method, url, response.status_code,
                             response.headers.get("Location", ""), self._redact)
        return Reply(parse(method, response.status_code, content, self._redact),
                     response.status_code, elapsed, len(content))

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    def _redact(self, text: str) -> str:
        # Read at every use: OAuth tokens change while the client runs.
        return redact(text, self._credentials.secrets)


def get_json(session: requests.Session, url: str, params: Mapping[str, Any], *,
             secrets: Sequence[str], timeout: TimeoutSpec = DEFAULT_TIMEOUT,
             verify: Union[bool, str] = True) -> Any:
    """A plain GET returning JSON (the OAuth token endpoint), with the same error mapping as
    REST calls; ``secrets`` are redacted from every error."""
    read_timeout = _timeout(timeout)

    def hide(text: str) -> str:
        return redact(text, secrets)

    failure: Optional[TransportError] = None
    try:
        response = session.get(url, params=dict(params), timeout=read_timeout, verify=verify,
                               allow_redirects=False)
        content = response.content
    except _FOREIGN as error:
        failure = translate("oauth/token", error, hide, read_timeout[1], url=url)
    if failure is not None:
        raise failure
    if 300 <= response.status_code < 400:
        raise redirected("oauth/token", url, response.status_code,
                         response.headers.get("Location", ""), hide)
    return parse("oauth/token", response.status_code, content, hide)


def parse(method: str, status: int, content: bytes, hide: Hide) -> Any:
    """The envelope of a reply, an ApiError for an error envelope, or BadResponse."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    else:
        if isinstance(body, dict) and "error" in body and "result" not in body:
            extra = {k: v for k, v in body.items() if k not in ("error", "error_description")}
            code = body.get("error")
            raise api_error(hide(code) if isinstance(code, str) else code,
                            hide(str(body.get("error_description", ""))),
                            status=status, method=method, extra=hide_strings(extra, hide))
        if status < 400 and body is not None:
            return body
    text = " ".join(content[: SNIPPET_CHARS * 4].decode("utf-8", "replace").split())
    if status == 400 and _PLAIN_ON_TLS_PORT in content:
        # Refused by the web server before anything ran, and refused again every time.
        refused = BadResponse("the portal only speaks https://: use https:// in the address",
                              method=method, status=status, retryable=False)
        refused.executed_maybe = False
        raise refused
    raise BadResponse("the portal did not answer with a Bitrix24 JSON envelope",
                      method=method, status=status, snippet=hide(text)[:SNIPPET_CHARS])


def redirected(method: str, url: str, status: int, location: str,
               hide: Hide) -> Redirected:
    """The error for a 3xx answer to ``url``: where the portal points, and what to use."""
    if not location:
        return Redirected("the portal answered with a redirect that names no address",
                          method=method, status=status)
    target = urljoin(url, location)
    new_base = hide(_base_of(target, method) or target)
    old, new = urlsplit(url), urlsplit(target)
    if old.scheme == "http" and new.scheme == "https" and old.hostname == new.hostname:
        advice = f"use https:// in the address: {new_base}"
    elif old.hostname != new.hostname:
        advice = f"the portal has moved: use {new_base}"
    else:
        advice = f"use {new_base}"
    return Redirected(f"the portal redirects this request to {hide(target)}; {advice}",
                      method=method, status=status, location=hide(target))


def _base_of(target: str, method: str) -> str:
    """``https://portal/rest/1/code/`` from ``https://portal/rest/1/code/crm.deal.add``;
    "" when the address does not end with the method."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/")
    for name in (method, method + ".json"):
        if path.lower().endswith("/" + name):
            return f"{parts.scheme}://{parts.netloc}{path[: -len(name)]}"
    return ""


def translate(method: str, error: BaseException, hide: Hide, read_timeout: float, *,
              url: str = "") -> TransportError:
    """Our error for an exception of the HTTP stack, built from redacted text only: requests
    puts the URL (and so the webhook code) into its messages."""
    host = hide(urlsplit(url).netloc) if url else "the portal"
    reason = hide(_SSL_SOURCE.sub("", _reason(error)))[:300]
    exc = requests.exceptions
    if isinstance(error, exc.SSLError) or _find(error, ssl.SSLError) is not None:
        lowered = reason.lower()
        if _find(error, ssl.SSLCertVerificationError) is not None or any(
                word in lowered for word in _UNTRUSTED):
            return ConnectError(f"could not connect to {host}: its TLS certificate is not "
                                f"trusted ({reason}); {SSL_HINT}", method=method,
                                retryable=False)
        if any(word in lowered for word in _NOT_TLS):
            return ConnectError(f"could not connect to {host}: the address starts with "
                                f"https://, but the server there does not speak TLS "
                                f"({reason}); check the scheme and port of the address",
                                method=method, retryable=False)
        return ConnectError(f"could not connect to {host}: TLS failed ({reason})",
                            method=method)
    if isinstance(error, (exc.InvalidURL, exc.MissingSchema, exc.InvalidSchema,
                          exc.URLRequired)):
        return ConnectError(f"invalid portal address: {reason}", method=method,
                            retryable=False)
    if isinstance(error, exc.ProxyError):
        return ConnectError(f"could not connect through the proxy: {reason}", method=method)
    if isinstance(error, exc.ConnectTimeout):
        return ConnectError(f"could not connect to {host}: no connection within the "
                            f"connect timeout ({reason})", method=method)
    if isinstance(error, exc.ReadTimeout) or isinstance(
            error, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return ResponseTimeout(f"no answer within {read_timeout:g} s (the portal may still "
                               f"have run the request)", method=method)
    if _never_sent(error):
        return ConnectError(f"could not connect to {host}: {reason}", method=method)
    if isinstance(error, (exc.ConnectionError, exc.ChunkedEncodingError,
                          exc.ContentDecodingError, urllib3.exceptions.ProtocolError,
                          http.client.HTTPException)) or (
            isinstance(error, OSError) and not isinstance(error, exc.RequestException)):
        return ConnectionDropped(f"the connection was lost before the answer arrived "
                                 f"({reason})", method=method)
    return TransportError(reason, method=method)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception behind it: causes, contexts, urllib3's ``reason`` and
    exceptions passed as arguments; each once, nearest first."""
    seen = set()
    queue = [error]
    while queue:
        current = queue.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        queue.extend(item for item in (reason, current.__cause__, current.__context__)
                     if isinstance(item, BaseException))
        queue.extend(arg for arg in getattr(current, "args", ())
                     if isinstance(arg, BaseException))


def _find(error: BaseException, kind: type) -> Optional[BaseException]:
    return next((item for item in _chain(error) if isinstance(item, kind)), None)


def _reason(error: BaseException) -> str:
    """The few words that explain ``error``: the innermost OS or TLS error's text
    (``Connection refused``, ``[SSL: ...] certificate verify failed``), else its own."""
    chain = list(_chain(error))
    for item in reversed(chain):
        if isinstance(item, ssl.SSLError):
            return str(item.args[1] if len(item.args) > 1 else item)
        if isinstance(item, OSError) and item.strerror and not isinstance(
                item, (urllib3.exceptions.HTTPError, requests.exceptions.RequestException)):
            return str(item.strerror)
    return f"{type(error).__name__}: {error}"


def _never_sent(error: BaseException) -> bool:
    """True when the chain of causes shows the connection was never established."""
    return any(isinstance(item, (ConnectionRefusedError, socket.gaierror,
                                 urllib3.exceptions.NewConnectionError))
               for item in _chain(error))


def _timeout(value: TimeoutSpec) -> Tuple[float, float]:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("timeout must be positive")
        return (float(value), float(value))
    if (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, (int, float)) and v > 0 for v in value)):
        return (float(value[0]), float(value[1]))
    raise TypeError("timeout must be seconds or a (connect, read) tuple of seconds")
