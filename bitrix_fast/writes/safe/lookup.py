"""Find the records that hold some key values: many keys per command, every answer checked.

Sans-I/O: :class:`Lookup` hands out :class:`Query` values, each one list command
(:meth:`Lookup.command`) asking for up to :data:`KEYS_PER_COMMAND` keys at once::

    crm.deal.list  filter {"@ORIGIN_ID": [k1, ..., k50], ">ID": after}
                   order {"ID": "ASC"}  select ["ID", "ORIGIN_ID", ...]  start -1

and is told what came back (:meth:`Lookup.answer`). A page is proof of nothing but the rows
on it (a page of fewer than 50 rows does not prove the end: a join can cut it short), so a
query that found rows is asked again past the last ID it saw, and only an empty page ends
it. Keys absent from every page of their query are absent. Every row is held against what
was asked -- its key one of the query's, its ID past the cursor, IDs ascending -- and a
contradiction (a filter or order the method ignored) raises
:class:`~bitrix_fast.errors.ListingError` instead of a wrong answer.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from ...errors import ListingError
from ...listing import rows_of
from ...protocol import methods
from ...protocol.batch import Command
from .keys import KeySpec, Scope, key_text

__all__ = ["Lookup", "Query", "Found", "KEYS_PER_COMMAND"]

#: Keys asked for in one command: one page's worth when each key has one record.
KEYS_PER_COMMAND = 50

#: A key's records as the list printed them (each with the ID and the key field).
Rows = List[Dict[str, Any]]
#: What one finished query says: for each of its keys, the records holding it ([] absent).
Found = List[Tuple[Scope, str, Rows]]


@dataclass(frozen=True)
class Query:
    """One command's worth: these keys, in this scope, records with IDs above ``after``."""

    scope: Scope
    keys: Tuple[str, ...]
    after: int = 0


class Lookup:
    """The keys still to look up, and the rows found so far (see the module docstring).

    ``select`` names fields to read besides the ID and the key (an upsert compares them)."""

    def __init__(self, spec: KeySpec, select: Sequence[str] = ()) -> None:
        self.spec = spec
        self._select = [spec.id_field, spec.field] + [
            name for name in select if name not in (spec.id_field, spec.field)]
        self._queue: Deque[Query] = deque()
        self._rows: Dict[Tuple[Scope, str], Dict[int, Dict[str, Any]]] = {}
        #: queries handed out and not yet answered
        self.out = 0

    def ask(self, scope: Scope, keys: Sequence[str]) -> None:
        """Look up ``keys`` (in ``scope``), :data:`KEYS_PER_COMMAND` per query."""
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), KEYS_PER_COMMAND):
            self._queue.append(Query(scope, tuple(keys[start:start + KEYS_PER_COMMAND])))

    @property
    def waiting(self) -> int:
        """Queries ready to be sent."""
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """Nothing to send and nothing awaited."""
        return not self._queue and not self.out

    def next_query(self) -> Optional[Query]:
        if not self._queue:
            return None
        self.out += 1
        return self._queue.popleft()

    def command(self, query: Query, label: str) -> Command:
        """The list command asking ``query``."""
        spec = self.spec
        return Command(label, spec.list, {
            **dict(query.scope),
            "filter": {f"@{spec.field}": list(query.keys), f">{spec.filter_id}": query.after},
            "order": {spec.filter_id: "ASC"},
            "select": list(self._select),
            "start": -1,
        })

    def answer(self, query: Query, result: Any) -> Found:
        """The rows ``query`` got (its command's result). Returns the keys whose lookup
        this finished (its page was empty): each with its records, [] for none. Raises
        ListingError for rows that contradict the query (then :meth:`fail` it)."""
        rows = rows_of(result, methods.list_facts(self.spec.list))
        if rows is None:
            raise ListingError(self.spec.list, f"a lookup by {self.spec.field} got "
                                               f"{type(result).__name__}, not rows")
        checked = []
        last = query.after
        for row in rows:  # all checked before any is taken: a contradiction takes none
            ident, key = self._check(query, row, last)
            checked.append((ident, key, row))
            last = ident
        self.out -= 1
        for ident, key, row in checked:
            self._rows.setdefault((query.scope, key), {})[ident] = row
        if rows:
            self._queue.appendleft(Query(query.scope, query.keys, last))  # finish it first
            return []
        return [(query.scope, key, list(self._rows.pop((query.scope, key), {}).values()))
                for key in query.keys]

    def fail(self, query: Query) -> List[Tuple[Scope, str]]:
        """``query`` could not be asked (its request failed for good): its keys, whose
        lookup ends unanswered."""
        self.out -= 1
        for key in query.keys:
            self._rows.pop((query.scope, key), None)
        return [(query.scope, key) for key in query.keys]

    def _check(self, query: Query, row: Any, last: int) -> Tuple[int, str]:
        spec = self.spec
        if not isinstance(row, Mapping):
            raise ListingError(spec.list, f"a lookup by {spec.field} got a row that is not "
                                          f"an object: {row!r}")
        try:
            ident = int(row[spec.id_field])
        except (KeyError, TypeError, ValueError):
            raise ListingError(spec.list, f"a row has no {spec.id_field}: {row!r}") from None
        if spec.field not in row:
            raise ListingError(spec.list, f"its rows have no {spec.field}: the portal does not "
                                          f"know that field, so no record can be found by it")
        key = key_text(row[spec.field]) if row[spec.field] is not None else None
        if key not in query.keys:
            raise ListingError(spec.list, f"asked for records by {spec.field}, it answered "
                                          f"with {spec.field} {row[spec.field]!r}: the filter "
                                          f"was ignored")
        if ident <= last:
            raise ListingError(spec.list, f"asked for IDs above {last} in ascending order, "
                                          f"it answered with ID {ident}: the ID filter or "
                                          f"the order was ignored")
        return ident, key
