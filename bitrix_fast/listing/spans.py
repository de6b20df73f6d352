"""Spans of unread IDs, and how unread IDs are cut into them (sans-I/O)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

#: Densities within this factor of each other count as even.
EVEN_FACTOR = 1.6


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
    #: no segment of it has been sent yet (a late count may still re-plan it)
    fresh: bool = True
    #: proven read
    done: bool = False

    @property
    def width(self) -> float:
        return math.inf if self.top is None else self.top - self.after - 1


def cut(gaps: Sequence[Tuple[int, int]], density: float, target: float
        ) -> List[Tuple[int, int, float]]:
    """Half-open intervals ``[lo, hi)`` of unread IDs cut into pieces of about ``target``
    rows at ``density``: ``(lo, hi, rows)`` each."""
    out = []
    for lo, hi in gaps:
        width = hi - lo
        count = max(1, math.ceil(density * width / target))
        step = max(1, math.ceil(width / count))
        lower = lo
        while lower < hi:
            upper = min(hi, lower + step)
            out.append((lower, upper, density * (upper - lower)))
            lower = upper
    return out


def run_density(ascending: List[int]) -> Optional[float]:
    """The density of the rows a chain just read, from its first row to its last (not from
    the span's start: a hole may lie before them), None with too few rows."""
    if len(ascending) < 2:
        return None
    return (len(ascending) - 1) / max(1, ascending[-1] - ascending[0])


def split(span: Span, local: Optional[float], most: float
          ) -> List[Tuple[int, int, float]]:
    """Where a span holding more than ``most`` rows is cut: ``[lo, hi)`` parts, each with its
    expected rows.

    Where the density just read at ``span.after`` (``local``) is far above the span's
    average, the IDs are clustered: the count mostly describes one run of rows starting
    there, and cutting the whole width evenly would probe many empty holes. The parts then
    cover that run (at ``local``), and one more part what lies beyond it."""
    end = span.top
    assert end is not None
    width = span.width
    density = span.rows / width
    if span.rows >= width or not local or local <= density * EVEN_FACTOR:
        local = density
    extent = min(width, math.ceil(span.rows / local))
    parts = math.ceil(span.rows / most)
    step = max(1, math.ceil(extent / parts))
    lower = span.after + 1
    run_end = lower + extent
    out = []
    while lower < end:
        upper = min(end, lower + step) if lower < run_end else end
        out.append((lower, upper, local * (upper - lower) if lower < run_end else 0.0))
        lower = upper
    return out
