"""The opening of an ID-range listing: the first rows at once, and no COUNT on the critical
path (sans-I/O; time comes from an injected clock).

1. **First request**: the counted first page (``start=0``, which makes the server COUNT
   every matching row) and the top page (descending, ``start=-1``), in one request. When
   they meet, the listing is read: a one-page list costs one request. Otherwise the count
   sizes the IDs between them, and with the top page already in hand the spans go out at
   once: one round trip before the rows of the middle, not two.
   On a portal with many requests to spare (:data:`~.ranges.SPARE_FOR_PARALLEL_COUNT`),
   the COUNT goes in a request of its own, sent together with the uncounted first and top
   pages: no hedge to wait for, one request more (free there). It counts with the second
   page (``start=50``), so its rows are rows the ends did not read: a list of up to three
   pages costs three commands, the plan waiting for the count only when the IDs between
   the ends fit in that page.
2. **Hedge**: a COUNT costs time in proportion to the rows it counts (20.9 us a row on a big
   table: 6.3 s for 300,000 rows, settings/performance/huge-data.md), and every later
   request would wait for it. When the first request has not answered within
   ``hedge_after`` seconds, the same two pages go again uncounted (tenths of a second),
   and the first request becomes *optional*: its count still corrects the plan if it lands
   while the listing runs, and nothing waits for it once every row is proven read.
3. **Samples**: uncounted pages at :data:`~.density.SAMPLES` points spread over the IDs
   between the two ends, each bounded by the next point, show how densely those IDs are
   filled. Where every sample, the first page and the top page agree
   (:func:`~.density.agree`), the plan is sized by their density at once (exactly, when
   every one saw contiguous IDs). Where they disagree -- clusters of IDs with holes between
   them -- no density is trusted: the plan waits for the count.

Every page read here is a page of the listing: its rows are handed out and the IDs it
proves read are never read again. What this module decides travels to the range plan
(:mod:`.ranges`) as events, one way.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, List, Optional, Sequence, Set, Tuple, Union

from ..clock import Clock
from ..errors import BitrixError, may_read_again
from ..protocol.batch import Command, CommandResult
from ..run.work import Work
from . import density
from .check import check_ascending, check_descending, page_ids
from .query import PAGE, ListQuery
from .rows import Chunk, rows_of
from .tags import Tag

#: How many times one page of the opening may be refused before giving up.
MAX_REFUSALS = 20
#: IDs between the two ends up to this many segments of rows are planned as if contiguous
#: (the most rows they can hold): sampling them would cost more than it saves.
SMALL_GAP_SEGMENTS = 2
#: IDs each sample reads when the count goes beside the ends and both ends are contiguous:
#: a page costs the portal per row it reads (1.84 ms a row, 5 ms a command on a big table),
#: so ten IDs a sample take a quarter of a 50-row page's time, and whether the IDs between
#: are as contiguous as the ends shows as well in ten IDs as in fifty.
NARROW_SAMPLE = 10
#: Narrow samples at least this full size the plan by their density (IDs thinned a little);
#: any emptier -- holes, clusters -- and the plan waits for the count, as when samples
#: disagree.
DENSE = 0.8


@dataclass(frozen=True)
class Cover:
    """IDs ``[lo, hi)`` proven read."""

    lo: int
    hi: int


@dataclass(frozen=True)
class Short:
    """Pages came back this short with rows after them (joined rows)."""

    lengths: Tuple[int, ...]


@dataclass(frozen=True)
class Gap:
    """Plan the unread IDs in ``(after, top)``, filled at ``density`` (rows per ID);
    ``contiguous`` (every ID filled: spans exactly one segment); ``probe`` (densities uneven:
    count each span first)."""

    after: int
    top: int
    density: float
    contiguous: bool
    probe: bool


@dataclass(frozen=True)
class Counted:
    """The count arrived after the plan was made: ``total`` rows match (a claim)."""

    total: Optional[int]


Event = Union[Cover, Short, Gap, Counted]


class Opening:
    """The first requests of one listing (see the module docstring)."""

    def __init__(self, query: ListQuery, *, clock: Optional[Clock], hedge_after: float,
                 sample_requests: int, parallel_count: bool = False) -> None:
        self._q = query
        self._parallel = parallel_count
        self._clock = clock
        self._hedge_after = hedge_after
        self._sample_requests = max(1, sample_requests)
        self._queue: Deque[Work] = deque()
        self._started = False  # the first request went
        self._first: Optional[Work] = None
        self._first_at = 0.0
        self._quick: Optional[Work] = None
        self._samples_out = 0
        self._narrow = False  # the samples read NARROW_SAMPLE IDs each
        self._refusals = 0
        #: the first page's and the top page's IDs (None until read)
        self.head: Optional[List[int]] = None
        self.tail: Optional[List[int]] = None
        self._samples: List[density.Sample] = []
        self._second: Optional[Tuple[int, int]] = None  # the second page's first, last ID
        #: until when the plan waits for the counted second page (see decide())
        self._second_until: Optional[float] = None
        self._read: Set[int] = set()  # distinct IDs the opening read
        self.total: Optional[int] = None
        self._counted = False  # the count arrived
        self._sampled = False  # samples were sent
        #: the IDs between the ends are planned (or there are none); the count only corrects
        self.planned = False
        self._corrected = False  # the count was used (to plan, or to correct the plan)
        self.result_dict: Any = None

    # -- what to send --------------------------------------------------------------------

    def next_work(self) -> Optional[Work]:
        if not self._started and self._parallel:
            self._started = True
            q = self._q
            self._quick = self._ends()
            # Nothing waits for the count unless the samples disagree (see decide()).
            self._first = Work([Command("second", q.method,
                                        q.params(counted=True, offset=PAGE))],
                               tags=[Tag("second", role="count")], optional=True,
                               wake_after=self._hedge_after if self._clock else None)
            self._first_at = self._now()
            self._queue.append(self._first)
            return self._quick
        if not self._started:
            self._started = True
            self._first = self._ends(counted=True,
                                     wake_after=self._hedge_after if self._clock else None)
            self._first_at = self._now()
            return self._first
        if self._queue:
            return self._queue.popleft()
        if (self._quick is None and self._first is not None and not self._counted
                and not self.planned and self._now() - self._first_at >= self._hedge_after):
            # The count is slow: read the two ends again without it, and stop waiting.
            self._first.optional = True
            self._quick = self._ends()
            return self._quick
        return None

    def _ends(self, *, counted: bool = False, wake_after: Optional[float] = None) -> Work:
        """The first page (``counted``: with the COUNT) and the top page."""
        q = self._q
        return Work([Command("head", q.method, q.params(counted=counted)),
                     Command("tail", q.method, q.params(descending=True))],
                    tags=[Tag("head", role="count" if counted else "page"),
                          Tag("tail", role="cap")], wake_after=wake_after)

    @property
    def waiting(self) -> bool:
        """Replies the opening still needs before the plan can be made."""
        return not self.planned

    @property
    def read(self) -> int:
        """Distinct rows the opening's pages held."""
        return len(self._read)

    # -- what came back -------------------------------------------------------------------

    def feed(self, work: Work, results: Sequence[CommandResult]
             ) -> Tuple[List[Chunk], List[Event]]:
        """The pages of an opening reply and the coverage and short pages it proves; then
        call :meth:`decide`."""
        pages: List[Chunk] = []
        events: List[Event] = []
        for command, tag, outcome in zip(work.commands, work.tags, results):
            if not outcome.ok:
                if work.optional and self.planned:
                    continue  # a page nothing waits for any more (the count, late)
                self._again(work, command, tag, outcome)
                continue
            page = rows_of(outcome.result, self._q.facts)
            if page is None:  # the method answered with a dict, not rows
                self.result_dict = outcome.result
                self.planned = True
                return [], []
            ids = page_ids(page, self._q.facts, self._q.method)
            if tag.kind == "head":
                self._read_head(tag, outcome, ids, events)
            elif tag.kind == "second":
                self._read_second(outcome, ids, events)
            elif tag.kind == "tail":
                check_descending(ids, None, None)
                self.tail = ids
                if ids:
                    events.append(Cover(ids[-1], ids[0] + 1))
            else:
                self._read_sample(tag, ids, events)
            pages.append(Chunk(page, ids))
            self._read.update(ids)
        return pages, events

    def decide(self, capacity: int, distinct: float,
               unread: Callable[[int, int], int]) -> List[Event]:
        """What the replies so far let the plan do (``capacity``: rows one segment reads;
        ``distinct``: the share of distinct rows among joined ones; ``unread(after, top)``:
        how many IDs of (after, top) are not proven read yet)."""
        if self.result_dict is not None:
            return []
        if self.planned:
            if self._counted and not self._corrected:
                self._corrected = True
                return [Counted(self.total)]
            return []
        head, tail = self.head, self.tail
        if head is not None and not head:
            self.planned = True  # nothing matches the filter
        elif head is not None and tail is not None and (not tail or tail[-1] <= head[-1] + 1):
            self.planned = True  # the two ends meet (or nothing is left above the head)
        if self.planned or head is None or tail is None:
            self._release()
            return []
        after, top = head[-1], tail[-1]
        width = unread(after, top)
        if self._waits_for_second(width):
            # The count's own page reads the rows between the ends (unless rows moved):
            # waiting for it a little spares the commands that would read them again.
            assert self._first is not None
            self._first.optional = False
            return []
        if self._counted:
            # (samples still out land on spans already planned: a few pages read twice)
            return self._from_count(after, top, width, distinct)
        if self._samples_out:
            return []
        if width <= SMALL_GAP_SEGMENTS * capacity:
            return self._gap(after, top, 1.0, contiguous=True)
        if not self._sampled:
            self._send_samples(after, top, capacity)
            return []
        seen = self._densities()
        if self._narrow:
            if density.contiguous(seen):
                return self._gap(after, top, 1.0, contiguous=True)
            if (min(sample.density for sample in self._samples) >= DENSE
                    and density.agree(seen)):
                return self._gap(after, top, density.pooled(seen), contiguous=False)
        elif density.agree(seen):
            return self._gap(after, top, density.sizing(seen),
                             contiguous=density.contiguous(seen))
        # Uneven (IDs in clusters): how many rows the unread IDs hold is anyone's guess within
        # orders of magnitude -- samples that landed in holes proved them empty, those in a
        # cluster saw it full. No density is trusted: the count is needed after all.
        if self._first is None:  # it failed while nothing waited for it: ask again
            q = self._q
            self._first = Work([Command("head", q.method, q.params(counted=True))],
                               tags=[Tag("head", role="count")])
            self._queue.append(self._first)
        self._first.optional = False
        return []

    def _gap(self, after: int, top: int, rows_per_id: float, *,
             contiguous: bool) -> List[Event]:
        """The plan stands without the count: the IDs between the ends at this density."""
        self.planned = True
        self._release()
        return [Gap(after, top, rows_per_id, contiguous=contiguous, probe=False)]

    def overdue(self) -> bool:
        """The wait for the count's second page (see :meth:`decide`) is over without it:
        the plan is to be made now."""
        return (self._second_until is not None and not self._counted and not self.planned
                and self._now() >= self._second_until)

    def _waits_for_second(self, width: int) -> bool:
        """Whether to wait for the counted second page rather than plan the ``width`` IDs
        between the ends: they hold no more rows than that page (as densely filled as the
        ends), and the wait has not outlasted the hedge."""
        first = self._first
        if self._counted or first is None or first.tags[0].kind != "second":
            return False
        if density.pooled(self._densities()) * width > PAGE:
            return False
        if self._second_until is None:
            self._second_until = self._first_at + self._hedge_after
        return self._now() < self._second_until

    def dropped(self, work: Work) -> None:
        """``work`` failed while nothing waited for it (see :meth:`RangePaging.dropped`)."""
        if work is self._first and not self._counted:
            self._first = None

    # -- parts ----------------------------------------------------------------------------

    def _read_head(self, tag: Tag, outcome: CommandResult, ids: List[int],
                   events: List[Event]) -> None:
        check_ascending(ids, None, None)
        counted = tag.role == "count"
        if counted:
            self.total = outcome.total
            self._counted = True
            if self._quick is not None and not self._parallel:
                self._quick.optional = True  # the count's own pages come with it
            if self.head is not None:
                return  # the uncounted pages were first: these are the same rows
        elif self.head is not None:
            return
        self.head = ids
        if ids:
            events.append(Cover(ids[0], ids[-1] + 1))
        more = outcome.next is not None or (outcome.total or 0) > len(ids)
        if ids and len(ids) < PAGE and more:
            events.append(Short((len(ids),)))  # a short first page with more behind: joins

    def _read_second(self, outcome: CommandResult, ids: List[int],
                     events: List[Event]) -> None:
        """The counted second page: the count, and the IDs from its first row to its last
        proven (consecutive rows of the ordered listing, as the server had them)."""
        check_ascending(ids, None, None)
        self.total = outcome.total
        self._counted = True
        if ids:
            self._second = (ids[0], ids[-1])
            events.append(Cover(ids[0], ids[-1] + 1))

    def _read_sample(self, tag: Tag, ids: List[int], events: List[Event]) -> None:
        self._samples_out -= 1
        after, bound = tag.after, tag.bound
        check_ascending(ids, after, bound)
        sample: Optional[density.Sample]
        if self._narrow and bound is not None:
            # The rows of its whole window (fewer than a page: the page holds them all,
            # short only where IDs are missing).
            sample = density.Sample(len(set(ids)), bound - after - 1,
                                    max(ids) - min(ids) if ids else 0)
        else:
            sample = density.from_ascending(after, ids, bound)
        if sample is not None:
            self._samples.append(sample)
        if ids:
            events.append(Cover(after + 1, ids[-1] + 1))
        elif bound is not None:
            events.append(Cover(after + 1, bound))

    def _send_samples(self, after: int, top: int, capacity: int) -> None:
        """Pages at points spread over (after, top), each bounded by the next point, in as
        many requests as the portal's burst spares; the points lie a whole number of
        segments apart, so that contiguous IDs between them fill whole spans."""
        self._sampled = True
        starts = density.points(after, top, grain=capacity)
        self._narrow = self._parallel and _full_run(self.head) and _full_run(self.tail)
        commands = []
        tags = []
        for index, start in enumerate(starts):
            bound = starts[index + 1] if index + 1 < len(starts) else top
            if self._narrow:
                bound = min(bound, start + NARROW_SAMPLE + 1)
            commands.append(Command(f"s{index}", self._q.method,
                                    self._q.params(after=start, before=bound)))
            tags.append(Tag("sample", after=start, bound=bound))
        per = math.ceil(len(commands) / min(self._sample_requests, len(commands)))
        for lo in range(0, len(commands), per):
            self._queue.append(Work(commands[lo:lo + per], tags=tags[lo:lo + per]))
        self._samples_out = len(commands)

    def _densities(self) -> List[density.Sample]:
        seen = list(self._samples)
        for end in (self.head, self.tail):
            sample = density.from_end(end or [])
            if sample is not None:
                seen.append(sample)
        return seen

    def _from_count(self, after: int, top: int, width: int, distinct: float) -> List[Event]:
        """Plan (after, top), ``width`` IDs of it unread, from the count: the count less what
        the opening read, over the IDs its pages did not prove (IDs a resumed listing skips
        are taken to be as full as the rest)."""
        self.planned = True
        self._corrected = True
        self._release()
        if width <= 0:
            return []
        total = self.total
        if total is None:  # no count after all: as dense as the ends and samples show
            average = density.pooled(self._densities())
        else:
            sampled = sum(sample.width for sample in self._samples)
            if self._second is not None:  # its rows are read: so are its IDs
                sampled += max(0, min(self._second[1], top - 1) -
                               max(self._second[0], after + 1) + 1)
            ids = max(1, top - after - 1 - sampled)
            average = min(1.0, max(0.0, total * distinct - len(self._read)) / ids)
        contiguous = total is not None and average >= 1.0
        local = self._densities()
        # Even when every page read holds about what the count's average expects of it.
        even = contiguous or (total is not None and bool(local) and density.agree(
            local + [density.Sample(round(average * ids), ids)]))
        return [Gap(after, top, average, contiguous=contiguous, probe=not even)]

    def _release(self) -> None:
        """Nothing waits for the opening's own requests once the plan stands."""
        for work in (self._first, self._quick):
            if work is not None and self.planned:
                work.optional = True

    def _again(self, work: Work, command: Command, tag: Tag, outcome: CommandResult) -> None:
        """Send a refused page of the opening again, alone; any other failure ends it."""
        self._refusals += 1
        if outcome.error is None or not may_read_again(outcome.error) or \
                self._refusals > MAX_REFUSALS:
            raise _error(outcome)
        again = Work([command], tags=[tag], optional=work.optional)
        self._queue.append(again)
        if tag.role == "count" and work is self._first:
            self._first = again  # the count now travels in this one

    def _now(self) -> float:
        return self._clock.now() if self._clock is not None else 0.0


def _full_run(ids: Optional[List[int]]) -> bool:
    """A whole page of consecutive IDs: the end of a table read there is contiguous."""
    sample = density.from_end(ids or [])
    return sample is not None and sample.rows == PAGE and density.contiguous([sample])


def _error(outcome: CommandResult) -> BitrixError:
    if outcome.error is not None:
        return outcome.error
    return BitrixError(f"{outcome.method}: a page was not read")
