"""What the engine needs from the pacing parts, as typed contracts.

:class:`RateLimiter` is met by :class:`~.bucket.TokenBucket` and by the Redis-shared
:class:`~.shared.RedisLimiter`; :class:`Budget` by :class:`~.budget.OperatingBudget` and
:class:`~.shared.RedisOperatingBudget`. A limiter of the user's own (``Bitrix(limiter=...)``,
documented as "any object with ``acquire()``, ``on_refused()``, ``rate`` and ``burst``") meets
the smaller :class:`SimpleLimiter`; the factory wraps it in :class:`ForeignLimiter`, so the
engine sees one contract and never probes what an object can do.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, Optional, Protocol

#: Raises to give up a wait (a deadline, a cancel, a halt).
Check = Callable[[], None]


class RateLimiter(Protocol):
    """Decides when a request may be sent."""

    def acquire(self, check: Optional[Check] = None) -> float:
        """Block until one request may be sent; return the seconds waited. ``check`` is
        called while waiting and raises to give up (no token is taken then)."""

    def on_refused(self) -> None:
        """The portal answered 503 QUERY_LIMIT_EXCEEDED: its bucket is full, resynchronise."""

    @property
    def rate(self) -> float:
        """Requests per second now (the adaptive throttle lowers and restores it)."""

    @rate.setter
    def rate(self, value: float) -> None: ...

    @property
    def burst(self) -> int:
        """Requests the portal admits at once."""

    @property
    def free_tokens(self) -> float:
        """Tokens free right now (0 when unknown)."""

    def snapshot(self) -> Dict[str, Any]:
        """Figures for ``Bitrix.stats()``."""


class Budget(Protocol):
    """Keeps each method's operating time as the portal reports it, and paces it."""

    def observe(self, method: str, operating: float, reset_at: Optional[float],
                server_now: Optional[float]) -> None:
        """A reply's ``time.operating`` and ``operating_reset_at`` for ``method``."""

    def spend(self, method: str, seconds: float) -> None:
        """A call of ``method`` ran ``seconds`` on the server, as the client measured it (the
        budget's figure where the portal reports none)."""

    def begin(self, method: str, seconds: float) -> None:
        """A request expected to bill ``seconds`` to ``method`` is in flight."""

    def end(self, method: str, seconds: float) -> None:
        """The request :meth:`begin` announced was answered (or failed)."""

    def on_limit_hit(self, method: str) -> None:
        """The portal answered 429 OPERATION_TIME_LIMIT for ``method``."""

    def delay(self, method: str) -> float:
        """Seconds to wait before sending ``method`` again (0: go)."""

    def snapshot(self) -> Dict[str, Any]:
        """Figures for ``Bitrix.stats()``."""


class SharedLimiter(ABC):
    """A :class:`RateLimiter` whose bucket is shared beyond this process, and which shares
    the operating budget too (:class:`~.shared.RedisLimiter`): the factory takes the budget
    from :meth:`budget` instead of keeping one of its own."""

    @abstractmethod
    def acquire(self, check: Optional[Check] = None) -> float: ...

    @abstractmethod
    def on_refused(self) -> None: ...

    @property
    @abstractmethod
    def rate(self) -> float: ...

    @rate.setter
    @abstractmethod
    def rate(self, value: float) -> None: ...

    @property
    @abstractmethod
    def burst(self) -> int: ...

    @property
    @abstractmethod
    def free_tokens(self) -> float: ...

    @abstractmethod
    def snapshot(self) -> Dict[str, Any]: ...

    @abstractmethod
    def budget(self, limit: float = 480.0, *, owner: str = "") -> Budget:
        """The operating budget shared with every other user of this limiter and the same
        webhook or application (``owner``: a fingerprint, never a secret)."""


class SimpleLimiter(Protocol):
    """The least a limiter of the user's own offers."""

    def acquire(self) -> float: ...

    def on_refused(self) -> None: ...

    @property
    def rate(self) -> float: ...

    @rate.setter
    def rate(self, value: float) -> None: ...

    @property
    def burst(self) -> int: ...


class ForeignLimiter:
    """A :class:`SimpleLimiter` seen as a :class:`RateLimiter`: its waits cannot be cut short
    by a deadline (the request is still not sent after one), and it reports no free tokens."""

    def __init__(self, limiter: SimpleLimiter) -> None:
        self._limiter = limiter

    def acquire(self, check: Optional[Check] = None) -> float:
        return float(self._limiter.acquire())

    def on_refused(self) -> None:
        self._limiter.on_refused()

    @property
    def rate(self) -> float:
        return float(self._limiter.rate)

    @rate.setter
    def rate(self, value: float) -> None:
        self._limiter.rate = value

    @property
    def burst(self) -> int:
        return int(self._limiter.burst)

    @property
    def free_tokens(self) -> float:
        return 0.0

    def snapshot(self) -> Dict[str, Any]:
        return {"rate": self.rate, "burst": self.burst, "limiter": repr(self._limiter)}

    def __repr__(self) -> str:
        return f"ForeignLimiter({self._limiter!r})"
