"""From one HTTP request (verb, target, headers, body) to the portal's reply, with no HTTP.

Routes (bitrix-rest-semantics.md §1):

- ``/rest/<uid>/<code>/<method>[.json|.xml][/]``: incoming webhook;
- ``/rest/<method>[.json|.xml][/]``: OAuth; the token comes from ``Authorization: Bearer``,
  else the ``auth`` parameter, else ``access_token``; both parameters are removed before
  the method sees its parameters;
- ``/rest/api/<uid>/<code>/<method>`` and ``/rest/api/<method>``: the same two, for REST 3.0
  (:mod:`.v3`); the ``Idempotency-Key`` header goes with the request;
- ``/oauth/token/``: the token endpoint (GET or POST);
- ``/sandbox/stats`` (GET, ``?timeline=1`` adds arrival times), ``/sandbox/stats/reset``
  (POST): control endpoints for tests; they do not touch the rate limit.

Parameters are the query string (PHP ``parse_str``) with the POST body's parameters
(:func:`.wire.parse_body`) replacing same-named keys, then converted with
:func:`.phpquery.to_python`. A reply goes out as JSON, or as XML for ``.xml`` routes.

:meth:`Router.route` returns a :class:`Response`: the status, content type and body bytes the
wire carries, the headers besides ``Content-Type`` / ``Content-Length``, and the fault the
carrier (the HTTP server, or :class:`~bitrix_fast.testing.memory.MemoryTransport`) must
carry out, because only it has a connection to drop or hold:

- ``drop``: the request ran; close the connection without a byte;
- ``hang``: the request did not run; never answer;
- ``slow``: the request ran; hold the answer back ``delay`` seconds;
- ``redirect``: already turned into the ``301`` with ``Location: https://<Host><target>``
  (the target as requested, so it holds the webhook code, as a real portal's redirect does).

Nothing a client sends can make :meth:`Router.route` raise: anything unexpected becomes a
500 ``INTERNAL_SERVER_ERROR`` envelope and is counted in the stats.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import unquote, urlsplit

from .auth import Credentials
from .dispatch import Dispatcher, Reply, RestRequest
from .faults import MOVED_HTML
from .phpquery import parse_str, to_python
from .stats import Stats
from .wire import encode, parse_body

__all__ = ["Router", "Response", "rest_route", "v3_path", "MAX_BODY", "CORS_HEADERS"]

logger = logging.getLogger("bitrix_fast.testing.sandbox")

#: bodies larger than this get 413, like nginx's client_max_body_size
MAX_BODY = 64 * 1024 * 1024
Headers = Tuple[Tuple[str, str], ...]
CORS_HEADERS: Headers = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Headers", "origin, content-type, accept"),
    ("X-Content-Type-Options", "nosniff"),
)


@dataclass(frozen=True)
class Response:
    """What the portal answers, ready for the wire (see the module docstring for ``fault``).

    ``took`` is the modelled server time the request already slept; ``delay`` is what a
    ``slow`` fault adds before the answer leaves."""

    status: int
    content_type: str
    body: bytes
    headers: Headers = CORS_HEADERS
    fault: Optional[str] = None
    delay: float = 0.0
    took: float = 0.0


def rest_route(path: str) -> Tuple[str, Optional[Tuple[str, str]], str]:
    """'/rest/1/abc/crm.deal.list.xml/' -> ('crm.deal.list', ('1', 'abc'), 'xml')."""
    segments = [unquote(s, errors="replace") for s in path[len("/rest/"):].split("/")]
    if segments and segments[-1] == "":
        segments.pop()
    webhook = None
    if len(segments) == 3:
        webhook = (segments[0], segments[1])
    elif len(segments) != 1:
        return "", None, "json"
    name = segments[-1].strip().lower()
    for transport in ("json", "xml"):
        if name.endswith("." + transport):
            return name[: -len(transport) - 1], webhook, transport
    return name, webhook, "json"


def v3_path(path: str) -> Tuple[bool, str]:
    """'/rest/api/1/abc/tasks.task.add' -> (True, '/rest/1/abc/tasks.task.add'); any other
    path -> (False, path)."""
    head, _, rest = path[len("/rest/"):].partition("/")
    if head.lower() == "api" and rest.strip("/"):
        return True, "/rest/" + rest
    return False, path


def _origin_form(target: str) -> str:
    """The path and query of a request target, also when it came in absolute form."""
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        return parts.path + ("?" + parts.query if parts.query else "")
    return target


def _nothing() -> None:
    pass


class Router:
    """Routes requests to one portal's dispatcher, credentials and stats. Thread-safe.

    ``on_request`` runs as each ``/rest/`` request arrives (the portal catches its churn up
    there when it runs on a virtual clock); ``slow_seconds`` is the ``slow`` fault's delay.
    """

    def __init__(self, dispatcher: Dispatcher, credentials: Credentials, stats: Stats, *,
                 slow_seconds: float = 2.0, on_request: Callable[[], None] = _nothing) -> None:
        self._dispatcher = dispatcher
        self._credentials = credentials
        self._stats = stats
        self._slow_seconds = float(slow_seconds)
        self._on_request = on_request
        self._open = True

    @property
    def open(self) -> bool:
        """False once the portal has closed: carriers then refuse to connect."""
        return self._open

    def close(self) -> None:
        self._open = False

    def route(self, verb: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one request. ``headers`` have lower-case names; ``host`` is the one
        the client addressed (it goes into a redirect's ``Location``)."""
        transport = "json"
        try:
            if len(body) > MAX_BODY:
                return self.refuse(413, "body too large")
            path, _, query = _origin_form(target).partition("?")
            if verb == "OPTIONS":  # CORS preflight, on any path: the headers are the answer
                reply = Reply(200, b"", "text/plain")
            elif path.startswith("/rest/") or path == "/rest":
                v3, path = v3_path(path)
                method, webhook, transport = rest_route(path)
                reply = self._rest(verb, method, webhook, query, headers, body, v3=v3)
            else:
                reply = self._other(verb, path, query, headers, body)
        except Exception:  # noqa: BLE001 - a client must never be able to break the portal
            reply = self._internal_error()
        return self._finish(reply, transport, target, headers)

    def refuse(self, status: int, message: str) -> Response:
        """The answer to a request whose framing is broken (bad length, body too large)."""
        body, content_type = encode({"error": "INVALID_REQUEST", "error_description": message})
        return Response(status, content_type, body)

    # -- routes --------------------------------------------------------------------------------
    def _other(self, verb: str, path: str, query: str, headers: Mapping[str, str],
               body: bytes) -> Reply:
        route = path.rstrip("/")
        if route == "/oauth/token":
            self._stats.bump("oauth_requests")
            params = self._params(verb, query, headers, body)
            status, payload = self._credentials.token_endpoint(params)
            return Reply(status, payload)
        if route == "/sandbox/stats" and verb == "GET":
            wants = parse_str(query).get("timeline", "") not in ("", "0")
            return Reply(200, self._stats.snapshot(timeline=wants))
        if route == "/sandbox/stats/reset" and verb == "POST":
            self._stats.reset()
            return Reply(200, {"result": True})
        return Reply(404, {"error": "NOT_FOUND", "error_description": "Not found"})

    def _rest(self, verb: str, method: str, webhook: Optional[Tuple[str, str]], query: str,
              headers: Mapping[str, str], body: bytes, *, v3: bool = False) -> Reply:
        self._on_request()
        params = self._params(verb, query, headers, body)
        token = None
        if webhook is None:
            for name in ("access_token", "auth"):  # `auth` wins over `access_token` ...
                if name in params:
                    value = params.pop(name)
                    token = value if isinstance(value, str) else json.dumps(value)
            scheme, _, value = headers.get("authorization", "").strip().partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                token = value.strip()  # ... and the header wins over both (oauth/auth.php)
        return self._dispatcher.handle(RestRequest(
            method, params, webhook, token, v3=v3,
            idempotency_key=headers.get("idempotency-key") if v3 else None))

    @staticmethod
    def _params(verb: str, query: str, headers: Mapping[str, str], body: bytes) -> Dict[str, Any]:
        params = parse_str(query) if query else {}
        extra = parse_body(verb, headers.get("content-type", ""), body)
        params.update(extra)  # body keys replace query keys (array_replace)
        return {key: to_python(value) for key, value in params.items()}

    # -- the reply on the wire -----------------------------------------------------------------
    def _finish(self, reply: Reply, transport: str, target: str,
                headers: Mapping[str, str]) -> Response:
        if reply.fault == "drop":
            self._stats.bump("dropped")
            return Response(0, "", b"", (), fault="drop", took=reply.took)
        if reply.fault == "hang":
            return Response(0, "", b"", (), fault="hang")
        if reply.fault == "redirect":
            location = f"https://{headers.get('host', '')}{_origin_form(target)}"
            return Response(301, "text/html", MOVED_HTML, CORS_HEADERS + (("Location", location),),
                            fault="redirect")
        try:
            if isinstance(reply.body, bytes):
                body, content_type = reply.body, reply.content_type
            else:
                body, content_type = encode(reply.body, transport)
        except Exception:  # noqa: BLE001 - e.g. a value JSON cannot carry
            body, content_type = encode(self._internal_error().body, transport)
            return Response(500, content_type, body, took=reply.took)
        extra = CORS_HEADERS + reply.headers
        if reply.fault == "slow":
            return Response(reply.status, content_type, body, extra, fault="slow",
                            delay=self._slow_seconds, took=reply.took)
        return Response(reply.status, content_type, body, extra, took=reply.took)

    def _internal_error(self) -> Reply:
        logger.exception("sandbox: unexpected error")
        self._stats.internal_error()
        self._stats.error("INTERNAL_SERVER_ERROR")
        return Reply(500, {"error": "INTERNAL_SERVER_ERROR",
                           "error_description": "Internal server error"})
