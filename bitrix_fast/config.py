"""The client's configuration: one frozen value, built and checked once from the keywords
``Bitrix`` takes (fast_bitrix24's, in its order, plus ours, keyword-only).

:meth:`ClientConfig.build` raises ``TypeError`` / ``ValueError`` for anything wrong before a
single part exists; the factory (:mod:`bitrix_fast.factory`) then wires the parts from the
value, and nothing downstream checks a keyword again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple, Union

import requests

from .net.transport import DEFAULT_TIMEOUT
from .protocol.batch import MAX_COMMANDS
from .run.progress import ProgressSetting
from .run.retry import Retry

#: What ``timeout=`` accepts: seconds for both, a (connect, read) pair, or None (defaults).
TimeoutSpec = Union[float, Tuple[float, float], None]

#: Seconds after a write was sent before its absence is trusted, or it is sent again under
#: its REST 3.0 key: the portal cuts every request at 60 s, and a request may first wait
#: for a worker; the margin is the one the default read timeout has over the cut.
SETTLE_WAIT = 75.0


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client is built from (see :class:`bitrix_fast.Bitrix` for the meaning of
    each keyword). ``workers`` is derived: requests in flight and threads at most."""

    webhook: str
    token_func: Optional[Callable[[], Any]] = None
    verbose: bool = True
    respect_velocity_policy: bool = True
    request_pool_size: int = 50
    requests_per_second: float = 2.0
    batch_size: int = 50
    operating_time_limit: float = 480.0
    session: Optional[requests.Session] = None
    ssl: Union[bool, str] = True
    max_workers: Optional[int] = None
    timeout: Tuple[float, float] = DEFAULT_TIMEOUT
    retry: Retry = Retry()
    limiter: Optional[object] = None
    progress: ProgressSetting = None
    deadline: Optional[float] = None
    settle_wait: float = SETTLE_WAIT

    @classmethod
    def build(cls, webhook: str, token_func: Any = None, verbose: bool = True,
              respect_velocity_policy: bool = True, request_pool_size: int = 50,
              requests_per_second: float = 2.0, batch_size: int = 50,
              operating_time_limit: float = 480, client: Optional[requests.Session] = None,
              ssl: Union[bool, str] = True, *, max_workers: Optional[int] = None,
              timeout: TimeoutSpec = DEFAULT_TIMEOUT,
              retry: Union[Retry, int, bool, None] = None, limiter: Any = None,
              progress: ProgressSetting = None,
              deadline: Optional[float] = None,
              settle_wait: float = SETTLE_WAIT) -> "ClientConfig":
        """The configuration for ``Bitrix``'s keywords, checked (TypeError / ValueError)."""
        _positive_int("request_pool_size", request_pool_size)
        _positive_number("requests_per_second", requests_per_second)
        _positive_int("batch_size", batch_size)
        if batch_size > MAX_COMMANDS:
            raise ValueError(f"batch_size must be at most {MAX_COMMANDS}, got {batch_size}")
        _positive_number("operating_time_limit", operating_time_limit)
        if client is not None and not isinstance(client, requests.Session):
            raise TypeError("client must be a requests.Session (bitrix_fast does not use "
                            "aiohttp)")
        if not isinstance(ssl, (bool, str)):
            raise TypeError("ssl must be True, False, or the path of a CA bundle")
        if max_workers is not None:
            _positive_int("max_workers", max_workers)
        if token_func is not None and not callable(token_func):
            raise TypeError("token_func must be callable")
        if deadline is not None:
            _positive_number("deadline", deadline, what="a number of seconds > 0")
        if (not isinstance(settle_wait, (int, float)) or isinstance(settle_wait, bool)
                or not 0 <= settle_wait < math.inf):
            raise ValueError(f"settle_wait must be a number of seconds >= 0, got "
                             f"{settle_wait!r}")
        return cls(webhook=webhook, token_func=token_func, verbose=bool(verbose),
                   respect_velocity_policy=bool(respect_velocity_policy),
                   request_pool_size=request_pool_size,
                   requests_per_second=float(requests_per_second), batch_size=batch_size,
                   operating_time_limit=float(operating_time_limit), session=client, ssl=ssl,
                   max_workers=max_workers, timeout=timeout_pair(timeout),
                   retry=Retry.from_value(retry), limiter=limiter, progress=progress,
                   deadline=None if deadline is None else float(deadline),
                   settle_wait=float(settle_wait))

    @property
    def workers(self) -> int:
        """Requests in flight and worker threads at most: ``max_workers``, else the portal's
        burst (``request_pool_size``). Threads waiting on sockets are cheap, and on a portal
        whose batches take seconds, rate x time per request is what reaches its rate; the
        in-flight limit keeps fewer in flight whenever that is enough."""
        return self.max_workers or self.request_pool_size

    @property
    def budget_margin(self) -> float:
        """Seconds short of the operating limit at which a method waits for the reset: 5 s of
        480 (b24jssdk's figure, for replies already in flight), a tenth of smaller budgets."""
        return min(5.0, self.operating_time_limit / 10)

    @property
    def stop_wait(self) -> float:
        """How long a stopped bulk call waits for requests in flight by default: one request's
        connect and read timeouts."""
        return sum(self.timeout)


def timeout_pair(value: TimeoutSpec) -> Tuple[float, float]:
    """``timeout=`` as (connect, read) seconds."""
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 < value < math.inf:
            raise ValueError("timeout must be positive")
        return (float(value), float(value))
    if (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf
                    for v in value)):
        return (float(value[0]), float(value[1]))
    raise TypeError("timeout must be seconds or a (connect, read) tuple of seconds")


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _positive_number(name: str, value: Any, what: str = "a number > 0") -> None:
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not 0 < value < math.inf):
        raise ValueError(f"{name} must be {what}, got {value!r}")
