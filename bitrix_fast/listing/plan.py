"""The ID-range planner: exports at ~2,500 rows per request, with commands whose cost does not
grow with the table, and nothing lost when rows are deleted meanwhile.

How a listing runs (sans-I/O: this module builds commands and reads their results; the
executor sends them):

1. **Probe**: one batch of cheap ``start=-1`` pages: ``head`` (ID ascending), a chain of
   ``>ID`` pages following it through ``$result`` references, and ``tail`` (ID descending).
   A table of up to ~2,500 rows is done here, in one request.
2. **Count**: only a bigger table is counted -- the export's one COUNT, which gives the total
   for the progress bar and the density of the ID space. On a huge table it takes long
   (49.9 s for 2.4M rows in the docs), so nothing waits for it: until it arrives, the probe's
   chain simply reads on as one cursor (the lead).
3. **Cursors**: once the count is in, the IDs still unread are split into cursors of about
   5,000 rows each. A cursor walks its range with ``start=-1`` pages chained by
   ``>ID: $result[previous][49][ID]`` -- no COUNT, no OFFSET, so every command costs the same
   on a 1,000-row table as on a 10-million-row one, and a deleted row cannot shift a page.
4. **Exact chains**: when the count shows the IDs are contiguous (total == span) every
   cursor's size is known. Otherwise a cursor's first command counts its own range (cheap: the
   range is small), and from then on its chains are exactly as long as the rows left, so no
   command is wasted on an empty page. Chains from many cursors are packed into full batches.

A chain stops at its first short page; commands after it (whose ``$result`` reference has
nothing to point at) are discarded unread. Every page is checked to continue where the last
one stopped before its rows are used; a chain that breaks (a refused command, a page that does
not fit) is re-planned from its last good ID.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

from ..batch import MAX_COMMANDS, Command, CommandResult
from ..errors import BitrixError, is_refusal
from ..work import Work
from .paging import PAGE
from .query import ListQuery
from .rows import row_id, rows_of

#: Rows per cursor: two batches of chained pages. Every cursor ends in one part-filled page,
#: so fewer, larger cursors waste less (measured on synthetic sparse IDs: 2,381 rows a
#: request with one batch per cursor, 2,439 with two), while 300k rows still make 60 cursors,
#: more than the 50 requests of a burst can use.
CURSOR_ROWS = 2 * PAGE * MAX_COMMANDS
#: A cursor larger than this (once its exact size is known) is split so that no single chain
#: of sequential batches dominates the end of an export.
SPLIT_ROWS = 4 * CURSOR_ROWS
#: How many times one cursor (or the probe, or the count) may be refused before giving up.
MAX_REPLANS = 5
#: cursor keys of the single-purpose works
_PROBE, _TAIL, _COUNT = -1, -2, -3


@dataclass
class _Cursor:
    """Unread IDs ``> after`` (or ``>= start`` before any read) and ``< end``."""

    key: int
    start: int
    end: int
    after: Optional[int] = None
    remaining: Optional[int] = None  # exact rows left, when known
    #: pages worth chaining after the first command while ``remaining`` is unknown
    guess: int = 0
    #: the first command of the next segment counts the range (off for the probe's lead)
    counted: bool = True
    replans: int = 0
    busy: bool = False
    #: pages of the segment in flight (the lead's reach, when it is split while busy)
    pages_out: int = 0
    done: bool = False


@dataclass(frozen=True)
class _Tag:
    cursor: int  # a cursor key, or _PROBE / _TAIL / _COUNT
    role: str    # "head", "chain", "tail", "count", "page"


class RangePlan:
    """Plans one ``*.list`` export over ID ranges. See the module docstring."""

    #: Cursor ranges are disjoint and every page is checked to continue its cursor's walk,
    #: so no row is ever yielded twice: callers need no deduplication set.
    unique = True

    def __init__(self, query: ListQuery, *, batch_size: int = MAX_COMMANDS,
                 descending: bool = False) -> None:
        self._q = query
        self._method = query.method
        self._facts = query.facts
        self._batch = batch_size
        self._descending = descending
        self._cursors: Dict[int, _Cursor] = {}
        self._ready: Deque[int] = deque()
        self._singles: Deque[int] = deque([_PROBE])  # single-purpose works to send, in order
        self._in_flight = 0
        self._refusals = 0
        self._seen = 0
        #: (first ID, last ID the probe read, first and last ID of the tail) once known
        self._span: Optional[Tuple[int, int, int, int]] = None
        self._lead: Optional[_Cursor] = None
        self._counted = False  # the count has answered (or given up)
        self._ended = False  # everything was read before any cursor was needed
        self._seen_head = self._seen_tail = 0
        self.total: Optional[int] = None
        self.result_dict: Any = None
        self.done = False

    # -- the Plan interface -------------------------------------------------------------

    def next_work(self) -> Optional[Work]:
        if self._singles:
            kind = self._singles.popleft()
            self._in_flight += 1
            return self._single(kind)
        # A part-filled batch is worth sending only when nothing in flight can fill it up.
        if not self._ready or (self._in_flight and self._ready_commands() < self._batch):
            return None
        commands: List[Command] = []
        tags: List[_Tag] = []
        while self._ready and len(commands) < self._batch:
            cursor = self._cursors[self._ready.popleft()]
            if not cursor.done:
                self._segment(cursor, self._batch - len(commands), commands, tags)
        if not commands:
            return None
        self._in_flight += 1
        return Work(commands, chained=True, tags=tags)

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Any]:
        self._in_flight -= 1
        kind = work.tags[0].cursor if work.tags else None
        if self._ended or self.result_dict is not None:
            rows: List[Any] = []  # a late reply (the count) after everything was read
        elif kind == _PROBE:
            rows = self._read_probe(results)
        elif kind == _TAIL:
            rows = self._read_tail(results[0])
        elif kind == _COUNT:
            rows = []
            self._read_count(results[0])
        else:
            rows = []
            for key, part in _by_cursor(work.tags, results):
                rows.extend(self._read_segment(self._cursors[key], part))
        if kind in (_PROBE, _TAIL):
            self._seen += len(rows)
        self.done = self._in_flight == 0 and not self._ready and not self._singles
        return rows

    def finish(self, rows: List[Any]) -> List[Any]:
        facts = self._facts
        return sorted(rows, key=lambda row: row_id(row, facts) or 0, reverse=self._descending)

    # -- probe, tail, count -------------------------------------------------------------

    def _single(self, kind: int) -> Work:
        q, method = self._q, self._method
        if kind == _COUNT:
            command = Command("count", method, q.params(start=0, select_id=True))
            return Work([command], chained=True, tags=[_Tag(_COUNT, "count")])
        if kind == _TAIL:
            command = Command("tail", method, q.params(descending=True))
            return Work([command], chained=True, tags=[_Tag(_TAIL, "tail")])
        commands = [Command("head", method, q.params())]
        tags = [_Tag(_PROBE, "head")]
        previous = "head"
        for index in range(self._batch - 2):
            label = f"h{index:02d}"
            commands.append(Command(label, method, q.params(after=q.ref(previous))))
            tags.append(_Tag(_PROBE, "chain"))
            previous = label
        commands.append(Command("tail", method, q.params(descending=True)))
        tags.append(_Tag(_PROBE, "tail"))
        return Work(commands, chained=True, tags=tags)

    def _read_probe(self, results: Sequence[CommandResult]) -> List[Any]:
        head = results[0]
        if not head.ok:
            return self._again(head, _PROBE)
        page = rows_of(head.result, self._facts)
        if page is None:  # the method answered with a dict, not rows
            self.result_dict = head.result
            return []
        ids = self._ids(page, head)
        rows = list(page)
        last = ids[-1] if ids else None
        full = len(page) >= PAGE
        for outcome in results[1:-1]:
            if not full:
                break  # the chain ended; later commands point at nothing
            chain = self._checked_page(outcome, after=last, end=None)
            if chain is None:  # refused or broken: the cursors read the rest
                break
            rows.extend(chain[0])
            last, full = chain[1], len(chain[0]) >= PAGE
        if not full:  # everything was in the head and its chain
            self._end(len(rows))
            return rows
        self._seen_head = len(rows)
        self._span = (ids[0], last, 0, 0)
        return rows + self._read_tail(results[-1])

    def _read_tail(self, tail: CommandResult) -> List[Any]:
        if not tail.ok:
            return self._again(tail, _TAIL)
        first, last = self._span[0], self._span[1]  # type: ignore[index]
        tail_rows = rows_of(tail.result, self._facts) or []
        tail_ids = self._ids(tail_rows, tail)
        self._seen_tail = len(tail_rows)
        # The tail may overlap the chain when the table ends near it.
        rows = [row for row, value in zip(tail_rows, tail_ids) if value > last]
        if not tail_ids or min(tail_ids) <= last + 1:
            self._end(self._seen_head + len(rows))
            return rows
        self._span = (first, last, min(tail_ids), max(tail_ids))
        # More rows than one probe holds: now it is worth a COUNT. It may take long on a big
        # table, so the probe's chain reads on (the lead cursor) until the count arrives.
        self._singles.append(_COUNT)
        self._lead = self._new_cursor(last + 1, min(tail_ids), after=last)
        self._lead.counted, self._lead.guess = False, self._batch - 1
        return rows

    def _read_count(self, outcome: CommandResult) -> None:
        if not outcome.ok:
            if _refused(outcome) and self._refusals < MAX_REPLANS:
                self._refusals += 1
                self._singles.append(_COUNT)
                return
            if not _refused(outcome):
                raise _error(outcome)
        else:
            self.total = outcome.total
        self._counted = True  # with or without a total: stop waiting for it
        if self._lead is not None:
            self._split_lead()

    def _end(self, rows: int) -> None:
        self._ended = True
        if self.total is None:
            self.total = rows

    def _again(self, outcome: CommandResult, kind: int) -> List[Any]:
        """Send a refused probe or tail again; any other failure ends the listing."""
        self._refusals += 1
        if not _refused(outcome) or self._refusals > MAX_REPLANS:
            raise _error(outcome)
        self._singles.append(kind)
        return []

    # -- cursors ------------------------------------------------------------------------

    def _split_lead(self) -> None:
        """The count is in: cut the lead's range into cursors now, without waiting for the
        lead's reply. The lead keeps the IDs its chain in flight is expected to reach (exactly
        those, when the IDs are contiguous); a page running past that is cut there."""
        lead = self._lead
        assert lead is not None
        self._lead = None
        after = lead.after if lead.after is not None else lead.start - 1
        keep = after + 1
        if lead.busy:
            # The chain reads on at the density it has been reading at (the probe's head and
            # chain), which on clustered IDs is far above the table's average.
            first, last = self._span[0], self._span[1]  # type: ignore[index]
            density = min(1.0, max(1e-9, (self._seen_head - 1) / max(1, last - first)))
            keep = min(lead.end, after + 1 + math.ceil(lead.pages_out * PAGE / density))
        else:
            lead.done = True  # idle: nothing read past ``after`` yet; new cursors take it all
        lead.counted, lead.guess = True, 0
        self._plan_cursors(after=keep - 1, end=lead.end, seen=self._seen)
        lead.end = keep

    def _plan_cursors(self, *, after: int, end: int, seen: int) -> None:
        first, _, _, span_end = self._span  # type: ignore[misc]
        width = end - after - 1
        if width <= 0:
            return
        total = self.total
        span = span_end - first + 1
        contiguous = total is not None and total == span
        if total is not None and total > seen:
            density = min(1.0, (total - seen) / width)
        else:  # no usable count: assume the density of what we have seen
            density = min(1.0, seen / span)
        count = max(1, math.ceil(density * width / CURSOR_ROWS))
        step = max(1, math.ceil(width / count))
        guess = 0
        if not contiguous and self._even(density, first, after, end, span_end):
            # Rows look evenly spread: chain as many pages after the count as the range
            # almost surely holds (three standard deviations under the expected rows).
            expected = density * step
            guess = max(0, int((expected - 3 * math.sqrt(expected)) // PAGE) - 1)
        lower = after + 1
        while lower < end:
            upper = min(end, lower + step)
            cursor = self._new_cursor(lower, upper)
            if contiguous:
                cursor.remaining = upper - lower
            cursor.guess = guess
            lower = upper

    def _even(self, density: float, first: int, after: int, end: int, span_end: int) -> bool:
        """True when the head and its chain (~2,500 rows) are about as dense as the whole and
        the tail (50 rows: a noisy sample, one gap halves it) is within a factor of three."""
        head = (self._seen_head - 1) / max(1, self._span[1] - first)  # type: ignore[index]
        tail = (self._seen_tail - 1) / max(1, span_end - self._span[2])  # type: ignore[index]
        return abs(head - density) <= 0.25 * density and density / 3 <= tail <= density * 3

    def _new_cursor(self, start: int, end: int, after: Optional[int] = None,
                    remaining: Optional[int] = None) -> _Cursor:
        cursor = _Cursor(len(self._cursors), start, end, after, remaining)
        self._cursors[cursor.key] = cursor
        self._ready.append(cursor.key)
        return cursor

    def _ready_commands(self) -> int:
        total = 0
        for key in self._ready:
            total += self._chain_length(self._cursors[key], self._batch)
            if total >= self._batch:
                break
        return total

    def _chain_length(self, cursor: _Cursor, room: int) -> int:
        if cursor.remaining is None:
            return max(1, min(room, 1 + cursor.guess))  # the count, plus a safe guess
        return max(1, min(room, math.ceil(cursor.remaining / PAGE)))

    def _segment(self, cursor: _Cursor, room: int, commands: List[Command],
                 tags: List[_Tag]) -> None:
        cursor.busy = True
        cursor.pages_out = self._chain_length(cursor, room)
        q = self._q
        previous = None
        for index in range(cursor.pages_out):
            label = f"c{len(commands):04d}"
            if previous is not None:
                bound = {"after": q.ref(previous)}
            elif cursor.after is not None:
                bound = {"after": cursor.after}
            else:
                bound = {"start_at": cursor.start}
            counted = cursor.remaining is None and cursor.counted and index == 0
            params = q.params(end=cursor.end, start=0 if counted else -1, **bound)
            commands.append(Command(label, self._method, params))
            tags.append(_Tag(cursor.key, "count" if counted else "page"))
            previous = label

    def _read_segment(self, cursor: _Cursor,
                      part: List[Tuple[_Tag, CommandResult]]) -> List[Any]:
        cursor.busy = False
        rows, outcome = self._walk(cursor, part)
        self._seen += len(rows)
        if outcome == "replan":
            self._replan(cursor)
        elif outcome == "done":
            cursor.done = True
            if cursor is self._lead:
                self._lead = None
        elif cursor is self._lead and self._counted:
            self._split_lead()
        else:
            self._continue(cursor)
        return rows

    def _walk(self, cursor: _Cursor, part: List[Tuple[_Tag, CommandResult]]
              ) -> Tuple[List[Any], str]:
        """The rows of one segment and what next: "done", "replan" or "continue"."""
        rows: List[Any] = []
        for tag, outcome in part:
            if not outcome.ok:
                if _refused(outcome):
                    return rows, "replan"
                raise _error(outcome)
            checked = self._checked_page(outcome, after=cursor.after, end=None,
                                         start=cursor.start)
            if checked is None:  # a page that does not continue the walk: start again
                return rows, "replan"
            page, last = checked
            inside = _below(page, cursor.end, self._facts)
            if len(inside) < len(page):
                # Past the cursor's end, which moved while this page was on its way (the
                # lead was split): the rest belongs to the next cursor.
                rows.extend(inside)
                return rows, "done"
            rows.extend(page)
            if tag.role == "count":
                cursor.guess = 0
                if outcome.total is not None:
                    cursor.remaining = outcome.total
            if cursor.remaining is not None:
                cursor.remaining = max(0, cursor.remaining - len(page))
            if len(page) < PAGE or cursor.remaining == 0 or last == cursor.end - 1:
                return rows, "done"  # a short page, nothing left, or no ID left below end
            cursor.after = last
        return rows, "continue"

    def _continue(self, cursor: _Cursor) -> None:
        left = cursor.remaining
        if left is not None and left > SPLIT_ROWS and cursor.after is not None:
            # Too long for one chain of sequential batches: hand its upper part to new
            # cursors (which count their own ranges before walking them).
            pieces = math.ceil(left / CURSOR_ROWS)
            width = cursor.end - cursor.after - 1
            step = max(1, width // pieces)
            split = cursor.after + 1 + step
            upper_end = cursor.end
            cursor.end, cursor.remaining = split, None
            lower = split
            while lower < upper_end:
                upper = upper_end if upper_end - lower < 2 * step else lower + step
                self._new_cursor(lower, upper)
                lower = upper
        self._ready.append(cursor.key)

    def _replan(self, cursor: _Cursor) -> None:
        cursor.replans += 1
        if cursor.replans > MAX_REPLANS:
            raise BitrixError(
                f"{self._method}: the server kept answering pages of IDs in "
                f"[{cursor.start}, {cursor.end}) that do not follow each other; "
                f"the method may not support >ID filters")
        if cursor.counted:
            cursor.remaining = None  # count again: the walk is no longer trusted
        self._ready.append(cursor.key)

    # -- pages --------------------------------------------------------------------------

    def _ids(self, page: List[Any], outcome: CommandResult) -> List[int]:
        ids = [row_id(row, self._facts) for row in page]
        if any(value is None for value in ids):
            raise BitrixError(f"{self._method} [{outcome.label}]: rows without a readable "
                              f"{self._facts.id_field!r}; cannot page by ID")
        return ids  # type: ignore[return-value]

    def _checked_page(self, outcome: CommandResult, *, after: Optional[int],
                      end: Optional[int], start: Optional[int] = None
                      ) -> Optional[Tuple[List[Any], Optional[int]]]:
        """The page and its last ID if it continues the walk (ascending, inside the bounds),
        else None."""
        if not outcome.ok:
            return None
        page = rows_of(outcome.result, self._facts)
        if page is None:
            return None
        ids = self._ids(page, outcome)
        previous = after if after is not None else (start - 1 if start is not None else None)
        for value in ids:
            if (previous is not None and value <= previous) or (end is not None and value >= end):
                return None
            previous = value
        return page, (ids[-1] if ids else after)


def _below(page: List[Any], end: int, facts: Any) -> List[Any]:
    """The rows of an ascending page with IDs under ``end``."""
    for index, row in enumerate(page):
        if (row_id(row, facts) or 0) >= end:
            return page[:index]
    return page


def _by_cursor(tags: Sequence[_Tag], results: Sequence[CommandResult]):
    groups: Dict[int, List[Tuple[_Tag, CommandResult]]] = {}
    for tag, outcome in zip(tags, results):
        groups.setdefault(tag.cursor, []).append((tag, outcome))
    return groups.items()


def _refused(outcome: CommandResult) -> bool:
    return is_refusal(outcome.error)


def _error(outcome: CommandResult) -> BitrixError:
    if outcome.error is not None:
        return outcome.error
    return BitrixError(f"{outcome.method} [{outcome.label}]: not executed")
