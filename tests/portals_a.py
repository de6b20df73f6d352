"""In-memory sandbox portals for the client tests, and a transport that holds requests.

``memory_portal(**options)`` is ``Sandbox(**options)`` in memory on a FakeClock of its own:
no socket, no real sleep. Seeding is the slow part of a big portal (300,000 deals take
seconds), so the seeded data is made once per test session for each set of counts and every
portal gets a fresh copy of it (SQLite's backup: milliseconds): a test may write freely.

``Gate`` wraps a transport and holds requests at the client's side of the wire, in real
time, until the test lets them go: a test can stop a call at a point it chooses (the first
reply answered, N requests on the wire) instead of hoping to catch it there. ``Crowd``
holds the first requests until a number of them wait together: requests the client puts in
flight at once then reach the portal at once, whatever order the threads happen to run in.

Each seeded original stays in memory until the session ends.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Tuple

from bitrix_fast.clock import SYSTEM_CLOCK, Clock
from bitrix_fast.net.transport import HttpRequest, HttpResponse, Transport
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox import Sandbox
from bitrix_fast.testing.sandbox.store import Store

__all__ = ["Crowd", "Gate", "http_portal", "memory_portal", "seeded_store"]

#: Sandbox keywords that decide what is seeded (``seed`` also seeds the fault plan)
SEEDING = ("deals", "leads", "contacts", "companies", "tasks", "users", "productrows",
           "elapseditems", "commentitems", "id_gaps", "seed")

_SEEDED: Dict[Tuple[Tuple[str, Any], ...], Store] = {}
_SEEDED_LOCK = threading.Lock()


def seeded_store(clock: Clock, **counts: Any) -> Store:
    """A new store holding what ``Store.seed(**counts)`` makes, stamped on ``clock`` from
    now on. The caller closes it."""
    key = tuple(sorted(counts.items()))
    with _SEEDED_LOCK:
        master = _SEEDED.get(key)
        if master is None:
            master = Store()
            master.seed(**counts)
            _SEEDED[key] = master
    copy = Store(clock=clock)
    with master.locked() as source, copy.locked() as target:
        source.backup(target)
    return copy


@contextmanager
def memory_portal(**options: Any) -> Iterator[Sandbox]:
    """A started in-memory ``Sandbox(**options)`` on its own FakeClock (or ``clock=``),
    serving a fresh copy of the session's seeded data; closed on the way out."""
    with _portal(False, options.pop("clock", None) or FakeClock(), options) as portal:
        yield portal


@contextmanager
def http_portal(**options: Any) -> Iterator[Sandbox]:
    """The same over HTTP on 127.0.0.1 and the real clock, for what is about HTTP or
    processes."""
    with _portal(True, SYSTEM_CLOCK, options) as portal:
        yield portal


@contextmanager
def _portal(http: bool, clock: Clock, options: Dict[str, Any]) -> Iterator[Sandbox]:
    counts = {name: options[name] for name in SEEDING if name in options}
    for name in SEEDING:
        if name != "seed":
            options.pop(name, None)
    store = seeded_store(clock, **counts)
    portal = Sandbox(http=http, clock=clock, store=store, **options)
    try:
        with portal:
            yield portal
    finally:
        store.close()


class Gate:
    """A transport passing the first ``open_for`` requests to ``inner``, then holding each
    later one (before it reaches the portal) until :meth:`release`.

    ``held`` counts requests waiting now and ``passed`` those let through. A request is never
    held longer than ``patience`` real seconds: a test that forgets to release fails on its
    assertions instead of hanging (``timed_out`` then says so).
    """

    def __init__(self, inner: Transport, *, open_for: int = 0, patience: float = 10.0) -> None:
        self._inner = inner
        self._open_for = open_for
        self._patience = patience
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._arrived = 0
        self.held = 0
        self.passed = 0
        self.timed_out = False

    def release(self) -> None:
        """Let every held request through, and every later one."""
        self._released.set()

    def exchange(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            hold = self._arrived >= self._open_for and not self._released.is_set()
            self._arrived += 1
            if hold:
                self.held += 1
        if hold:
            if not self._released.wait(self._patience):
                self.timed_out = True
            with self._lock:
                self.held -= 1
        with self._lock:
            self.passed += 1
        return self._inner.exchange(request)

    def close(self) -> None:
        self._inner.close()


class Crowd:
    """A transport letting the first ``after`` requests through, then holding the next ones
    until ``size`` of them wait together, or none has arrived for ``quiet`` real seconds;
    then those all go on to ``inner`` together, and every later request goes straight
    through.

    On an in-memory portal a reply comes back at CPU speed, so requests the client puts in
    flight at once would barely overlap; held here, they do. ``largest`` is how many went
    together: that many were in flight at once.
    """

    def __init__(self, inner: Transport, size: int, *, after: int = 0,
                 quiet: float = 0.5) -> None:
        self._inner = inner
        self._size = size
        self._after = after
        self._quiet = quiet
        self._turn = threading.Condition()
        self._open = False
        self._last = 0.0
        self._waiting = 0
        self.largest = 0

    def _go(self) -> None:
        self.largest = self._waiting
        self._open = True
        self._turn.notify_all()

    def exchange(self, request: HttpRequest) -> HttpResponse:
        with self._turn:
            if self._after > 0:
                self._after -= 1
            elif not self._open:
                self._waiting += 1
                self._last = time.monotonic()
                if self._waiting >= self._size:
                    self._go()
                while not self._open:
                    self._turn.wait(self._quiet)
                    if not self._open and time.monotonic() - self._last >= self._quiet:
                        self._go()
        return self._inner.exchange(request)

    def close(self) -> None:
        self._inner.close()
