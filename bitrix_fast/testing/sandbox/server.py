"""The HTTP layer: connections, framing, and carrying out faults; routing is :mod:`.routing`.

The server speaks HTTP/1.1 with keep-alive and ``Content-Length`` and writes each reply
in one piece with TCP_NODELAY, because clients reuse connections and a 40 ms delayed-ACK
stall per request would dwarf everything the sandbox measures. A request's body is read
here (``Content-Length`` or chunked; over :data:`~.routing.MAX_BODY` gets 413), then the
:class:`~.routing.Router` answers it, and this layer carries out the fault the answer
names: ``drop`` closes the connection without a byte; ``hang`` never answers: the thread
holds the connection, reading and discarding, until the client closes it or the server is
shut down (:meth:`SandboxHTTPServer.close_connections` wakes it at once); ``slow`` waits on
the portal's clock before sending.
"""
from __future__ import annotations

import logging
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Set, Tuple

from ...clock import SYSTEM_CLOCK, Clock
from .routing import MAX_BODY, Response, Router
from .stats import Stats

__all__ = ["SandboxHTTPServer", "Handler", "MAX_BODY"]

logger = logging.getLogger("bitrix_fast.testing.sandbox")


class BadRequest(Exception):
    """The HTTP framing itself is broken; answer and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    """One connection; serves requests until the client closes or idles out."""

    protocol_version = "HTTP/1.1"
    server_version = "bitrix-fast-sandbox"
    sys_version = ""
    timeout = 65  # idle keep-alive connections are closed, as nginx does
    wbufsize = 1 << 16  # buffered: headers and body leave in one write
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

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

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
        parts: List[bytes] = []
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

    def _headers(self) -> Dict[str, str]:
        """Request headers by lower-case name (the first of repeated ones, as ``get`` reads
        them), with ``host`` always present."""
        found: Dict[str, str] = {}
        for name, value in self.headers.items():
            found.setdefault(name.lower(), value)
        found.setdefault("host", self.server.netloc)
        return found

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except BadRequest as error:
            self.close_connection = True
            self._send(self.server.router.refuse(error.status, str(error)))
            return
        self._send(self.server.router.route(self.command, self.path, self._headers(), body))

    def _send(self, response: Response) -> None:
        if response.fault == "drop":
            # executed, but the client never hears back: close without a byte
            self.close_connection = True
            return
        if response.fault == "hang":
            self.close_connection = True
            self._hold()
            return
        if response.delay > 0:
            self.server.clock.sleep(response.delay)
        self.send_response_only(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

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


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading server that knows its portal and can cut every open connection.

    ``clock`` is the portal's: a ``slow`` reply waits on it."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], router: Router, stats: Stats, *,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.router = router
        self.stats = stats
        self.clock = clock
        self._host = address[0]
        self._connections: Set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        #: set when the server stops: connections held by ``hang`` are let go
        self.closing = threading.Event()
        super().__init__(address, Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def netloc(self) -> str:
        """``host:port`` as clients address the server."""
        return f"{self._host}:{self.port}"

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

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
