"""Which local rows are gone from the portal's listing, found by comparing counts per ID range.

Sans-I/O: :class:`RangeCheck` is given the local table's sorted IDs, hands out rounds of ID
ranges to count (:meth:`RangeCheck.next_round`) and is fed the portal's answer to each: the
``total`` of the range and the IDs on its first page (:meth:`RangeCheck.feed`). The caller
sends each round as counted first pages, 50 commands per request.

* Round one cuts the local IDs into up to 50 ranges of equal local count. A range whose
  portal count equals the local count is done: one request checks a table where nothing
  was deleted.
* A range that differs is cut again, by local count (by ID value when it holds almost no
  local rows). Only the pieces are counted, never the rest of the table, and the last
  piece's count is inferred from its parent's, so a plain halving costs one command.
  Spare commands in a round's last request go to cutting the widest ranges finer: they
  cost nothing and save rounds. A range that differs in so many rows that finding them one
  by one would cost more is cut straight into pieces of a page each: every ID is read there.
* A range whose portal count is at most one page (50) comes back whole on its first page:
  its IDs settle it. Local IDs missing there are ``gone``; portal IDs the table lacks are
  ``missing`` (rows the caller should read).

A row is only ever declared gone because a complete page of its range lacked it; counts
alone (which a quirky portal may overstate, and which move while the run goes on) only
steer where to look. A wrong or stale count costs more commands or leaves a deletion for
the next run, never deletes a row that exists.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

#: rows on one page of a list method: the most a counted first page can settle
PAGE = 50
#: commands in one batch request
PER_REQUEST = 50


class RangeFilterIgnored(Exception):
    """A page held rows outside the ID range asked for: the method ignores ID filters."""


@dataclass(frozen=True)
class Span:
    """IDs ``lo <= ID < hi``; local rows ``ids[start:stop]``."""

    lo: int
    hi: int
    start: int
    stop: int

    @property
    def local(self) -> int:
        return self.stop - self.start


@dataclass
class _Group:
    """One round's pieces of one span: ``queried`` are counted, ``inferred`` (if any) gets
    ``known`` minus the others' counts."""

    queried: List[Span]
    inferred: Optional[Span] = None
    known: Optional[int] = None


@dataclass
class RangeCheck:
    ids: Sequence[int]
    first_ranges: int = PER_REQUEST
    page: int = PAGE
    per_request: int = PER_REQUEST
    gone: List[int] = field(default_factory=list)
    missing: List[int] = field(default_factory=list)
    rounds: int = 0
    commands: int = 0

    def __post_init__(self) -> None:
        #: spans whose portal count is known and differs, to look at next round; the flag
        #: says the span's whole first page was seen and fell short: it must be cut
        self._open: List[Tuple[Span, int, bool]] = []
        self._groups: List[_Group] = []
        n = len(self.ids)
        if n == 0:
            self._first: List[Span] = []
            return
        pieces = min(self.first_ranges, -(-n // self.page))
        whole = Span(self.ids[0], self.ids[-1] + 1, 0, n)
        self._first = self._cut(whole, pieces)

    @property
    def done(self) -> bool:
        return not self._first and not self._open and not self._groups

    def next_round(self) -> List[Span]:
        """The ranges to count now, in order; empty when the check is complete."""
        if self._groups:
            raise RuntimeError("feed() the previous round first")
        if self._first:
            groups = [_Group([span]) for span in self._first]
            self._first = []
        else:
            groups = self._plan(self._open)
            self._open = []
        self._groups = groups
        spans = [span for group in groups for span in group.queried]
        if spans:
            self.rounds += 1
            self.commands += len(spans)
        return spans

    def feed(self, answers: Sequence[Tuple[Optional[int], Sequence[int]]]) -> None:
        """``(total, IDs on the first page)`` for each range of the last round, in order."""
        groups, self._groups = self._groups, []
        expected = sum(len(group.queried) for group in groups)
        if len(answers) != expected:
            raise ValueError(f"expected {expected} answers, got {len(answers)}")
        at = 0
        for group in groups:
            counted = 0
            for span in group.queried:
                total, page_ids = answers[at]
                at += 1
                counted += self._settle(span, total, page_ids)
            if group.inferred is not None and group.known is not None:
                rest = group.known - counted
                if rest < 0:  # the portal changed under us: count this piece again
                    self._first.append(group.inferred)
                else:
                    self._judge(group.inferred, rest)

    # -- one answer --------------------------------------------------------------------------

    def _settle(self, span: Span, total: Optional[int], page_ids: Sequence[int]) -> int:
        """Use one range's answer; returns the count to use for inference."""
        found = sorted(set(page_ids))
        if any(not span.lo <= i < span.hi for i in found):
            raise RangeFilterIgnored(f"rows outside IDs {span.lo}..{span.hi - 1}")
        if total is None:
            if found:
                raise RangeFilterIgnored("a counted page came back without a total")
            total = 0
        if total <= self.page and len(found) == total:
            self._resolve(span, found)
        elif span.hi - span.lo == 1:
            pass  # one ID the count says exists but the page does not show: keep it
        elif total <= self.page:
            # A short page under a small count (a COUNT over joins, or rows that repeat):
            # asking for the same page again would not help; smaller ranges will.
            self._open.append((span, total, True))
        else:
            self._judge(span, total)
        return total

    def _judge(self, span: Span, portal: int) -> None:
        """A span whose count is known: done when it matches, else looked at next round.
        Even a count of 0 deletes nothing by itself; the span's own page must show it."""
        if portal != span.local:
            self._open.append((span, portal, False))

    def _resolve(self, span: Span, found: List[int]) -> None:
        local = self.ids[span.start:span.stop]
        present = set(found)
        self.gone.extend(i for i in local if i not in present)
        known = set(local)
        self.missing.extend(i for i in found if i not in known)

    # -- planning a round ----------------------------------------------------------------------

    def _plan(self, opened: List[Tuple[Span, int, bool]]) -> List[_Group]:
        """Halve every open span, then spend the round's spare commands on cutting the
        widest spans finer."""
        spans = [(span, portal) for span, portal, _ in opened]
        fan = [self._wanted(span, portal) if cut else
               self._fanout(span, portal, self._wanted(span, portal))
               for span, portal, cut in opened]
        cost = [self._cost(span, portal, f) for (span, portal), f in zip(spans, fan)]
        total = sum(cost)
        room = -(-total // self.per_request) * self.per_request
        while True:
            best, width = -1, 0.0
            for k, (span, portal) in enumerate(spans):
                if fan[k] < 2 or span.local / fan[k] <= self.page:
                    continue
                if span.local / fan[k] > width:
                    best, width = k, span.local / fan[k]
            if best < 0:
                break
            span, portal = spans[best]
            more = self._cost(span, portal, fan[best] + 1) - cost[best]
            if total + more > room:
                break
            fan[best] += 1
            cost[best] += more
            total += more
        return [self._group(span, portal, f) for (span, portal), f in zip(spans, fan)]

    def _wanted(self, span: Span, portal: int) -> int:
        """2 (halve), or straight to pieces of one page each when the span differs in so many
        rows that finding them one by one would cost more than reading every ID."""
        differ = abs(span.local - portal)
        leaves = max(2, -(-max(span.local, portal) // self.page))
        # Scattered differences make every page likely to hold one; clustered ones (a batch
        # deleted together) are found faster by halving, so only dense spans go straight.
        return leaves if leaves <= 2 * differ else 2

    def _fanout(self, span: Span, portal: int, wanted: int) -> int:
        """1 when the span's first page can settle it (the portal holds at most a page of
        it, or it is a single ID), else ``wanted`` pieces."""
        if span.hi - span.lo == 1 or portal <= self.page:
            return 1
        return wanted

    def _cost(self, span: Span, portal: int, fan: int) -> int:
        group = self._group(span, portal, fan)
        return len(group.queried)

    def _group(self, span: Span, portal: int, fan: int) -> _Group:
        if fan <= 1:
            return _Group([span])
        pieces = self._cut(span, fan)
        last = pieces[-1]
        if len(pieces) == 1:
            return _Group(pieces)
        return _Group(pieces[:-1], inferred=last, known=portal)

    def _cut(self, span: Span, pieces: int) -> List[Span]:
        """``span`` in up to ``pieces`` parts of equal local count (of equal ID width when it
        holds fewer local rows than pieces)."""
        if span.local >= pieces:
            bounds = [span.start + span.local * k // pieces for k in range(pieces + 1)]
            edges = [span.lo] + [self.ids[b] for b in bounds[1:-1]] + [span.hi]
        else:
            width = span.hi - span.lo
            pieces = max(1, min(pieces, width))
            edges = [span.lo + width * k // pieces for k in range(pieces + 1)]
        out = []
        for lo, hi in zip(edges, edges[1:]):
            if hi <= lo:
                continue
            start = bisect.bisect_left(self.ids, lo, span.start, span.stop)
            stop = bisect.bisect_left(self.ids, hi, span.start, span.stop)
            out.append(Span(lo, hi, start, stop))
        return out
