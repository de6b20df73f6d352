"""How many commands a batch of a method may hold: well inside the portal's 60 s cut, and
no more than the portal runs.

Every request to a cloud portal is cut at 60 s (limits.md, 2026), a batch included: its
commands run one after another, so a batch of 50 pages that take 1.4 s each (a wide select
of tasks) would be cut at the 43rd. :class:`BatchRoom` keeps the server time per command,
per method, measured from the replies (each command's ``time.duration``, or, where a reply
has no ``time``, the request's time shared among its commands), and sizes a batch so its
expected time stays under :data:`TARGET` -- a third of the cut, room for pages that take
three times the mean. A batch cut anyway teaches it the commands were slower than that;
one answered ERROR_BATCH_LENGTH_EXCEEDED, how many commands the portal runs.

Counted pages (``start`` >= 0) are kept apart from uncounted ones: one COUNT over a big
table may take seconds while the ``start=-1`` pages of the same method take 0.1 s. Sans-I/O,
thread-safe.
"""
from __future__ import annotations

import math
import threading
from typing import Dict, Iterable, Optional, Tuple

from ..protocol.batch import MAX_COMMANDS
from ..protocol.limits import REQUEST_CUT

#: Every request is cut after this many seconds (cloud portals, limits.md 2026).
CUT = REQUEST_CUT
#: A batch's expected server time stays under this: a third of the cut.
TARGET = CUT / 3
#: Weight of the newest measurement in the running mean.
ALPHA = 0.3

Key = Tuple[str, bool]


class BatchRoom:
    """Measured seconds per command, per method and countedness; the room they leave."""

    def __init__(self, *, target: float = TARGET) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._mean: Dict[Key, float] = {}
        self._longest = MAX_COMMANDS  # the most commands the portal runs in one batch

    def observe(self, method: str, counted: bool, seconds: float) -> None:
        """One command of ``method`` took ``seconds`` on the server."""
        if not seconds >= 0 or math.isinf(seconds):
            return
        key = (method.lower(), counted)
        with self._lock:
            mean = self._mean.get(key)
            self._mean[key] = seconds if mean is None else (1 - ALPHA) * mean + ALPHA * seconds

    def cut(self, commands: Iterable[Tuple[str, bool]], seconds: float = CUT) -> None:
        """A batch of these commands was cut after ``seconds`` (the portal's cut, or a proxy
        that gave up on it): together they took at least that, so each took at least its
        share of it. A 504 that comes at once says nothing of how slow the commands are."""
        keys = [(method.lower(), counted) for method, counted in commands]
        if not keys:
            return
        share = min(seconds, CUT) / len(keys)
        with self._lock:
            for key in set(keys):
                self._mean[key] = max(self._mean.get(key, 0.0), share)

    def too_long(self, ran: int) -> None:
        """The portal ran only the first ``ran`` commands of a batch (the rest came back
        ERROR_BATCH_LENGTH_EXCEEDED): that is its batch length."""
        with self._lock:
            self._longest = max(1, min(self._longest, ran))

    @property
    def longest(self) -> int:
        with self._lock:
            return self._longest

    def seconds(self, method: str, counted: bool = False) -> Optional[float]:
        """The mean server time of one command, None before any was measured."""
        with self._lock:
            return self._mean.get((method.lower(), counted))

    def commands(self, method: str, wanted: int = MAX_COMMANDS, counted: bool = False) -> int:
        """How many commands of ``method`` one batch may hold: at most ``wanted`` and the
        portal's batch length, and few enough that they take under :data:`TARGET`."""
        with self._lock:
            mean = self._mean.get((method.lower(), counted))
            most = min(wanted, self._longest)
        if mean is None or mean * most <= self._target:
            return max(1, most)
        return max(1, min(most, int(self._target // mean)))

    def expected(self, commands: Iterable[Tuple[str, bool]]) -> float:
        """The expected server time of a batch of these commands (unmeasured ones: 0)."""
        with self._lock:
            return sum(self._mean.get((m.lower(), c), 0.0) for m, c in commands)

    def snapshot(self) -> Dict[str, object]:
        with self._lock:
            return {"longest": self._longest,
                    "seconds": {f"{m}{' (counted)' if c else ''}": round(v, 4)
                                for (m, c), v in self._mean.items()}}
