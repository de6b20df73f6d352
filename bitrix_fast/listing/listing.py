"""One listing, start to end: the strategy the method allows, switched when replies
contradict it, every row deduplicated by ID, and the server's claims checked at the end.

This is the plan the executor drives (:class:`bitrix_fast.run.work.Plan`). Inside, one strategy
at a time does the work: the ID-range plan (:mod:`.plan`), plain paging (:mod:`.paging`), or
paging by ``NAV_PARAMS``. When the range plan meets a reply that contradicts its request (the
method ignores the ID filter or the order), the listing logs one warning and goes on with
plain paging; rows already yielded are not yielded again (deduplication by ID spans both).
When plain paging finds that ``start`` is ignored, a method with its own paging parameters is
paged that way; any other is a :class:`~bitrix_fast.errors.ListingError` naming the method.
"""
from __future__ import annotations

import itertools
import logging
import warnings
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

from ..protocol.batch import CommandResult
from ..errors import IncompleteListWarning, ListingError, Stopped
from ..protocol.methods import MethodFacts
from ..run.work import Work
from .check import Contradiction
from .paging import IgnoresStart, NavPaging, OffsetPaging
from .ranges import Pace, RangePaging
from .query import ListQuery, id_order, ranges_fit
from .rows import Chunk, Dedup, row_id

logger = logging.getLogger("bitrix_fast")


class Paging(Protocol):
    """What a paging strategy offers the listing (:class:`RangePaging`,
    :class:`OffsetPaging`, :class:`NavPaging`)."""

    done: bool
    result_dict: Any

    @property
    def total(self) -> Optional[int]: ...

    def next_work(self) -> Optional[Work]: ...

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Chunk]: ...

    def accounted(self, distinct: int) -> float: ...


class Listing:
    """Every row of one list call, each once, or an error that says what is missing."""

    def __init__(self, method: str, params: Dict[str, Any], facts: MethodFacts, *,
                 batch_size: int, single: bool = False,
                 skip: Sequence[Tuple[int, int]] = (), pace: Pace = Pace(),
                 finishing: bool = False) -> None:
        self._method = method
        self._params = params
        self._facts = facts
        self._batch = batch_size
        self._single = single
        self._order = id_order(params, facts)
        self._strategy: Paging
        if facts.paging == "nav":
            self._strategy = NavPaging(method, params, facts, batch_size=batch_size,
                                          single=single)
        elif (facts.ranges and facts.paging == "start" and not single and
              self._order is not None and ranges_fit(params, facts)):
            self._strategy = RangePaging(ListQuery(method, params, facts), batch_size=batch_size,
                                         skip=skip, pace=pace)
        else:
            # A call ordered by anything but ID keeps the server's order (get_all).
            self._strategy = OffsetPaging(method, params, facts, batch_size=batch_size,
                                       single=single, keep_pages=self._order is None)
        #: id(work) -> the work and the strategy that planned it
        self._owners: Dict[int, Tuple[Work, Paging]] = {}
        self._dedup = Dedup(facts)
        #: for :meth:`finish`: each output's runs -- (first ID, last ID, rows) of its
        #: consecutive rows that ascend strictly by ID -- while every output had them
        self._runs: Optional[List[List[Tuple[int, int, int]]]] = [] if finishing else None
        self._checked = False
        # A resumed listing skips rows on purpose: its total says nothing about what it reads.
        self._skipping = bool(skip)

    # -- the Source protocol -------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Every row is in, and nothing on the wire is awaited (an optional read -- a count
        the plan no longer needs -- may still be there)."""
        return self._strategy.done and all(work.optional for work, _ in self._owners.values())

    @property
    def total(self) -> Optional[int]:
        return self._strategy.total

    @property
    def result_dict(self) -> Any:
        return self._strategy.result_dict

    def next_work(self) -> Optional[Work]:
        work = self._strategy.next_work()
        if work is not None:
            self._owners[id(work)] = (work, self._strategy)
        return work

    def mark(self) -> Any:
        """The ID intervals proven read so far: taken before a reply is fed, so every row
        of them is in deliveries before that reply's."""
        return self.covered()

    def ready(self) -> List[Any]:
        return []

    def before_send(self, work: Work) -> None:
        pass

    def failed(self, work: Work, error: BaseException) -> List[Any]:
        """A request that raised: never sent because the listing is stopping (nothing to
        learn from it), a read nothing waits for any more (a count the plan did without),
        or a failure that ends the listing."""
        owned = self._owners.pop(id(work), None)
        if isinstance(error, Stopped):
            return []
        if work.optional:
            if owned is not None and isinstance(owned[1], RangePaging):
                owned[1].dropped(work)  # the plan asks again if it needs it after all
            return []
        raise error

    def lost(self, work: Work, error: BaseException) -> List[Any]:
        # The listing is stopping: a reply that does not come is a range not read, which
        # nothing claims (coverage comes from replies fed).
        self._owners.pop(id(work), None)
        return []

    def leftovers(self, reason: BaseException) -> List[Any]:
        return []

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Any]:
        owned = self._owners.pop(id(work), None)
        if owned is None or owned[1] is not self._strategy:
            return []  # a reply to a strategy given up: the current one reads those rows
        if any(isinstance(result.error, Stopped) for result in results):
            return []  # the listing is stopping: this reply proves nothing
        try:
            chunks = self._strategy.feed(work, results)
        except IgnoresStart as error:
            self._switch_from_plain(error)
            return []
        except Contradiction as error:
            self._switch_to_plain(error)
            return []
        rows, runs = self._dedup.chunks(chunks)
        if rows and self._runs is not None:
            if runs is None:
                self._runs = None
            else:
                self._runs.append(runs)
        if self.done and not self._checked:
            self._checked = True
            self._check_total()
        return rows

    def finish(self, deliveries: Sequence[List[Any]]) -> List[Any]:
        """The rows of a whole listing -- its ``deliveries``, every one in the order they
        were fed -- in get_all's order: by ID (descending when asked) when the call is
        ordered by ID or not at all; else the server's page order."""
        facts = self._facts
        descending = self._order == "DESC"
        field = facts.id_field
        if self._order is not None and self._runs is not None:
            # Pages checked in ID order: ordering the runs of rows they left by their first
            # IDs orders every row when no two runs overlap -- an ID read a page instead of
            # one per row.
            ordered = _in_runs(deliveries, self._runs, field)
            if ordered is not None:
                return ordered[::-1] if descending else ordered
        rows = list(itertools.chain.from_iterable(deliveries))
        if self._order is None:
            return self._strategy.in_page_order(rows) if isinstance(
                self._strategy, OffsetPaging) else rows
        try:  # every row a dict with its ID: the quick key
            return sorted(rows, key=lambda row: int(row[field]), reverse=descending)
        except (KeyError, TypeError, ValueError):
            return sorted(rows, key=lambda row: row_id(row, facts) or 0, reverse=descending)

    def covered(self) -> List[Tuple[int, int]]:
        """ID intervals ``[lo, hi)`` proven read, every row of them in replies fed so far
        (range plans only: plain paging proves no interval)."""
        if isinstance(self._strategy, RangePaging):
            return self._strategy.covered.intervals()
        return []

    # -- switching ------------------------------------------------------------------------

    def _switch_to_plain(self, error: Contradiction) -> None:
        if not isinstance(self._strategy, RangePaging):
            raise ListingError(self._method, error.reason)
        logger.warning("%s: %s; reading it by offset pages instead of ID ranges",
                       self._method, error.reason)
        self._strategy = OffsetPaging(self._method, self._params, self._facts,
                                   batch_size=self._batch, single=self._single)

    def _switch_from_plain(self, error: IgnoresStart) -> None:
        raise ListingError(self._method, f"{error.reason}; bitrix_fast knows no other way to "
                                         f"page this method, and will not return part of it")

    def _check_total(self) -> None:
        """When fewer distinct rows came back than the server's ``total`` and what the
        replies showed does not explain it, say so (as fast_bitrix24 does): rows seen twice,
        or pages cut short by joins (whose COUNT counts joined rows) explain a difference."""
        strategy = self._strategy
        total = strategy.total
        if total is None or strategy.result_dict is not None or self._skipping:
            return
        distinct = self._dedup.passed
        if distinct >= total or strategy.accounted(distinct) >= total:
            return
        warnings.warn(f"{self._method}: {distinct:,} rows came back, but the server's total "
                      f"is {total:,}: rows deleted while it ran, a method that does not "
                      f"page completely, or a wrong count",
                      IncompleteListWarning, stacklevel=2)


def _in_runs(deliveries: Sequence[List[Any]], runs: List[List[Tuple[int, int, int]]],
             field: str) -> Optional[List[Any]]:
    """The rows of ``deliveries`` in ID order, when they are the outputs whose ``runs`` were
    recorded (each output's consecutive ascending runs: first ID, last ID, length) and no
    two runs overlap; else None (then only a sort of every row orders them)."""
    parts = [part for part in deliveries if part]
    if len(parts) != len(runs):
        return None
    slices: List[Tuple[int, int, List[Any], int, int]] = []
    try:
        for part, part_runs in zip(parts, runs):
            start = 0
            for first, last, n in part_runs:
                if int(part[start][field]) != first:
                    return None
                slices.append((first, last, part, start, n))
                start += n
            if start != len(part):
                return None
    except (IndexError, KeyError, TypeError, ValueError):  # not the rows it recorded
        return None
    slices.sort(key=lambda piece: piece[0])
    out: List[Any] = []
    highest: Optional[int] = None
    # Runs that follow each other in one delivery are copied as one slice.
    pending: List[Any] = []
    begin = end = 0
    for first, last, part, start, n in slices:
        if highest is not None and first <= highest:
            return None
        highest = last
        if part is pending and start == end:
            end += n
            continue
        out.extend(pending[begin:end])
        pending, begin, end = part, start, start + n
    out.extend(pending[begin:end])
    return out
