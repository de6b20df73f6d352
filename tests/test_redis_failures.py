"""When Redis is unreachable, dies or hangs: a typed error in bounded time, or (on_error=
"local") an in-process bucket; and never the Redis password in a repr, a log or an error."""
from __future__ import annotations

import logging
import pickle
import socket
import time

import pytest

from bitrix_fast import BitrixError
from bitrix_fast.pacing.shared import RedisConnection, RedisLimiter, RedisUnavailable
from bitrix_fast.pacing.shared.connection import describe
from bitrix_fast.testing.clock import FakeClock

PASSWORD = "s3cret-Pa55word"
TIMEOUT = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_at_construction_raises_quickly(redis_key):
    port = free_port()  # nothing listens there
    start = time.monotonic()
    with pytest.raises(RedisUnavailable) as info:
        RedisLimiter(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", key=redis_key, timeout=TIMEOUT)
    assert time.monotonic() - start < 2 * TIMEOUT
    assert f"127.0.0.1:{port}" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_silent_host_at_construction_raises_within_the_timeout(redis_key):
    # TEST-NET-1 (RFC 5737): nothing answers; connect() times out (or fails at once when
    # the machine has no route at all).
    start = time.monotonic()
    with pytest.raises(RedisUnavailable):
        RedisLimiter("redis://192.0.2.1:6379/0", key=redis_key, timeout=TIMEOUT)
    assert time.monotonic() - start < 3 * TIMEOUT


def test_redis_dying_mid_run_fails_fast(redis_server_factory, redis_key):
    server = redis_server_factory()
    clock = FakeClock()  # retry_every passes on it; socket timeouts are real
    limiter = RedisLimiter(server.url, rate=200.0, burst=20, key=redis_key, timeout=TIMEOUT,
                           retry_every=0.3, clock=clock)
    limiter.acquire()
    server.stop()
    start = time.monotonic()
    with pytest.raises(RedisUnavailable, match=f"127.0.0.1:{server.port}"):
        limiter.acquire()
    assert time.monotonic() - start < 2 * TIMEOUT
    limiter.on_refused()  # never raises: the refusal stays the caller's error

    server.start()  # back on the same port: tried again once retry_every has passed
    clock.advance(0.29)
    with pytest.raises(RedisUnavailable):
        limiter.acquire()  # not yet: Redis is left alone for retry_every
    clock.advance(0.02)
    assert limiter.acquire() == 0.0


def test_redis_hanging_mid_run_fails_within_the_socket_timeout(redis_server_factory, redis_key):
    server = redis_server_factory()
    limiter = RedisLimiter(server.url, rate=200.0, burst=20, key=redis_key, timeout=TIMEOUT)
    budget = limiter.budget()
    limiter.acquire()
    server.pause()
    start = time.monotonic()
    with pytest.raises(RedisUnavailable, match="Timeout"):
        limiter.acquire()
    assert TIMEOUT * 0.9 < time.monotonic() - start < 2 * TIMEOUT
    # Redis is now left alone for retry_every: the next calls do not wait for it again.
    start = time.monotonic()
    with pytest.raises(RedisUnavailable, match="Timeout"):
        limiter.acquire()
    with pytest.raises(RedisUnavailable):
        budget.delay("crm.deal.list")
    # Called after a reply arrived: they keep the figure locally instead of raising.
    for _ in range(50):
        budget.observe("crm.deal.list", 1.0, None, None)
    budget.on_limit_hit("crm.deal.list")
    assert budget.snapshot()["crm.deal.list"]["blocked"] is True
    assert time.monotonic() - start < 0.1


def test_local_mode_carries_on_with_one_warning_and_comes_back(redis_server_factory,
                                                               redis_key, caplog):
    server = redis_server_factory()
    clock = FakeClock()  # the fallback bucket and retry_every run on it
    limiter = RedisLimiter(server.url, rate=20.0, burst=20, key=redis_key, timeout=TIMEOUT,
                           on_error="local", retry_every=0.3, clock=clock)
    budget = limiter.budget()
    limiter.acquire()
    server.stop()
    caplog.set_level(logging.INFO, logger="bitrix_fast")
    start = clock.now()
    for _ in range(3):
        limiter.acquire()
    # The fallback starts empty (the portal's level is unknown): 3 tokens at 20/s.
    assert clock.now() - start == pytest.approx(0.15)
    assert limiter.snapshot()["fallback"] is True
    budget.on_limit_hit("crm.deal.list")
    assert budget.delay("crm.deal.list") > 0  # the local figures stand in
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"127.0.0.1:{server.port}" in warnings[0].getMessage()

    server.start()  # back, on the same port
    clock.advance(0.35)
    limiter.acquire()
    assert limiter.snapshot()["fallback"] is False
    assert any("back" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_the_password_never_shows(redis_server_factory, redis_key, caplog):
    caplog.set_level(logging.DEBUG)
    server = redis_server_factory(password=PASSWORD)
    assert PASSWORD in server.url
    limiter = RedisLimiter(server.url, rate=200.0, burst=20, key=redis_key, timeout=TIMEOUT,
                           on_error="local", retry_every=60)
    budget = limiter.budget()
    limiter.acquire()
    seen = [repr(limiter), str(limiter.snapshot()), repr(budget), repr(limiter._conn)]
    server.stop()
    limiter.acquire()  # falls back, logging a warning
    errors = []
    for url in (server.url, server.url.replace(PASSWORD, PASSWORD + "-wrong"),
                f"unix:///tmp/none.sock?password={PASSWORD}"):
        with pytest.raises(RedisUnavailable) as info:
            RedisLimiter(url, key=redis_key, timeout=TIMEOUT)
        errors.append(str(info.value))
    with pytest.raises(ValueError) as info:
        RedisLimiter(f"http://:{PASSWORD}@host/0", key=redis_key)
    errors.append(str(info.value))
    everything = "\n".join(seen + errors + [caplog.text])
    assert "127.0.0.1" in everything
    assert PASSWORD not in everything


def test_a_wrong_password_is_reported_as_unavailable(redis_server_factory, redis_key):
    server = redis_server_factory(password=PASSWORD)
    with pytest.raises(RedisUnavailable, match="Authentication|WRONGPASS|invalid"):
        RedisLimiter(server.url.replace(PASSWORD, "nope"), key=redis_key, timeout=TIMEOUT)


@pytest.mark.parametrize("url, shown", [
    ("redis://:pw@10.0.0.5:6380/2", "redis://10.0.0.5:6380/2"),
    ("redis://user:pw@redis.internal", "redis://redis.internal:6379"),
    ("rediss://:pw@[::1]:6390/0", "rediss://[::1]:6390/0"),
    ("unix://:pw@/run/redis.sock?db=1&password=pw", "unix:///run/redis.sock"),
])
def test_describe_drops_credentials(url, shown):
    assert describe(url) == shown


def test_the_error_is_a_picklable_bitrix_error():
    error = RedisUnavailable("Redis at redis://h:1 is unavailable (ConnectionError: x)")
    assert isinstance(error, BitrixError)
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
    assert error.executed_maybe is False  # nothing was sent to the portal


def test_connection_validates_on_error(redis_url):
    with pytest.raises(ValueError):
        RedisConnection(redis_url, on_error="retry")
    assert "fail" in repr(RedisConnection(redis_url))
