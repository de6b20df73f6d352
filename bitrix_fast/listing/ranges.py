"""The ID-range plan: ~2,500 rows per request, every command's cost independent of the table
size, and every ID interval proven read before it is called done.

How a listing runs (sans-I/O: this module builds commands and reads their results; the
executor sends them):

1. **Head**: one counted command, the first page in ID order. A list that fits in one page
   (fewer than 50 rows, no ``next``, ``total`` equal to the rows) ends here: one command.
2. **Tail**, or a **small rest**: when the head's ``total`` says the rest fits in one batch, one
   batch reads it (a chain of pages plus the top page in descending order); otherwise one
   ``start=-1`` command reads the top page, descending, which bounds the ID space.
3. **Spans**: the IDs between head and tail are cut into spans of about one batch of rows
   each, sized by the density the head, the tail and ``total`` show. Every span is read by a
   *segment*: ``start=-1`` pages chained through ``$result[prev][k][ID]`` references (no
   COUNT, no OFFSET), bounded by the span's end, plus one descending page of the span's top.
   Segments of several spans are packed into full batches; as many batches run at once as
   the portal's limits allow. Where the density is uneven (IDs in clusters) a span is first
   *probed*: one counted page and its top page, two commands, which give its exact size.

**Proof, not claims** (bitrix-rest-semantics.md §8): a span is done only when its pages
cover it -- the ascending chain reaches the descending top page, or a page comes back empty,
or the chain reaches the span's last ID (:mod:`.check`). A short page, ``total`` and ``next``
only size the plan. Pages cut short by joins are read on (the chain's reference index ``k``
drops to fit the shortest page seen); a span not covered yet is re-planned from what was
proven. A page that contradicts its own request -- a row outside the span, rows out of order,
an ascending and a descending page of the same IDs that disagree -- raises
:class:`~.check.Contradiction`: the method ignores the ID filter or the order, and the
listing falls back to plain paging.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, Iterable, List, Optional, Sequence, Tuple

from ..protocol.batch import MAX_COMMANDS, Command, CommandResult
from ..errors import BitrixError, is_refusal
from ..run.work import Work
from .check import Contradiction, check_ascending, check_descending, page_ids
from .coverage import Coverage
from .query import PAGE, ListQuery
from .rows import rows_of

#: How many times one span (or the head, or the tail) may be refused before giving up.
MAX_REFUSALS = 20
#: Rows of slack below the shortest page seen when lowering the chain's reference index
#: (joined pages vary in length), and standard deviations of slack once there are enough
#: short pages to measure: a page shorter than the index breaks the rest of its chain.
SHORT_MARGIN = 2
SHORT_SIGMAS = 3.0
#: Densities within this factor of each other count as even.
EVEN_FACTOR = 1.6
#: Up to this many segments of rows after the first page, spans are planned from the first
#: page's density at once (no round trip to learn where the IDs end).
HEAD_SPANS = 2
#: A part-filled batch with at least this share of its commands goes without waiting.
NEARLY_FULL = 0.9
#: Slack on the measured share of joined duplicates when judging a total it explains.
JOIN_SLACK = 0.03
#: Up to this many segments of rows, spans are one segment each (one round of requests);
#: bigger listings are bound by requests, and get spans of two segments.
SINGLE_ROUND_SPANS = 4


@dataclass
class Span:
    """Unread IDs ``> after`` and ``< top`` (``top`` None: no upper bound)."""

    key: int
    after: int
    top: Optional[int]
    #: expected rows in (after, top): from a count, the contiguity of the IDs, or a density
    rows: float
    #: ``rows`` is what a count said is left (so the chain can stop just short of the top
    #: page instead of keeping a margin)
    counted: bool = False
    #: the next segment counts the span and reads both ends first (uneven densities)
    probe: bool = False
    refusals: int = 0

    @property
    def width(self) -> float:
        return math.inf if self.top is None else self.top - self.after - 1


@dataclass(frozen=True)
class _Tag:
    kind: str  # "head", "tail" or "span"
    span: int = -1
    role: str = "page"  # "page", "count" (a counted page) or "cap" (the descending top page)
    ref: int = PAGE - 1  # the reference index the next page of the chain was built with


class RangePaging:
    """Plans one ``*.list`` listing over ID ranges. See the module docstring."""

    def __init__(self, query: ListQuery, *, batch_size: int = MAX_COMMANDS,
                 skip: Sequence[Tuple[int, int]] = ()) -> None:
        self._q = query
        self._method = query.method
        self._facts = query.facts
        self._batch = max(2, batch_size)
        #: segments a span is planned for: 1 while the listing fits in what the portal admits
        #: at once (every span in the first round), 2 when requests are the bottleneck (one
        #: proof per two segments of rows instead of per one)
        self._segments = 1
        self._spans: Dict[int, Span] = {}
        self._ready: Deque[int] = deque()
        self._singles: Deque[str] = deque(["head"])
        self._in_flight = 0
        self._refusals = 0
        #: the reference index of chained pages: 49 until pages turn out to be cut short
        self._ref = PAGE - 1
        self._short_lengths: List[int] = []  # lengths of pages cut short with rows after them
        #: rows and pages of every page with rows above it (short or not): a page of 50 joined
        #: rows holds ``rows / (50 * pages)`` distinct ones, the share a COUNT over joins
        #: overstates by
        self._mid_rows = self._mid_pages = 0
        self._distinct = 1.0
        self._head: Optional[Tuple[int, int, int]] = None  # first ID, last ID, rows
        #: ID intervals proven read (with the intervals a resumed listing skips)
        self.covered = Coverage(skip)
        self._skip = Coverage(skip)
        self.total: Optional[int] = None
        self.result_dict: Any = None
        self.done = False

    # -- the Plan interface -------------------------------------------------------------

    def next_work(self) -> Optional[Work]:
        if self._singles:
            kind = self._singles.popleft()
            self._in_flight += 1
            if kind == "head":
                command = Command("head", self._method, self._q.params(counted=True))
                return Work([command], single=True, tags=[_Tag("head", role="count")])
            after = self._head[1]  # type: ignore[index]
            command = Command("tail", self._method, self._q.params(after=after, descending=True))
            return Work([command], single=True, tags=[_Tag("tail", role="cap")])
        # A batch that is not nearly full waits while replies in flight may add to it (small
        # leftovers of several spans pack into one request); a nearly full one goes at once,
        # so the last span of a listing does not wait a round trip for every other reply.
        if not self._ready or (self._in_flight and
                               self._ready_commands() < NEARLY_FULL * self._batch):
            return None
        commands: List[Command] = []
        tags: List[_Tag] = []
        while self._ready and len(commands) < self._batch:
            span = self._spans[self._ready[0]]
            room = self._batch - len(commands)
            if self._segment_size(span, room) > room:
                break
            self._ready.popleft()
            self._segment(span, room, commands, tags)
        if not commands:
            return None
        self._in_flight += 1
        return Work(commands, chained=True, tags=tags)

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Any]:
        self._in_flight -= 1
        kind = work.tags[0].kind
        if kind == "head":
            rows = self._read_head(results[0])
        elif kind == "tail":
            rows = self._read_tail(results[0])
        else:
            rows = []
            for key, part in _by_span(work.tags, results):
                rows.extend(self._read_segment(self._spans[key], part))
        self.done = (self.result_dict is not None or
                     (self._in_flight == 0 and not self._ready and not self._singles))
        return rows

    # -- head and tail ------------------------------------------------------------------

    def _read_head(self, outcome: CommandResult) -> List[Any]:
        if not outcome.ok:
            self._again(outcome, "head")
            return []
        page = rows_of(outcome.result, self._facts)
        if page is None:  # the method answered with a dict, not rows
            self.result_dict = outcome.result
            return []
        ids = page_ids(page, self._facts, self._method)
        check_ascending(ids, None, None)
        count, total = len(ids), outcome.total
        self.total = total
        if not ids:
            return page  # nothing matches the filter
        self.covered.add(ids[0], ids[-1] + 1)
        if count < PAGE and outcome.next is None and (total is not None and total == count):
            return page  # one short page, and the server claims the same twice over
        if count < PAGE and (outcome.next is not None or (total or 0) > count):
            self._short_page(count)  # a short first page with more behind it: joined rows
        self._head = (ids[0], ids[-1], count)
        rest = None if total is None else max(0, total * self._distinct - count)
        if rest is not None and rest <= HEAD_SPANS * self._capacity() and len(ids) > 1:
            # A few batches of rows: read them now, without first asking where the IDs end.
            # Spans at the density of the first page; the last one has no upper bound, and
            # its top page (the table's last rows) proves where the listing ends.
            density = min(1.0, (len(ids) - 1) / max(1, ids[-1] - ids[0]))
            spans = max(1, math.ceil(rest / self._capacity()))
            step = math.ceil(self._capacity() / density)
            after = ids[-1]
            for index in range(spans):
                last = index == spans - 1
                # (after, after + step + 1): the next ``step`` IDs, the next span from there
                span = self._new_span(after, None if last else after + step + 1,
                                      rows=float(rest - index * self._capacity()) if last
                                      else float(self._capacity()))
                self._ready.append(span.key)
                after += step
        else:
            self._singles.append("tail")
        return page

    def _read_tail(self, outcome: CommandResult) -> List[Any]:
        if not outcome.ok:
            self._again(outcome, "tail")
            return []
        first, last, head_rows = self._head  # type: ignore[misc]
        page = rows_of(outcome.result, self._facts) or []
        ids = page_ids(page, self._facts, self._method)
        check_descending(ids, last, None)
        if not ids:
            return []  # nothing above the head
        low, high = ids[-1], ids[0]
        self.covered.add(low, high + 1)
        if low <= last + 1:
            return page
        total = self.total
        width = low - last - 1
        if total is not None:
            rows = float(min(width, max(0, total * self._distinct - head_rows - len(ids))))
        else:  # no count: assume the density the head and the tail show
            rows = width * min(1.0, (head_rows + len(ids)) / max(1, last - first + 1 + high - low + 1))
        head_density = (head_rows - 1) / max(1, last - first) if head_rows > 1 else None
        tail_density = (len(ids) - 1) / max(1, high - low) if len(ids) > 1 else None
        density = rows / width if width else 1.0
        contiguous = total is not None and rows >= width
        even = contiguous or (total is not None and all(
            local is not None and density / EVEN_FACTOR <= local <= density * EVEN_FACTOR
            for local in (head_density, tail_density)))
        self._plan(last, low, rows, contiguous=contiguous, probe=not even)
        return page

    def _again(self, outcome: CommandResult, kind: str) -> None:
        """Send a refused head or tail again; any other failure ends the listing."""
        self._refusals += 1
        if outcome.error is None or not is_refusal(outcome.error) or \
                self._refusals > MAX_REFUSALS:
            raise _error(outcome)
        self._singles.appendleft(kind)

    # -- spans ----------------------------------------------------------------------------

    def _capacity(self) -> int:
        """Rows one segment reads: a chain of pages plus the top page, each advancing by at
        least ``ref + 1`` rows."""
        return self._batch * (self._ref + 1)

    def _plan(self, after: int, top: int, rows: float, *, contiguous: bool,
              probe: bool) -> None:
        """Cut the unread IDs in (after, top) -- less what a resumed listing skips -- into
        spans of about one (or two) segments of rows each."""
        width = top - after - 1
        if width <= 0:
            return
        gaps = self._skip.gaps(after + 1, top)
        density = min(1.0, rows / width)
        capacity = self._capacity()
        if contiguous:
            # Contiguous spans hold exactly what we plan and meet their top page exactly:
            # one segment each, no overlap, every span in flight as soon as the bucket allows.
            target = float(capacity)
        else:
            # Two segments per span halve the proofs (one top page per span) and let the
            # first segment's count size the second exactly; one segment keeps a listing of a
            # few batches to a single round.
            if rows > SINGLE_ROUND_SPANS * capacity:
                self._segments = 2
            # Density guesses keep two standard deviations of room, so nearly every span
            # ends inside its planned segments.
            target = self._segments * capacity - 2 * math.sqrt(capacity)
        for lo, hi in gaps:
            gap_width = hi - lo
            gap_rows = density * gap_width
            count = max(1, math.ceil(gap_rows / target))
            step = max(1, math.ceil(gap_width / count))
            lower = lo
            while lower < hi:
                upper = min(hi, lower + step)
                span = self._new_span(lower - 1, upper, rows=density * (upper - lower),
                                      probe=probe)
                self._ready.append(span.key)
                lower = upper

    def _new_span(self, after: int, top: Optional[int], *, rows: float,
                  probe: bool = False) -> Span:
        span = Span(len(self._spans), after, top, rows, probe=probe)
        self._spans[span.key] = span
        return span

    def _chain_length(self, span: Span, room: int) -> int:
        """Ascending pages for a span's segment: enough to meet its top page."""
        # Enough pages to reach into the top page's rows: where IDs have gaps, only an
        # overlap proves no row lies between the chain's last and the top page's first.
        # (A full segment of contiguous IDs meets exactly, and adjacency proves it.) After a
        # count, one row of overlap is planned; after a density guess, a page's worth.
        per = self._ref + 1
        rows = span.rows - per + 1 if span.counted else span.rows
        return max(1, min(room - 1, math.ceil(rows / per)))

    def _segment_size(self, span: Span, room: int) -> int:
        if span.probe:
            return 1
        if span.rows > self._capacity():
            return room  # a chain alone, as long as the batch allows; its top comes later
        return self._chain_length(span, room) + 1

    def _ready_commands(self) -> int:
        total = 0
        for key in self._ready:
            total += self._segment_size(self._spans[key], self._batch)
            if total >= self._batch:
                break
        return total

    def _segment(self, span: Span, room: int, commands: List[Command],
                 tags: List[_Tag]) -> None:
        q, ref = self._q, self._ref
        # A probe is one counted page: its count sizes the rest exactly, and a span in a
        # hole between clusters costs one command (the cap comes with the next segment).
        capped = not span.probe and span.rows <= self._capacity()
        pages = 1 if span.probe else (self._chain_length(span, room) if capped else room)
        previous = None
        for index in range(pages):
            label = f"c{len(commands):04d}"
            after = span.after if previous is None else q.ref(previous, ref)
            # The first page of a span sized by a density guess also counts it (a COUNT over
            # the span alone, cheap): if the guess falls short, the rest is sized exactly.
            counted = index == 0 and not span.counted
            commands.append(Command(label, self._method,
                                    q.params(after=after, before=span.top, counted=counted)))
            tags.append(_Tag("span", span.key, "count" if counted else "page", ref))
            previous = label
        if not capped:
            return
        label = f"c{len(commands):04d}"
        commands.append(Command(label, self._method,
                                q.params(after=span.after, before=span.top, descending=True)))
        tags.append(_Tag("span", span.key, "cap", ref))

    def _read_segment(self, span: Span, part: List[Tuple[_Tag, CommandResult]]) -> List[Any]:
        after0, top0 = span.after, span.top
        rows: List[Any] = []
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
                if outcome.error is not None and not is_refusal(outcome.error):
                    raise outcome.error
                refused = outcome
                bound = None
                continue
            ids, page = self._page(outcome)
            check_ascending(ids, bound, top0)
            if tag.role == "count":
                count = outcome.total
            rows.extend(page)
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
                if outcome.error is not None and not is_refusal(outcome.error):
                    raise outcome.error
                refused = refused or outcome
                continue
            ids, page = self._page(outcome)
            check_descending(ids, after0, top0)
            rows.extend(page)
            seen.extend(ids)
            if ids:
                low = ids[-1]
            else:
                cap_empty = True
        # An empty top page proves the span empty *now*; rows the chain read before it were
        # there when read (deleted since, under churn), so both stand.
        if mids and seen:
            highest = max(seen)
            inner = [(length, last) for length, last in mids if last < highest]
            self._mid_rows += sum(length for length, _ in inner)
            self._mid_pages += len(inner)
            cut = [length for length, _ in inner if length < PAGE]
            if cut:  # short pages with rows above them: joined rows, not the end
                self._short_page(*cut)
        if empty or cap_empty or (low is not None and low <= reached + 1) or (
                top0 is not None and reached >= top0 - 1):
            self._finish(after0, top0, seen)
            return rows
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
        return rows

    def _finish(self, after0: int, top0: Optional[int], seen: List[int]) -> None:
        if top0 is None:
            top0 = (max(seen) + 1) if seen else after0 + 1
        self.covered.add(after0 + 1, top0)

    def _replan(self, span: Span, after0: int, top0: Optional[int], seen: List[int],
                ascending: List[int], count: Optional[int],
                refused: Optional[CommandResult]) -> None:
        """Size what is left of a span from what its segment showed, and queue it (cut into
        more spans when it is more than one segment)."""
        read = len(set(seen))
        left_width = span.width
        span.counted = count is not None or (span.counted and refused is None)
        if count is not None:
            left = float(max(0, count * self._distinct - read))
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
            self._split(span, local=self._run_density(ascending))
        self._ready.append(span.key)

    @staticmethod
    def _run_density(ascending: List[int]) -> Optional[float]:
        """The density of the rows the chain just read, from its first row to its last (not
        from the span's start: a hole may lie before them), None with too few rows."""
        if len(ascending) < 2:
            return None
        return (len(ascending) - 1) / max(1, ascending[-1] - ascending[0])

    def _split(self, span: Span, local: Optional[float]) -> None:
        """Cut a span holding more than its segments into parts that run in parallel.

        Where the density just read at ``span.after`` (``local``) is far above the span's
        average, the IDs are clustered: the count mostly describes one run of rows starting
        there, and cutting the whole width evenly would probe many empty holes. The parts
        then cover that run (at ``local``), and one more part what lies beyond it."""
        width = span.width
        contiguous = span.rows >= width
        density = span.rows / width
        if contiguous or not local or local <= density * EVEN_FACTOR:
            local = density
        extent = min(width, math.ceil(span.rows / local))
        parts = math.ceil(span.rows / (self._segments * self._capacity()))
        step = max(1, math.ceil(extent / parts))
        lower = span.after + 1
        run_end = lower + extent
        end = span.top
        assert end is not None
        bounds = []
        while lower < end:
            upper = min(end, lower + step) if lower < run_end else end
            bounds.append((lower, upper))
            lower = upper
        for index, (lo, hi) in enumerate(bounds):
            part = span if index == 0 else self._new_span(lo - 1, hi, rows=0.0)
            part.top = hi
            # Each part is probed first: a part that turns out to lie in a hole between runs
            # then costs one command, not a chain of broken references.
            part.rows = local * (hi - lo) if lo < run_end else 0.0
            part.probe = not contiguous
            part.counted = contiguous
            if index:
                self._ready.append(part.key)

    def accounted(self, distinct: int) -> float:
        """Rows a ``total`` is explained by: ``distinct`` rows read, scaled up by the share
        of joined duplicates that short pages showed (their COUNT counts joined rows; the
        share is measured, so it gets a little slack)."""
        if self._distinct >= 1.0:
            return float(distinct)
        return distinct / self._distinct * (1 + JOIN_SLACK)

    def _short_page(self, *lengths: int) -> None:
        """Pages come back cut short (joined rows): chain on a row every page is sure to
        have -- below the shortest seen, and three standard deviations below their mean once
        a few are known -- instead of row 49, so the next page's reference still resolves."""
        self._short_lengths.extend(lengths)
        seen = self._short_lengths
        if len(seen) < 5:  # too few to measure the spread: keep a sixth of a page spare
            safe = min(seen) - max(SHORT_MARGIN, math.ceil(min(seen) / 6))
        else:
            mean = sum(seen) / len(seen)
            spread = math.sqrt(sum((n - mean) ** 2 for n in seen) / (len(seen) - 1))
            safe = min(min(seen) - SHORT_MARGIN, math.floor(mean - SHORT_SIGMAS * spread))
        # Once measured, the index follows the measurement (it may rise again after the
        # first, cautious guess); before that it only ever drops.
        self._ref = max(0, safe - 1 if len(seen) >= 5 else min(self._ref, safe - 1))
        if self._mid_pages:
            self._distinct = min(1.0, self._mid_rows / (PAGE * self._mid_pages))
        else:  # the first page, alone: its length is all there is to go by
            self._distinct = min(1.0, min(seen) / PAGE)

    def _page(self, outcome: CommandResult) -> Tuple[List[int], List[Any]]:
        page = rows_of(outcome.result, self._facts)
        if page is None:
            raise Contradiction("a page came back without rows")
        return page_ids(page, self._facts, self._method), page


def _by_span(tags: Sequence[_Tag], results: Sequence[CommandResult]
             ) -> Iterable[Tuple[int, List[Tuple[_Tag, CommandResult]]]]:
    groups: Dict[int, List[Tuple[_Tag, CommandResult]]] = {}
    for tag, outcome in zip(tags, results):
        groups.setdefault(tag.span, []).append((tag, outcome))
    return groups.items()


def _error(outcome: CommandResult) -> BitrixError:
    if outcome.error is not None:
        return outcome.error
    return BitrixError(f"{outcome.method}: a page was not read")
