"""RedisLimiter against a real redis-server (the ``redis_url`` fixture in conftest.py).

Rates are fast (200/s, burst 20) so that every test runs in well under a second.
"""
from __future__ import annotations

import threading
import time

import pytest
import redis

from bitrix_fast.clock import SystemClock
from bitrix_fast.pacing.shared import RedisLimiter, portal_key

RATE, BURST = 200.0, 20


class RecordingClock(SystemClock):
    """The real clock, remembering every sleep; ``skew`` shifts both readings, as a machine
    whose clock is wrong would."""

    def __init__(self, skew: float = 0.0) -> None:
        self.skew = skew
        self.sleeps = []

    def now(self) -> float:
        return super().now() + self.skew

    def wall(self) -> float:
        return super().wall() + self.skew

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


@pytest.fixture
def make(redis_url, redis_key):
    made = []

    def make(key=redis_key, rate=RATE, burst=BURST, headroom=0, **kwargs):
        limiter = RedisLimiter(redis_url, rate=rate, burst=burst, key=key, headroom=headroom,
                               **kwargs)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


def test_burst_at_once_then_rate(make):
    limiter = make()
    start = time.monotonic()
    assert [limiter.acquire() for _ in range(BURST)] == [0.0] * BURST
    # Empty, but for what dripped in (at 200/s) during those round trips.
    assert limiter.available() < 1 + RATE * (time.monotonic() - start)

    waits = [limiter.acquire() for _ in range(20)]
    # 40 tokens from a full bucket of 20 take at least 20 / 200 s; the 20 after the burst
    # wait that long, less what dripped in meanwhile: while the burst was taken and while
    # their own round trips ran (no upper bounds, and no bound that slow round trips would
    # break: a loaded machine only makes it slower, and needs fewer waits).
    elapsed = time.monotonic() - start
    assert elapsed >= 0.1 - 0.005
    busy = elapsed - sum(waits)  # the burst and every round trip: tokens dripped in
    assert sum(waits) >= 0.1 - busy - 0.01


def test_waits_are_computed_not_polled(make):
    clock = RecordingClock()
    limiter = make(rate=20.0, clock=clock, random=lambda: 1.0)
    start = time.monotonic()
    for _ in range(BURST):
        limiter.acquire()
    for _ in range(5):
        limiter.acquire()
    elapsed = time.monotonic() - start
    # At most one sleep per token (a late wake-up can find the next token already due), each
    # no longer than the time to the next token (1/20 s) plus the 10% jitter: computed, not
    # polled. The rate still holds: 25 tokens from a full bucket of 20 take at least 5/20 s
    # (measured from the first, so a slow burst cannot make it look faster).
    assert 1 <= len(clock.sleeps) <= 5
    assert all(s <= 0.0551 for s in clock.sleeps), clock.sleeps
    assert elapsed >= 0.25 - 0.01


def test_on_refused_empties_the_shared_bucket(make):
    first, second = make(rate=20.0), make(rate=20.0)
    assert second.available() == pytest.approx(BURST)
    refused = time.monotonic()
    first.on_refused()
    assert second.available() < 0.01 + 20.0 * (time.monotonic() - refused)  # what dripped in
    clock = RecordingClock()
    third = make(rate=20.0, clock=clock, random=lambda: 0.0)
    assert third.acquire() > 0
    # The whole refill of one token at 20/s, minus what dripped in since on_refused.
    assert 0.05 - (time.monotonic() - refused) - 0.005 < clock.sleeps[0] <= 0.05


def test_different_keys_are_independent(make, redis_key):
    drained, other = make(rate=2.0), make(key="other-" + redis_key, rate=2.0)
    for _ in range(BURST):
        drained.acquire()
    assert drained.available() < 1
    assert other.available() == pytest.approx(BURST)


def test_time_comes_from_redis_not_from_the_local_clock(make, redis_url, redis_key):
    # Two "machines": one clock a day ahead and one an hour behind.
    ahead = make(rate=20.0, clock=RecordingClock(skew=86400.0))
    behind = make(rate=20.0, clock=RecordingClock(skew=-3600.0))
    for _ in range(BURST):
        ahead.acquire()
    # A local-clock bucket would see a day of refill here; the shared one sees none.
    assert behind.available() < 0.5
    start = time.monotonic()
    behind.acquire()
    assert 0.02 < time.monotonic() - start < 0.15

    client = redis.Redis.from_url(redis_url)
    stamp = float(client.hget(f"bitrix_fast:{redis_key.lower()}:bucket", "stamp"))
    seconds, micros = client.time()
    assert abs(stamp - (seconds + micros / 1e6)) < 1.0


def test_threads_of_one_process_share_fairly(make):
    clock = RecordingClock()
    limiter = make(clock=clock, random=lambda: 1.0)
    grants = []
    lock = threading.Lock()

    def work():
        for _ in range(5):
            limiter.acquire()
            with lock:
                grants.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(8)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 40 tokens, 20 at once, 20 more at 200/s: at least 0.1 s. One thread at a time asks
    # Redis and sleeps (the others queue for their turn): at most one computed sleep per
    # token after the burst, none longer than 1/200 s plus the 10% jitter.
    assert len(grants) == 40
    assert max(grants) - start >= 0.095
    assert len(clock.sleeps) <= 20 and all(s <= 0.0056 for s in clock.sleeps), clock.sleeps


def test_lowered_rate_paces_this_process_only(make):
    mine, theirs = make(), make()
    mine.rate = 20.0  # what the engine does when the portal is overloaded
    assert mine.rate == 20.0 and mine.portal_rate == RATE
    start = time.monotonic()
    for _ in range(5):
        mine.acquire()
    assert time.monotonic() - start >= 0.19  # 1 at once, then 4 x 1/20 s
    # The shared bucket still has its portal rate and 15 of its 20 tokens: the other
    # process is not slowed at all (acquire() returns the seconds it waited).
    assert [theirs.acquire() for _ in range(10)] == [0.0] * 10

    mine.rate = RATE  # restored: the shared bucket alone paces again
    assert [mine.acquire() for _ in range(5)] == [0.0] * 5
    with pytest.raises(ValueError):
        mine.rate = 0


def test_headroom_keeps_tokens_back(make, redis_key):
    assert make(key="a" + redis_key, headroom=None).available() == pytest.approx(BURST - 1)
    assert make(key="b" + redis_key, headroom=5).available() == pytest.approx(BURST - 5)
    assert make(key="c" + redis_key, burst=1, headroom=None).available() == pytest.approx(1)
    with pytest.raises(ValueError):
        make(headroom=BURST)


def test_bucket_key_expires_once_it_would_be_full(make, redis_url, redis_key):
    limiter = make()
    limiter.acquire()
    ttl = redis.Redis.from_url(redis_url).pttl(f"bitrix_fast:{redis_key.lower()}:bucket")
    # One token short: full again after 1/200 s; the key lives that long plus a second.
    assert 0 < ttl <= 1005


@pytest.mark.parametrize("given, expected", [
    ("example.bitrix24.ru", "example.bitrix24.ru"),
    ("Example.Bitrix24.RU", "example.bitrix24.ru"),
    ("https://example.bitrix24.ru/rest/1/s3cretwebhookcode/", "example.bitrix24.ru"),
    ("http://user:pw@127.0.0.1:8080/rest/", "127.0.0.1:8080"),
])
def test_portal_key_keeps_only_the_host(given, expected):
    assert portal_key(given) == expected


@pytest.mark.parametrize("bad, error", [("", TypeError), ("  ", TypeError),
                                        ("example.bitrix24.ru/rest/1/code", ValueError),
                                        ("a b", ValueError)])
def test_portal_key_rejects_what_is_not_a_host(bad, error):
    with pytest.raises(error, match="key must be"):
        portal_key(bad)


def test_a_webhook_as_key_leaves_its_code_out_of_redis(redis_url):
    webhook = "https://leak-check.bitrix24.ru/rest/1/s3cretwebhookcode/"
    limiter = RedisLimiter(redis_url, rate=RATE, burst=BURST, key=webhook)
    limiter.acquire()
    limiter.on_refused()
    limiter.budget().on_limit_hit("crm.deal.list")
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("bitrix_fast:leak-check*")
    assert keys
    for name in keys:
        dump = repr(name) + repr(client.hgetall(name))
        assert "s3cret" not in dump
    assert "s3cret" not in repr(limiter) + repr(limiter.snapshot())


def test_validates_its_arguments(redis_url, redis_key):
    with pytest.raises(ValueError):
        RedisLimiter(redis_url, rate=0, key=redis_key)
    with pytest.raises(ValueError):
        RedisLimiter(redis_url, burst=0, key=redis_key)
    with pytest.raises(ValueError):
        RedisLimiter(redis_url, key=redis_key, on_error="ignore")
    with pytest.raises(TypeError):
        RedisLimiter(redis_url)  # key is required: one per portal


def test_snapshot_and_repr(make, redis_key):
    limiter = make()
    limiter.acquire()
    snap = limiter.snapshot()
    assert snap["key"] == redis_key.lower()
    assert snap["rate"] == RATE and snap["burst"] == BURST and snap["fallback"] is False
    assert BURST - 1.5 < snap["available"] <= BURST
    assert repr(limiter).startswith("RedisLimiter('redis://127.0.0.1:")
