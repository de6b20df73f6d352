"""Send one request to the portal and turn whatever comes back into a reply or one of our errors.

This is the only module that names ``requests`` / ``urllib3`` exceptions. It owns one
``requests.Session`` whose connection pool is at least as large as the worker pool (a smaller
pool makes urllib3 discard connections under load), with urllib3's own retries off: retrying
is a policy decision taken above, where we know whether a request is safe to resend.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import encoding
from .secrets import redact
from .errors import (BadResponse, ConnectError, ConnectionDropped, ResponseTimeout,
                     TransportError, api_error)

logger = logging.getLogger("bitrix_fast.transport")

#: Connect fast, but let a heavy batch run: the cloud itself kills a request after 60 s.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 75.0)
SNIPPET_CHARS = 200
USER_AGENT = "bitrix_fast"

TimeoutSpec = Union[float, Tuple[float, float], None]


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

    def send(self, method: str, params: Mapping[str, Any]) -> Reply:
        """One HTTP request. Returns the envelope; raises ApiError for ``{"error": ...}``
        answers and a TransportError when there is no usable answer."""
        body = {**params, **self._credentials.params()}
        data = json.dumps(body, default=encoding.json_default, ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
        started = time.monotonic()
        try:
            response = self._session.post(
                self._credentials.url(method), data=data, timeout=self._timeout,
                verify=self._verify, allow_redirects=False,
                headers={"Content-Type": "application/json", "Accept": "application/json",
                         "User-Agent": USER_AGENT})
            content = response.content
        except requests.exceptions.RequestException as error:
            raise translate(method, error, self._redact, self._timeout[1]) from None
        elapsed = time.monotonic() - started
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

    try:
        response = session.get(url, params=dict(params), timeout=read_timeout, verify=verify,
                               allow_redirects=False)
        content = response.content
    except requests.exceptions.RequestException as error:
        raise translate("oauth/token", error, hide, read_timeout[1]) from None
    return parse("oauth/token", response.status_code, content, hide)


def parse(method: str, status: int, content: bytes, hide: Callable[[str], str]) -> Any:
    """The envelope of a reply, an ApiError for an error envelope, or BadResponse."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    else:
        if isinstance(body, dict) and "error" in body and "result" not in body:
            extra = {k: v for k, v in body.items() if k not in ("error", "error_description")}
            raise api_error(body.get("error"), hide(str(body.get("error_description", ""))),
                            status=status, method=method, extra=extra)
        if status < 400 and body is not None:
            return body
    text = " ".join(content[: SNIPPET_CHARS * 4].decode("utf-8", "replace").split())
    raise BadResponse("the portal did not answer with a Bitrix24 JSON envelope",
                      method=method, status=status, snippet=hide(text)[:SNIPPET_CHARS])


def translate(method: str, error: requests.exceptions.RequestException,
              hide: Callable[[str], str], read_timeout: float) -> TransportError:
    """Our error for a requests exception; requests puts the URL (and so the webhook code)
    into its messages, so they are redacted."""
    detail = hide(f"{type(error).__name__}: {error}")[:300]
    exc = requests.exceptions
    if isinstance(error, (exc.ConnectTimeout, exc.SSLError, exc.ProxyError,
                          exc.InvalidURL, exc.MissingSchema, exc.InvalidSchema)):
        hint = ""
        if isinstance(error, exc.SSLError):
            hint = " (for a self-hosted portal pass ssl=False or ssl='/path/to/ca.pem')"
        return ConnectError(f"could not connect{hint}: {detail}", method=method)
    if isinstance(error, exc.ReadTimeout):
        return ResponseTimeout(f"no answer within {read_timeout} s: {detail}", method=method)
    if isinstance(error, exc.ConnectionError) and _never_sent(error):
        return ConnectError(f"could not connect: {detail}", method=method)
    if isinstance(error, (exc.ConnectionError, exc.ChunkedEncodingError,
                          exc.ContentDecodingError)):
        return ConnectionDropped(f"connection lost: {detail}", method=method)
    return TransportError(detail, method=method)


def _never_sent(error: BaseException) -> bool:
    """True when the chain of causes shows the connection was never established."""
    import urllib3.exceptions as u3

    seen = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (ConnectionRefusedError, u3.NewConnectionError)):
            return True
        stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        stack.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return False


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
