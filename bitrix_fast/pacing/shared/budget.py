"""``RedisOperatingBudget``: the per-method operating budget, shared through Redis.

The portal bills server time per method and credential; every process exporting with the
same webhook spends the same budget, and one process's 429 means the method is blocked
for all of them. So the latest figure, the pause it calls for and any block live in one
Redis hash per portal, a field per webhook or application and method (the portal keeps
the budget that way: two webhooks on one portal have a budget each), expiring a window after
the last write.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Union

from ...clock import Clock
from ..budget import OperatingBudget
from . import scripts
from .connection import RedisConnection, RedisUnavailable

logger = logging.getLogger("bitrix_fast.pacing.shared")


class RedisOperatingBudget(OperatingBudget):
    """An :class:`~bitrix_fast.pacing.bucket.OperatingBudget` kept in Redis for every process.

    The pacing policy (slow down from 80% of the limit, wait for the reset near the wall)
    is the parent's; only the state moves to Redis, with deadlines in Redis time. The
    parent's in-process state is still kept: it is the fallback while Redis is down under
    ``on_error="local"``.

    Usually obtained from :meth:`RedisLimiter.budget`, which shares its connection, its
    ``on_error`` and its portal key. Fields are per credential (``owner``, a fingerprint of
    the webhook or application, never a secret) and method: processes using one webhook
    share its figures, another webhook has its own.

    Only :meth:`delay` raises :class:`RedisUnavailable` (under ``on_error="fail"``):
    :meth:`observe` and :meth:`on_limit_hit` run after a reply was received, where an error
    would make the caller resend a request that was executed, so they keep the figure
    locally and log; :meth:`snapshot` reports the local figures instead.
    """

    def __init__(self, connection: RedisConnection, key: str, limit: float = 480.0, *,
                 window: float = 600.0, clock: Optional[Clock] = None,
                 margin: float = OperatingBudget._MARGIN,
                 slow_from: float = OperatingBudget._SLOW_FROM, owner: str = "") -> None:
        super().__init__(limit, window=window, clock=clock, margin=margin, slow_from=slow_from)
        self._owner = f"{owner}:" if owner else ""
        self._conn = connection
        self._hash = f"bitrix_fast:{key}:budget"
        # Every deadline is at most a window (plus slack) ahead of the write that set it.
        self._ttl_ms = int(math.ceil((self._window + self._RESET_SLACK) * 1000)) + 1000
        client = connection.client
        self._observe_script = client.register_script(scripts.OBSERVE)
        self._hit_script = client.register_script(scripts.LIMIT_HIT)
        self._delay_script = client.register_script(scripts.DELAY)
        self._snapshot_script = client.register_script(scripts.SNAPSHOT)

    def observe(self, method: str, operating: float, reset_at: Optional[float],
                server_now: Optional[float]) -> None:
        super().observe(method, operating, reset_at, server_now)
        method = method.lower()
        operating = float(operating)
        # As in the parent: only differences of server timestamps, so skew cancels out.
        if reset_at is None or server_now is None:
            to_reset = self._window / 10
        else:
            to_reset = float(reset_at) - float(server_now) + self._RESET_SLACK
        to_reset = min(max(to_reset, 0.0), self._window + self._RESET_SLACK)
        pause = self._pause(operating, to_reset)
        stamp = "" if server_now is None else f"{float(server_now):.6f}"
        args: List[Union[str, int]] = [self._owner + method, repr(operating), stamp,
                                       repr(to_reset), repr(pause), self._ttl_ms]
        self._quietly(lambda: self._observe_script(keys=[self._hash], args=args))

    def on_limit_hit(self, method: str) -> None:
        super().on_limit_hit(method)
        args: List[Union[str, int]] = [self._owner + method.lower(), repr(self._window / 10),
                                       self._ttl_ms]
        self._quietly(lambda: self._hit_script(keys=[self._hash], args=args))

    def delay(self, method: str) -> float:
        """Seconds to wait before sending ``method`` (0: go), as any process has learnt.

        :raises RedisUnavailable: Redis failed and ``on_error="fail"``
        """
        method = method.lower()
        local = super().delay
        field = self._owner + method
        shared = self._conn.run(
            lambda: float(self._delay_script(keys=[self._hash], args=[field])),
            lambda: local(method))
        # Work this process has in flight is known here only.
        return max(shared, self.in_flight_delay(method))

    def snapshot(self) -> Dict[str, Any]:
        try:
            raw = self._conn.run(lambda: self._snapshot_script(keys=[self._hash]), lambda: None)
        except RedisUnavailable:
            raw = None
        if raw is None:
            return super().snapshot()
        now = float(raw[0])
        out: Dict[str, Any] = {}
        for name, value in zip(raw[1::2], raw[2::2]):
            field = name.decode() if isinstance(name, bytes) else str(name)
            if not field.startswith(self._owner) or ":" in field[len(self._owner):]:
                continue  # another webhook's or application's figure
            operating, _, reset, pause, blocked = (float(x) for x in value.split())
            out[field[len(self._owner):]] = {
                "operating": operating,
                "reset_in": max(0.0, reset - now),
                "blocked": blocked > now or (operating >= self._hard and reset > now),
                "delay": max(0.0, pause - now, blocked - now),
            }
        return out

    def __repr__(self) -> str:
        return (f"RedisOperatingBudget({self._conn.address!r}, key={self._hash!r}, "
                f"limit={self._limit})")

    def _quietly(self, remote: Any) -> None:
        try:
            self._conn.run(remote, lambda: None)
        except RedisUnavailable as error:
            logger.debug("operating figure kept in this process only: %s", error)
