import itertools
import math
import threading
import time

import pytest

from bitrix_fast.clock import SYSTEM_CLOCK
from bitrix_fast.pacing.bucket import TokenBucket
from bitrix_fast.pacing.budget import OperatingBudget
from fakes import FakeClock

SLACK = OperatingBudget._RESET_SLACK


class InstrumentedBucket(TokenBucket):
    """Records the clock reading of every grant, under the bucket's lock."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grants = []

    def _take(self, needed):
        wait = super()._take(needed)
        if wait == 0.0:
            with self._state.transaction() as level:  # the grant's time, as the bucket saw it
                self.grants.append(level.stamp)
        return wait


def assert_never_over(grants, rate, burst, eps=1e-6):
    """Every window [t_i, t_j] of grant times holds at most burst + rate * (t_j - t_i) grants."""
    grants = sorted(grants)
    for i, j in itertools.combinations(range(len(grants)), 2):
        assert j - i + 1 <= burst + rate * (grants[j] - grants[i]) + eps, (i, j)


def hammer(bucket, threads, per_thread):
    workers = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(per_thread)])
               for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
        assert not worker.is_alive()


# -- TokenBucket --------------------------------------------------------------------------

def test_starts_full_then_grants_rate_per_second():
    """The whole burst is granted at once, then exactly one token every 1/rate seconds."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=5, clock=clock)
    assert [bucket.acquire() for _ in range(5)] == [0.0] * 5
    assert clock.now() == 0.0
    waits = [bucket.acquire() for _ in range(4)]
    assert waits == pytest.approx([0.5] * 4)
    assert clock.now() == pytest.approx(2.0)


def test_fractional_rate():
    """At 0.5 requests/s each request after the burst waits two seconds."""
    clock = FakeClock()
    bucket = TokenBucket(rate=0.5, burst=1, clock=clock)
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(2.0)
    assert bucket.acquire() == pytest.approx(2.0)
    assert clock.now() == pytest.approx(4.0)


def test_refills_while_idle_up_to_the_burst():
    """Idle time refills the bucket, never beyond the burst."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=4, clock=clock)
    for _ in range(4):
        bucket.acquire()
    clock.advance(1.0)
    assert bucket.available == pytest.approx(2.0)
    clock.advance(100.0)
    assert bucket.available == 4.0


def test_try_acquire_never_blocks():
    """try_acquire takes a free token (0.0) or says how long until one, without waiting."""
    clock = FakeClock()
    bucket = TokenBucket(rate=4.0, burst=1, clock=clock)
    assert bucket.try_acquire() == 0.0
    assert bucket.try_acquire() == pytest.approx(0.25)
    clock.advance(0.1)
    assert bucket.try_acquire() == pytest.approx(0.15)
    clock.advance(0.15)
    assert bucket.try_acquire() == 0.0
    assert clock.sleeps == []


def test_on_refused_empties_the_bucket():
    """After a 503 the next grant waits one refill interval, however full we thought we were."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=50, clock=clock)
    bucket.acquire()
    bucket.on_refused()
    assert bucket.available == 0.0
    assert bucket.acquire() == pytest.approx(0.5)


def test_rate_setter_credits_elapsed_time_at_the_old_rate():
    """Time before a rate change is refilled at the old rate, time after at the new one."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=10, clock=clock)
    for _ in range(10):
        bucket.acquire()
    clock.advance(1.0)              # 2 tokens at 2/s
    bucket.rate = 0.5
    clock.advance(2.0)              # 1 more at 0.5/s
    assert bucket.available == pytest.approx(3.0)
    for _ in range(3):
        assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(2.0)


def test_waiter_notices_a_rate_lowered_while_it_sleeps():
    """A waiter that wakes after the rate dropped sleeps again instead of sending early."""

    class DroppingClock(FakeClock):
        def sleep(self, seconds):
            if not self.sleeps:         # halfway through the first sleep the rate drops to 0.5/s
                self.advance(seconds / 2)
                bucket.rate = 0.5
                seconds /= 2
            super().sleep(seconds)

    clock = DroppingClock()
    bucket = TokenBucket(rate=2.0, burst=1, clock=clock)
    bucket.acquire()
    # 0.25 s at 2/s gives half a token; the other half takes 1 s at 0.5/s.
    assert bucket.acquire() == pytest.approx(1.25)


def test_a_newcomer_does_not_take_the_token_a_waiter_sleeps_for():
    """Waiters are served first come, first served: a token due to a sleeping waiter is not taken."""

    class GatedClock(FakeClock):
        asleep, wake = threading.Event(), threading.Event()

        def sleep(self, seconds):
            self.asleep.set()
            assert self.wake.wait(5)
            super().sleep(seconds)

    clock = GatedClock()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock)
    bucket.acquire()
    waiter = threading.Thread(target=bucket.acquire)
    waiter.start()
    assert clock.asleep.wait(5)
    clock.advance(1.0)                      # the waiter's token is due, but it still sleeps
    assert bucket.snapshot()["waiting"] == 1
    assert bucket.try_acquire() == pytest.approx(1.0)
    clock.wake.set()
    waiter.join(5)
    assert bucket.snapshot()["waiting"] == 0
    assert bucket.available == 0.0


def test_headroom_leaves_part_of_the_burst_unused():
    """With headroom 3 of a burst of 10 only 7 go at once, and the bucket never refills past 7."""
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=10, clock=clock, headroom=3)
    assert [bucket.try_acquire() for _ in range(7)] == [0.0] * 7
    assert bucket.try_acquire() == pytest.approx(1.0)
    clock.advance(60)
    assert bucket.available == 7.0
    assert bucket.snapshot() == {"rate": 1.0, "burst": 10, "headroom": 3, "available": 7.0,
                                 "waiting": 0}


@pytest.mark.parametrize("kwargs", [
    {"rate": 0}, {"rate": -1}, {"rate": math.inf}, {"burst": 0}, {"burst": 2.5},
    {"burst": 5, "headroom": 5}, {"headroom": -1},
])
def test_rejects_nonsense(kwargs):
    """Rates, bursts and headrooms that cannot work raise ValueError."""
    with pytest.raises(ValueError):
        TokenBucket(**kwargs)


def test_sixteen_threads_never_exceed_burst_plus_rate_times_t():
    """THE BAR: 16 threads hammering one bucket never get more than burst + rate x t in any window."""
    clock = FakeClock()
    rate, burst = 2.0, 10
    bucket = InstrumentedBucket(rate=rate, burst=burst, clock=clock)
    hammer(bucket, threads=16, per_thread=20)
    assert len(bucket.grants) == 320
    assert_never_over(bucket.grants, rate, burst)
    # ...and no slower than it has to be: 310 tokens after the burst at 2/s.
    assert clock.now() == pytest.approx((320 - burst) / rate)
    assert bucket.snapshot()["waiting"] == 0


def test_sixteen_threads_with_rate_changes_stay_under_the_highest_rate():
    """Rate changes from another thread while 16 threads wait never let a window overshoot."""
    clock = FakeClock()
    bucket = InstrumentedBucket(rate=4.0, burst=5, clock=clock)
    stop = threading.Event()

    def flip():
        for value in itertools.cycle([1.0, 4.0, 2.0]):
            if stop.is_set():
                return
            bucket.rate = value
            time.sleep(0)

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        hammer(bucket, threads=16, per_thread=10)
    finally:
        stop.set()
        flipper.join()
    assert len(bucket.grants) == 160
    # The rate is never above 4/s, so no window may hold more than 5 + 4 x t.
    assert_never_over(bucket.grants, 4.0, 5)


def test_real_threads_on_the_system_clock():
    """The one real-time test: 8 threads at 400/s take as long as the bucket says, no less."""
    rate, burst = 400.0, 5
    bucket = InstrumentedBucket(rate=rate, burst=burst, clock=SYSTEM_CLOCK)
    start = time.monotonic()
    hammer(bucket, threads=8, per_thread=10)
    elapsed = time.monotonic() - start
    assert len(bucket.grants) == 80
    assert_never_over(bucket.grants, rate, burst)
    assert elapsed >= (80 - burst) / rate - 1e-3


# -- OperatingBudget ------------------------------------------------------------------------

def test_keeps_the_latest_figure_not_the_sum():
    """Figures are running totals: the one with the latest server time wins, whatever the arrival order."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    budget.observe("crm.deal.list", 100.0, 2000.0, 1.0)
    budget.observe("crm.deal.list", 150.0, 2000.0, 3.0)
    budget.observe("crm.deal.list", 120.0, 2000.0, 2.0)
    assert budget.snapshot()["crm.deal.list"]["operating"] == 150.0


def test_same_server_instant_keeps_the_higher_figure():
    """Two figures stamped the same second: the higher, safer one is kept."""
    budget = OperatingBudget(clock=FakeClock())
    budget.observe("crm.deal.list", 200.0, 2000.0, 5.0)
    budget.observe("crm.deal.list", 180.0, 2000.0, 5.0)
    assert budget.snapshot()["crm.deal.list"]["operating"] == 200.0


def test_reset_is_converted_through_the_servers_own_clock():
    """A server clock an hour ahead does not matter: only reset_at - server_now is used."""
    clock = FakeClock(start=1000.0)
    budget = OperatingBudget(clock=clock)
    server_now = clock.wall() + 3600.0
    budget.observe("crm.deal.list", 478.0, server_now + 120.0, server_now)
    assert budget.snapshot()["crm.deal.list"]["reset_in"] == pytest.approx(120.0 + SLACK)
    assert budget.delay("crm.deal.list") == pytest.approx(120.0 + SLACK)
    clock.advance(100.0)
    assert budget.delay("crm.deal.list") == pytest.approx(20.0 + SLACK)


def test_without_server_time_the_local_wall_clock_is_used():
    """With no server timestamp, reset_at is compared with our own wall clock."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    budget.observe("crm.deal.list", 10.0, clock.wall() + 30.0, None)
    assert budget.snapshot()["crm.deal.list"]["reset_in"] == pytest.approx(30.0 + SLACK)


def test_no_delay_below_the_slow_threshold():
    """Below 80% of the limit a method runs unhindered; unknown methods too."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    budget.observe("crm.deal.list", 383.0, clock.wall() + 300.0, clock.wall())
    assert budget.delay("crm.deal.list") == 0.0
    assert budget.delay("never.seen") == 0.0


def test_slows_down_gradually_before_the_limit():
    """Between 80% of the limit and limit - margin the pause grows from 0 towards window/100."""
    clock = FakeClock()
    delays = []
    for operating in (384.0, 400.0, 429.5, 450.0, 474.9):
        budget = OperatingBudget(clock=clock)
        budget.observe("crm.deal.list", operating, clock.wall() + 300.0, clock.wall())
        delays.append(budget.delay("crm.deal.list"))
    assert delays[0] == 0.0
    assert delays == sorted(delays)
    assert delays[2] == pytest.approx(3.0)          # halfway: half of 6 s
    assert 0 < delays[-1] < 6.0


def test_slow_pause_never_outlasts_the_reset():
    """Just before the reset the pause shrinks: a fresher, lower figure is about to arrive."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    budget.observe("crm.deal.list", 429.5, clock.wall() + 1.0, clock.wall())
    assert budget.delay("crm.deal.list") == pytest.approx(0.5 * (1.0 + SLACK))


def test_delay_is_a_deadline():
    """Asking again later gives the remaining wait, so the engine may loop on it."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    budget.observe("crm.deal.list", 429.5, clock.wall() + 300.0, clock.wall())
    clock.advance(1.0)
    assert budget.delay("crm.deal.list") == pytest.approx(2.0)
    clock.advance(5.0)
    assert budget.delay("crm.deal.list") == 0.0


def test_blocks_until_the_reset_at_the_margin():
    """At limit - margin the method waits for the reset; other methods go on."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    budget.observe("crm.deal.list", 475.0, clock.wall() + 200.0, clock.wall())
    assert budget.delay("crm.deal.list") == pytest.approx(200.0 + SLACK)
    assert budget.snapshot()["crm.deal.list"]["blocked"] is True
    assert budget.delay("crm.contact.list") == 0.0
    clock.advance(201.0)
    assert budget.delay("crm.deal.list") == 0.0
    assert budget.snapshot()["crm.deal.list"]["blocked"] is False


def test_limit_hit_waits_for_the_known_reset():
    """After a 429 the method is blocked until its last known reset; others are unaffected."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    budget.observe("crm.deal.list", 300.0, clock.wall() + 90.0, clock.wall())
    budget.observe("crm.contact.list", 300.0, clock.wall() + 90.0, clock.wall())
    budget.on_limit_hit("crm.deal.list")
    assert budget.delay("crm.deal.list") == pytest.approx(90.0 + SLACK)
    assert budget.delay("crm.contact.list") == 0.0


def test_limit_hit_without_a_known_reset_waits_a_tenth_of_the_window():
    """A 429 carries no reset time: with none known (or one past), wait for one basket to drop out."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock, window=600.0)
    budget.on_limit_hit("crm.deal.list")
    assert budget.delay("crm.deal.list") == pytest.approx(60.0)
    budget.observe("crm.lead.list", 300.0, clock.wall() + 5.0, clock.wall())
    clock.advance(10.0)
    budget.on_limit_hit("crm.lead.list")
    assert budget.delay("crm.lead.list") == pytest.approx(60.0)


def test_an_older_low_figure_does_not_lift_a_429():
    """A reply that was already on its way with a low figure does not unblock the method."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    budget.on_limit_hit("crm.deal.list")
    budget.observe("crm.deal.list", 10.0, clock.wall() + 500.0, clock.wall())
    assert budget.delay("crm.deal.list") == pytest.approx(60.0)


def test_method_names_are_case_insensitive():
    """The portal lower-cases method names, and so do we."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    budget.observe("CRM.Deal.List", 479.0, clock.wall() + 50.0, clock.wall())
    assert budget.delay("crm.deal.list") == pytest.approx(50.0 + SLACK)


@pytest.mark.parametrize("reset_offset, expected", [
    (-30.0, 0.0),                 # the reset is already past
    (1e12, 600.0 + SLACK),        # a nonsense reset is capped at one window
    (None, 60.0),                 # unknown: one basket drops out within window/10
])
def test_delay_is_never_negative_or_unbounded(reset_offset, expected):
    """Whatever the server reports, the wait is between 0 and one window."""
    clock = FakeClock()
    budget = OperatingBudget(clock=clock)
    reset_at = None if reset_offset is None else clock.wall() + reset_offset
    budget.observe("crm.deal.list", 9999.0, reset_at, clock.wall())
    assert budget.delay("crm.deal.list") == pytest.approx(expected)


@pytest.mark.parametrize("kwargs", [
    {"limit": 0}, {"window": -1}, {"margin": 480.0}, {"margin": -1}, {"slow_from": 0},
])
def test_budget_rejects_nonsense(kwargs):
    """Limits that cannot work raise ValueError."""
    with pytest.raises(ValueError):
        OperatingBudget(**kwargs)
