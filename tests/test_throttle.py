import threading
import time

import pytest

from bitrix_fast.pacing.gate import ConcurrencyGate
from bitrix_fast.pacing.throttle import AdaptiveThrottle
from fakes import FakeClock


def make_throttle(clock=None, **kwargs):
    return AdaptiveThrottle(2.0, 16, clock=clock or FakeClock(), **kwargs)


# -- AdaptiveThrottle ------------------------------------------------------------------------

def test_starts_at_the_ceiling():
    """A new throttle runs at full rate and concurrency."""
    throttle = make_throttle()
    assert (throttle.rate, throttle.concurrency) == (2.0, 16)


def test_five_overloads_cut_rate_and_concurrency_by_a_fifth():
    """Four overloads in a minute change nothing; the fifth cuts both by 20%."""
    throttle = make_throttle()
    for _ in range(4):
        throttle.on_overload()
    assert (throttle.rate, throttle.concurrency) == (2.0, 16)
    throttle.on_overload()
    assert throttle.rate == pytest.approx(1.6)
    assert throttle.concurrency == 12


def test_each_cut_needs_fresh_overloads():
    """After a cut the count starts again, so one burst of failures does not cut once per failure."""
    throttle = make_throttle()
    for _ in range(9):
        throttle.on_overload()
    assert throttle.rate == pytest.approx(1.6)
    throttle.on_overload()
    assert throttle.rate == pytest.approx(1.28)


def test_a_trickle_of_overloads_never_cuts():
    """Overloads spread wider than the window do not add up."""
    clock = FakeClock()
    throttle = make_throttle(clock)
    for _ in range(20):
        throttle.on_overload()
        clock.advance(15.0)
    assert (throttle.rate, throttle.concurrency) == (2.0, 16)


def test_a_run_of_overloads_reaches_the_floors_and_stays():
    """Sustained overloads bring rate and concurrency down to their floors, never below."""
    throttle = make_throttle()
    for _ in range(200):
        throttle.on_overload()
    assert (throttle.rate, throttle.concurrency) == (0.5, 1)


def test_successes_climb_back_gradually_to_the_ceiling():
    """Every 20 successes in a row raise the rate by 10% and the concurrency by one, up to the ceiling."""
    throttle = make_throttle()
    for _ in range(200):
        throttle.on_overload()
    for _ in range(19):
        throttle.on_success()
    assert (throttle.rate, throttle.concurrency) == (0.5, 1)
    throttle.on_success()
    assert throttle.rate == pytest.approx(0.55)
    assert throttle.concurrency == 2
    steps = 1
    while (throttle.rate, throttle.concurrency) != (2.0, 16):
        for _ in range(20):
            throttle.on_success()
        steps += 1
        assert steps < 100
    assert steps == 15  # 1 -> 16 workers, one per step; the rate got there first
    for _ in range(100):
        throttle.on_success()
    assert (throttle.rate, throttle.concurrency) == (2.0, 16)


def test_an_overload_restarts_the_success_run():
    """19 successes, an overload, 19 more: still no raise."""
    throttle = make_throttle()
    for _ in range(5):
        throttle.on_overload()
    for _ in range(19):
        throttle.on_success()
    throttle.on_overload()
    for _ in range(19):
        throttle.on_success()
    assert throttle.concurrency == 12


def test_no_climb_while_errors_keep_coming():
    """With 3 overloads (half the threshold or more) in the window, successes do not raise yet."""
    clock = FakeClock()
    throttle = make_throttle(clock)
    for _ in range(5):
        throttle.on_overload()
    for _ in range(3):
        throttle.on_overload()
    for _ in range(40):
        throttle.on_success()
    assert throttle.concurrency == 12
    clock.advance(61.0)
    throttle.on_success()
    assert throttle.concurrency == 13


def test_set_ceiling_caps_and_releases():
    """A lower ceiling caps at once; an unthrottled value follows a raised ceiling at once."""
    throttle = make_throttle()
    throttle.set_ceiling(max_rate=1.0, max_concurrency=4)
    assert (throttle.rate, throttle.concurrency) == (1.0, 4)
    throttle.set_ceiling(max_rate=2.0, max_concurrency=16)
    assert (throttle.rate, throttle.concurrency) == (2.0, 16)


def test_a_throttled_value_climbs_to_a_raised_ceiling():
    """Held down by overloads, the values stay put when the ceiling rises, and climb as usual."""
    throttle = make_throttle()
    throttle.set_ceiling(max_concurrency=8)
    for _ in range(5):
        throttle.on_overload()
    assert throttle.concurrency == 6
    throttle.set_ceiling(max_concurrency=16)
    assert throttle.concurrency == 6
    snapshot = throttle.snapshot()
    assert snapshot["max_concurrency"] == 16
    assert snapshot["recent_overloads"] == 0


def test_a_ceiling_below_the_floor_wins():
    """slow() to 0.2/s means 0.2/s, even though the rate floor is 0.5/s."""
    throttle = make_throttle()
    throttle.set_ceiling(max_rate=0.2, max_concurrency=1)
    for _ in range(50):
        throttle.on_overload()
    assert (throttle.rate, throttle.concurrency) == (0.2, 1)


@pytest.mark.parametrize("kwargs", [
    {"max_rate": 0}, {"max_concurrency": 0}, {"min_rate": 0}, {"decrease": 1.0},
    {"increase": 1.0}, {"overloads": 0},
])
def test_throttle_rejects_nonsense(kwargs):
    """Settings that cannot work raise ValueError."""
    params = {"max_rate": 2.0, "max_concurrency": 4, **kwargs}
    with pytest.raises(ValueError):
        AdaptiveThrottle(params.pop("max_rate"), params.pop("max_concurrency"), **params)


# -- ConcurrencyGate -----------------------------------------------------------------------

def test_gate_lets_exactly_its_limit_in_at_once():
    """Four holders fill a gate of 4 (all inside at the same moment: a gate that let fewer
    in would break the barrier), and a fifth waits until one of them leaves."""
    gate = ConcurrencyGate(4)
    all_in = threading.Barrier(5, timeout=5)  # four holders and this thread
    release, fifth_in = threading.Event(), threading.Event()

    def hold():
        with gate.slot():
            all_in.wait()
            assert release.wait(5)

    def fifth():
        with gate.slot():
            fifth_in.set()

    holders = [threading.Thread(target=hold) for _ in range(4)]
    for holder in holders:
        holder.start()
    all_in.wait()
    assert gate.in_flight == 4
    late = threading.Thread(target=fifth)
    late.start()
    assert not fifth_in.wait(0.05)  # the gate is full
    release.set()
    assert fifth_in.wait(5)
    for thread in [*holders, late]:
        thread.join(5)
    assert gate.in_flight == 0


def test_gate_never_exceeds_its_limit():
    """32 threads through a gate of 4: never more than 4 inside, and every one gets through."""
    gate = ConcurrencyGate(4)
    lock = threading.Lock()
    inside, peak, done = [0], [0], []

    def work():
        for _ in range(20):
            with gate.slot():
                with lock:
                    inside[0] += 1
                    peak[0] = max(peak[0], inside[0])
                time.sleep(0)
                with lock:
                    inside[0] -= 1
        done.append(1)

    workers = [threading.Thread(target=work) for _ in range(32)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert len(done) == 32
    assert peak[0] <= 4  # that 4 fit at once is the test above
    assert gate.in_flight == 0


def test_raising_the_limit_wakes_waiters():
    """A thread blocked on a full gate gets in as soon as the limit is raised."""
    gate = ConcurrencyGate(1)
    entered = threading.Event()

    def wait_for_slot():
        with gate.slot():
            entered.set()

    with gate.slot():
        waiter = threading.Thread(target=wait_for_slot)
        waiter.start()
        assert not entered.wait(0.05)
        gate.limit = 2
        assert entered.wait(5)
    waiter.join()
    assert gate.in_flight == 0


def test_lowering_the_limit_lets_requests_in_flight_finish():
    """Lowering the limit interrupts nothing; new requests wait until enough have ended."""
    gate = ConcurrencyGate(3)
    slots = [gate.slot() for _ in range(3)]
    for slot in slots:
        slot.__enter__()
    gate.limit = 1
    assert gate.in_flight == 3
    slots.pop().__exit__(None, None, None)
    slots.pop().__exit__(None, None, None)
    assert gate.in_flight == 1
    slots.pop().__exit__(None, None, None)
    with gate.slot():
        assert gate.in_flight == 1


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_gate_rejects_nonsense(limit):
    """A gate needs a whole number of places, at least one."""
    with pytest.raises(ValueError):
        ConcurrencyGate(limit)
