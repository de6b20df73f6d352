"""Pages cut short by joins, measured: which row of a page the next chained page may
refer to, and how far a COUNT over joined rows overstates the distinct ones.

Where a filter or select joins a multiple field, the server applies ``LIMIT 50`` to joined
rows and de-duplicates the page after, so pages come back shorter than 50 while more rows
remain (bitrix-rest-semantics.md §8). A chain that refers to row 49 of such a page breaks;
so once pages are seen cut short, chains refer to a row every page is sure to have. Sans-I/O.
"""
from __future__ import annotations

import math
from typing import List

from .query import PAGE

#: Rows of slack below the shortest page seen when lowering the chain's reference index
#: (joined pages vary in length), and standard deviations of slack once there are enough
#: short pages to measure: a page shorter than the index breaks the rest of its chain.
SHORT_MARGIN = 2
SHORT_SIGMAS = 3.0
#: Slack on the measured share of joined duplicates when judging a total it explains.
JOIN_SLACK = 0.03


class Joins:
    """What short pages showed so far."""

    def __init__(self) -> None:
        #: the reference index of chained pages: 49 until pages turn out to be cut short
        self.ref = PAGE - 1
        #: the share of distinct rows among the rows a page's LIMIT counted
        self.distinct = 1.0
        self._short: List[int] = []  # lengths of pages cut short with rows after them
        #: rows and pages of every page with rows above it (short or not): a page of 50 joined
        #: rows holds ``rows / (50 * pages)`` distinct ones, the share a COUNT over joins
        #: overstates by
        self._mid_rows = self._mid_pages = 0

    def middle(self, lengths: List[int]) -> None:
        """Pages of these lengths had rows above them (they were not the last)."""
        self._mid_rows += sum(lengths)
        self._mid_pages += len(lengths)
        cut = [length for length in lengths if length < PAGE]
        if cut:
            self.short(*cut)

    def short(self, *lengths: int) -> None:
        """Pages came back cut short: chain on a row every page is sure to have -- below the
        shortest seen, and three standard deviations below their mean once a few are known
        -- instead of row 49, so the next page's reference still resolves."""
        self._short.extend(lengths)
        seen = self._short
        if len(seen) < 5:  # too few to measure the spread: keep a sixth of a page spare
            safe = min(seen) - max(SHORT_MARGIN, math.ceil(min(seen) / 6))
        else:
            mean = sum(seen) / len(seen)
            spread = math.sqrt(sum((n - mean) ** 2 for n in seen) / (len(seen) - 1))
            safe = min(min(seen) - SHORT_MARGIN, math.floor(mean - SHORT_SIGMAS * spread))
        # Once measured, the index follows the measurement (it may rise again after the
        # first, cautious guess); before that it only ever drops.
        self.ref = max(0, safe - 1 if len(seen) >= 5 else min(self.ref, safe - 1))
        if self._mid_pages:
            self.distinct = min(1.0, self._mid_rows / (PAGE * self._mid_pages))
        else:  # the first page, alone: its length is all there is to go by
            self.distinct = min(1.0, min(seen) / PAGE)

    def accounted(self, distinct: int) -> float:
        """Rows a ``total`` is explained by: ``distinct`` rows read, scaled up by the share
        of joined duplicates that short pages showed (their COUNT counts joined rows; the
        share is measured, so it gets a little slack)."""
        if self.distinct >= 1.0:
            return float(distinct)
        return distinct / self.distinct * (1 + JOIN_SLACK)
