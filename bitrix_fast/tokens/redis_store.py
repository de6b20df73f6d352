"""``RedisTokenStore``: tokens in Redis, shared by every process and machine that uses it.

Keys (``prefix`` defaults to ``bitrix_fast:tokens``): ``<prefix>:portal:<member_id>`` holds
the token set as JSON, ``<prefix>:members`` the set of ``member_id`` s, and
``<prefix>:lock:<member_id>`` a lease: ``SET ... NX PX`` takes it only when it is free, Redis
itself ends it after the lease (its own clock: machines whose clocks disagree still agree),
and a short Lua script releases it only for its owner. Save and delete change the portal's
key and the member set in one ``MULTI``.

Needs the ``redis`` package (``pip install 'bitrix_fast[redis]'``), imported when a store is
made. Redis failures become :class:`~bitrix_fast.errors.TokenStoreError` naming the server
as ``host:port`` (never its password).
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, TypeVar

from ..clock import Clock
from ..errors import TokenStoreError
from .store import LeaseLocks, check_member_id
from .tokenset import TokenSet

__all__ = ["RedisTokenStore"]

T = TypeVar("T")

#: Delete the lease only if this caller still owns it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTokenStore(LeaseLocks):
    """Token sets in Redis at ``url`` (``redis://[:password@]host[:port][/db]``,
    ``rediss://...`` or ``unix:///path``). Thread-safe.

    :param prefix: the keys' prefix, one per application sharing a Redis
    :param timeout: socket timeouts, seconds: a hung Redis costs at most this per call
    :param clock: for tests (how long a lock is waited for)
    """

    def __init__(self, url: str, *, prefix: str = "bitrix_fast:tokens", timeout: float = 5.0,
                 clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        try:
            import redis as redis_py  # noqa: F401  (absolute: redis-py, not this module)
        except ImportError:
            raise ImportError("RedisTokenStore needs the redis package: pip install "
                              "'bitrix_fast[redis]'") from None
        from ..pacing.shared.connection import RedisConnection, RedisUnavailable

        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in " \t\n"):
            raise ValueError("prefix must be a non-empty str without spaces")
        self._prefix = prefix
        self._redis_error = redis_py.RedisError
        try:
            self._conn = RedisConnection(url, timeout=timeout, on_error="fail",
                                         retry_every=0.001, clock=clock)
        except RedisUnavailable as error:
            raise TokenStoreError(f"token store: {error}") from None
        self.address = self._conn.address
        self._client = self._conn.client
        self._release = self._client.register_script(_RELEASE)

    # -- the TokenStore contract -------------------------------------------------------------
    def load(self, member_id: str) -> Optional[TokenSet]:
        member_id = check_member_id(member_id)
        text = self._run(lambda: self._client.get(self._portal(member_id)),
                         f"reading portal {member_id}")
        if text is None:
            return None
        return TokenSet.from_json(text.decode("utf-8") if isinstance(text, bytes) else text)

    def save(self, tokens: TokenSet) -> None:
        member_id = check_member_id(tokens.member_id)

        def write() -> None:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.set(self._portal(member_id), tokens.to_json())
                pipe.sadd(self._members(), member_id)
                pipe.execute()

        self._run(write, f"saving portal {member_id}")

    def delete(self, member_id: str) -> bool:
        member_id = check_member_id(member_id)

        def remove() -> bool:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(self._portal(member_id))
                pipe.srem(self._members(), member_id)
                removed, _ = pipe.execute()
            return int(removed) > 0

        return self._run(remove, f"deleting portal {member_id}")

    def members(self) -> List[str]:
        found = self._run(lambda: self._client.smembers(self._members()), "listing portals")
        return sorted(m.decode("utf-8") if isinstance(m, bytes) else str(m) for m in found)

    def close(self) -> None:
        self._conn.close()

    # -- leases ------------------------------------------------------------------------------
    def _try_lock(self, member_id: str, owner: str, lease: float) -> bool:
        taken = self._run(lambda: self._client.set(self._lock_key(member_id), owner, nx=True,
                                                   px=max(1, int(lease * 1000))),
                          f"locking portal {member_id}")
        return bool(taken)

    def _unlock(self, member_id: str, owner: str) -> None:
        self._run(lambda: self._release(keys=[self._lock_key(member_id)], args=[owner]),
                  f"unlocking portal {member_id}")

    # -- keys and errors -----------------------------------------------------------------------
    def _portal(self, member_id: str) -> str:
        return f"{self._prefix}:portal:{member_id}"

    def _members(self) -> str:
        return f"{self._prefix}:members"

    def _lock_key(self, member_id: str) -> str:
        return f"{self._prefix}:lock:{member_id}"

    def _run(self, operation: Callable[[], T], doing: str) -> T:
        try:
            return operation()
        except self._redis_error as error:
            raise TokenStoreError(f"token store redis at {self.address}: {doing} failed "
                                  f"({type(error).__name__})") from None

    def __repr__(self) -> str:
        return f"RedisTokenStore({self.address!r}, prefix={self._prefix!r})"
