"""Rows inserted and deleted while a client exports: the churn a live portal has.

A :class:`Churner` performs ``ops_per_s`` operations per second in total, evenly spaced,
alternating an insert and a delete. Deletes pick uniformly among the rows the churner knows
to exist: the table's IDs when it starts, plus its own inserts. A pick that someone else
already deleted is dropped and another is drawn, so every delete removes a row that existed.
Rows other writers add after the start are never picked (loading the whole ID set again
for each delete would cost a full scan).

Clock, sleep and randomness are injected so tests can drive it without waiting.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Callable, List, Optional, Set


class Churner:
    def __init__(self, store, *, ops_per_s: float, entity: str = "deal", seed: int = 0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if ops_per_s <= 0:
            raise ValueError("ops_per_s must be positive")
        self._store = store
        self._entity = entity
        self._interval = 1.0 / ops_per_s
        self._rng = random.Random(seed)
        self._clock, self._sleep = clock, sleep
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
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 5.0)
            self._thread = None

    def _run(self) -> None:
        due = self._clock()
        while not self._stopping.is_set():
            delay = due - self._clock()
            if delay > 0:
                self._sleep(delay)
                if self._stopping.is_set():
                    return
            self.step()
            due += self._interval
