"""A :class:`~bitrix_fast.net.transport.Transport` that answers from a sandbox portal in this
process: no socket, no thread, no real sleep when the portal runs on a
:class:`~bitrix_fast.testing.clock.FakeClock`.

::

    with Sandbox(deals=500, http=False, clock=FakeClock()) as portal:
        bx = Bitrix(portal.webhook, transport=portal.transport(), clock=portal.clock)

A request goes through the same :class:`~bitrix_fast.testing.sandbox.routing.Router` as one
that reached the portal's HTTP server, so the status, ``Content-Type``, body bytes and
``Location`` are the ones the server would send. What a connection would do, this does to
the caller, the way a client experiences it:

- ``drop``: the request ran, then :class:`~bitrix_fast.errors.ConnectionDropped`;
- ``hang``: nothing ran; the read timeout passes on the portal's clock, then
  :class:`~bitrix_fast.errors.ResponseTimeout`;
- ``slow``: the answer comes ``slow_seconds`` later on the portal's clock;
- a request whose modelled server time (its cost, plus a ``slow`` delay) is over the read
  timeout ran, and its caller gets :class:`~bitrix_fast.errors.ResponseTimeout` after the
  timeout, as from a socket;
- a closed portal, or an address that is not the portal's:
  :class:`~bitrix_fast.errors.ConnectError` (nothing ran).

The request is carried out on the calling thread, so the caller waits for the portal's
modelled time on the portal's clock (the caller of a portal on the real clock waits for the
whole of it even past its read timeout, then times out). Thread-safe.
"""
from __future__ import annotations

from typing import Dict
from urllib.parse import quote, urlsplit

from ..clock import Clock
from ..errors import ConnectError, ConnectionDropped, ResponseTimeout
from ..net.transport import HttpRequest, HttpResponse
from .sandbox.routing import Router

__all__ = ["MemoryTransport"]


def _host(netloc: str) -> str:
    """``host[:port]`` of a URL's netloc, without any ``user:password@`` (never shown)."""
    return netloc.rpartition("@")[2].lower()

#: what requests leaves unquoted in a URL (``requote_uri``): the path the server sees
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


class MemoryTransport:
    """Carries requests for ``origin`` (``scheme://host[:port]``) to ``router`` directly.

    Portals hand these out (:meth:`Sandbox.transport
    <bitrix_fast.testing.sandbox.portal.Sandbox.transport>`); ``clock`` is the portal's.
    """

    def __init__(self, router: Router, clock: Clock, origin: str) -> None:
        self._router = router
        self._clock = clock
        self._netloc = _host(urlsplit(origin).netloc)

    def exchange(self, request: HttpRequest) -> HttpResponse:
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConnectError("invalid portal address: not an http(s):// URL",
                               method=request.method, retryable=False)
        host = _host(parts.netloc)
        if host != self._netloc:
            raise ConnectError(f"could not connect to {host}: this in-memory transport "
                               f"serves {self._netloc} only", method=request.method,
                               retryable=False)
        if not self._router.open:
            raise ConnectError(f"could not connect to {host}: the sandbox portal is closed",
                               method=request.method)
        target = quote(parts.path or "/", safe=_URL_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_URL_SAFE)
        headers: Dict[str, str] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), value)
        headers.setdefault("host", parts.netloc.rpartition("@")[2])
        response = self._router.route(request.verb.upper(), target, headers, request.body)

        read_timeout = request.timeout[1]
        if response.fault == "hang":
            self._clock.sleep(read_timeout)
            raise self._timeout(request)
        if response.took + response.delay > read_timeout:
            # The method ran; the client stopped listening at its timeout.
            self._clock.sleep(max(0.0, read_timeout - response.took))
            raise self._timeout(request)
        if response.fault == "drop":
            raise ConnectionDropped("the connection was lost before the answer arrived (the "
                                    "portal closed it)", method=request.method)
        if response.delay > 0:
            self._clock.sleep(response.delay)
        out = {"content-type": response.content_type,
               "content-length": str(len(response.body))}
        out.update((name.lower(), value) for name, value in response.headers)
        body = b"" if request.verb.upper() == "HEAD" else response.body
        return HttpResponse(response.status, body, out)

    def close(self) -> None:
        """Nothing to release: the transport opened no connection."""

    @staticmethod
    def _timeout(request: HttpRequest) -> ResponseTimeout:
        return ResponseTimeout(f"no answer within {request.timeout[1]:g} s (the portal may "
                               f"still have run the request)", method=request.method)

    def __repr__(self) -> str:
        return f"<MemoryTransport {self._netloc}>"
