"""Plain paging: the first page, its ``total``, then every other page by offset, 50 per batch.

The fallback for methods whose filter or order cannot carry an ID-range plan (methods.py
says which), and the shape every Bitrix24 client already knows. Each command here makes the
server COUNT the filter and skip the offset, so on big tables the range planner is cheaper.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence

from ..batch import Command, CommandResult
from ..methods import MethodFacts
from ..work import Work
from .rows import raise_failed, rows_of

PAGE = 50


def with_order(params: Dict[str, Any], facts: MethodFacts) -> Dict[str, Any]:
    """``params`` plus an ID order when the caller gave none and the method is known to take
    one: without it the server's row order between pages is not guaranteed."""
    keys = {key.lower() for key in params}
    if facts.order == "dict" and "order" not in keys:
        return {**params, "order": {facts.filter_id: "ASC"}}
    if facts.order == "sort" and "sort" not in keys:
        return {**params, "sort": facts.filter_id, "order": "ASC"}
    return dict(params)


class PlainPlan:
    """First page as one command; once its ``total`` is known, every remaining offset."""

    #: Offsets shift when rows are deleted meanwhile (and a start past the end returns page 1
    #: again), so the same row can come twice: callers deduplicate by ID.
    unique = False

    def __init__(self, method: str, params: Dict[str, Any], facts: MethodFacts, *,
                 batch_size: int = 50, single: bool = False, keep_pages: bool = False) -> None:
        self._method = method
        self._params = with_order(params, facts)
        self._facts = facts
        self._batch_size = batch_size
        self._single = single
        self._pages: Deque[int] = deque()
        self._started = False
        self._in_flight = 0
        self.total: Optional[int] = None
        self.result_dict: Any = None
        self.done = False
        # get_all returns rows in the server's page order; pages arrive in any order, so
        # when asked we keep each page (the row objects are shared, not copied) by offset.
        self._pages_by_start: Optional[Dict[int, List[Any]]] = {} if keep_pages else None

    def next_work(self) -> Optional[Work]:
        if not self._started:
            self._started = True
            return self._work([None])
        if not self._pages:
            return None
        size = 1 if self._single else self._batch_size
        starts = [self._pages.popleft() for _ in range(min(size, len(self._pages)))]
        return self._work(starts)

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Any]:
        raise_failed(results)
        self._in_flight -= 1
        rows: List[Any] = []
        for start, outcome in zip(work.tags, results):
            page = rows_of(outcome.result, self._facts)
            if page is None:
                if start is None:  # the method returned a dict, not a list: hand it back
                    self.result_dict = outcome.result
                    self.done = True
                    return []
                page = []
            rows.extend(page)
            if self._pages_by_start is not None:
                self._pages_by_start[-1 if start is None else start] = page
            if start is None:
                self._plan_rest(outcome, len(page))
            elif self.total is None and outcome.next is not None:
                # No total to plan by: follow `next` one page at a time.
                self._pages.append(outcome.next)
        self.done = not self._pages and self._in_flight == 0
        return rows

    def finish(self, rows: List[Any]) -> List[Any]:
        if self._pages_by_start is None:
            return rows
        kept = {id(row) for row in rows}  # rows that survived deduplication
        return [row for start in sorted(self._pages_by_start)
                for row in self._pages_by_start[start] if id(row) in kept]

    def _plan_rest(self, first: CommandResult, first_rows: int) -> None:
        self.total = first.total
        if first.next is None:
            self.total = first_rows if self.total is None else self.total
            return
        if self.total is None:
            self._pages.append(first.next)
            return
        self._pages.extend(range(first.next, self.total, PAGE))

    def _work(self, starts: List[Optional[int]]) -> Work:
        self._in_flight += 1
        commands = []
        for index, start in enumerate(starts):
            params = self._params if start is None else {**self._params, "start": start}
            commands.append(Command(f"p{index:04d}", self._method, params))
        return Work(commands, single=self._single, tags=starts)
