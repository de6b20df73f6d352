"""One portal's limits shared by many processes and machines, through Redis.

::

    from bitrix_fast import Bitrix
    from bitrix_fast.pacing.shared import RedisLimiter

    limiter = RedisLimiter("redis://redis-host:6379/0", rate=2.0, burst=50,
                           key="example.bitrix24.ru")
    bx = Bitrix(webhook, limiter=limiter)

RedisLimiter           the request bucket (``acquire``, ``on_refused``, ``rate``, ``burst``)
RedisOperatingBudget   the per-method operating budget; ``Bitrix`` takes it from
                       ``limiter.budget(operating_time_limit)`` by itself
RedisUnavailable       Redis could not be reached (a ``BitrixError``)

Use one ``key`` per portal, and the same ``rate``/``burst`` in every process. Redis keys
are ``bitrix_fast:<key>:bucket`` and ``bitrix_fast:<key>:budget``; they hold numbers and
method names only, never a webhook code, a token or the Redis password.

Needs the ``redis`` package: ``pip install 'bitrix_fast[redis]'``. Importing ``bitrix_fast``
itself does not.
"""
from __future__ import annotations

try:
    # Absolute, so this is redis-py, not this package (Python 3 has no implicit relative
    # imports; tests/test_redis_import.py checks it).
    import redis as _redis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "bitrix_fast.pacing.shared needs the redis package: pip install 'bitrix_fast[redis]'"
    ) from exc

from .budget import RedisOperatingBudget
from .connection import RedisConnection, RedisUnavailable
from .limiter import RedisLimiter, portal_key

__all__ = ["RedisConnection", "RedisLimiter", "RedisOperatingBudget", "RedisUnavailable",
           "portal_key"]
