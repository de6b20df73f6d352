"""The ID-range plan: ~2,500 rows per request, every command's cost independent of the table
size, and every ID interval proven read before it is called done.

How a listing runs (sans-I/O: this module builds commands and reads their results; the
scheduler sends them):

1. **Opening** (:mod:`.opening`): the counted first page and the top page in one request;
   when the COUNT is slow, the two again uncounted and pages at several points between
   them, so nothing waits for the count. It ends with the IDs between the ends planned, or
   proven read.
2. **Spans** (:mod:`.spans`): the unread IDs are cut into spans of about one batch of rows
   each (two where requests, not latency, bound the export), sized by the count or by the
   density the samples agree on. Every span is read by a *segment*: ``start=-1`` pages
   chained through ``$result[prev][k][ID]`` references (no COUNT, no OFFSET), bounded by the
   span's end, plus one descending page of the span's top. Segments of several spans are
   packed into full batches; as many batches run at once as the portal's limits allow.
   Where the density is uneven (IDs in clusters) a span is first *probed*: one counted page
   and its top page, two commands, which give its exact size.
3. **A late count** (it landed after the plan was made from samples) re-plans the spans not
   sent yet when it leaves them far fewer rows than planned (holes the samples missed) or
   far more.

**Proof, not claims** (bitrix-rest-semantics.md §8): a span is done only when its pages
cover it -- the ascending chain reaches the descending top page, or a page comes back empty,
or the chain reaches the span's last ID (:mod:`.check`). A short page, ``total`` and ``next``
only size the plan. Pages cut short by joins are read on (:mod:`.joins`); a span not covered
yet is re-planned from what was proven. A page that contradicts its own request -- a row
outside the span, rows out of order, an ascending and a descending page of the same IDs
that disagree -- raises :class:`~.check.Contradiction`: the method ignores the ID filter or
the order, and the listing falls back to plain paging.

**Inside the 60 s cut**: the commands per batch come from the measured time of this
method's pages (``Pace.room``), so a slow method gets shorter segments; a segment cut
anyway (or longer than the portal runs) proves what it read and the rest is planned again.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence, Tuple

from ..clock import Clock
from ..errors import BitrixError, may_read_again
from ..protocol.batch import MAX_COMMANDS, Command, CommandResult
from ..run.work import Work
from . import opening as op
from .check import Contradiction, check_ascending, check_descending, page_ids
from .coverage import Coverage
from .joins import Joins
from .query import PAGE, ListQuery
from .rows import Chunk, rows_of
from .spans import EVEN_FACTOR, Span, cut, run_density, split
from .tags import Tag

#: How many times one span may be refused (or cut) before giving up.
MAX_REFUSALS = 20
#: A part-filled batch with at least this share of its commands goes without waiting.
NEARLY_FULL = 0.9
#: Up to this many segments of rows (or as many as the portal's burst admits at once),
#: spans are one segment each: one round of requests. Bigger listings are bound by
#: requests, and get spans of two segments (one proof per two segments of rows).
SINGLE_ROUND_SPANS = 4
#: Up to this many spans, uneven densities are not probed first: a probe's count saves a
#: broken chain in a hole, and a span's first page counts it anyway.
FEW_SPANS = 2
#: Spans of at most this many IDs are read by one page, without a top page: it reaches
#: their last ID or comes back empty, either of which proves them.
NARROW = 8
#: A standard portal's burst, when the plan is not told the portal's.
DEFAULT_BURST = 50
#: Seconds the first request may take before the opening stops waiting for its COUNT: a
#: first page and a top page take tenths of a second, a COUNT over a big table seconds.
#: Stopping to wait costs about two requests (the uncounted ends, the samples), so the
#: opening waits at least as long as two requests take at the portal's rate (a standard
#: portal, 2 a second: 1 s; Enterprise, 5 a second: 0.4 s).
HEDGE_AFTER = 0.2
HEDGE_REQUESTS = 2
#: A standard portal's rate, when the plan is not told the portal's.
DEFAULT_RATE = 2.0
#: Portals that admit this many requests at once per sample request get the samples in
#: parallel requests (Enterprise: two, four pages each); a standard portal gets them in one.
#: Each extra request costs a slot of a table's request count, each page in a request
#: tenths of a second of the opening.
BURST_PER_SAMPLE_REQUEST = 125
#: A portal with this many requests free at the start of a listing gets the COUNT in a
#: request of its own, sent with the uncounted first and top pages instead of after a
#: hedge: a request costs no time there unless the listing outgrows the burst, and the
#: plan no longer waits for a COUNT it may not need (Enterprise: 250 free).
SPARE_FOR_PARALLEL_COUNT = 125

#: Commands of ``method`` one batch may hold (inside the 60 s cut), of the ``wanted``.
Room = Callable[[str, int], int]


@dataclass(frozen=True)
class Pace:
    """What a plan knows of the portal's pace: the clock (for the opening's hedge; None: it
    never stops waiting for the count), the burst of requests it admits at once and its
    rate, the batch room per method (None: ``batch_size``), how long the opening waits
    for its count (None: from the rate, see :data:`HEDGE_AFTER`), and the requests the
    portal would admit right now (``free``; None: the whole burst)."""

    clock: Optional[Clock] = None
    burst: int = DEFAULT_BURST
    rate: float = DEFAULT_RATE
    room: Optional[Room] = None
    hedge_after: Optional[float] = None
    free: Optional[Callable[[], float]] = None

    @property
    def spare(self) -> float:
        """Requests this listing could send at once right now."""
        return self.burst if self.free is None else min(float(self.burst), self.free())

    @property
    def hedge(self) -> float:
        if self.hedge_after is not None:
            return self.hedge_after
        return max(HEDGE_AFTER, HEDGE_REQUESTS / self.rate) if self.rate > 0 else HEDGE_AFTER

    def at_most(self, requests: int) -> "Pace":
        """This pace for a listing that never has more than ``requests`` requests out at
        once (the worker threads, an iterator's read-ahead): the part of the burst it can
        use. Planned for the whole burst, its spans would wait for each other and leave
        part-filled batches."""
        return replace(self, burst=max(1, min(self.burst, requests)))


class RangePaging:
    """Plans one ``*.list`` listing over ID ranges. See the module docstring."""

    def __init__(self, query: ListQuery, *, batch_size: int = MAX_COMMANDS,
                 skip: Sequence[Tuple[int, int]] = (), pace: Pace = Pace()) -> None:
        self._q = query
        self._method = query.method
        self._facts = query.facts
        self._batch_size = max(2, batch_size)
        self._pace = pace
        #: segments a span is planned for (see SINGLE_ROUND_SPANS)
        self._segments = 1
        self._spans: Dict[int, Span] = {}
        self._keys = 0
        self._ready: Deque[int] = deque()
        self._in_flight: Dict[int, Work] = {}  # id(work) -> work, for works on the wire
        self._opening = op.Opening(
            query, clock=pace.clock, hedge_after=pace.hedge,
            sample_requests=pace.burst // BURST_PER_SAMPLE_REQUEST,
            parallel_count=pace.clock is not None and pace.spare >= SPARE_FOR_PARALLEL_COUNT)
        self._joins = Joins()
        self._read = 0  # distinct rows the spans' segments read
        #: ID intervals proven read (with the intervals a resumed listing skips)
        self.covered = Coverage(skip)
        self.result_dict: Any = None
        self.done = False

    @property
    def total(self) -> Optional[int]:
        """The count (a claim), once it arrived."""
        return self._opening.total

    # -- the Plan interface -------------------------------------------------------------

    def next_work(self) -> Optional[Work]:
        if self._opening.overdue():
            self._apply(self._opening.decide(self._capacity(), self._joins.distinct,
                                             self._unread))
        work = self._opening.next_work() or self._next_batch()
        if work is not None:
            self._in_flight[id(work)] = work
        return work

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Chunk]:
        self._in_flight.pop(id(work), None)
        if work.tags[0].kind == "span":
            pages: List[Chunk] = []
            for key, part in _by_span(work.tags, results):
                pages.extend(self._read_segment(self._spans[key], part))
        else:
            pages, events = self._opening.feed(work, results)
            self._apply(events)
            self.result_dict = self._opening.result_dict
            self._apply(self._opening.decide(self._capacity(), self._joins.distinct,
                                             self._unread))
        self.done = self.result_dict is not None or (
            not self._opening.waiting and not self._ready and
            all(w.optional for w in self._in_flight.values()))
        return pages

    def accounted(self, distinct: int) -> float:
        return self._joins.accounted(distinct)

    def dropped(self, work: Work) -> None:
        """An optional work failed instead of replying (a count nothing waited for)."""
        self._in_flight.pop(id(work), None)
        self._opening.dropped(work)

    # -- batches --------------------------------------------------------------------------

    def _batch(self) -> int:
        """Commands per batch: as asked, fewer for a method whose pages are slow (60 s cut)."""
        room = self._pace.room
        wanted = self._batch_size
        return max(2, min(wanted, room(self._method, wanted))) if room else wanted

    def _next_batch(self) -> Optional[Work]:
        # A batch that is not nearly full waits while replies in flight may add to it (small
        # leftovers of several spans pack into one request); a nearly full one goes at once,
        # so the last span of a listing does not wait a round trip for every other reply.
        batch = self._batch()
        waiting = any(not w.optional for w in self._in_flight.values())
        if not self._ready or (waiting and self._ready_commands(batch) < NEARLY_FULL * batch):
            return None
        commands: List[Command] = []
        tags: List[Tag] = []
        while self._ready and len(commands) < batch:
            span = self._spans[self._ready[0]]
            room = batch - len(commands)
            # Where requests bound the export, a span's segment squeezes into what room is
            # left (its top comes later); where the burst admits every span at once, a span
            # goes only where its whole segment fits, so that it ends in one round.
            if self._segment_size(span, room if self._segments > 1 else batch) > room:
                break
            self._ready.popleft()
            span.fresh = False
            self._segment(span, room, commands, tags)
        if not commands:
            return None
        return Work(commands, chained=True, tags=tags)

    # -- what the opening decided ---------------------------------------------------------

    def _apply(self, events: Iterable[op.Event]) -> None:
        for event in events:
            if isinstance(event, op.Cover):
                self.covered.add(event.lo, event.hi)
            elif isinstance(event, op.Short):
                self._joins.short(*event.lengths)
            elif isinstance(event, op.Gap):
                self._plan(event.after, event.top, event.density, contiguous=event.contiguous,
                           probe=event.probe)
            else:
                self._correct(event.total)

    def _unread(self, after: int, top: int) -> int:
        return sum(hi - lo for lo, hi in self.covered.gaps(after + 1, top))

    # -- spans ----------------------------------------------------------------------------

    def _capacity(self) -> int:
        """Rows one segment reads: a chain of pages plus the top page, each advancing by at
        least ``ref + 1`` rows."""
        return self._batch() * (self._joins.ref + 1)

    def _plan(self, after: int, top: int, density: float, *, contiguous: bool,
              probe: bool) -> None:
        """Cut the unread IDs in (after, top) -- less what is proven read -- into spans of
        about one (or two) segments of rows each, at ``density`` rows per ID."""
        gaps = self.covered.gaps(after + 1, top)
        width = sum(hi - lo for lo, hi in gaps)
        if width <= 0:
            return
        density = min(1.0, max(0.0, density))
        rows = density * width
        capacity = self._capacity()
        if contiguous:
            # Contiguous spans hold exactly what we plan and meet their top page exactly:
            # one segment each, no overlap, every span in flight as soon as the bucket allows.
            target = float(capacity)
        else:
            if rows > SINGLE_ROUND_SPANS * capacity:
                self._segments = 2
            # Density guesses keep two standard deviations of room, so nearly every span
            # ends inside its planned segments.
            target = self._segments * capacity - 2 * math.sqrt(capacity)
        pieces = cut(gaps, density, target)
        # A couple of spans are not worth probing: their first pages count them anyway.
        probe = probe and len(pieces) > FEW_SPANS
        for lo, hi, part in pieces:
            span = self._new_span(lo - 1, hi, rows=part, probe=probe)
            self._ready.append(span.key)

    def _correct(self, total: Optional[int]) -> None:
        """The count landed after the plan was made from samples: re-plan the spans not sent
        yet when it leaves them far fewer rows than planned (holes the samples missed) or
        far more."""
        fresh = [self._spans[key] for key in self._ready if self._spans[key].fresh]
        if total is None or not fresh:
            return
        started = sum(span.rows for span in self._spans.values()
                      if not span.fresh and not span.done)
        left = max(0.0, total * self._joins.distinct - self._opening.read - self._read
                   - started)
        planned = sum(span.rows for span in fresh)
        if planned / EVEN_FACTOR - PAGE <= left <= planned * EVEN_FACTOR + PAGE:
            return
        gone = {span.key for span in fresh}
        self._ready = deque(key for key in self._ready if key not in gone)
        width = sum(span.width for span in fresh)
        for span in fresh:
            del self._spans[span.key]
        for span in fresh:
            # What the count leaves, spread over the fresh spans' IDs; far fewer rows than
            # planned means holes somewhere: each new span is counted before it is read.
            assert span.top is not None
            self._plan(span.after, span.top, left / width, contiguous=False,
                       probe=left < planned)

    def _new_span(self, after: int, top: Optional[int], *, rows: float,
                  probe: bool = False) -> Span:
        span = Span(self._keys, after, top, rows, probe=probe)
        self._keys += 1
        self._spans[span.key] = span
        return span

    # -- segments --------------------------------------------------------------------------

    def _chain_length(self, span: Span, room: int) -> int:
        """Ascending pages for a span's segment: enough to meet its top page."""
        # Enough pages to reach into the top page's rows: where IDs have gaps, only an
        # overlap proves no row lies between the chain's last and the top page's first.
        # (A full segment of contiguous IDs meets exactly, and adjacency proves it.) After a
        # count, one row of overlap is planned; after a density guess, a page's worth.
        per = self._joins.ref + 1
        rows = span.rows - per + 1 if span.counted else span.rows
        return max(1, min(room - 1, math.ceil(rows / per)))

    def _segment_size(self, span: Span, room: int) -> int:
        if span.probe or _expected_empty(span):
            return 1
        if span.rows > self._capacity():
            return room  # a chain alone, as long as the batch allows; its top comes later
        return self._chain_length(span, room) + 1

    def _ready_commands(self, batch: int) -> int:
        total = 0
        for key in self._ready:
            total += self._segment_size(self._spans[key], batch)
            if total >= batch:
                break
        return total

    def _segment(self, span: Span, room: int, commands: List[Command],
                 tags: List[Tag]) -> None:
        q, ref = self._q, self._joins.ref
        # A probe is one counted page: its count sizes the rest exactly, and a span in a
        # hole between clusters costs one command (the cap comes with the next segment).
        # A few IDs the plan expects empty (the count says nothing is left there) take one
        # page too: empty, it proves them; else the chain goes on from it.
        alone = span.probe or _expected_empty(span)
        capped = not alone and span.rows <= self._capacity()
        pages = 1 if alone else (self._chain_length(span, room) if capped else room)
        previous = None
        for index in range(pages):
            label = f"c{len(commands):04d}"
            after = span.after if previous is None else q.ref(previous, ref)
            # The first page of a span sized by a density guess also counts it (a COUNT over
            # the span alone, cheap): if the guess falls short, the rest is sized exactly.
            counted = index == 0 and not span.counted
            commands.append(Command(label, self._method,
                                    q.params(after=after, before=span.top, counted=counted)))
            tags.append(Tag("span", span.key, "count" if counted else "page", ref))
            previous = label
        if not capped:
            return
        label = f"c{len(commands):04d}"
        commands.append(Command(label, self._method,
                                q.params(after=span.after, before=span.top, descending=True)))
        tags.append(Tag("span", span.key, "cap", ref))

    def _read_segment(self, span: Span, part: List[Tuple[Tag, CommandResult]]
                      ) -> List[Chunk]:
        after0, top0 = span.after, span.top
        pages: List[Chunk] = []
        seen: List[int] = []
        ascending: List[int] = []  # the chain's IDs: where the rows above after0 begin
        reached = after0  # every row in (after0, reached] is in hand
        bound: Optional[int] = after0  # what the next chained page's ``>`` resolved to
        empty = False  # a page proved (bound, top0) empty
        mids: List[Tuple[int, int]] = []  # (rows, last ID) of the chain's pages
        count: Optional[int] = None
        refused: Optional[CommandResult] = None
        for tag, outcome in part:
            if tag.role == "cap" or bound is None:
                continue  # the cap is read below; after a broken reference nothing counts
            if not outcome.ok:
                refused = _refused(outcome)
                bound = None
                continue
            ids, page = self._page(outcome)
            check_ascending(ids, bound, top0)
            if tag.role == "count":
                count = outcome.total
            pages.append(Chunk(page, ids))
            seen.extend(ids)
            ascending.extend(ids)
            if not ids:
                empty = True
                bound = None
                continue
            reached = max(reached, ids[-1])
            mids.append((len(ids), ids[-1]))
            # The next page asked for rows above row [ref] of this one (not above its last:
            # with short pages the two differ, and the pages overlap).
            bound = ids[tag.ref] if len(ids) > tag.ref else None
        low: Optional[int] = None  # the cap proves [low, top0) read
        cap_empty = False
        for tag, outcome in part:
            if tag.role != "cap":
                continue
            if not outcome.ok:
                refused = refused or _refused(outcome)
                continue
            ids, page = self._page(outcome)
            check_descending(ids, after0, top0)
            pages.append(Chunk(page, ids))
            seen.extend(ids)
            if ids:
                low = ids[-1]
            else:
                cap_empty = True
        # An empty top page proves the span empty *now*; rows the chain read before it were
        # there when read (deleted since, under churn), so both stand.
        if mids and seen:
            highest = max(seen)
            self._joins.middle([length for length, last in mids if last < highest])
        self._read += len(set(seen))
        if empty or cap_empty or (low is not None and low <= reached + 1) or (
                top0 is not None and reached >= top0 - 1):
            self._finish(span, after0, top0, seen)
            return pages
        # Not proven yet: what is left is (reached, low); the rest is.
        self.covered.add(after0 + 1, reached + 1)
        span.after = reached
        if low is not None:
            self.covered.add(low, top0 if top0 is not None else max(seen) + 1)
            span.top = low if top0 is None else min(top0, low)
        if refused is not None:
            span.refusals += 1
            if span.refusals > MAX_REFUSALS:
                raise _error(refused)
        self._replan(span, after0, top0, seen, ascending, count, refused)
        return pages

    def _finish(self, span: Span, after0: int, top0: Optional[int], seen: List[int]) -> None:
        if top0 is None:
            top0 = (max(seen) + 1) if seen else after0 + 1
        self.covered.add(after0 + 1, top0)
        span.done = True

    def _replan(self, span: Span, after0: int, top0: Optional[int], seen: List[int],
                ascending: List[int], count: Optional[int],
                refused: Optional[CommandResult]) -> None:
        """Size what is left of a span from what its segment showed, and queue it (cut into
        more spans when it is more than one segment)."""
        read = len(set(seen))
        left_width = span.width
        span.counted = count is not None or (span.counted and refused is None)
        if count is not None:
            left = float(max(0, count * self._joins.distinct - read))
        elif span.counted:
            left = float(max(0, span.rows - read))
        else:  # the density this segment read at
            covered = span.after - after0
            if span.top is not None and seen:
                covered += (top0 if top0 is not None else max(seen) + 1) - span.top
            left = left_width * min(1.0, read / covered) if covered > 0 else span.rows
        span.rows = max(0.0, min(left, left_width))
        span.probe = False
        most = self._segments * self._capacity()
        if span.top is not None and span.rows > most:
            self._split(span, run_density(ascending), most)
        self._ready.append(span.key)

    def _split(self, span: Span, local: Optional[float], most: float) -> None:
        """Cut a span holding more than its segments into parts that run in parallel; each
        is probed first unless the IDs are contiguous: a part that turns out to lie in a
        hole between runs then costs one command, not a chain of broken references."""
        contiguous = span.rows >= span.width
        for index, (lo, hi, rows) in enumerate(split(span, local, most)):
            part = span if index == 0 else self._new_span(lo - 1, hi, rows=0.0)
            part.top = hi
            part.rows = rows
            part.probe = not contiguous
            part.counted = contiguous
            if index:
                part.fresh = False
                self._ready.append(part.key)

    def _page(self, outcome: CommandResult) -> Tuple[List[int], List[Any]]:
        page = rows_of(outcome.result, self._facts)
        if page is None:
            raise Contradiction("a page came back without rows")
        return page_ids(page, self._facts, self._method), page


def _refused(outcome: CommandResult) -> CommandResult:
    """A command that did not come back: refused, or in a batch too big for the portal (cut
    at 60 s, longer than it runs) -- nothing lost, the span is planned again from what was
    proven; any other failure ends the listing."""
    if outcome.error is not None and not may_read_again(outcome.error):
        raise outcome.error
    return outcome


def _by_span(tags: Sequence[Tag], results: Sequence[CommandResult]
             ) -> Iterable[Tuple[int, List[Tuple[Tag, CommandResult]]]]:
    groups: Dict[int, List[Tuple[Tag, CommandResult]]] = {}
    for tag, outcome in zip(tags, results):
        groups.setdefault(tag.span, []).append((tag, outcome))
    return groups.items()


def _error(outcome: CommandResult) -> BitrixError:
    if outcome.error is not None:
        return outcome.error
    return BitrixError(f"{outcome.method}: a page was not read")


def _expected_empty(span: Span) -> bool:
    """A span of a few IDs (between two pages that met but for a hole), or of fewer IDs than
    a page holds and expected to hold no row: one page most likely proves it."""
    return span.width <= NARROW or (span.rows < 1 and span.width < PAGE)
