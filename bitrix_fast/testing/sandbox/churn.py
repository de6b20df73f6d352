"""Rows inserted and deleted while a client exports: the churn a live portal has.

A :class:`Churner` performs ``ops_per_s`` operations per second in total, evenly spaced,
alternating an insert and a delete. Deletes pick uniformly among the rows the churner knows
to exist: the table's IDs when it starts, plus its own inserts. A pick that someone else
already deleted is dropped and another is drawn, so every delete removes a row that existed.
Rows other writers add after the start are never picked (loading the whole ID set again
for each delete would cost a full scan).

Two ways to run it. On the real clock, :meth:`Churner.start` churns in a daemon thread that
sleeps between operations. On a virtual clock a thread would be wrong: each of its sleeps
moves everyone's time forward, so it would race through hours of portal time at CPU speed.
There the portal calls :meth:`Churner.catch_up` as each request arrives, which performs the
operations due since the last one, at most :data:`MAX_CATCH_UP` at a time (a clock advanced
by a day does not stall a request on a million writes).

The clock and randomness are injected so tests can drive it without waiting.
"""
from __future__ import annotations

import random
import threading
from typing import List, Optional, Protocol, Set

from ...clock import SYSTEM_CLOCK, Clock

__all__ = ["Churner", "ChurnTarget", "MAX_CATCH_UP"]

#: operations one :meth:`Churner.catch_up` performs at most; the rest of the time is skipped
MAX_CATCH_UP = 10_000


class ChurnTarget(Protocol):
    """What the churner needs of a store."""

    def ids(self, entity: str) -> Set[int]: ...

    def insert(self, entity: str) -> int: ...

    def delete(self, entity: str, id: int) -> bool: ...


class Churner:
    """Alternating inserts and deletes at ``ops_per_s`` on the ``clock``'s time."""

    def __init__(self, store: ChurnTarget, *, ops_per_s: float, entity: str = "deal",
                 seed: int = 0, clock: Clock = SYSTEM_CLOCK) -> None:
        if ops_per_s <= 0:
            raise ValueError("ops_per_s must be positive")
        self._store = store
        self._entity = entity
        self._interval = 1.0 / ops_per_s
        self._rng = random.Random(seed)
        self._clock = clock
        self._due: Optional[float] = None  # catch-up mode: when the next operation is due
        self._catching_up = threading.Lock()
        self._lock = threading.Lock()
        self._inserted: Set[int] = set()
        self._deleted: Set[int] = set()
        self._candidates: Optional[List[int]] = None
        self._ops = 0
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def inserted_ids(self) -> Set[int]:
        with self._lock:
            return set(self._inserted)

    @property
    def deleted_ids(self) -> Set[int]:
        with self._lock:
            return set(self._deleted)

    def survivors(self, initial_ids: Set[int]) -> Set[int]:
        """The IDs of ``initial_ids`` that no churn delete has removed so far."""
        with self._lock:
            return set(initial_ids) - self._deleted

    def step(self) -> None:
        """Perform the next operation now: inserts on even turns, deletes on odd ones."""
        if self._candidates is None:
            self._candidates = sorted(self._store.ids(self._entity))
        if self._ops % 2 == 0:
            new_id = self._store.insert(self._entity)
            self._candidates.append(new_id)
            with self._lock:
                self._inserted.add(new_id)
        else:
            self._delete_one()
        self._ops += 1

    def _delete_one(self) -> None:
        candidates = self._candidates
        while candidates:
            # swap-remove a uniform pick: O(1) on a million IDs
            index = self._rng.randrange(len(candidates))
            candidates[index], candidates[-1] = candidates[-1], candidates[index]
            victim = candidates.pop()
            if self._store.delete(self._entity, victim):
                with self._lock:
                    self._deleted.add(victim)
                return

    def start(self) -> None:
        """Churn in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-churn", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread, or the catch-ups."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 5.0)
            self._thread = None

    def _run(self) -> None:
        due = self._clock.now()
        while not self._stopping.is_set():
            delay = due - self._clock.now()
            if delay > 0:
                self._clock.sleep(delay)
                if self._stopping.is_set():
                    return
            self.step()
            due += self._interval

    def schedule(self) -> None:
        """Start churning on :meth:`catch_up` calls instead of a thread: the first
        operation is due one interval from now."""
        with self._catching_up:
            self._stopping.clear()
            self._due = self._clock.now() + self._interval

    def catch_up(self) -> int:
        """Perform the operations due by now; returns how many. Before :meth:`schedule`
        this only schedules. Thread-safe: concurrent callers take turns."""
        with self._catching_up:
            if self._stopping.is_set():
                return 0
            now = self._clock.now()
            if self._due is None:
                self._due = now + self._interval
                return 0
            done = 0
            while self._due <= now and done < MAX_CATCH_UP:
                self.step()
                self._due += self._interval
                done += 1
            if self._due <= now:  # more than MAX_CATCH_UP were due: skip the rest
                self._due = now + self._interval
            return done
