"""From a REST call to its envelope: address it, sign it, encode it, send it, read the reply.

The :class:`Sender` is what the engine talks to. It puts the method's URL and the
credentials' parameters around the caller's parameters, sends one JSON ``POST`` through the
transport, times it on the injected clock, and hands the reply to
:func:`bitrix_fast.protocol.envelope.parse` (a REST 3.0 call, ``v3=True``: to
``/rest/api/`` and :func:`bitrix_fast.protocol.v3.parse`, with the caller's headers, such as
its ``Idempotency-Key``). It never retries and never waits: that is policy,
decided above by the engine.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlencode

from ..clock import Clock
from ..protocol import encoding
from ..protocol import v3 as rest_v3
from ..protocol.envelope import parse, redirected
from ..protocol.redaction import redact
from .credentials import Credentials
from .transport import DEFAULT_TIMEOUT, HttpRequest, Transport
from .v3 import v3_url

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True)
class Reply:
    """A parsed Bitrix envelope and what it cost to get it."""

    body: Any
    status: int
    elapsed: float
    size: int
    headers: Mapping[str, str] = field(default_factory=dict)


class Sender:
    """Sends REST calls for one set of credentials through one transport (thread-safe)."""

    def __init__(self, credentials: Credentials, transport: Transport, *, clock: Clock,
                 timeout: Tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self._credentials = credentials
        self._transport = transport
        self._clock = clock
        self.timeout = timeout

    def send(self, method: str, params: Mapping[str, Any], *,
             read_timeout: Optional[float] = None,
             headers: Optional[Mapping[str, str]] = None, v3: bool = False) -> Reply:
        """One request. Returns the envelope; raises ApiError for ``{"error": ...}``
        answers and a TransportError when there is no usable answer. ``read_timeout``
        shortens both timeouts for this request (what is left of a call's deadline);
        ``v3`` calls the REST 3.0 method of that name."""
        timeout = self.timeout
        if read_timeout is not None:
            timeout = (min(timeout[0], max(read_timeout, 0.001)),
                       min(timeout[1], max(read_timeout, 0.001)))
        body = {**params, **self._credentials.params()}
        data = json.dumps(body, default=encoding.json_default, ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
        url = v3_url(self._credentials.base_url, method) if v3 else self._credentials.url(method)
        started = self._clock.now()
        response = self._transport.exchange(HttpRequest(
            "POST", url, data, {**_JSON_HEADERS, **(headers or {})}, timeout, method))
        elapsed = self._clock.now() - started
        if 300 <= response.status < 400:
            raise redirected(method, url, response.status,
                             response.headers.get("location", ""), self._hide)
        read = rest_v3.parse if v3 else parse
        return Reply(read(method, response.status, response.content, self._hide),
                     response.status, elapsed, len(response.content), response.headers)

    def close(self) -> None:
        self._transport.close()

    def _hide(self, text: str) -> str:
        # Read at every use: OAuth tokens change while the client runs.
        return redact(text, self._credentials.secrets)


def get_json(transport: Transport, url: str, params: Mapping[str, Any], *,
             secrets: Sequence[str], timeout: Tuple[float, float] = DEFAULT_TIMEOUT,
             method: str = "oauth/token") -> Any:
    """A plain GET returning JSON (the OAuth token endpoint), with the same error mapping as
    REST calls; ``secrets`` are redacted from every error."""
    def hide(text: str) -> str:
        return redact(text, secrets)

    query = urlencode({key: value for key, value in params.items()})
    target = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
    response = transport.exchange(HttpRequest("GET", target, b"",
                                              {"Accept": "application/json"}, timeout, method))
    if 300 <= response.status < 400:
        raise redirected(method, url, response.status, response.headers.get("location", ""),
                         hide)
    return parse(method, response.status, response.content, hide)
