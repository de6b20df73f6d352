"""The churner: alternation, bookkeeping, uniform deletes of existing rows, and pacing."""
from __future__ import annotations

import threading
import time

import pytest

from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox.churn import MAX_CATCH_UP, Churner
from bitrix_fast.testing.sandbox.store import Store


@pytest.fixture
def store():
    s = Store()
    s.seed(deals=100)
    yield s
    s.close()


def test_steps_alternate_insert_and_delete(store):
    churner = Churner(store, ops_per_s=10)
    churner.step()
    assert len(churner.inserted_ids) == 1 and churner.deleted_ids == set()
    churner.step()
    assert len(churner.inserted_ids) == 1 and len(churner.deleted_ids) == 1
    assert store.count("deal") == 100


def test_bookkeeping_matches_the_table(store):
    initial = store.ids("deal")
    churner = Churner(store, ops_per_s=10, seed=5)
    for _ in range(60):
        churner.step()
    inserted, deleted = churner.inserted_ids, churner.deleted_ids
    assert len(inserted) == 30 and len(deleted) == 30
    assert min(inserted) == 101  # new IDs continue after the largest one
    assert deleted <= initial | inserted
    assert store.ids("deal") == (initial | inserted) - deleted
    assert churner.survivors(initial) == initial - deleted


def test_the_properties_are_copies(store):
    churner = Churner(store, ops_per_s=10)
    churner.step()
    churner.inserted_ids.clear()
    assert len(churner.inserted_ids) == 1


def test_deletes_are_reproducible_for_a_seed():
    def deleted(seed):
        s = Store()
        s.seed(deals=100)
        churner = Churner(s, ops_per_s=10, seed=seed)
        for _ in range(20):
            churner.step()
        s.close()
        return churner.deleted_ids

    assert deleted(1) == deleted(1)
    assert deleted(1) != deleted(2)


@pytest.mark.parametrize("seed", range(10))
def test_deletes_only_rows_that_still_exist(seed):
    s = Store()
    s.seed(deals=2)
    churner = Churner(s, ops_per_s=10, seed=seed)
    churner.step()  # insert; the churner now knows rows 1, 2 and 3
    s.delete("deal", 2)  # someone else removes a row the churner knows
    churner.step()
    (victim,) = churner.deleted_ids
    assert victim in (1, 3)
    assert s.count("deal") == 1
    s.close()


def test_with_nothing_left_to_delete_it_keeps_going():
    empty = Store()
    churner = Churner(empty, ops_per_s=10)
    for _ in range(4):
        churner.step()
    assert len(churner.inserted_ids) == 2 and churner.deleted_ids <= churner.inserted_ids
    empty.close()


class FakeTime(FakeClock):
    """A clock that only moves when the churner sleeps, and idles after 20 sleeps."""

    def __init__(self) -> None:
        super().__init__(start=100.0)

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.sleeps) >= 20:
            time.sleep(0.001)  # enough shown; idle until the test stops us


class Recording:
    """Wraps a store and notes the fake time of every write."""

    def __init__(self, store: Store, fake: FakeTime) -> None:
        self.store, self.fake, self.log = store, fake, []
        self.lock = threading.Lock()

    def ids(self, entity):
        return self.store.ids(entity)

    def insert(self, entity, fields=None):
        with self.lock:
            self.log.append(("insert", self.fake.now()))
        return self.store.insert(entity, fields)

    def delete(self, entity, id_):
        with self.lock:
            self.log.append(("delete", self.fake.now()))
        return self.store.delete(entity, id_)


def test_operations_are_evenly_spaced_at_the_rate(store):
    fake = FakeTime()
    spy = Recording(store, fake)
    churner = Churner(spy, ops_per_s=4, clock=fake)
    churner.start()
    deadline = time.monotonic() + 5
    while len(fake.sleeps) < 20 and time.monotonic() < deadline:
        time.sleep(0.001)
    churner.stop()
    with spy.lock:
        log = list(spy.log)
    assert len(log) >= 20
    assert fake.sleeps[:19] == [0.25] * 19
    assert [op for op, _ in log] == ["insert", "delete"] * (len(log) // 2) + ["insert"] * (len(log) % 2)
    assert [t for _, t in log] == [100.0 + 0.25 * k for k in range(len(log))]
    ops = len(log)
    assert len(churner.inserted_ids) == (ops + 1) // 2 and len(churner.deleted_ids) == ops // 2


def test_stop_ends_the_thread(store):
    churner = Churner(store, ops_per_s=1000)
    churner.start()
    time.sleep(0.05)
    churner.stop()
    done = len(churner.inserted_ids)
    time.sleep(0.05)
    assert done > 0 and len(churner.inserted_ids) == done


def test_rate_must_be_positive(store):
    with pytest.raises(ValueError):
        Churner(store, ops_per_s=0)


# -- catch-up mode (virtual clocks) ------------------------------------------------------
def test_catch_up_performs_the_operations_due_on_the_clock(store):
    clock = FakeClock()
    churner = Churner(store, ops_per_s=4, clock=clock)
    churner.schedule()
    assert churner.catch_up() == 0  # nothing due yet: the first one is 0.25 s away
    clock.advance(0.24)
    assert churner.catch_up() == 0
    clock.advance(0.01)
    assert churner.catch_up() == 1 and len(churner.inserted_ids) == 1
    clock.advance(1.0)
    assert churner.catch_up() == 4
    assert len(churner.inserted_ids) == 3 and len(churner.deleted_ids) == 2
    assert clock.sleeps == []  # it never sleeps: time is the caller's to move


def test_catch_up_skips_what_is_beyond_its_cap(store):
    clock = FakeClock()
    churner = Churner(store, ops_per_s=1000, clock=clock)
    churner.schedule()
    clock.advance(3600.0)  # 3.6 million operations due
    assert churner.catch_up() == MAX_CATCH_UP
    assert churner.catch_up() == 0  # the rest of the hour is skipped, not owed
    clock.advance(0.0025)
    assert churner.catch_up() == 2


def test_catch_up_ends_with_stop(store):
    clock = FakeClock()
    churner = Churner(store, ops_per_s=10, clock=clock)
    churner.schedule()
    churner.stop()
    clock.advance(5)
    assert churner.catch_up() == 0 and churner.inserted_ids == set()
