"""Which IDs a listing has proven read: merged, disjoint, half-open intervals ``[lo, hi)``.

The range plan adds an interval once pages prove it (see :mod:`.check`); a resumed export
starts from the intervals an interrupted one recorded and reads only the gaps between them.
"""
from __future__ import annotations

import bisect
from typing import Iterable, List, Tuple

Interval = Tuple[int, int]


class Coverage:
    """A set of IDs as sorted, non-overlapping, non-touching ``[lo, hi)`` intervals."""

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        self._starts: List[int] = []
        self._ends: List[int] = []
        for lo, hi in intervals:
            self.add(lo, hi)

    def add(self, lo: int, hi: int) -> None:
        """Add ``[lo, hi)``, merging with every interval it overlaps or touches."""
        if hi <= lo:
            return
        # first interval whose end reaches lo, last whose start is within hi
        left = bisect.bisect_left(self._ends, lo)
        right = bisect.bisect_right(self._starts, hi)
        if left < right:
            lo = min(lo, self._starts[left])
            hi = max(hi, self._ends[right - 1])
        self._starts[left:right] = [lo]
        self._ends[left:right] = [hi]

    def contains(self, value: int) -> bool:
        index = bisect.bisect_right(self._starts, value) - 1
        return index >= 0 and value < self._ends[index]

    def gaps(self, lo: int, hi: int) -> List[Interval]:
        """The parts of ``[lo, hi)`` not covered, in order."""
        out: List[Interval] = []
        position = lo
        index = max(0, bisect.bisect_right(self._starts, lo) - 1)
        while position < hi and index < len(self._starts):
            start, end = self._starts[index], self._ends[index]
            if end <= position:
                index += 1
                continue
            if start >= hi:
                break
            if start > position:
                out.append((position, start))
            position = max(position, end)
            index += 1
        if position < hi:
            out.append((position, hi))
        return out

    def intervals(self) -> List[Interval]:
        return list(zip(self._starts, self._ends))

    def __len__(self) -> int:
        return len(self._starts)

    def __repr__(self) -> str:
        return f"Coverage({self.intervals()!r})"
