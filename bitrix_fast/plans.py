"""What every list plan shares: units of work, the plan protocol, rows and their IDs.

A plan is sans-I/O: it hands out :class:`Work` (a batch of commands, or one command to send as
its own JSON call), is fed the :class:`~bitrix_fast.batch.CommandResult` of each command, and
answers with the rows to yield and, implicitly, more work. The executor drives it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

from .batch import Command, CommandResult
from .errors import BitrixError
from .methods import MethodFacts

try:  # Protocol is in typing from 3.8; kept soft for type checkers only
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore


@dataclass
class Work:
    """Commands to send in one request. ``single`` sends the only command as a JSON call
    (its parameters cannot be written as a query string). ``chained`` commands refer to each
    other through ``$result``, so none may be resent alone: the plan re-plans them itself.
    ``tags`` travel with the commands so the plan knows what each reply answers."""

    commands: List[Command]
    single: bool = False
    chained: bool = False
    tags: List[Any] = field(default_factory=list)


class Plan(Protocol):
    """The interface the executor drives."""

    done: bool
    #: expected number of rows (for the progress bar), None while unknown
    total: Optional[int]
    #: True when the plan itself guarantees each row is yielded once
    unique: bool

    def next_work(self) -> Optional[Work]:
        """Work that can be sent now, or None (wait for a reply, or nothing left)."""

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Any]:
        """Take the replies to ``work``; return the rows they carry."""

    def finish(self, rows: List[Any]) -> List[Any]:
        """The rows of a whole listing, in the order get_all returns them."""


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
