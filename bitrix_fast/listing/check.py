"""Every page held against what was asked.

A reply's rows, its ``total`` and its ``next`` are claims by the server, not facts
(bitrix-rest-semantics.md §8). What a page *does* prove, when it passes these checks, is
coverage: an ascending page asked for IDs ``> after`` and ``< before`` that holds rows up to ID
``L`` proves every matching row in ``(after, L]`` is in it -- also on a portal whose pages
are cut short by joins, because the rows it dropped all lie above ``L``. A descending page
proves the same for ``[L, before)``. An empty page proves the whole interval empty.

A page that breaks the rules (a row outside the interval asked for, rows out of order) means
the method ignores the ID filter or the order: :class:`Contradiction` tells the plan to stop
planning by ID ranges.
"""
from __future__ import annotations

from typing import Any, List, Optional

from ..errors import ListingError
from ..protocol.methods import MethodFacts
from .rows import row_id


class Contradiction(Exception):
    """A reply contradicts what was asked; ``reason`` says how (for the one warning)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def page_ids(page: List[Any], facts: MethodFacts, method: str) -> List[int]:
    """The IDs of a page's rows; a row without a readable ID makes ID paging impossible."""
    field = facts.id_field
    try:  # every row a dict with its ID: the quick way (a few thousand rows a reply)
        return [int(row[field]) for row in page]
    except (KeyError, TypeError, ValueError):
        pass
    ids = [row_id(row, facts) for row in page]
    if any(value is None for value in ids):
        raise ListingError(method, f"rows without a readable {facts.id_field!r} field; they "
                                   f"cannot be paged by ID (select {facts.id_field!r})")
    return ids  # type: ignore[return-value]


def check_ascending(ids: List[int], after: Optional[int], before: Optional[int]) -> None:
    """Raise :class:`Contradiction` unless ``ids`` ascend strictly inside (after, before)."""
    previous = after
    for value in ids:
        if before is not None and value >= before:
            raise Contradiction(f"a row with ID {value} came back for IDs below {before}: the "
                                f"ID filter is ignored")
        if previous is not None and value <= previous:
            if after is not None and value <= after:
                raise Contradiction(f"a row with ID {value} came back for IDs above {after}: "
                                    f"the ID filter is ignored")
            raise Contradiction("rows came back out of ID order: the order is ignored")
        previous = value


def check_descending(ids: List[int], after: Optional[int], before: Optional[int]) -> None:
    """Raise :class:`Contradiction` unless ``ids`` descend strictly inside (after, before)."""
    previous = before
    for value in ids:
        if after is not None and value <= after:
            raise Contradiction(f"a row with ID {value} came back for IDs above {after}: the "
                                f"ID filter is ignored")
        if previous is not None and value >= previous:
            if before is not None and value >= before:
                raise Contradiction(f"a row with ID {value} came back for IDs below {before}: "
                                    f"the ID filter is ignored")
            raise Contradiction("rows came back out of ID order: the order is ignored")
        previous = value
