"""The HTTP layer: routes, connections, and sending replies.

Routes (bitrix-rest-semantics.md §1):

- ``/rest/<uid>/<code>/<method>[.json|.xml][/]``: incoming webhook;
- ``/rest/<method>[.json|.xml][/]``: OAuth; the token comes from ``Authorization: Bearer``,
  else the ``auth`` parameter, else ``access_token``; both parameters are removed before
  the method sees its parameters;
- ``/oauth/token/``: the token endpoint (GET or POST);
- ``/sandbox/stats`` (GET, ``?timeline=1`` adds arrival times), ``/sandbox/stats/reset``
  (POST): control endpoints for tests; they do not touch the rate limit.

Parameters are the query string (PHP ``parse_str``) with the POST body's parameters
(:func:`.wire.parse_body`) replacing same-named keys, then converted with
:func:`.phpquery.to_python`. A reply goes out as JSON, or as XML for ``.xml`` routes.

Two injected faults are carried out here, where the connection is: ``redirect`` answers
``301`` with ``Location: https://<Host><path>`` (the path as requested, so it holds the
webhook code, as a real portal's redirect does), and ``hang`` never answers: the thread
holds the connection, reading and discarding, until the client closes it or the server is
shut down (:meth:`SandboxHTTPServer.close_connections` wakes it at once).

The server speaks HTTP/1.1 with keep-alive and ``Content-Length`` and writes each reply
in one piece with TCP_NODELAY, because clients reuse connections and a 40 ms delayed-ACK
stall per request would dwarf everything the sandbox measures. Nothing a client sends can
kill a worker thread: anything unexpected becomes a 500 ``INTERNAL_SERVER_ERROR`` envelope
and is counted in the stats.
"""
from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Tuple
from urllib.parse import unquote, urlsplit

from .dispatch import Reply, RestRequest
from .faults import MOVED_HTML
from .phpquery import parse_str, to_python
from .wire import encode, parse_body

__all__ = ["SandboxHTTPServer", "Handler", "MAX_BODY"]

logger = logging.getLogger("bitrix_fast.testing.sandbox")

#: bodies larger than this get 413, like nginx's client_max_body_size
MAX_BODY = 64 * 1024 * 1024
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Headers", "origin, content-type, accept"),
    ("X-Content-Type-Options", "nosniff"),
)


class BadRequest(Exception):
    """The HTTP framing itself is broken; answer and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _rest_route(path: str) -> Tuple[str, Optional[Tuple[str, str]], str]:
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


class Handler(BaseHTTPRequestHandler):
    """One connection; serves requests until the client closes or idles out."""

    protocol_version = "HTTP/1.1"
    server_version = "bitrix-fast-sandbox"
    sys_version = ""
    timeout = 65  # idle keep-alive connections are closed, as nginx does
    wbufsize = 1 << 16  # buffered: headers and body leave in one write
    transport = "json"  # of the request being served: "json" or "xml"
    _extra_headers: Tuple[Tuple[str, str], ...] = ()
    server: "SandboxHTTPServer"

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - not a TCP socket
            pass
        self.server.track(self.connection, True)
        self.server.stats.bump("connections")

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # Request lines carry webhook codes and tokens: never log them, not even at DEBUG.
        pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = lambda self: self._serve()  # noqa: E731

    # -- plumbing --------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise BadRequest(400, "bad Content-Length") from None
        if length < 0:
            raise BadRequest(400, "bad Content-Length")
        if length > MAX_BODY:
            raise BadRequest(413, "body too large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest(400, "bad chunk") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise BadRequest(413, "body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, reply: Reply) -> None:
        if reply.fault == "drop":
            # executed, but the client never hears back: close without a byte
            self.close_connection = True
            self.server.stats.bump("dropped")
            return
        if reply.fault == "hang":
            self.close_connection = True
            self._hold()
            return
        if reply.fault == "redirect":
            host = self.headers.get("Host") or "%s:%s" % self.server.server_address[:2]
            parts = urlsplit(self.path)
            target = parts.path + ("?" + parts.query if parts.query else "")
            reply = Reply(301, MOVED_HTML, "text/html")
            self._extra_headers = (("Location", f"https://{host}{target}"),)
        try:
            if isinstance(reply.body, bytes):
                body, content_type = reply.body, reply.content_type
            else:
                body, content_type = encode(reply.body, self.transport)
        except Exception:  # noqa: BLE001 - e.g. a value JSON cannot carry
            reply = self._internal_error()
            body, content_type = encode(reply.body, self.transport)
        if reply.fault == "slow":
            time.sleep(self.server.slow_seconds)
        self.send_response_only(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in CORS_HEADERS + self._extra_headers:
            self.send_header(name, value)
        self._extra_headers = ()
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _hold(self) -> None:
        """Say nothing until the client hangs up or the server stops (``hang``)."""
        connection = self.connection
        while not self.server.closing.is_set():
            try:
                readable, _, _ = select.select([connection], [], [], 0.1)
                if readable and not connection.recv(65536):
                    return  # the client gave up and closed the connection
            except (OSError, ValueError):  # closed under us: shutdown, or the client reset
                return

    def _serve(self) -> None:
        self.transport = "json"
        try:
            body = self._read_body()
        except BadRequest as error:
            self.close_connection = True
            self._send(Reply(error.status, {"error": "INVALID_REQUEST", "error_description": str(error)}))
            return
        try:
            reply = self._route(body)
        except Exception:  # noqa: BLE001 - a client must never be able to kill the thread
            reply = self._internal_error()
        self._send(reply)

    def _internal_error(self) -> Reply:
        logger.exception("sandbox: unexpected error")
        self.server.stats.internal_error()
        self.server.stats.error("INTERNAL_SERVER_ERROR")
        return Reply(500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"})

    def _route(self, body: bytes) -> Reply:
        target = self.path
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            target = parts.path + ("?" + parts.query if parts.query else "")
        path, _, query = target.partition("?")
        if self.command == "OPTIONS":  # CORS preflight: the headers are the answer
            return Reply(200, b"", "text/plain")
        if path.startswith("/rest/") or path == "/rest":
            return self._rest(path, query, body)
        if path.rstrip("/") == "/oauth/token":
            self.server.stats.bump("oauth_requests")
            params = self._params(query, body)
            status, payload = self.server.credentials.token_endpoint(params)
            return Reply(status, payload)
        if path.rstrip("/") == "/sandbox/stats" and self.command == "GET":
            wants = parse_str(query).get("timeline", "") not in ("", "0")
            return Reply(200, self.server.stats.snapshot(timeline=wants))
        if path.rstrip("/") == "/sandbox/stats/reset" and self.command == "POST":
            self.server.stats.reset()
            return Reply(200, {"result": True})
        return Reply(404, {"error": "NOT_FOUND", "error_description": "Not found"})

    def _params(self, query: str, body: bytes) -> Dict[str, Any]:
        params = parse_str(query) if query else {}
        extra = parse_body(self.command, self.headers.get("Content-Type", ""), body)
        params.update(extra)  # body keys replace query keys (array_replace)
        return {key: to_python(value) for key, value in params.items()}

    def _rest(self, path: str, query: str, body: bytes) -> Reply:
        method, webhook, self.transport = _rest_route(path)
        params = self._params(query, body)
        token = None
        if webhook is None:
            for name in ("access_token", "auth"):  # `auth` wins over `access_token` ...
                if name in params:
                    value = params.pop(name)
                    token = value if isinstance(value, str) else json.dumps(value)
            scheme, _, value = self.headers.get("Authorization", "").strip().partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                token = value.strip()  # ... and the header wins over both (oauth/auth.php)
        return self.server.dispatcher.handle(RestRequest(method, params, webhook, token))


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading server that knows its portal and can cut every open connection."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], dispatcher: Any, credentials: Any, stats: Any,
                 slow_seconds: float = 2.0) -> None:
        self.dispatcher = dispatcher
        self.credentials = credentials
        self.stats = stats
        self.slow_seconds = slow_seconds
        self._connections: set = set()
        self._connections_lock = threading.Lock()
        #: set when the server stops: connections held by ``hang`` are let go
        self.closing = threading.Event()
        super().__init__(address, Handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Shut every keep-alive connection so no thread serves a closed portal."""
        self.closing.set()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # broken pipes and resets from clients that went away are routine here
        logger.debug("sandbox: connection error from %s", client_address, exc_info=True)
