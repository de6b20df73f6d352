"""How clients reach a portal: an HTTP server on a port, or nothing but in-memory transports.

A door names the portal's host (``netloc``, which its URLs and the OAuth ``domain`` carry),
opens when the portal starts and closes with it. :class:`HttpDoor` serves the router over
HTTP in a daemon thread; :class:`MemoryDoor` opens no socket and names a host that cannot
resolve (``sandbox-<hex>.invalid``, RFC 6761), unique per portal because clients key what
they know of a portal's rate limit by its host.
"""
from __future__ import annotations

import secrets
import threading
from typing import Optional, Protocol, Tuple

from ...clock import Clock
from .routing import Router
from .server import SandboxHTTPServer
from .stats import Stats

__all__ = ["Door", "HttpDoor", "MemoryDoor"]


class Door(Protocol):
    @property
    def netloc(self) -> str:
        """``host[:port]`` of the portal's URLs."""

    @property
    def port(self) -> int:
        """The listening port; RuntimeError where there is none."""

    def open(self) -> None:
        """Let clients in."""

    def close(self) -> None:
        """Let no one in again; cut what is open."""


class HttpDoor:
    """An HTTP server on ``address`` (port 0: any free one), bound at once, served in a
    daemon thread from :meth:`open`."""

    def __init__(self, address: Tuple[str, int], router: Router, stats: Stats,
                 clock: Clock) -> None:
        self._server = SandboxHTTPServer(address, router, stats, clock=clock)
        self._thread: Optional[threading.Thread] = None

    @property
    def netloc(self) -> str:
        return self._server.netloc

    @property
    def port(self) -> int:
        return self._server.port

    def open(self) -> None:
        # a short poll interval makes close() quick; serving itself is not affected
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"bitrix-sandbox-{self.port}", daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class MemoryDoor:
    """No socket: only transports from :meth:`Sandbox.transport` reach the portal."""

    def __init__(self) -> None:
        self._host = f"sandbox-{secrets.token_hex(6)}.invalid"

    @property
    def netloc(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        raise RuntimeError("an in-memory sandbox (http=False) has no port")

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass
