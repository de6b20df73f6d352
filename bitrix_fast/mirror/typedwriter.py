"""Rows into a typed table: each value read by its field's kind, columns added as fields
appear (see :mod:`.layout`), values that do not parse kept beside the column and counted,
multiple values into the child table, writes in batches.

Rows are buffered and written :data:`BATCH` at a time: the first run inserts (``COPY`` on
PostgreSQL), later runs upsert, and a row whose stored values equal the new ones is neither
written nor counted. The child rows of every row written are replaced with it.
"""
from __future__ import annotations

import json
from array import array
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..listing import row_id
from ..protocol.methods import MethodFacts
from ..typed.spec import FieldSpec, spec_for
from ..typed.values import BAD, as_list, read_multifield, readers, text_of
from .layout import CHILD_COLUMNS, CHILD_KEY, Layout, Place
from .store import SqlStore
from .writer import Seen, checked_id

#: rows buffered before one write: small enough to cost little memory (a deal with every
#: field is ~4 KB decoded; measured 12 MB less peak RSS than at 2,000), big enough that
#: statements stay few
BATCH = 500

Out = Tuple[str, Callable[[Any], Any], Place]
ChildRow = Tuple[int, str, int, Optional[str], Optional[str], Optional[int]]


class TypedWriter:
    """Writes one listing's rows into its table (``fresh``: the table was empty at the start
    of the run, so rows are inserted, not upserted). ``specs`` gives the field descriptions;
    it is called only when a row brings a field the table has no column for."""

    def __init__(self, store: SqlStore, layout: Layout, facts: MethodFacts,
                 specs: Callable[[], Mapping[str, FieldSpec]], *, fresh: bool,
                 seen: Optional[Seen] = None, tz: Optional[tzinfo] = None,
                 keep_ids: bool = False) -> None:
        self._store = store
        self.layout = layout
        self._facts = facts
        self._specs = specs
        self._fresh = fresh
        self._seen = seen
        self._readers = readers(tz, exact=store.exact, dates_as_text=store.dates_as_text)
        self._buffer: List[Tuple[int, Dict[str, Any]]] = []
        self.added = self.changed = self.unparsed = 0
        #: the IDs of every row written this run, when ``keep_ids`` (product rows follow
        #: their owners; 8 bytes a row)
        self.ids: "array[int]" = array("q")
        self._keep_ids = keep_ids
        self._compile()

    @property
    def id_column(self) -> str:
        return self.layout.id_column

    def write(self, row: Any) -> None:
        id_ = checked_id(self.layout.table, row, self._facts)
        if not self._known.issuperset(row):
            self.flush()
            self._add([field for field in row if field not in self.layout.places])
        if self._seen is not None:
            self._seen.mark(id_)
        if self._keep_ids:
            self.ids.append(id_)
        self._buffer.append((id_, row))
        if len(self._buffer) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        records: List[List[Any]] = []
        bad: Dict[int, Dict[int, str]] = {}
        pairs = [(field, fn) for field, fn, _ in self._outs]
        for n, (id_, row) in enumerate(rows):
            get = row.get
            record: List[Any] = [id_]
            record += [fn(get(field)) for field, fn in pairs]
            if BAD in record:  # rare: keep the value as sent, NULL in its column
                for k, value in enumerate(record[1:]):
                    if value is BAD:
                        bad.setdefault(n, {})[k] = text_of(row.get(pairs[k][0]))
                        record[k + 1] = None
            records.append(record)
        self.unparsed += sum(len(b) for b in bad.values())
        self._raw_columns_for(bad)
        raws = [k for k, (_, _, place) in enumerate(self._outs) if place.raw and _is_main(place)]
        names = [self.id_column] + [_column_of(out) for out in self._outs] + \
                [str(self._outs[k][2].raw) for k in raws]
        values = [tuple(record + [bad.get(n, {}).get(k) for k in raws])
                  for n, record in enumerate(records)]
        if self._fresh:
            self.added += self._store.insert(self.layout.table, names, values)
        else:
            added, changed = self._store.upsert(self.layout.table, self.id_column, names,
                                                values)
            self.added += added
            self.changed += changed
        if self._children:
            self._write_children([row for _, row in rows])

    # -- columns ---------------------------------------------------------------------------

    def _add(self, fields: Sequence[str]) -> None:
        specs = self._specs()  # asked for only when a field is new to the table
        for field in fields:
            spec = spec_for(field, specs, self._facts.id_field)
            _, adds, new_child = self.layout.place(spec)
            if new_child and self.layout.child:
                self._store.create(self.layout.child, CHILD_COLUMNS, CHILD_KEY)
            for column, kind in adds:
                self._store.add_column(self.layout.table, column, kind)
        self._compile()

    def _raw_columns_for(self, bad: Dict[int, Dict[int, str]]) -> None:
        wanted = {k for b in bad.values() for k in b}
        added = False
        for k in sorted(wanted):
            place = self._outs[k][2]
            if place.raw is None:
                column, kind = self.layout.place_raw(place.field)
                self._store.add_column(self.layout.table, column, kind)
                added = True
        if added:
            self._compile()

    def _compile(self) -> None:
        """The functions that turn a row into the table's values, in column order."""
        self._known = frozenset(self.layout.places)
        self._outs: List[Out] = []
        self._children: List[Place] = []
        for place in self.layout.places.values():
            if place.field == self.layout.id_field:
                continue
            if place.multiple == "table":
                self._children.append(place)
            elif place.multiple == "json":
                self._outs.append((place.field, _json, place))
            elif place.kind == "money":
                amount, currency = _money(self._readers["money"])
                self._outs.append((place.field, amount, place))
                self._outs.append((place.field, currency, _CurrencyOf(place)))
            else:
                self._outs.append((place.field, self._readers.get(place.kind,
                                                                  self._readers["text"]),
                                   place))

    # -- the child table -------------------------------------------------------------------

    def _write_children(self, rows: List[Dict[str, Any]]) -> None:
        child = self.layout.child
        assert child is not None
        out: List[ChildRow] = []
        owners = []
        for row in rows:
            owner = row_id(row, self._facts)
            assert owner is not None
            owners.append(owner)
            for place in self._children:
                out.extend(self._child_rows(owner, place, row.get(place.field)))
        if not self._fresh:
            self._store.delete_in(child, "owner_id", owners)
        if out:
            self._store.insert(child, [name for name, _ in CHILD_COLUMNS], out)

    def _child_rows(self, owner: int, place: Place, value: Any) -> List[ChildRow]:
        name = str(place.child_name)
        if place.kind == "multifield":
            entries = read_multifield(value)
            if entries is BAD:
                self.unparsed += 1
                return [(owner, name, 0, text_of(value), None, None)]
            return [(owner, name, n, text, kind, id_)
                    for n, (kind, text, id_) in enumerate(entries)]
        read = self._readers.get(place.kind, self._readers["text"])
        out: List[ChildRow] = []
        for n, element in enumerate(as_list(value)):
            parsed = read(element)
            if parsed is BAD:
                self.unparsed += 1
                out.append((owner, name, n, text_of(element), None, None))
            elif isinstance(parsed, bool) or not isinstance(parsed, int):
                out.append((owner, name, n, _child_text(parsed), None, None))
            else:
                out.append((owner, name, n, str(parsed), None, parsed))
        return out


class _CurrencyOf(Place):
    """The currency column of a money field (a place of its own in the column list)."""

    def __init__(self, money: Place) -> None:
        super().__init__(money.field, "text", money.currency)


def _is_main(place: Place) -> bool:
    return not isinstance(place, _CurrencyOf)


def _column_of(out: Out) -> str:
    return str(out[2].column)


def _money(read: Callable[[Any], Any]) -> Tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    def amount(value: Any) -> Any:
        parsed = read(value)
        return parsed if parsed is None or parsed is BAD else parsed[0]

    def currency(value: Any) -> Any:
        parsed = read(value)
        return None if parsed is None or parsed is BAD else parsed[1]
    return amount, currency


def _json(value: Any) -> Any:
    if value is None or value == "" or value is False:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _child_text(parsed: Any) -> Optional[str]:
    if parsed is None:
        return None
    if isinstance(parsed, bool):
        return "true" if parsed else "false"
    if isinstance(parsed, (date, datetime)):
        return parsed.isoformat()
    if isinstance(parsed, tuple):
        return f"{parsed[0]}|{parsed[1]}" if parsed[1] else str(parsed[0])
    if isinstance(parsed, Decimal):
        return str(parsed)
    return str(parsed)
