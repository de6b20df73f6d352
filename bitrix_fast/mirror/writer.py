"""Rows into the listing's table: columns added as fields appear, values made to fit, writes
in batches, added and changed rows counted.

A field gets its column the first time a row carries it; its kind comes from the method's
``*.fields`` description, asked for once per run and only when a field is new. The columns
(field -> column name and kind) are part of the mirror's state, so later runs neither ask
again nor retype a column.
"""
from __future__ import annotations

import bisect
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..listing import row_id
from ..protocol.methods import MethodFacts
from .errors import MirrorError
from .fields import CONVERTERS, kind_of
from .spec import column_name

#: rows buffered before one write
BATCH = 2000


def checked_id(table: str, row: Any, facts: MethodFacts) -> int:
    """The ID of a row the listing returned for ``table``; MirrorError when the row is not
    an object or has no readable ID (nothing to key it by in the table)."""
    if not isinstance(row, dict):
        raise MirrorError(f"{table}: the listing returned a row that is not an object: "
                          f"{str(row)[:80]!r}")
    id_ = row_id(row, facts)
    if id_ is None:
        raise MirrorError(f"{table}: a row without a readable {facts.id_field}: "
                          f"{str(row)[:80]!r}")
    return id_


class Seen:
    """Which of a table's IDs (sorted) were read again: one byte each."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = ids
        self.flags = bytearray(len(ids))

    def mark(self, id_: int) -> None:
        at = bisect.bisect_left(self.ids, id_)
        if at < len(self.ids) and self.ids[at] == id_:
            self.flags[at] = 1

    def unseen(self) -> List[int]:
        return [self.ids[i] for i, flag in enumerate(self.flags) if not flag]


class TableWriter:
    """Writes rows of one listing into its table (``fresh``: the table was empty at the start
    of the run, so rows are inserted, not upserted)."""

    def __init__(self, store: Any, table: str, facts: MethodFacts,
                 columns: Mapping[str, List[str]], kinds: Callable[[], Mapping[str, str]],
                 *, fresh: bool, seen: Optional[Seen] = None) -> None:
        self._store = store
        self._table = table
        self._facts = facts
        #: field -> [column, kind], in column order
        self.columns: Dict[str, List[str]] = {f: list(c) for f, c in columns.items()}
        self._kinds = kinds
        self._fresh = fresh
        self._seen = seen
        self._buffer: List[Dict[str, Any]] = []
        self._fields: Tuple[str, ...] = tuple(self.columns)
        self.added = 0
        self.changed = 0

    @property
    def id_column(self) -> str:
        return self.columns[self._facts.id_field][0]

    def write(self, row: Any) -> None:
        id_ = checked_id(self._table, row, self._facts)
        new = [field for field in row if field not in self.columns]
        if new:
            self.flush()
            self._add(new)
        if self._seen is not None:
            self._seen.mark(id_)
        self._buffer.append(row)
        if len(self._buffer) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        fields = self._fields
        convert = [CONVERTERS[self.columns[f][1]] for f in fields]
        id_field = self._facts.id_field
        values = []
        for row in rows:
            record = [fn(row.get(f)) for f, fn in zip(fields, convert)]
            record[0] = row_id(row, self._facts)
            values.append(tuple(record))
        names = [self.columns[f][0] for f in fields]
        if self._fresh:
            self.added += self._store.insert(self._table, names, values)
        else:
            added, changed = self._store.upsert(self._table, self.columns[id_field][0],
                                                names, values)
            self.added += added
            self.changed += changed

    def _add(self, fields: List[str]) -> None:
        kinds = self._kinds()
        taken = {column.lower() for column, _ in self.columns.values()}
        for field in fields:
            column = column_name(field)
            # SQLite folds case in names: ID and id, or two long names, must not collide.
            base, n = column, 2
            while column.lower() in taken:
                column = f"{base}_{n}"
                n += 1
            taken.add(column.lower())
            kind = kind_of(field, kinds, self._facts.id_field)
            self._store.add_column(self._table, column, kind)
            self.columns[field] = [column, kind]
        self._fields = tuple(self.columns)
