"""What may be sent again, how often, and how long to wait first.

Retry         a value object, one per request (urllib3 style): ``increment()`` returns a new
              one, so a single default is safely shared by every worker thread.
RetryBudget   one per client, shared by all workers (botocore's RetryQuota): retries draw
              from it and successes refill it, so an outage does not become a retry storm.
not_executed  the errors that prove the portal did not run the request.

Which failures are retried (``Retry.should_retry``)::

    cannot succeed again:    Redirected, untrusted certificate, ...       never
                             (``retryable = False`` on the error)
    refused before running:  RateLimited (503), OperationTimeLimit (429)  always
    never left this machine: ConnectError                                 always
    fate unknown:            ResponseTimeout, ConnectionDropped,          reads; writes only
                             BadResponse, ApiError 5xx                    with resend_writes
    anything else:           AuthError, MethodNotFound, other 4xx, ...    never

How long a request keeps trying is bounded twice over (``Retry.increment``): a read timeout
is retried at most ``timeouts`` times (a portal that did not answer twice in a row is down
or overloaded, and every attempt adds to its load), and the same server error for the same
request three times in a row (``SAME_ERROR_ATTEMPTS``) ends it: that is a command the
portal cannot run, not a passing fault, and a minute of backoff would not change it.

The same rules apply to the per-command errors of a batch reply, which carry no HTTP status:
a command refused with QUERY_LIMIT_EXCEEDED or OPERATION_TIME_LIMIT did not run, so it may be
resent even if it is a write.
"""
from __future__ import annotations

import random as _random
import threading
from functools import partial
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple, Union

from ..errors import (ApiError, AuthError, BadResponse, ConnectError, MethodNotFound, ResponseTimeout,
    RetryExhausted, TransportError, is_refusal)

#: Server faults reported in a batch's ``result_error``, where there is no HTTP status.
_SERVER_FAULT_CODES = frozenset({"INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER"})
#: Sent with a 5xx status, but resending cannot help: a manual block, a deleted portal.
_PERMANENT_CODES = frozenset({"OVERLOAD_LIMIT", "PORTAL_DELETED"})


def not_executed(error: BaseException) -> bool:
    """True when the portal provably did not run the request, so resending cannot duplicate it.

    Refusals, and any error that says ``executed_maybe = False`` (ConnectError, or the
    engine's own marker for a command a batch skipped).
    """
    if is_refusal(error):
        return True
    return getattr(error, "executed_maybe", True) is False


def _same_failure_key(error: BaseException) -> Optional[Tuple[Any, ...]]:
    """What makes two server errors "the same" for the repeat rule; None for errors that
    may well go away (refusals, timeouts, gateway pages: 502, 503, 504 come from a proxy
    whose backend is restarting, with the same page every time)."""
    if is_refusal(error):
        return None
    if isinstance(error, ApiError) and _server_fault(error):
        return ("api", error.code.upper(), error.description, error.status)
    if isinstance(error, BadResponse) and error.status == 500:
        return ("page", error.status, error.snippet)
    return None


def _server_fault(error: BaseException) -> bool:
    if not isinstance(error, ApiError) or isinstance(error, (AuthError, MethodNotFound)):
        return False
    code = error.code.upper()
    if code in _PERMANENT_CODES:
        return False
    return (error.status or 0) >= 500 or code in _SERVER_FAULT_CODES


class Attempt(NamedTuple):
    """One failed attempt, as kept in ``Retry.history``."""

    method: str
    error: BaseException


class Retry:
    """How many more times a request may be sent, and how long to wait before each.

    :param total: retries left (not attempts): 0 means fail on the first error.
    :param connect: of those, retries left after the connection could not even be opened
        (refused, DNS, connect timeout): usually a wrong address or a portal that is down,
        so it gets fewer tries, and a typo fails in seconds rather than in a minute.
    :param timeouts: of those, retries left after a read timeout (no answer in time). With
        the default 2 and ``timeout=5``, a portal that stopped answering fails a call in
        about 17 s: three attempts of 5 s and two short waits.
    :param backoff_factor: the n-th retry waits ``backoff_factor * 2 ** (n - 1)`` seconds...
    :param backoff_max: ...but never longer than this.
    :param jitter: ...less a random share up to this fraction (0: none, 1: "full jitter"),
        so workers that failed together do not come back together.
    :param resend_writes: also resend writes whose fate is unknown (a timeout, a dropped
        connection, a 5xx). They may have run, so this can duplicate them; off by default.
    :param history: the failed attempts so far, oldest first.
    """

    #: Waits of 0.5, 1, 2, 4, 8, 16, 30, 30 s (46-92 s in all with jitter): a request rides
    #: out a minute or so of trouble (a deploy, a network blip) before giving up. Refusals
    #: are paced by the limiters, and the shared RetryBudget stops an outage from multiplying.
    DEFAULT_TOTAL = 8
    #: Waits of 0.5, 1, 2 s: a restarting portal or a flapping route gets three more tries.
    DEFAULT_CONNECT = 3
    #: A portal that did not answer twice in a row is down or overloaded.
    DEFAULT_TIMEOUTS = 2
    #: The same server error this many times in a row for one request: stop, it is the command.
    SAME_ERROR_ATTEMPTS = 3
    DEFAULT_BACKOFF_FACTOR = 0.5
    DEFAULT_BACKOFF_MAX = 30.0
    #: Half of each wait is guaranteed (so it still backs off), half is spread out.
    DEFAULT_JITTER = 0.5

    __slots__ = ("total", "connect", "timeouts", "backoff_factor", "backoff_max", "jitter",
                 "resend_writes", "history")
    total: int
    connect: int
    timeouts: int
    backoff_factor: float
    backoff_max: float
    jitter: float
    resend_writes: bool
    history: Tuple["Attempt", ...]

    def __init__(
        self,
        total: int = DEFAULT_TOTAL,
        *,
        connect: int = DEFAULT_CONNECT,
        timeouts: int = DEFAULT_TIMEOUTS,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        jitter: float = DEFAULT_JITTER,
        resend_writes: bool = False,
        history: Tuple[Attempt, ...] = (),
    ) -> None:
        for name, count in (("total", total), ("connect", connect), ("timeouts", timeouts)):
            if isinstance(count, bool) or int(count) != count or count < 0:
                raise ValueError(f"{name} must be a whole number >= 0, not {count!r}")
        if backoff_factor < 0 or backoff_max < 0:
            raise ValueError("backoff_factor and backoff_max must not be negative")
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], not {jitter!r}")
        for name, value in (("total", int(total)), ("connect", int(connect)),
                            ("timeouts", int(timeouts)),
                            ("backoff_factor", float(backoff_factor)),
                            ("backoff_max", float(backoff_max)), ("jitter", float(jitter)),
                            ("resend_writes", bool(resend_writes)), ("history", tuple(history))):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Retry is immutable; use .new(...)")

    @classmethod
    def from_value(cls, value: Union["Retry", int, bool, None]) -> "Retry":
        """A Retry from what users pass: a Retry, a number of retries, True/None (defaults), False (none)."""
        if isinstance(value, Retry):
            return value
        if value is None or value is True:
            return cls()
        if value is False:
            return cls(0)
        return cls(value)

    def new(self, **changes: Any) -> "Retry":
        params = {name: getattr(self, name) for name in self.__slots__}
        params.update(changes)
        return type(self)(params.pop("total"), **params)

    def __reduce__(self) -> Any:  # copy and pickle must go through __init__: setattr is refused
        params = {name: getattr(self, name) for name in self.__slots__[1:]}
        return partial(type(self), **params), (self.total,)

    def increment(self, method: str, error: BaseException) -> "Retry":
        """Count a failed attempt: a new Retry, or RetryExhausted (from ``error``) when none are left.

        It does not judge the error: ask ``should_retry`` first.
        """
        attempts = len(self.history) + 1
        connect, timeouts = self.connect, self.timeouts
        if isinstance(error, ConnectError):
            if connect == 0:
                raise RetryExhausted(method, attempts, error) from error
            connect -= 1
        if isinstance(error, ResponseTimeout):
            if timeouts == 0:
                unanswered = 1 + sum(isinstance(attempt.error, ResponseTimeout)
                                     for attempt in self.history)
                raise RetryExhausted(method, attempts, error,
                                     f"no answer {unanswered} times") from error
            timeouts -= 1
        if self._repeats(error):
            raise RetryExhausted(method, attempts, error,
                                 f"the same error {self.SAME_ERROR_ATTEMPTS} times in a row"
                                 ) from error
        if self.total == 0:
            raise RetryExhausted(method, attempts, error) from error
        return self.new(total=self.total - 1, connect=connect, timeouts=timeouts,
                        history=self.history + (Attempt(method, error),))

    def _repeats(self, error: BaseException) -> bool:
        """Whether ``error`` ends a run of the same server error, SAME_ERROR_ATTEMPTS long."""
        key = _same_failure_key(error)
        earlier = self.history[-(self.SAME_ERROR_ATTEMPTS - 1):]
        return (key is not None and len(earlier) == self.SAME_ERROR_ATTEMPTS - 1
                and all(_same_failure_key(attempt.error) == key for attempt in earlier))

    def backoff(self, random: Callable[[], float] = _random.random) -> float:
        """Seconds to wait before the next attempt; 0 before any failure."""
        retries = len(self.history)
        if retries == 0:
            return 0.0
        # The exponent is capped so a huge total cannot overflow a float.
        base = min(self.backoff_max, self.backoff_factor * 2.0 ** min(retries - 1, 64))
        return float(base * (1.0 - self.jitter * random()))

    def should_retry(self, error: BaseException, *, read_only: bool) -> bool:
        """Whether ``error`` is worth another attempt, for a read or a write (see module docs)."""
        if getattr(error, "retryable", True) is False:
            return False
        if not_executed(error):
            return True
        if isinstance(error, TransportError) or _server_fault(error):
            return read_only or self.resend_writes
        return False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Retry):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self.__slots__))

    def __repr__(self) -> str:
        return (f"Retry(total={self.total}, connect={self.connect}, timeouts={self.timeouts}, "
                f"used={len(self.history)}, "
                f"backoff_factor={self.backoff_factor}, backoff_max={self.backoff_max}, "
                f"jitter={self.jitter}, resend_writes={self.resend_writes})")


class RetryBudget:
    """Retry capacity shared by every worker of one client.

    Each retry costs ``retry_cost`` (``timeout_cost`` after a read timeout: the slowest and
    surest sign of a struggling portal); each success gives back ``success_refund``. With the
    defaults, 100 retries (50 timeouts) in a row empty it, and it takes 500 successes to refill.
    Refusals (503, 429) cost nothing: they are the portal pacing us, the limiters already
    wait them out, and each request's own Retry still caps them.
    """

    def __init__(
        self, capacity: int = 500, *, retry_cost: int = 5, timeout_cost: int = 10,
        success_refund: int = 1,
    ) -> None:
        if capacity < 0 or retry_cost < 0 or timeout_cost < 0 or success_refund < 0:
            raise ValueError("RetryBudget amounts must not be negative")
        self._capacity = capacity
        self._available = capacity
        self._retry_cost = retry_cost
        self._timeout_cost = timeout_cost
        self._success_refund = success_refund
        self._lock = threading.Lock()

    def acquire(self, error: BaseException) -> bool:
        """Pay for retrying after ``error``; False when the budget cannot: give up now."""
        if is_refusal(error):
            return True
        cost = self._timeout_cost if isinstance(error, ResponseTimeout) else self._retry_cost
        with self._lock:
            if cost > self._available:
                return False
            self._available -= cost
            return True

    def on_success(self) -> None:
        # Nearly every call lands here with the budget full: skip the lock then. A racing
        # retry may leave one refund unpaid, which only makes us more careful.
        if self._available >= self._capacity:
            return
        with self._lock:
            self._available = min(self._capacity, self._available + self._success_refund)

    @property
    def available(self) -> int:
        return self._available

    def snapshot(self) -> Dict[str, int]:
        return {"capacity": self._capacity, "available": self._available}
