"""Run work on a thread pool: list plans with bounded read-ahead, and ordered bulk calls.

The executor owns no policy: every request it starts goes through the engine, which applies
the limits. What it owns is parallelism and back-pressure: a plan never has more than
``max_in_flight`` units of work started, and for iteration the next unit is only started when
the consumer has taken the rows before it, so memory does not grow with the table.
"""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

from .batch import CommandResult
from .work import Plan, Work

#: Longest wait for a reply between two ``check`` calls.
CHECK_EVERY = 0.25

T = TypeVar("T")
R = TypeVar("R")


def drive(
    plan: Plan,
    run: Callable[[Work], Sequence[CommandResult]],
    pool: ThreadPoolExecutor,
    *,
    max_in_flight: int,
    on_rows: Optional[Callable[[int, Optional[int]], None]] = None,
    check: Optional[Callable[[], None]] = None,
) -> Iterator[Any]:
    """Yield the rows of ``plan`` as replies arrive. ``run`` sends one Work (through the
    engine) and returns its command results. A failure cancels what has not started and
    propagates; closing the generator does the same, and so does ``check`` raising (a
    deadline, a cancel: it is called while waiting, at least every ``CHECK_EVERY`` s)."""
    in_flight: Dict[Future, Work] = {}

    def top_up() -> None:
        while len(in_flight) < max_in_flight:
            work = plan.next_work()
            if work is None:
                return
            in_flight[pool.submit(run, work)] = work

    try:
        top_up()
        while in_flight:
            if check is not None:
                check()
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED,
                               timeout=None if check is None else CHECK_EVERY)
            for future in _in_submission_order(finished, in_flight):
                work = in_flight.pop(future)
                rows = plan.feed(work, future.result())
                # What this reply made possible goes out before its rows are handed over:
                # the consumer's time then overlaps with the next requests.
                top_up()
                if on_rows is not None:
                    on_rows(len(rows), plan.total)
                yield from rows
        if not plan.done:
            raise RuntimeError("list plan stalled: no work in flight and not done")
    finally:
        for future in in_flight:
            future.cancel()


def map_ordered(
    fn: Callable[[T], R],
    chunks: Sequence[T],
    pool: ThreadPoolExecutor,
    *,
    on_done: Optional[Callable[[T, R], None]] = None,
    check: Optional[Callable[[], None]] = None,
) -> List[R]:
    """``[fn(chunk) for chunk in chunks]`` run in parallel; results in input order.
    ``check`` raising (a deadline, a cancel) cancels what has not started and propagates."""
    futures = [pool.submit(fn, chunk) for chunk in chunks]
    index = {future: position for position, future in enumerate(futures)}
    results: List[Any] = [None] * len(futures)
    pending = set(futures)
    try:
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED,
                                     timeout=None if check is None else CHECK_EVERY)
            for future in finished:
                position = index[future]
                results[position] = future.result()
                if on_done is not None:
                    on_done(chunks[position], results[position])
            if check is not None and pending:
                check()
    finally:
        for future in pending:
            future.cancel()
    return results


def _in_submission_order(finished, in_flight: Dict[Future, Work]) -> List[Future]:
    order = {future: position for position, future in enumerate(in_flight)}
    return sorted(finished, key=order.__getitem__)
