"""The client-side copy of the portal's per-method operating budget.

The portal bills each method's server time per application or webhook in ten one-minute
baskets; past the limit (480 s is only the default: it is configured per portal) it answers
429 OPERATION_TIME_LIMIT for that method. :class:`OperatingBudget` keeps the portal's own
figures and slows a method down before it reaches that wall. One budget belongs to one
client, so to one webhook or application, as on the server. Thread-safe, no I/O, time only
from an injected ``Clock``.

The limit is read from the portal, not assumed: the replies do not state it, but a 429
does -- the method's last figure is where this portal's limit lies, and the budget paces by
that from then on (a figure seen above it later, without a 429, raises it again, never above
the limit configured). Replies without ``operating`` (self-hosted portals) or without
``time`` leave the budget to the client's own account of what its calls billed
(:class:`~.ledger.OwnLedger`).
"""
from __future__ import annotations

import math
import threading
from typing import Any, Dict, Optional

from ..clock import SYSTEM_CLOCK, Clock
from .ledger import OwnLedger

#: The least a 429 may lower the limit to (a figure read just after a reset can be tiny).
LEAST_LIMIT = 10.0


class _MethodState:
    # The figure, its server time, and local monotonic deadlines: the oldest basket drops
    # out at ``reset``; the figure says wait until ``pause_until``; a 429 until ``blocked_until``.
    __slots__ = ("operating", "stamp", "reset", "pause_until", "blocked_until", "reserved",
                 "reported")

    def __init__(self) -> None:
        self.operating = 0.0
        #: server seconds the requests in flight are expected to add to ``operating``
        self.reserved = 0.0
        self.stamp = self.reset = self.pause_until = self.blocked_until = -math.inf
        #: local time of the portal's last figure (-inf: it never reported one)
        self.reported = -math.inf


class OperatingBudget:
    """Per-method server-time budget, kept from the portal's own figures.

    A reply's ``time.operating`` is the server's running total for this credential and method
    over the sliding window (ten one-minute baskets), not the cost of the call, and
    ``operating_reset_at`` is when, on the server's clock, the oldest basket drops out. So we
    keep the latest figure per method, never a sum; latest by the server's clock, because
    replies from parallel threads arrive out of order.

    Pacing, with u the figure and hard = limit - margin:

    * u < slow_from x limit: no delay.
    * up to hard: after each reply, a pause growing linearly from 0 to ``window / 100`` (6 s),
      never past the reset: the window drains while we approach the wall, instead of a stall
      of minutes after a 429.
    * u >= hard: wait for the reset. The margin (5 s, as in b24jssdk) absorbs the calls in
      flight: the server refuses only once the total is over the limit.

    The budget knows nothing of how the portal bills batches: the docs bill each command to
    its own method and ``batch`` to nothing, b24jssdk PR #539 measured everything billed to
    ``batch``. It tracks whatever figure it is given under whatever method name it is given,
    so feed it the batch envelope (as "batch") and each command's ``result_time``.
    """

    _SLOW_FROM = 0.8
    _MARGIN = 5.0
    #: The longest pause before the wall, as a fraction of the window (b24jssdk: 0.01 x the
    #: time to reset, capped at 7 s).
    _SLOW_PAUSE = 0.01
    #: Added to every reset deadline: ``operating_reset_at`` is a whole second and the server's
    #: baskets are minute-aligned, so the exact moment may fall just after it.
    _RESET_SLACK = 1.0
    #: How soon to look again while work in flight is what holds a method back.
    _IN_FLIGHT_RECHECK = 0.2

    def __init__(
        self, limit: float = 480.0, *, window: float = 600.0, clock: Optional[Clock] = None,
        margin: float = _MARGIN, slow_from: float = _SLOW_FROM,
    ) -> None:
        if not (0 < limit < math.inf and 0 < window < math.inf and 0 <= margin < limit
                and 0 < slow_from <= 1):
            raise ValueError("OperatingBudget needs 0 <= margin < limit, window > 0 and "
                             "0 < slow_from <= 1")
        self._configured = float(limit)
        self._window = float(window)
        self._margin_share = margin / limit
        self._slow_from = slow_from
        self._set_limit(float(limit))
        self._clock = clock or SYSTEM_CLOCK
        self._lock = threading.Lock()
        self._methods: Dict[str, _MethodState] = {}
        self._own = OwnLedger(self._clock, window=self._window)

    def _set_limit(self, limit: float) -> None:
        self._limit = limit
        self._hard = limit - limit * self._margin_share
        self._soft = limit * self._slow_from

    @property
    def limit(self) -> float:
        """The limit the budget paces by: the one configured, or lower, as the portal showed."""
        return self._limit

    def observe(self, method: str, operating: float, reset_at: Optional[float],
                server_now: Optional[float]) -> None:
        """Record a reply's ``time.operating`` and ``operating_reset_at``.

        ``server_now`` is its ``time.finish`` (or ``start``): only differences between server
        timestamps are used, so clock skew between the machines cancels out.
        """
        now = self._clock.now()
        stamp = self._clock.wall() if server_now is None else float(server_now)
        if reset_at is None:
            to_reset = self._window / 10  # one basket drops out by then
        else:
            to_reset = float(reset_at) - stamp + self._RESET_SLACK
        to_reset = min(max(to_reset, 0.0), self._window + self._RESET_SLACK)
        with self._lock:
            state = self._methods.setdefault(method.lower(), _MethodState())
            state.reported = now
            if stamp < state.stamp or (stamp == state.stamp and operating < state.operating):
                return  # an older reply; at the same instant the higher figure is the safer
            if self._limit < operating <= self._configured:
                # The portal ran calls past the limit a 429 suggested: it lies higher.
                self._set_limit(float(operating))
            state.operating = float(operating)
            state.stamp = stamp
            state.reset = now + to_reset
            state.pause_until = now + self._pause(state.operating, to_reset)

    def spend(self, method: str, seconds: float) -> None:
        """A call of ``method`` ran ``seconds`` on the server, as the client measured it. While
        the portal reports no figure for the method, the budget paces by these."""
        self._own.spend(method, seconds)
        now = self._clock.now()
        with self._lock:
            state = self._methods.setdefault(method.lower(), _MethodState())
            if state.reported > now - self._window:
                return  # the portal's own figure is the one to go by
        operating, to_reset = self._own.figure(method)
        with self._lock:
            state.operating = operating
            state.reset = now + to_reset
            state.pause_until = max(state.pause_until, now + self._pause(operating, to_reset))

    def begin(self, method: str, seconds: float) -> None:
        """A request expected to bill ``seconds`` of server time to ``method`` is in flight:
        the figure the portal will report grows by that much when it is answered."""
        if seconds > 0:
            with self._lock:
                self._methods.setdefault(method.lower(), _MethodState()).reserved += seconds

    def end(self, method: str, seconds: float) -> None:
        """The request :meth:`begin` announced was answered (or failed)."""
        if seconds > 0:
            with self._lock:
                state = self._methods.get(method.lower())
                if state is not None:
                    state.reserved = max(0.0, state.reserved - seconds)

    def on_limit_hit(self, method: str) -> None:
        """The portal answered 429 for ``method``: wait for its reset (or a tenth of the
        window), and take the method's last figure as where this portal's limit lies."""
        now = self._clock.now()
        with self._lock:
            state = self._methods.setdefault(method.lower(), _MethodState())
            until = state.reset if state.reset > now else now + self._window / 10
            state.blocked_until = max(state.blocked_until, until)
            if LEAST_LIMIT <= state.operating < self._limit:
                self._set_limit(state.operating)

    def delay(self, method: str) -> float:
        """Seconds to wait before sending ``method`` again (0: go). A deadline: ask as often as you like."""
        now = self._clock.now()
        with self._lock:
            state = self._methods.get(method.lower())
            return 0.0 if state is None else self._wait(state, now)

    def snapshot(self) -> Dict[str, Any]:
        now = self._clock.now()
        with self._lock:
            return {
                method: {
                    "operating": state.operating,
                    "limit": self._limit,
                    "reset_in": max(0.0, state.reset - now) if state.reset > -math.inf else None,
                    "blocked": state.blocked_until > now
                    or (state.operating >= self._hard and state.reset > now),
                    "delay": self._wait(state, now),
                }
                for method, state in self._methods.items()
            }

    def _pause(self, operating: float, to_reset: float) -> float:
        if operating >= self._hard:
            return to_reset
        if operating < self._soft:
            return 0.0
        share = (operating - self._soft) / (self._hard - self._soft)
        return share * min(to_reset, self._window * self._SLOW_PAUSE)

    def _wait(self, state: _MethodState, now: float) -> float:
        wait = max(0.0, state.pause_until - now, state.blocked_until - now)
        if wait == 0.0 and state.operating < self._hard <= state.operating + state.reserved:
            # What is in flight will take the method to the wall: send nothing more of it
            # until replies show what that work really cost.
            return self._IN_FLIGHT_RECHECK
        return wait

    def in_flight_delay(self, method: str) -> float:
        """The wait that work in flight alone calls for (a shared budget adds it to its own)."""
        with self._lock:
            state = self._methods.get(method.lower())
            if state is None or not state.operating < self._hard <= state.operating + state.reserved:
                return 0.0
            return self._IN_FLIGHT_RECHECK
