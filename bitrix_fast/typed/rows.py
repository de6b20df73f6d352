"""Rows with typed values, for Python callers and file exports (the mirror has its own
writer on the same readers).

:class:`RowTyper` turns a row as the portal sent it into one whose values are ``int``,
``float`` (or exact ``Decimal``), ``bool``, ``date``, ``datetime`` (offset kept) and ``str``:
``pandas.DataFrame(rows)`` then gets numbers, booleans and timestamps. A multiple field
becomes a list of typed values. A money field's currency goes into a key of its own,
``<field>__currency``. A value that does not read as its kind stays as the portal sent it
and is counted in :attr:`RowTyper.unparsed` (by field in :attr:`RowTyper.unparsed_by_field`):
nothing is dropped. Fields the description does not know pass through unchanged.
"""
from __future__ import annotations

from collections import Counter
from datetime import tzinfo
from decimal import Decimal
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from .spec import FieldSpec, spec_for
from .values import BAD, as_list, readers

#: the key a money field's currency goes to: ``UF_CRM_5`` -> ``UF_CRM_5__currency``
CURRENCY_SUFFIX = "__currency"


class RowTyper:
    """Converts rows of one listing; reusable for every row of it (not thread-safe)."""

    def __init__(self, fields: Mapping[str, FieldSpec], *, id_field: str = "ID",
                 tz: Optional[tzinfo] = None, exact: bool = False) -> None:
        self._specs = fields
        self._id_field = id_field
        self._readers = readers(tz, exact=exact)
        #: numbers as Decimal (exact) instead of float
        self._exact = exact
        self._plans: Dict[str, Callable[[Any, Dict[str, Any]], None]] = {}
        self.unparsed = 0
        self.unparsed_by_field: Counter[str] = Counter()
        #: the last row's fields that did not parse, with their values as sent
        self.last_unparsed: Dict[str, Any] = {}

    def spec(self, field: str) -> FieldSpec:
        return spec_for(field, self._specs, self._id_field)

    def row(self, row: Mapping[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if self.last_unparsed:
            self.last_unparsed = {}
        plans = self._plans
        for field, value in row.items():
            plan = plans.get(field)
            if plan is None:
                plan = plans[field] = self._plan(field)
            plan(value, out)
        return out

    def rows(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[Dict[str, Any]]:
        for row in rows:
            yield self.row(row)

    # -- one field's conversion, built once --------------------------------------------------

    def _plan(self, field: str) -> Callable[[Any, Dict[str, Any]], None]:
        spec = self.spec(field)
        read = self._readers[spec.kind]
        number = self._number

        def bad(value: Any, whole: Any = None) -> Any:
            self.unparsed += 1
            self.unparsed_by_field[field] += 1
            self.last_unparsed[field] = value if whole is None else whole
            return value

        if spec.kind == "multifield":
            def put_entries(value: Any, out: Dict[str, Any]) -> None:
                parsed = read(value)
                out[field] = bad(value) if parsed is BAD else [
                    {"VALUE_TYPE": kind, "VALUE": text, "ID": id_} for kind, text, id_ in parsed]
            return put_entries
        if spec.multiple:
            def put_many(value: Any, out: Dict[str, Any]) -> None:
                items: List[Any] = []
                for element in as_list(value):
                    parsed = read(element)
                    items.append(bad(element, value) if parsed is BAD
                                 else _plain(parsed, number))
                out[field] = items
            return put_many
        if spec.kind == "money":
            currency_key = field + CURRENCY_SUFFIX

            def put_money(value: Any, out: Dict[str, Any]) -> None:
                parsed = read(value)
                if parsed is BAD:
                    out[field], out[currency_key] = bad(value), None
                elif parsed is None:
                    out[field], out[currency_key] = None, None
                else:
                    out[field], out[currency_key] = number(parsed[0]), parsed[1]
            return put_money

        def put(value: Any, out: Dict[str, Any]) -> None:
            parsed = read(value)
            out[field] = bad(value) if parsed is BAD else (
                number(parsed) if isinstance(parsed, Decimal) else parsed)
        return put

    def _number(self, value: Decimal) -> Any:
        return value if self._exact else float(value)


def _plain(parsed: Any, number: Callable[[Decimal], Any]) -> Any:
    if isinstance(parsed, Decimal):
        return number(parsed)
    if isinstance(parsed, tuple):  # money inside a multiple field: "amount|CUR" as text
        return f"{parsed[0]}|{parsed[1]}" if parsed[1] else number(parsed[0])
    return parsed


def typed_rows(rows: Iterable[Mapping[str, Any]], fields: Mapping[str, FieldSpec], *,
               id_field: str = "ID", tz: Optional[tzinfo] = None,
               exact: bool = False) -> Iterator[Dict[str, Any]]:
    """``rows`` with typed values (see :class:`RowTyper`), one at a time."""
    return RowTyper(fields, id_field=id_field, tz=tz, exact=exact).rows(rows)


def typed_list(rows: Iterable[Mapping[str, Any]], fields: Mapping[str, FieldSpec], *,
               id_field: str = "ID", tz: Optional[tzinfo] = None,
               exact: bool = False) -> Tuple[List[Dict[str, Any]], int]:
    """Every row typed, and how many values did not parse (kept as sent)."""
    typer = RowTyper(fields, id_field=id_field, tz=tz, exact=exact)
    out = [typer.row(row) for row in rows]
    return out, typer.unparsed
