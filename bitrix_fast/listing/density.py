"""How densely IDs fill the ID space, from pages read at a few points of it (sans-I/O).

A page read upward from an ID ``p`` (``>ID p``) that holds ``n`` rows up to ID ``L`` shows
``n`` rows in the ``L - p`` IDs of ``(p, L]``; the first page of a table shows ``n`` rows in
``(first - 1, last]``, the top page ``[low, high]``; a bounded page that comes back empty
shows none in its whole interval. These are :class:`Sample` values.

Samples from different places agree when the table fills its ID space evenly -- contiguous
IDs, or IDs thinned by deletions at random -- and disagree where it does not: IDs in
clusters with holes between them, after imports years apart. A plan sized by a density
the samples disagree on sends spans into holes, one request each, or spans that hold many
times what was planned; so :func:`agree` is the gate, and where it says no the plan waits
for the count. Density is at most 1 (IDs are unique), so a plan for contiguous IDs never
holds more rows than planned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

#: Densities within this factor of the pooled one count as the same, once past the noise of
#: 50-row samples: a page of a table thinned at random spans 1-4 times the IDs of another.
AGREE_FACTOR = 4.0
#: Rows of slack when comparing a sample with what the pooled density expects of it (a
#: sample that saw no row where the density expects three agrees).
AGREE_SLACK = 8.0
#: Samples read at this many points between the first and the top page.
SAMPLES = 8


@dataclass(frozen=True)
class Sample:
    """``rows`` distinct rows seen in the ``width`` IDs a page proves read; ``span``: the IDs
    from its first row to its last (0 for fewer than two rows)."""

    rows: int
    width: int
    span: int = 0

    @property
    def density(self) -> float:
        return self.rows / self.width if self.width > 0 else 0.0


def from_ascending(after: int, ids: Sequence[int], bound: Optional[int]) -> Optional[Sample]:
    """A page of ``ids`` read upward from ``after`` (exclusive) below ``bound``: the rows in
    ``(after, last]``; an empty page proves ``(after, bound)`` empty. None when the page says
    nothing (empty without a bound)."""
    distinct = len(set(ids))
    if ids:
        return Sample(distinct, max(ids) - after, max(ids) - min(ids))
    if bound is None:
        return None
    return Sample(0, max(0, bound - after - 1))


def from_end(ids: Sequence[int]) -> Optional[Sample]:
    """The first or the top page of a table: its rows over the IDs from its lowest to its
    highest (None with fewer than two rows: one row shows no density)."""
    if len(set(ids)) < 2:
        return None
    return Sample(len(set(ids)), max(ids) - min(ids) + 1, max(ids) - min(ids))


def pooled(samples: Iterable[Sample]) -> float:
    """Every sample's rows over every sample's IDs (0 when they cover no ID)."""
    rows = width = 0
    for sample in samples:
        rows += sample.rows
        width += sample.width
    return min(1.0, rows / width) if width > 0 else 0.0


def sizing(samples: Iterable[Sample]) -> float:
    """The density to size a plan by, from samples that agree: the gaps between each page's
    own rows. (The gap before a sample's first row is not counted here: a point dropped at
    random lands in a long gap more often than in a short one, so those gaps run long.)"""
    gaps = spans = 0
    for sample in samples:
        if sample.rows >= 2 and sample.span > 0:
            gaps += sample.rows - 1
            spans += sample.span
    return min(1.0, gaps / spans) if spans > 0 else pooled(samples)


def contiguous(samples: Sequence[Sample]) -> bool:
    """Every sample saw every ID filled (and there is at least one)."""
    return bool(samples) and all(s.rows == s.width > 0 for s in samples)


def agree(samples: Sequence[Sample], *, factor: float = AGREE_FACTOR,
          slack: float = AGREE_SLACK) -> bool:
    """Whether every sample holds about what the pooled density expects of its width:
    neither side more than ``factor`` times the other, give or take ``slack`` rows."""
    if not samples:
        return False
    density = pooled(samples)
    for sample in samples:
        expected = density * sample.width
        low, high = sorted((float(sample.rows), expected))
        if high > factor * low + slack:
            return False
    return True


def points(after: int, top: int, count: int = SAMPLES, grain: int = 1) -> List[int]:
    """About ``count`` IDs spread evenly over ``(after, top)``, each the exclusive start of a
    sample (the first is ``after`` itself), ``grain`` IDs apart or a multiple of it: where
    IDs turn out contiguous, spans of ``grain`` rows then fill the IDs between samples
    without a short span at each."""
    width = top - after - 1
    if width <= 0:
        return []
    grain = max(1, grain)
    step = max(grain, round(width / max(1, count) / grain) * grain)
    return [after + index * step for index in range(count) if index * step < width]
