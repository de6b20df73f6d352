"""When a call must stop: the one stop context every public call carries.

A :class:`Stop` holds three reasons to end a call early, and every wait of the call consults it:

* its **deadline** (``deadline=`` seconds): once passed, nothing more is sent and no wait
  outlasts it; the call raises :class:`~bitrix_fast.errors.DeadlineExceeded`;
* its **cancel** signal: a ``BitrixAsync`` task was cancelled (the thread running the sync
  call cannot be interrupted; :data:`CANCEL`, a context variable that ``asyncio.to_thread``
  copies into the thread, carries the signal); the call raises
  :class:`~bitrix_fast.errors.Cancelled`;
* a **halt**: send nothing more, but let replies already on the wire land for ``grace``
  seconds (``Rows.stop()``, ``BulkCall.stop()``, an authentication error that would refuse
  every other request too, a journal that cannot be written, Ctrl+C caught by the scheduler).

The engine asks :meth:`Stop.before_send` right before a request goes on the wire -- after
every wait for the budget, a slot and a token, which may be long -- so a stop that comes
meanwhile sends nothing. Every wait sleeps in slices of at most :data:`CHECK_EVERY` seconds
(:meth:`Stop.sleep`), so none outlasts a deadline or a halt by more than that.
"""
from __future__ import annotations

import contextvars
import threading
from typing import Callable, Optional

from ..clock import CHECK_EVERY, Clock
from ..errors import Cancelled, DeadlineExceeded, Stopped

__all__ = ["CANCEL", "CHECK_EVERY", "Stop"]

#: The cancel signal of the ``BitrixAsync`` task the current call runs for, if any.
CANCEL: "contextvars.ContextVar[Optional[threading.Event]]" = contextvars.ContextVar(
    "bitrix_fast_cancel", default=None)


class Stop:
    """One call's deadline, cancel signal and halt (see the module docstring). Thread-safe."""

    def __init__(self, method: str, deadline: Optional[float], *, clock: Clock,
                 cancel: Optional[threading.Event] = None) -> None:
        self.method = method
        self._clock = clock
        #: the deadline in seconds, as given (for messages)
        self.seconds = deadline
        #: the deadline on the clock (monotonic), or None
        self.until = None if deadline is None else clock.now() + deadline
        self.cancel = cancel
        self._lock = threading.Lock()
        self._halted = threading.Event()
        self._reason: Optional[BaseException] = None
        self._grace_until: Optional[float] = None
        #: how far the call got, for messages (``"1,250 rows"``); set by whoever runs it
        self.progress: Callable[[], str] = lambda: ""
        #: the grace replies on the wire get when the call stops itself -- credentials the
        #: portal refuses, a cancel -- set by whoever runs it (a bulk call's ``stop_wait``)
        self.own_grace = 0.0

    @classmethod
    def start(cls, method: str, deadline: Optional[float], clock: Clock) -> "Stop":
        """The stop context of a public call starting now, with its async task's cancel
        signal. ValueError for a deadline that is not a number of seconds > 0."""
        if deadline is not None and (isinstance(deadline, bool) or
                                     not isinstance(deadline, (int, float)) or deadline <= 0):
            raise ValueError(f"{method}: deadline must be a number of seconds > 0, "
                             f"got {deadline!r}")
        return cls(method, None if deadline is None else float(deadline), clock=clock,
                   cancel=CANCEL.get())

    # -- deadline and cancel ------------------------------------------------------------

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline (never below 0), None without one."""
        if self.until is None:
            return None
        return max(0.0, self.until - self._clock.now())

    def bound(self, seconds: float) -> float:
        """``seconds``, or what is left of the deadline if that is less."""
        left = self.remaining()
        return seconds if left is None else min(seconds, left)

    @property
    def expired(self) -> bool:
        """True once the deadline passed or the call was cancelled."""
        return (self.cancel is not None and self.cancel.is_set()) or (
            self.until is not None and self._clock.now() >= self.until)

    def raise_if_expired(self) -> None:
        """Raise Cancelled or DeadlineExceeded once the call must end."""
        if self.cancel is not None and self.cancel.is_set():
            done = self.progress()
            raise Cancelled(f"{self.method}: cancelled" + (f" after {done}" if done else ""))
        if self.until is not None and self._clock.now() >= self.until:
            raise DeadlineExceeded(self.method, self.seconds or 0.0, self.progress())

    # -- halt -------------------------------------------------------------------------------

    def halt(self, reason: Optional[BaseException] = None, grace: float = 0.0) -> None:
        """Send nothing more; replies already on the wire are waited for ``grace`` seconds.
        The first reason given is the call's; a later halt may only shorten the grace."""
        until = self._clock.now() + max(0.0, grace)
        with self._lock:
            if self._reason is None:
                self._reason = reason
            if self._grace_until is None or until < self._grace_until:
                self._grace_until = until
            self._halted.set()

    @property
    def halted(self) -> bool:
        return self._halted.is_set()

    @property
    def reason(self) -> Optional[BaseException]:
        """Why the call was halted (None: asked to stop, or not halted)."""
        return self._reason

    def grace_left(self) -> float:
        """Seconds still given to replies on the wire after a halt (0 once over)."""
        with self._lock:
            until = self._grace_until
        return 0.0 if until is None else max(0.0, until - self._clock.now())

    def stopped_error(self) -> Stopped:
        """The error of work that was never sent because of the halt."""
        reason = self._reason
        if isinstance(reason, Stopped):
            return reason
        because = f": {reason}" if isinstance(reason, Exception) and str(reason) else ""
        if isinstance(reason, KeyboardInterrupt):
            because = ": interrupted"
        return Stopped(f"{self.method}: stopped before this was sent{because}")

    # -- what every wait and every send asks --------------------------------------------------

    def before_send(self) -> None:
        """Right before a request goes on the wire: raise if it must not (expired: Cancelled
        or DeadlineExceeded; halted: Stopped)."""
        self.raise_if_expired()
        if self._halted.is_set():
            raise self.stopped_error()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on the clock, in slices, ending early (by raising what
        :meth:`before_send` raises) once the call must stop; never past the deadline."""
        left = self.bound(seconds)
        while left > 0:
            self.before_send()
            step = min(left, CHECK_EVERY)
            self._clock.sleep(step)
            left -= step
        self.before_send()
