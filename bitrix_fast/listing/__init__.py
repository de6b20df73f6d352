"""The list engine: from a list call as the caller asked it to every row, each once.

::

    query.py     the list call as asked, and the commands of an ID-range plan
    check.py     every page held against what was asked; what a page proves
    coverage.py  the ID intervals proven read
    ranges.py    ID-range paging: the plan of spans and chained pages (sans-I/O)
    paging.py    offset paging (or NAV_PARAMS), with guards
    listing.py   one listing: the strategy, the switch when replies contradict it, dedup
    rows.py      rows of a reply, their IDs, deduplication

:class:`Listing` is the plan the executor drives (:class:`bitrix_fast.run.work.Plan`).
"""
from __future__ import annotations

from .coverage import Coverage
from .listing import Listing
from .rows import Dedup, IdSet, row_id, rows_of

__all__ = ["Coverage", "Dedup", "IdSet", "Listing", "row_id", "rows_of"]
