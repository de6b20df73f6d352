"""The ID-range planner: exports at ~2,500 rows per request, with commands whose cost does not
grow with the table, and nothing lost when rows are deleted meanwhile.

How a listing runs (sans-I/O: this module builds commands and reads their results; the
executor sends them):

1. **Probe**, one request: ``head`` (ID ascending, counted: the one COUNT of the export, which
   gives the total for the progress bar), a chain of ``>ID`` pages following it through
   ``$result`` references, and ``tail`` (ID descending, ``start=-1``). A table of up to
   ~2,500 rows is done here.
2. **Cursors**: the IDs between the chain's end and the tail are split into cursors of about
   2,500 rows each. A cursor walks its range with ``start=-1`` pages chained by
   ``>ID: $result[previous][49][ID]`` -- no COUNT, no OFFSET, so every command costs the same
   on a 1,000-row table as on a 10-million-row one, and a deleted row cannot shift a page.
3. **Exact chains**: when the probe shows the IDs are contiguous (total == span) every cursor's
   size is known. Otherwise a cursor's first command counts its own range (cheap: the range is
   small), and from then on its chains are exactly as long as the rows left, so no command
   is wasted on an empty page. Chains from many cursors are packed into full batches.

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

from .batch import MAX_COMMANDS, Command, CommandResult
from .errors import ApiError, BitrixError
from .methods import MethodFacts
from .paging import PAGE, PlainPlan
from .plans import Work, row_id, rows_of

#: Rows per cursor: one full batch of chained pages.
CURSOR_ROWS = PAGE * MAX_COMMANDS
#: A cursor larger than this (once its exact size is known) is split so that no single chain
#: of sequential batches dominates the end of an export.
SPLIT_ROWS = 4 * CURSOR_ROWS
#: How many times one cursor may be re-planned before the listing gives up.
MAX_REPLANS = 5
_REFUSALS = {"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT"}
#: cursor keys of the two probe works
_PROBE, _TAIL = -1, -2
_ID_OPS = ("", "=", ">", ">=", "<", "<=", "@", "!", "!=", "!@")


@dataclass
class _Cursor:
    """Unread IDs ``> after`` (or ``>= start`` before any read) and ``< end``."""

    key: int
    start: int
    end: int
    after: Optional[int] = None
    remaining: Optional[int] = None  # exact rows left, when known
    #: pages worth chaining after the count while ``remaining`` is unknown (0: count first)
    guess: int = 0
    replans: int = 0
    busy: bool = False
    done: bool = False


@dataclass(frozen=True)
class _Tag:
    cursor: int  # _PROBE / _TAIL for the probe works
    role: str    # "head", "chain", "tail", "count", "page"


class RangePlan:
    """Plans one ``*.list`` export over ID ranges. See the module docstring."""

    #: Cursor ranges are disjoint and every page is checked to continue its cursor's walk,
    #: so no row is ever yielded twice: callers need no deduplication set.
    unique = True

    def __init__(self, method: str, params: Dict[str, Any], facts: MethodFacts, *,
                 batch_size: int = MAX_COMMANDS, descending: bool = False) -> None:
        self._method = method
        self._facts = facts
        self._batch = batch_size
        self._descending = descending
        self._filter_key, self._filter = _split_filter(params, facts)
        self._base = _base_params(params, facts, self._filter_key)
        self._cursors: Dict[int, _Cursor] = {}
        self._ready: Deque[int] = deque()
        self._in_flight = 0
        self._probed = False
        self._probe_retries = 0
        #: (first ID, last ID read) while the tail is still to come
        self._tail_wanted: Optional[Tuple[int, int]] = None
        self._tail_busy = False
        self._seen_head = self._seen_tail = 0
        self.total: Optional[int] = None
        self.result_dict: Any = None
        self.done = False

    # -- the Plan interface -------------------------------------------------------------

    def next_work(self) -> Optional[Work]:
        if not self._probed:
            self._probed = True
            self._in_flight += 1
            return self._probe()
        if self._tail_wanted is not None and not self._tail_busy:
            self._tail_busy = True
            self._in_flight += 1
            command = Command("tail", self._method, self._params(descending=True))
            return Work([command], chained=True, tags=[_Tag(_TAIL, "tail")])
        # A part-filled batch is worth sending only when nothing in flight can fill it up.
        if not self._ready or (self._in_flight and self._ready_commands() < self._batch):
            return None
        commands: List[Command] = []
        tags: List[_Tag] = []
        while self._ready and len(commands) < self._batch:
            cursor = self._cursors[self._ready.popleft()]
            self._segment(cursor, self._batch - len(commands), commands, tags)
        self._in_flight += 1
        return Work(commands, chained=True, tags=tags)

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Any]:
        self._in_flight -= 1
        if work.tags and work.tags[0].cursor == _PROBE:
            rows = self._read_probe(results)
        elif work.tags and work.tags[0].cursor == _TAIL:
            rows = self._read_tail(results[0])
        else:
            rows = []
            for key, part in _by_cursor(work.tags, results):
                rows.extend(self._read_segment(self._cursors[key], part))
        self.done = (self._in_flight == 0 and not self._ready and self._probed
                     and self._tail_wanted is None)
        return rows

    def finish(self, rows: List[Any]) -> List[Any]:
        facts = self._facts
        return sorted(rows, key=lambda row: row_id(row, facts) or 0, reverse=self._descending)

    # -- the probe ----------------------------------------------------------------------

    def _probe(self) -> Work:
        commands = [Command("head", self._method, self._params(start=0))]
        tags = [_Tag(_PROBE, "head")]
        previous = "head"
        for index in range(self._batch - 2):
            label = f"h{index:02d}"
            commands.append(Command(label, self._method, self._params(
                after=self._ref(previous))))
            tags.append(_Tag(_PROBE, "chain"))
            previous = label
        commands.append(Command("tail", self._method, self._params(descending=True)))
        tags.append(_Tag(_PROBE, "tail"))
        return Work(commands, chained=True, tags=tags)

    def _read_probe(self, results: Sequence[CommandResult]) -> List[Any]:
        head = results[0]
        if not head.ok:
            if not _refused(head):
                raise _error(head)
            self._attempt_again(head)
            self._probed = False  # the whole probe goes again
            return []
        page = rows_of(head.result, self._facts)
        if page is None:  # the method answered with a dict, not rows
            self.result_dict = head.result
            return []
        self.total = head.total
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
        if not full:
            return rows  # everything was in the head and its chain
        self._seen_head = len(rows)
        self._tail_wanted = (ids[0], last)
        return rows + self._read_tail(results[-1])

    def _read_tail(self, tail: CommandResult) -> List[Any]:
        self._tail_busy = False
        if not tail.ok:
            if not _refused(tail):
                raise _error(tail)
            self._attempt_again(tail)
            return []  # _tail_wanted stays set: next_work asks for the tail alone
        first, last = self._tail_wanted  # type: ignore[misc]
        self._tail_wanted = None
        tail_rows = rows_of(tail.result, self._facts) or []
        tail_ids = self._ids(tail_rows, tail)
        self._seen_tail = len(tail_rows)
        # The tail may overlap the chain when the table ends near it.
        rows = [row for row, value in zip(tail_rows, tail_ids) if value > last]
        if tail_ids and min(tail_ids) > last + 1:
            self._plan_cursors(first=first, after=last, end=min(tail_ids),
                               span_end=max(tail_ids), seen=self._seen_head + len(tail_rows))
        return rows

    def _attempt_again(self, outcome: CommandResult) -> None:
        self._probe_retries += 1
        if self._probe_retries > MAX_REPLANS:
            raise _error(outcome)

    def _plan_cursors(self, *, first: int, after: int, end: int, span_end: int,
                      seen: int) -> None:
        width = end - after - 1
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
        head = (self._seen_head - 1) / max(1, after - first)
        tail = (self._seen_tail - 1) / max(1, span_end - end)
        return abs(head - density) <= 0.25 * density and density / 3 <= tail <= density * 3

    # -- cursors ------------------------------------------------------------------------

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
        length = self._chain_length(cursor, room)
        previous = None
        for index in range(length):
            label = f"c{len(commands):04d}"
            if previous is not None:
                bound = {"after": self._ref(previous)}
            elif cursor.after is not None:
                bound = {"after": cursor.after}
            else:
                bound = {"start_at": cursor.start}
            counted = cursor.remaining is None and index == 0
            params = self._params(end=cursor.end, start=0 if counted else -1, **bound)
            commands.append(Command(label, self._method, params))
            tags.append(_Tag(cursor.key, "count" if counted else "page"))
            previous = label

    def _read_segment(self, cursor: _Cursor,
                      part: List[Tuple[_Tag, CommandResult]]) -> List[Any]:
        cursor.busy = False
        rows: List[Any] = []
        for tag, outcome in part:
            if not outcome.ok:
                if _refused(outcome):
                    return rows + self._replan(cursor)
                raise _error(outcome)
            checked = self._checked_page(outcome, after=cursor.after, end=cursor.end,
                                         start=cursor.start)
            if checked is None:  # a page that does not continue the walk: start again
                return rows + self._replan(cursor)
            page, last = checked
            rows.extend(page)
            if tag.role == "count":
                cursor.guess = 0
                if outcome.total is not None:
                    cursor.remaining = outcome.total
            if cursor.remaining is not None:
                cursor.remaining = max(0, cursor.remaining - len(page))
            if len(page) < PAGE or cursor.remaining == 0:
                cursor.done = True
                return rows
            cursor.after = last
        self._continue(cursor)
        return rows

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

    def _replan(self, cursor: _Cursor) -> List[Any]:
        cursor.replans += 1
        if cursor.replans > MAX_REPLANS:
            raise BitrixError(
                f"{self._method}: the server kept answering pages of IDs in "
                f"[{cursor.start}, {cursor.end}) that do not follow each other; "
                f"the method may not support >ID filters")
        cursor.remaining = None  # count again: the walk is no longer trusted
        self._ready.append(cursor.key)
        return []

    # -- commands and pages -------------------------------------------------------------

    def _params(self, *, start: int = -1, after: Any = None, start_at: Optional[int] = None,
                end: Optional[int] = None, descending: bool = False) -> Dict[str, Any]:
        key = self._facts.filter_id
        flt = dict(self._filter)
        if after is not None:
            flt[">" + key] = after
        if start_at is not None:
            flt[">=" + key] = start_at
        if end is not None:
            flt["<" + key] = end
        params = dict(self._base)
        if flt:
            params[self._filter_key] = flt
        direction = "DESC" if descending else "ASC"
        if self._facts.order == "sort":
            params["sort"], params["order"] = key, direction
        else:
            params["order"] = {key: direction}
        params["start"] = start
        return params

    def _ref(self, label: str) -> str:
        path = f"[{self._facts.wrapper}]" if self._facts.wrapper else ""
        return f"$result[{label}]{path}[{PAGE - 1}][{self._facts.id_field}]"

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
        floor = after if after is not None else (start - 1 if start is not None else None)
        previous = floor
        for value in ids:
            if (previous is not None and value <= previous) or (end is not None and value >= end):
                return None
            previous = value
        return page, (ids[-1] if ids else after)


def choose_plan(method: str, params: Dict[str, Any], facts: MethodFacts, *,
                batch_size: int = MAX_COMMANDS, single: bool = False,
                keep_order: bool = False) -> Any:
    """The ID-range plan when the method and the caller's parameters allow it, else plain
    paging with exactly the caller's parameters (plus an ID order where that is safe)."""
    direction = _id_order(params, facts)
    if facts.ranges and not single and direction is not None and _ranges_fit(params, facts):
        return RangePlan(method, params, facts, batch_size=batch_size,
                         descending=direction == "DESC")
    return PlainPlan(method, params, facts, batch_size=batch_size, single=single,
                     keep_pages=keep_order)


def _id_order(params: Dict[str, Any], facts: MethodFacts) -> Optional[str]:
    """"ASC"/"DESC" when the caller's order is by ID only (or absent), else None."""
    if facts.order == "sort":
        sort = next((v for k, v in params.items() if k.lower() == "sort"), None)
        order = next((v for k, v in params.items() if k.lower() == "order"), "ASC")
        if sort is None:
            return "ASC"
        if str(sort).upper() != facts.filter_id.upper() or not isinstance(order, str):
            return None
        return order.upper() if order.upper() in ("ASC", "DESC") else None
    order = next((v for k, v in params.items() if k.lower() == "order"), None)
    if not order:
        return "ASC"
    if len(order) != 1:
        return None
    (field, direction), = order.items()
    if str(field).upper() != facts.filter_id.upper() or not isinstance(direction, str):
        return None
    return direction.upper() if direction.upper() in ("ASC", "DESC") else None


def _ranges_fit(params: Dict[str, Any], facts: MethodFacts) -> bool:
    """False when the caller's filter pins IDs (``ID``, ``@ID``, ...): a range plan would
    only add requests, and plain paging is exact for such small results."""
    known = {"filter", "select", "order", "sort"}
    if facts.order == "sort":
        # user.get also takes filter keys at the top level; only plan when it has none.
        if any(k.lower() not in known | {"admin_mode"} for k in params):
            return False
    flt = next((v for k, v in params.items() if k.lower() == facts.filter_key.lower()), {})
    for key in flt:
        op, name = _split_op(str(key))
        if name.upper() == facts.filter_id.upper() and op in ("", "=", "@"):
            return False
    return True


def _split_filter(params: Dict[str, Any], facts: MethodFacts) -> Tuple[str, Dict[str, Any]]:
    """The caller's filter parameter name and value. Their own ID bounds (``>ID``, ``<ID``,
    ...) stay in it: every bound the plan adds is tighter (it comes from rows the caller's
    filter returned), and where both use the same key the plan's value replaces theirs."""
    key = next((k for k in params if k.lower() == facts.filter_key.lower()), facts.filter_key)
    return key, dict(params.get(key) or {})


def _base_params(params: Dict[str, Any], facts: MethodFacts, filter_key: str) -> Dict[str, Any]:
    base = {k: v for k, v in params.items()
            if k.lower() not in ("order", "sort", "start", filter_key.lower())}
    select_key = next((k for k in base if k.lower() == "select"), None)
    if select_key is not None:
        select = list(base[select_key])
        names = {str(name).upper() for name in select}
        if "*" not in names and facts.id_field.upper() not in names:
            # Without its ID a row cannot be chained or deduplicated.
            base[select_key] = [facts.filter_id] + select
    return base


def _split_op(key: str) -> Tuple[str, str]:
    for op in sorted(_ID_OPS, key=len, reverse=True):
        if op and key.startswith(op):
            return op, key[len(op):]
    return "", key


def _by_cursor(tags: Sequence[_Tag], results: Sequence[CommandResult]):
    groups: Dict[int, List[Tuple[_Tag, CommandResult]]] = {}
    for tag, outcome in zip(tags, results):
        groups.setdefault(tag.cursor, []).append((tag, outcome))
    return groups.items()


def _refused(outcome: CommandResult) -> bool:
    error = outcome.error
    return isinstance(error, ApiError) and error.code.upper() in _REFUSALS


def _error(outcome: CommandResult) -> BitrixError:
    if outcome.error is not None:
        return outcome.error
    return BitrixError(f"{outcome.method} [{outcome.label}]: not executed")
