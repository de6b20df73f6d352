"""Settling a keyed add in doubt: read it back by its key, and resend it only when it is
certainly not there.

Sans-I/O; times are read from the caller's clock. For each add in doubt::

    read back at once ── found once ──────────── created (its ID is the result)
         │             └ found twice or more ─── a conflict: several records hold the key
         └ absent ── wait until the add was sent ``settle_wait`` seconds ago
                     (the portal cuts every request at 60 s: after that nothing of it runs)
                     └ read back again ── found ─ created
                                      └ absent ─ resend it (it never ran); after
                                                 ``max_sends`` sends, give up: not created

A proxy's 504 can come while the portal is still executing the add, so the first absence
proves nothing; the second, read after the cut, does.
"""
from __future__ import annotations

import enum
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .keys import Scope

__all__ = ["Doubt", "Decision", "Settler"]


@dataclass
class Doubt:
    """One add whose fate is unknown: which item, its key, when it was last sent, what hid
    its fate, and how many times it was sent."""

    index: int
    scope: Scope
    key: str
    sent_at: float
    error: BaseException
    sends: int = 1
    absent_once: bool = False
    params: Any = field(default=None, repr=False)


class Decision(enum.Enum):
    """What a read-back decided for one add."""

    FOUND = "found"          # exactly one record holds the key: created
    CONFLICT = "conflict"    # several records hold it: which one is this add's is unknown
    WAIT = "wait"            # absent once: read again after the cut
    RESEND = "resend"        # absent twice, the second time after the cut: it never ran
    GIVE_UP = "give_up"      # absent twice after ``max_sends`` sends: not created


class Settler:
    """The adds in doubt: those to read back now, those waiting for the cut, those being
    read (see the module docstring)."""

    def __init__(self, settle_wait: float, *, max_sends: int) -> None:
        self.settle_wait = float(settle_wait)
        self.max_sends = max_sends
        self._now: List[Doubt] = []
        self._later: List[Tuple[float, int, Doubt]] = []
        self._order = itertools.count()
        self._reading: Dict[Tuple[Scope, str], Doubt] = {}

    def doubt(self, doubt: Doubt) -> None:
        """An add is in doubt: read it back as soon as possible."""
        self._now.append(doubt)

    def due(self, now: float) -> List[Doubt]:
        """The adds to read back now (they count as being read from here on)."""
        out, self._now = self._now, []
        while self._later and self._later[0][0] <= now:
            out.append(heapq.heappop(self._later)[2])
        for doubt in out:
            self._reading[(doubt.scope, doubt.key)] = doubt
        return out

    def next_due(self) -> Optional[float]:
        """When the next add waiting for the cut may be read again (None: none waits)."""
        if self._now:
            return float("-inf")
        return self._later[0][0] if self._later else None

    def reading(self, scope: Scope, key: str) -> Doubt:
        return self._reading[(scope, key)]

    def decide(self, scope: Scope, key: str, ids: List[int]) -> Tuple[Decision, Doubt]:
        """What the read-back of one add found (``ids``: the records holding its key)."""
        doubt = self._reading.pop((scope, key))
        if len(ids) == 1:
            return Decision.FOUND, doubt
        if ids:
            return Decision.CONFLICT, doubt
        if not doubt.absent_once:
            doubt.absent_once = True
            due = doubt.sent_at + self.settle_wait
            heapq.heappush(self._later, (due, next(self._order), doubt))
            return Decision.WAIT, doubt
        if doubt.sends >= self.max_sends:
            return Decision.GIVE_UP, doubt
        return Decision.RESEND, doubt

    def unread(self, scope: Scope, key: str) -> Doubt:
        """Its read-back failed for good: the add stays in doubt."""
        return self._reading.pop((scope, key))

    def drain(self) -> List[Doubt]:
        """Every add still unsettled (the call stopped): they stay in doubt."""
        out = self._now + [entry[2] for entry in self._later] + list(self._reading.values())
        self._now, self._later, self._reading = [], [], {}
        return out

    @property
    def empty(self) -> bool:
        return not self._now and not self._later and not self._reading

    @property
    def waiting(self) -> bool:
        """Some add waits for the cut before it can be read again."""
        return bool(self._later)
