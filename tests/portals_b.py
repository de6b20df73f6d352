"""Test aids for sandbox portals: reaching one in memory from code that builds its own
client, and catching a run at a point the test chooses instead of one a timer hopes for.

* :func:`serve_clients_from` -- ``bitrix_fast.testing.connect(portal)`` serves tests that make
  the client themselves; the command line (``bitrix_fast.cli.main``) builds its client from
  its flags through ``Bitrix.from_config``, and this makes every client built that way talk to
  one in-memory portal on the portal's clock. The CLI's own code -- flags, files, journals,
  exit codes, messages -- runs unchanged, with no socket and no real sleep. The webhook it is
  given must be the portal's (or a wrong code on the portal's host, to be refused).
* stores, wrapping a seeded sandbox store (``Sandbox(store=...)``): :class:`Holding` holds a
  method after N commands (a process caught mid-run, with requests on the wire);
  :class:`Trigger` runs an action before command N (the webhook deleted mid-run);
* transports, wrapping ``portal.transport()``: :class:`Interrupting` sends SIGINT to the main
  thread after N answers (a real Ctrl+C); :class:`Gate` holds requests until the test opens it.
"""
from __future__ import annotations

import signal
import threading
from typing import Any, Callable, Dict, Optional

import pytest

from bitrix_fast.client import Bitrix
from bitrix_fast.clock import Clock
from bitrix_fast.config import ClientConfig
from bitrix_fast.net.transport import HttpRequest, HttpResponse, Transport
from bitrix_fast.testing.sandbox.portal import Sandbox

__all__ = ["serve_clients_from", "Interrupting", "Holding", "Trigger", "Gate"]


def serve_clients_from(monkeypatch: pytest.MonkeyPatch, portal: Sandbox) -> None:
    """Until the test ends, every ``Bitrix.from_config`` client reaches ``portal`` in
    memory, on ``portal.clock``, unless it was given a transport and a clock of its own."""
    build = Bitrix.from_config.__func__  # type: ignore[attr-defined]

    def from_config(cls: type, config: ClientConfig, *, transport: Optional[Transport] = None,
                    clock: Optional[Clock] = None) -> Bitrix:
        client: Bitrix = build(cls, config, transport=transport or portal.transport(),
                               clock=clock or portal.clock)
        return client

    monkeypatch.setattr(Bitrix, "from_config", classmethod(from_config))


class Interrupting:
    """A transport that passes requests to ``inner`` and, once ``after`` of them have been
    answered, sends SIGINT to the main thread -- a real Ctrl+C, at a point chosen by the
    test instead of by a timer: Python raises KeyboardInterrupt in the main thread wherever
    it is, as it does for a user's keypress."""

    def __init__(self, inner: Transport, after: int) -> None:
        self._inner = inner
        self._after = after
        self._answered = 0
        self._lock = threading.Lock()
        self.sent_after_signal = 0

    def exchange(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            if self._answered >= self._after:
                self.sent_after_signal += 1
        response = self._inner.exchange(request)
        with self._lock:
            self._answered += 1
            fire = self._answered == self._after
        if fire:
            main = threading.main_thread().ident
            assert main is not None
            signal.pthread_kill(main, signal.SIGINT)
        return response

    def close(self) -> None:
        self._inner.close()

    def __repr__(self) -> str:
        return f"<Interrupting after {self._after} of {self._inner!r}>"



class Holding:
    """A sandbox store that serves ``method`` for its first ``serve`` commands, then holds
    every later command of it until :meth:`release`: a portal caught mid-run at a point the
    test chose, not at one a timer hoped for. Wraps a seeded store (``knows``, ``call``).
    ``held`` is set once a command waits; :meth:`wait_idle` waits until no command of
    ``method`` is running (the held ones, once released, have finished)."""

    def __init__(self, store: Any, method: str, serve: int, timeout: float = 30.0) -> None:
        self.store = store
        self._method = method.lower()
        self._serve = serve
        self._timeout = timeout
        self._served = 0
        self._running = 0
        self._lock = threading.Condition()
        self._released = threading.Event()
        self.held = threading.Event()

    def knows(self, method: str) -> bool:
        return bool(self.store.knows(method))

    def call(self, method: str, params: Dict[str, Any], ctx: Any) -> Any:
        if method != self._method:
            return self.store.call(method, params, ctx)
        with self._lock:
            hold = self._served >= self._serve
            self._served += 1
            self._running += 1
        try:
            if hold:
                self.held.set()
                self._released.wait(self._timeout)
            return self.store.call(method, params, ctx)
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()

    def release(self) -> None:
        """Serve everything from now on, the held commands first."""
        with self._lock:
            self._serve = 1 << 62
        self._released.set()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self._running == 0, timeout)


class Trigger:
    """A sandbox store that runs ``action`` once, right before the command of ``method``
    numbered ``after`` (from 0) -- e.g. deleting the webhook on the portal mid-run."""

    def __init__(self, store: Any, method: str, after: int, action: Callable[[], None]) -> None:
        self.store = store
        self._method = method.lower()
        self._left = after
        self._action: Optional[Callable[[], None]] = action
        self._lock = threading.Lock()

    def knows(self, method: str) -> bool:
        return bool(self.store.knows(method))

    def call(self, method: str, params: Dict[str, Any], ctx: Any) -> Any:
        if method == self._method:
            with self._lock:
                action = self._action if self._left == 0 else None
                self._left -= 1
                if action is not None:
                    self._action = None
                    action()
        return self.store.call(method, params, ctx)


class Gate:
    """A transport that passes its first ``passing`` requests to ``inner`` and holds every
    later one, unsent, until :meth:`open`; ``held`` counts those waiting, ``answered`` those
    that came back."""

    def __init__(self, inner: Transport, passing: int, timeout: float = 30.0) -> None:
        self._inner = inner
        self._passing = passing
        self._timeout = timeout
        self._lock = threading.Condition()
        self._open = threading.Event()
        self._arrived = 0
        self.held = 0
        self.answered = 0

    def exchange(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            self._arrived += 1
            hold = self._arrived > self._passing
            if hold:
                self.held += 1
                self._lock.notify_all()
        if hold:
            self._open.wait(self._timeout)
        response = self._inner.exchange(request)
        with self._lock:
            self.answered += 1
            self._lock.notify_all()
        return response

    def wait_until(self, *, held: int = 0, answered: int = 0, timeout: float = 10.0) -> bool:
        """Wait (real time) until at least ``held`` requests wait and ``answered`` came back."""
        with self._lock:
            return self._lock.wait_for(lambda: self.held >= held and self.answered >= answered,
                                       timeout)

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.set()
        self._inner.close()
