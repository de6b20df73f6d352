"""Plain paging: offset pages of exactly the caller's call, with guards against every way a
server's ``start``, ``next`` and ``total`` can mislead (bitrix-rest-semantics.md §8).

The fallback for methods and calls an ID-range plan cannot serve (methods.py says which, and
a range plan falls back here when replies contradict it). Each command here makes the server
COUNT the filter and skip the offset, so on big tables the range planner is far cheaper.

What is checked:

* pages are asked for at fixed steps of 50 (``start`` = 50, 100, ...), not at the server's
  ``next``: with joined rows ``next`` is ``offset + rows on the page``, which overlaps, while
  50-steps over the joined offsets leave no gap; rows that show up twice are dropped by ID
  upstream;
* ``start`` must be honoured: the second page is asked for alone, and when it repeats the
  first the method ignores ``start`` -- it is then paged by its own parameters where
  methods.py knows them (``NAV_PARAMS``), else :class:`~bitrix_fast.errors.ListingError`
  names the method;
* ``total`` sizes the plan, never ends it: past the pages ``total`` allows, paging goes on
  while pages still bring new IDs, and stops at the first batch whose last page brings none
  (also when there is no ``total`` at all, or ``next`` never ends).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..protocol.batch import Command, CommandResult
from ..errors import ListingError
from ..protocol.methods import MethodFacts
from ..run.work import Work
from .check import Contradiction
from ..protocol.params import find_key
from .query import PAGE, order_params
from .rows import Chunk, IdSet, row_id, rows_of


def with_order(params: Dict[str, Any], facts: MethodFacts) -> Dict[str, Any]:
    """``params`` plus an ID order when the caller gave none and the method is known to take
    one: without it the server's row order between pages is not guaranteed."""
    if facts.order is None:
        return dict(params)
    names = ("sort",) if facts.order == "sort" else (facts.order_key,)
    if any(find_key(params, name) is not None for name in names):
        return dict(params)
    return {**params, **order_params(facts, "ASC")}


class IgnoresStart(Contradiction):
    """The second page repeated the first: ``start`` is ignored."""


class OffsetPaging:
    """The first page alone, the second alone (to prove ``start`` works), then the rest in
    batches of offset pages, extended while pages bring new IDs."""

    def __init__(self, method: str, params: Dict[str, Any], facts: MethodFacts, *,
                 batch_size: int = 50, single: bool = False, keep_pages: bool = False) -> None:
        self._method = method
        self._facts = facts
        self._params = with_order(params, facts)
        self._batch = 1 if single else max(1, batch_size)
        self._single = single
        self._pending: List[int] = []  # page numbers (0-based) to send
        self._planned = 0  # pages planned so far (page numbers below this)
        self._started = False
        self._verified = False
        self._first: Optional[Tuple[int, ...]] = None
        self._claims_more = False  # the first page claimed rows beyond it
        self._page_fresh: Dict[int, bool] = {}  # page number -> it brought new IDs
        #: id(row) -> (page, position): the server's order, which pages arriving in any order
        #: lose (kept only when asked: get_all with an order that is not by ID)
        self._positions: Optional[Dict[int, Tuple[int, int]]] = {} if keep_pages else None
        self._in_flight = 0
        self._seen = IdSet()
        #: how many pages the server's ``total`` allows (plus slack), None without a total
        self._claimed_pages: Optional[int] = None
        self._stopped = False
        #: rows received on pages that brought new IDs, duplicates included
        self.received = 0
        self._lengths: Dict[int, int] = {}  # page number -> rows, of pages with new IDs
        self.total: Optional[int] = None
        self.result_dict: Any = None
        self.done = False

    def next_work(self) -> Optional[Work]:
        if not self._started:
            self._started = True
            return self._work([0])
        if not self._pending or self._stopped:
            return None
        take, self._pending = self._pending[:self._batch], self._pending[self._batch:]
        return self._work(take)

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Chunk]:
        self._in_flight -= 1
        rows: List[Any] = []
        for page_no, outcome in zip(work.tags, results):
            if not outcome.ok:
                if outcome.error is not None:
                    raise outcome.error
                raise ListingError(self._method, f"page {page_no + 1} was not read")
            page = rows_of(outcome.result, self._facts)
            if page is None:
                if page_no == 0:  # the method returned a dict, not a list: hand it back
                    self.result_dict = outcome.result
                    self.done = True
                    return []
                raise Contradiction(f"page {page_no + 1} came back without rows")
            fresh = self._fresh(page)
            if fresh:  # a page of repeats only (page 1 again past the end) explains nothing
                self.received += len(page)
                self._lengths[page_no] = len(page)
            rows.extend(page)
            if self._positions is not None:
                self._positions.update((id(row), (page_no, n)) for n, row in enumerate(page))
            if page_no == 0:
                self._after_first(outcome, page)
            elif page_no == 1 and not self._verified:
                self._after_second(page, fresh)
            self._page_fresh[page_no] = fresh > 0
        if self._verified and not self._pending and self._in_flight == 0 and not self._stopped:
            self._extend(self._page_fresh.get(self._planned - 1, False))
        self.done = self._in_flight == 0 and (self._stopped or not self._pending)
        return [Chunk(rows)]  # in the server's order: the listing deduplicates row by row

    def accounted(self, distinct: int) -> int:
        """Rows the pages account for: those received (``distinct`` and repeats), plus the
        rows missing from pages cut short (the server dropped joined duplicates there):
        before the last page, all it lacks of 50; on the last, what it lacks of the rest
        ``total`` leaves for it."""
        if not self._lengths:
            return 0
        last = max(self._lengths)
        short = sum(PAGE - n for page, n in self._lengths.items() if page < last and n < PAGE)
        if self.total is not None:
            short += max(0, min(PAGE, self.total - PAGE * last) - self._lengths[last])
        return self.received + short

    def in_page_order(self, rows: List[Any]) -> List[Any]:
        """``rows`` (those this plan yielded) in the server's page order."""
        positions = self._positions
        if positions is None:
            return rows
        return sorted(rows, key=lambda row: positions.get(id(row), (0, 0)))

    # -- the guards -----------------------------------------------------------------------

    def _after_first(self, outcome: CommandResult, page: List[Any]) -> None:
        self.total = outcome.total
        self._first = tuple(row_id(row, self._facts) for row in page)  # type: ignore[misc]
        if self._facts.paging == "none":
            self._stopped = True  # one reply holds every row
            return
        count = len(page)
        if count == 0:
            self._stopped = True
            return
        claims_end = outcome.next is None and (self.total is None or self.total <= count)
        self._claims_more = not claims_end
        if claims_end and count < PAGE:
            self._stopped = True  # a short page, and no claim of more
            return
        if self.total is not None:
            self._claimed_pages = math.ceil(self.total / PAGE)
        # A full last page, or a claim of more: the second page, alone, proves `start` works.
        self._pending = [1]
        self._planned = 2

    def _after_second(self, page: List[Any], fresh: int) -> None:
        ids = tuple(row_id(row, self._facts) for row in page)
        if ids and ids == self._first:
            # Past the end a classic list answers page 1 again; only a repeat where the first
            # page showed rows at this offset -- a total above one page, or without a total a
            # full first page -- shows `start` ignored.
            first = self._first or ()
            beyond = self.total > PAGE if self.total is not None else len(first) >= PAGE
            if self._claims_more and beyond:
                raise IgnoresStart("the second page repeats the first: `start` is ignored")
            if self.total is not None and self.total < len(set(first)) >= PAGE:
                # A total below the rows of the full first page is false, and so may be the
                # end it claims: a repeat then cannot tell the end from an ignored `start`.
                raise IgnoresStart(f"the second page repeats the first, and the total "
                                   f"({self.total:,}) is below the {len(set(first))} rows "
                                   f"of the first: the end cannot be told from an ignored "
                                   f"`start`")
            self._stopped = True
            return
        self._verified = True
        if not page or fresh == 0:
            self._stopped = True
            return
        pages = self._claimed_pages
        upto = max(self._planned, pages if pages is not None else self._planned + self._batch)
        self._pending = list(range(self._planned, upto))
        self._planned = upto

    def _extend(self, fresh_last: bool) -> None:
        """Past what was planned: another batch of pages while the last one brought new IDs
        (``total`` can understate; without it this is the only bound)."""
        if not fresh_last:
            self._stopped = True
            return
        upto = self._planned + self._batch
        self._pending = list(range(self._planned, upto))
        self._planned = upto

    def _fresh(self, page: List[Any]) -> int:
        fresh = 0
        for row in page:
            value = row_id(row, self._facts)
            if value is None:
                fresh += 1  # rows without IDs cannot be told apart: count them as new
            elif self._seen.add(value):
                fresh += 1
        return fresh

    def _work(self, pages: List[int]) -> Work:
        self._in_flight += 1
        commands = []
        for index, page_no in enumerate(pages):
            commands.append(Command(f"p{index:04d}", self._method, self._page_params(page_no)))
        return Work(commands, single=self._single or pages == [0], tags=pages)

    def _page_params(self, page_no: int) -> Dict[str, Any]:
        if page_no == 0:
            return self._params
        return {**self._params, "start": page_no * PAGE}


class NavPaging(OffsetPaging):
    """Pages by ``PARAMS.NAV_PARAMS`` (``nPageSize``, ``iNumPage``), for methods that ignore
    ``start`` (task.elapseditem.getlist), with the same guards as plain paging."""

    def _page_params(self, page_no: int) -> Dict[str, Any]:
        params = dict(self._params)
        key = find_key(params, "PARAMS") or "PARAMS"
        extra = dict(params.get(key) or {})
        nav = dict(extra.get("NAV_PARAMS") or {})
        nav.update({"nPageSize": PAGE, "iNumPage": page_no + 1})
        extra["NAV_PARAMS"] = nav
        params[key] = extra
        params.pop("start", None)
        return params

    def _after_second(self, page: List[Any], fresh: int) -> None:
        ids = tuple(row_id(row, self._facts) for row in page)
        if ids and ids == self._first and self._claims_more:
            raise ListingError(self._method, "the second page asked for by NAV_PARAMS repeats "
                                             "the first: the method cannot be paged")
        super()._after_second(page, fresh)
