"""The HTTP transport: carry one request to the portal and bring back its response.

:class:`Transport` is the whole contract (``exchange`` one :class:`HttpRequest` for one
:class:`HttpResponse`); the engine never sees anything else of HTTP. :class:`RequestsTransport`
is the real one, on one ``requests.Session``; :mod:`bitrix_fast.testing.memory` has one that
answers from a sandbox portal in this process, byte for byte as the HTTP server would.

This is the only module that names ``requests`` / ``urllib3`` exceptions. The session's
connection pool is at least as large as the worker pool (a smaller pool makes urllib3 discard
connections under load), with urllib3's own retries off: retrying is a policy decision
taken above, where we know whether a request is safe to resend. Redirects are never
followed: the sender turns a 3xx into :class:`~bitrix_fast.errors.Redirected`.

Every error leaves here redacted and alone: the HTTP library's exceptions put the request URL
(so the webhook code) into their messages and their ``__context__`` chains, so our error is
built from their redacted text and raised outside the ``except`` block, with no chain.
"""
from __future__ import annotations

import http.client
import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Optional, Protocol, Tuple, Type, Union
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from ..errors import ConnectError, ConnectionDropped, ResponseTimeout, TransportError

#: Connect fast, but let a heavy batch run: the cloud itself kills a request after 60 s.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 75.0)
USER_AGENT = "bitrix_fast"

Hide = Callable[[str], str]

#: What the HTTP stack may raise from a send; anything else is a bug and surfaces as itself.
_FOREIGN: Tuple[Type[BaseException], ...] = (
    requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
    http.client.HTTPException, OSError)

#: OpenSSL's words for "the other side does not speak TLS": an https:// address on a plain
#: http port (and the reverse, seen from a TLS server, ends as a reset or a 400 page).
_NOT_TLS = ("wrong_version_number", "wrong version number", "unknown_protocol",
            "unknown protocol", "record layer failure", "packet length too long",
            "http_request", "record_layer_failure")
_UNTRUSTED = ("certificate_verify_failed", "certificate verify failed",
              "hostname mismatch", "doesn't match", "self signed", "self-signed")

_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")
SSL_HINT = ("for a self-hosted portal with its own CA pass ssl='/path/to/ca.pem', "
            "or ssl=False to skip the check")


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request: ``verb`` (``POST`` for REST calls, ``GET`` for the OAuth server),
    the full ``url``, ``headers``, the ``body`` bytes, and ``timeout`` as (connect, read)
    seconds. ``method`` names the REST method it calls, for error messages only."""

    verb: str
    url: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: Tuple[float, float] = DEFAULT_TIMEOUT
    method: str = ""


@dataclass(frozen=True)
class HttpResponse:
    """What came back: the status, the headers (names in lower case) and the body bytes."""

    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """Carries one request to the portal and brings back its response."""

    def exchange(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; return whatever the server answered (any status, never a
        followed redirect). Raise a :class:`~bitrix_fast.errors.TransportError` subclass
        when no response came: :class:`~bitrix_fast.errors.ConnectError` (it never left),
        :class:`~bitrix_fast.errors.ResponseTimeout` or
        :class:`~bitrix_fast.errors.ConnectionDropped` (it may have run)."""

    def close(self) -> None:
        """Release connections (only those the transport opened itself)."""


class RequestsTransport:
    """The real transport: one ``requests.Session``, its pool sized to the workers.

    ``session`` is the caller's own (``Bitrix(client=...)``): an adapter is mounted for
    ``origin`` only, so its other adapters are left alone, and it is not closed here.
    ``hide`` redacts secrets (the webhook code, tokens) from every error's text.
    """

    def __init__(self, origin: str, *, session: Optional[requests.Session] = None,
                 pool_size: int = 10, verify: Union[bool, str] = True,
                 hide: Hide = str) -> None:
        self._own_session = session is None
        self._session = session if session is not None else requests.Session()
        self._verify = verify
        self._hide = hide
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size),
                              max_retries=0, pool_block=False)
        parts = urlsplit(origin)
        self._session.mount(f"{parts.scheme}://{parts.netloc}/", adapter)

    def exchange(self, request: HttpRequest) -> HttpResponse:
        failure: Optional[TransportError] = None
        try:
            response = self._session.request(
                request.verb, request.url, data=request.body or None,
                headers={"User-Agent": USER_AGENT, **request.headers},
                timeout=request.timeout, verify=self._verify, allow_redirects=False)
            content = response.content
        except _FOREIGN as error:
            # Built here, raised below: raised in this block, the new error would keep
            # ``error`` -- and the URL in it -- as its __context__.
            failure = translate(request.method, error, self._hide, request.timeout[1],
                                url=request.url)
        if failure is not None:
            raise failure
        return HttpResponse(response.status_code, content,
                            {name.lower(): value for name, value in response.headers.items()})

    def close(self) -> None:
        if self._own_session:
            self._session.close()


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
