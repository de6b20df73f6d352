"""When a call must stop: its deadline, a cancel signal (a ``BitrixAsync`` task cancelled), and
a halt (``Rows.stop()``: send nothing more, let what is in flight land).

A :class:`Control` travels with one public call into every wait it makes -- the operating
budget's pauses, the in-flight gate, the bucket, the backoff between retries, each HTTP
request's read timeout -- and into every request right before it is sent. When the deadline
passes or the call is cancelled, nothing more is sent, no wait outlasts the deadline, and
the call raises what :meth:`Control.check` raises, saying how far it got.

``BitrixAsync`` runs the sync client in a thread, where cancelling the awaiting task does
not reach; it sets the :data:`CANCEL` context variable (``asyncio.to_thread`` copies it into
the thread), and the public call reads it when it builds its Control.
"""
from __future__ import annotations

import contextvars
import threading
from typing import Callable, Optional

from ..errors import BitrixError, Cancelled, DeadlineExceeded

#: The cancel signal of the ``BitrixAsync`` task the current call runs for, if any.
CANCEL: "contextvars.ContextVar[Optional[threading.Event]]" = contextvars.ContextVar(
    "bitrix_fast_cancel", default=None)


class Halted(BitrixError):
    """A request not sent because its call was halted (:meth:`Control.halt`)."""

    executed_maybe = False
    retryable = False


class Control:
    """A call's deadline (monotonic seconds, or None) and cancel signal. Thread-safe: it
    only reads."""

    def __init__(self, method: str, deadline: Optional[float], *,
                 now: Callable[[], float], cancel: Optional[threading.Event] = None) -> None:
        self.method = method
        self._now = now
        self._started = now()
        self.seconds = deadline
        self.until = None if deadline is None else self._started + deadline
        self.cancel = cancel
        #: set by :meth:`halt`: no request is sent any more, replies in flight still count
        self.halted = threading.Event()
        #: until when replies already on the wire are waited for after a halt
        self.grace_until: Optional[float] = None
        #: filled in by the caller as work is done, for the message (``"1,250 rows"``)
        self.progress: Callable[[], str] = lambda: ""

    @classmethod
    def start(cls, method: str, deadline: Optional[float], now: Callable[[], float]
              ) -> "Control":
        """A Control for a public call now, with the cancel signal of its async task."""
        if deadline is not None and (isinstance(deadline, bool) or
                                     not isinstance(deadline, (int, float)) or deadline <= 0):
            raise ValueError(f"{method}: deadline must be a number of seconds > 0, "
                             f"got {deadline!r}")
        return cls(method, None if deadline is None else float(deadline), now=now,
                   cancel=CANCEL.get())

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline (never below 0), None without one."""
        if self.until is None:
            return None
        return max(0.0, self.until - self._now())

    def bound(self, seconds: float) -> float:
        """``seconds``, or what is left of the deadline if that is less."""
        left = self.remaining()
        return seconds if left is None else min(seconds, left)

    def halt(self, grace: float) -> None:
        """Send nothing more; replies already on the wire are waited for ``grace`` s."""
        self.grace_until = self._now() + max(0.0, grace)
        self.halted.set()

    @property
    def stopped(self) -> bool:
        return (self.cancel is not None and self.cancel.is_set()) or (
            self.until is not None and self._now() >= self.until)

    def check(self, *, halts: bool = True) -> None:
        """Raise :class:`~bitrix_fast.errors.Cancelled` or
        :class:`~bitrix_fast.errors.DeadlineExceeded` once the call must stop, and
        :class:`Halted` after :meth:`halt` (unless ``halts`` is False: the caller still
        waits for replies)."""
        if halts and self.halted.is_set():
            raise Halted(f"{self.method}: stopped before this request was sent")
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"{self.method}: cancelled{self._so_far()}")
        if self.until is not None and self._now() >= self.until:
            raise DeadlineExceeded(self.method, self.seconds or 0.0, self.progress())

    def _so_far(self) -> str:
        done = self.progress()
        return f" after {done}" if done else ""
