"""Run work on a thread pool: list plans with bounded read-ahead, and ordered bulk calls.

The executor owns no policy: every request it starts goes through the engine, which applies
the limits. What it owns is parallelism and back-pressure: a plan never has more than
``max_in_flight`` units of work started, and for iteration the next unit is only started when
the consumer has taken the rows before it, so memory does not grow with the table.
"""
from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

from ..protocol.batch import CommandResult
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
    halted: Optional[Callable[[], Optional[float]]] = None,
    is_halt: Callable[[BaseException], bool] = lambda error: False,
) -> Iterator[Any]:
    """Yield the rows of ``plan`` as replies arrive. ``run`` sends one Work (through the
    engine) and returns its command results. A failure cancels what has not started and
    propagates; closing the generator does the same, and so does ``check`` raising (a
    deadline, a cancel: it is called while waiting, at least every ``CHECK_EVERY`` s).

    ``halted()`` returning a time (monotonic) stops the listing gracefully: no more work
    is started, replies to work in flight are still yielded until then, and the iteration
    ends; work that failed because of the halt (``is_halt`` on its errors) is dropped."""
    in_flight: Dict[Future, Work] = {}

    def top_up() -> None:
        while len(in_flight) < max_in_flight and (halted is None or halted() is None):
            work = plan.next_work()
            if work is None:
                return
            in_flight[pool.submit(run, work)] = work

    try:
        top_up()
        while in_flight:
            if check is not None:
                check()
            until = halted() if halted is not None else None
            timeout = None if check is None and halted is None else CHECK_EVERY
            if until is not None:
                left = until - time.monotonic()
                if left <= 0:
                    # The grace after a halt is over: what is still out is dropped, but
                    # replies already here are used (they cost nothing more, and a resume
                    # need not read them again), however slowly the consumer took the rest.
                    for future in [f for f in in_flight if not f.done()]:
                        future.cancel()
                        del in_flight[future]
                    if not in_flight:
                        return
                    timeout = 0.0
                else:
                    timeout = min(CHECK_EVERY, left)
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED, timeout=timeout)
            for future in _in_submission_order(finished, in_flight):
                work = in_flight.pop(future)
                results = future.result()
                if halted is not None and halted() is not None and any(
                        r.error is not None and is_halt(r.error) for r in results):
                    continue  # never sent: the halt stopped it
                rows = plan.feed(work, results)
                # What this reply made possible goes out before its rows are handed over:
                # the consumer's time then overlaps with the next requests.
                top_up()
                if on_rows is not None:
                    on_rows(len(rows), plan.total)
                yield from rows
        if not plan.done and (halted is None or halted() is None):
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
