"""Rows of list replies: where a page keeps them, the ID that names each, deduplication."""
from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

from ..batch import CommandResult
from ..errors import BitrixError
from ..methods import MethodFacts


def rows_of(result: Any, facts: MethodFacts) -> Optional[List[Any]]:
    """The rows of one list reply, or None when the result is not a list of rows (a dict
    result, which get_all hands back as it is)."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        if facts.wrapper is not None:
            rows = result.get(facts.wrapper)
            if isinstance(rows, list):
                return rows
            if not result:  # an empty page of a wrapped method comes back as []/{}
                return []
            # fall through: a method from the table answering in another shape
        if len(result) == 1:
            only = next(iter(result.values()))
            if isinstance(only, list):
                return only
    return None


def row_id(row: Any, facts: MethodFacts) -> Optional[int]:
    """The integer ID of a row, or None when it has none we can read."""
    if not isinstance(row, dict):
        return None
    value = row.get(facts.id_field)
    if value is None and facts.id_field != "ID":
        value = row.get("ID")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class Dedup:
    """Drops rows whose ID was already yielded. Rows without a readable ID always pass."""

    def __init__(self, facts: MethodFacts) -> None:
        self._facts = facts
        self._seen: set = set()
        self.dropped = 0

    def filter(self, rows: Iterable[Any]) -> List[Any]:
        return list(self.filter_iter(rows))

    def filter_iter(self, rows: Iterable[Any]) -> Iterator[Any]:
        seen = self._seen
        facts = self._facts
        for row in rows:
            key = row_id(row, facts)
            if key is not None:
                if key in seen:
                    self.dropped += 1
                    continue
                seen.add(key)
            yield row


def raise_failed(results: Sequence[CommandResult]) -> None:
    """A list is never returned with a hole in it: a failed page raises its error."""
    for outcome in results:
        if not outcome.ok:
            if outcome.error is not None:
                raise outcome.error
            raise BitrixError(f"{outcome.method} [{outcome.label}]: not executed")


def merge_params(params: Dict[str, Any], **changes: Any) -> Dict[str, Any]:
    out = dict(params)
    out.update(changes)
    return out
