"""The link to Redis: connecting, naming the server without its password, and what to do
when Redis fails.

RedisUnavailable  the error: Redis could not be reached, or answered with an error
describe()        a Redis URL as ``redis://host:port/db``, without user, password or query
RedisConnection   one redis-py client with short socket timeouts, pinged at construction,
                  and the ``on_error`` policy for failures during a run
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Optional, Tuple, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

# An absolute import: this is redis-py, not the package this module lives in.
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ...protocol.redaction import redact
from ...clock import SYSTEM_CLOCK, Clock
from ...errors import LimiterError

logger = logging.getLogger("bitrix_fast.pacing.shared")

T = TypeVar("T")

ON_ERROR = ("fail", "local")


class RedisUnavailable(LimiterError):
    """Redis could not be reached (or failed) while it held a portal's shared limits.

    Raised by the constructors when the first PING fails, and during a run by
    ``acquire()`` / ``delay()`` under ``on_error="fail"``. Its message names the server as
    ``host:port``, never its password. The request it was guarding was not sent.
    """



def describe(url: str) -> str:
    """``url`` as ``scheme://host:port/db``, safe to print: no user, password or query."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = str(parts.port or 6379)
    except ValueError:
        port = "?"
    db = parts.path.strip("/")
    return f"{parts.scheme}://{host}:{port}" + (f"/{db}" if db.isdigit() else "")


def _secrets(url: str) -> Tuple[str, ...]:
    # Everything in the URL that must never be printed, raw and URL-decoded.
    parts = urlsplit(url)
    found = [parts.password or "", parts.username or ""]
    found += parse_qs(parts.query).get("password", [])
    return tuple({s for raw in found for s in (raw, unquote(raw)) if s})


class RedisConnection:
    """A redis-py client for one Redis server, and what to do when it fails.

    :param url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` or
        ``unix:///path``; the password is used and never shown
    :param timeout: socket connect and read timeout, seconds: how long a dead or hung Redis
        can hold a request up before ``on_error`` applies
    :param on_error: ``"fail"`` raises :class:`RedisUnavailable`; ``"local"`` runs the
        in-process fallback and logs one WARNING per outage
    :param retry_every: after a failure Redis is left alone this long -- calls raise at once
        or run locally -- so that a dead or hung server costs one ``timeout``, not one per
        call (a batch reply makes 50); then the next call tries it again
    :raises RedisUnavailable: the server does not answer PING within ``timeout``
    """

    def __init__(self, url: str, *, timeout: float = 1.0, on_error: str = "fail",
                 retry_every: float = 30.0, clock: Optional[Clock] = None) -> None:
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be 'fail' or 'local', not {on_error!r}")
        if not 0 < timeout <= 60 or not retry_every > 0:
            raise ValueError("timeout must be in (0, 60] seconds and retry_every positive")
        self.address = describe(url)
        self.on_error = on_error
        self._secrets = _secrets(url)
        self._retry_every = float(retry_every)
        self._clock = clock or SYSTEM_CLOCK
        self._lock = threading.Lock()
        self._down_until: Optional[float] = None
        self._down_error = ""
        # One immediate reconnect heals a pooled connection that Redis closed (a restart, an
        # idle timeout); a read timeout is not retried, so a hung server costs one
        # ``timeout``, not several.
        options = {"socket_timeout": timeout,
                   "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))}
        if urlsplit(url).scheme != "unix":  # redis-py < 5 rejects it for unix sockets
            options["socket_connect_timeout"] = timeout
        try:
            self.client = redis.Redis.from_url(url, **options)
        except ValueError:
            # redis-py's message may quote the URL, password and all.
            raise ValueError(f"not a Redis URL: {self.address}") from None
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise self._error(exc) from None

    @property
    def down(self) -> bool:
        """True from a failure until Redis answers again."""
        return self._down_until is not None

    def run(self, remote: Callable[[], T], local: Callable[[], T]) -> T:
        """``remote()`` against Redis; if Redis fails (or failed less than ``retry_every``
        ago), raise :class:`RedisUnavailable` or return ``local()``, per ``on_error``."""
        if self._stay_away():
            if self.on_error == "fail":
                # A new exception each time: threads must not share one traceback.
                raise RedisUnavailable(self._down_error)
            return local()
        try:
            result = remote()
        except redis.RedisError as exc:
            error = self._error(exc)
            self._went_down(error)
            if self.on_error == "fail":
                raise error from None
            return local()
        if self._down_until is not None:
            self._back()
        return result

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"RedisConnection({self.address!r}, on_error={self.on_error!r})"

    def _error(self, exc: BaseException) -> RedisUnavailable:
        # redis-py names host:port and never the password; redact anyway, in case a future
        # version quotes the URL. ``from None`` above keeps its traceback out for the same reason.
        detail = redact(f"{type(exc).__name__}: {exc}", self._secrets)
        return RedisUnavailable(f"Redis at {self.address} is unavailable ({detail})")

    def _stay_away(self) -> bool:
        with self._lock:
            if self._down_until is None:
                return False
            now = self._clock.now()
            if now < self._down_until:
                return True
            # This caller probes Redis; the others stay away until the next period.
            self._down_until = now + self._retry_every
            return False

    def _went_down(self, error: RedisUnavailable) -> None:
        with self._lock:
            first = self._down_until is None
            self._down_until = self._clock.now() + self._retry_every
            self._down_error = str(error)
        if first and self.on_error == "local":
            logger.warning("%s; limiting in this process only until it is back (retrying "
                           "every %g s)", error, self._retry_every)

    def _back(self) -> None:
        with self._lock:
            was_down, self._down_until = self._down_until is not None, None
        if was_down:
            logger.info("Redis at %s is back; limits are shared again", self.address)
