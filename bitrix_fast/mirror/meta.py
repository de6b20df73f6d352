"""What each mirrored column means, in two tables written with the table itself:

* ``dict_fields``: one row per field of every mirrored table -- its column, the portal's
  type, its kind, its label (``Метро``, ``Lead channel``), and where its values join to
  (``dict_status`` with a status type, ``dict_user``, the child table...);
* ``dict_enum``: the items of every enumeration field (``item_id`` -> ``value``).

Both are rewritten for a table in that table's own transaction, so labels renamed on the
portal are right after the next run without any row of the table changing.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..typed.spec import FieldSpec, spec_for
from .dictionaries import Dictionary, status_type
from .layout import Layout, Place
from .store import SqlStore

FIELDS = Dictionary("dict_fields", (
    ("table_name", "text"), ("field", "text"), ("column_name", "text"), ("type", "text"),
    ("kind", "text"), ("title", "text"), ("status_type", "text"), ("multiple", "bool"),
    ("joins", "text")), ("table_name", "field"))
ENUM = Dictionary("dict_enum", (
    ("table_name", "text"), ("field", "text"), ("column_name", "text"), ("item_id", "int"),
    ("value", "text"), ("sort", "int")), ("table_name", "field", "item_id"))

_JOINS = {"user": "dict_user.id", "currency": "dict_currency.currency",
          "category": "dict_category.id", "enum": "dict_enum.item_id"}

Row = Tuple[Any, ...]


def field_rows(layout: Layout, specs: Mapping[str, FieldSpec]) -> List[Row]:
    rows = []
    for field, place in layout.places.items():
        spec = spec_for(field, specs, layout.id_field)
        column = place.column or f"{layout.child}.{place.child_name}"
        rows.append((layout.table, field, column, spec.type or None, place.kind,
                     spec.title or field, status_type(spec.status_type)
                     if spec.status_type else None, bool(place.multiple),
                     joins(layout, place, spec)))
    return rows


def joins(layout: Layout, place: Place, spec: FieldSpec) -> Optional[str]:
    """Where a column's values are explained, as a BI user would write the join."""
    where = None
    if place.kind == "status" and spec.status_type:
        where = f"dict_status.status_id (status_type = '{status_type(spec.status_type)}')"
    elif place.kind in _JOINS:
        where = _JOINS[place.kind]
        if place.kind == "enum":
            where += f" (table_name = '{layout.table}', field = '{place.field}')"
    if place.multiple == "table":
        inner = f"{layout.child}.owner_id (field = '{place.child_name}')"
        return inner + (f"; value_id -> {where}" if where else "")
    return where


def enum_rows(layout: Layout, specs: Mapping[str, FieldSpec]) -> List[Row]:
    rows = []
    for field, place in layout.places.items():
        spec = spec_for(field, specs, layout.id_field)
        column = place.column or f"{layout.child}.{place.child_name}"
        seen = set()
        for item in spec.items:
            if item.id not in seen:
                seen.add(item.id)
                rows.append((layout.table, field, column, item.id, item.value, item.sort))
    return rows


def write(store: SqlStore, layout: Layout, specs: Mapping[str, FieldSpec]) -> None:
    """Replace this table's rows of ``dict_fields`` and ``dict_enum``."""
    for dictionary, rows in ((FIELDS, field_rows(layout, specs)),
                             (ENUM, enum_rows(layout, specs))):
        replace(store, dictionary, rows, where=("table_name", layout.table))


def replace(store: SqlStore, dictionary: Dictionary, rows: Sequence[Row],
            where: Optional[Tuple[str, Any]] = None) -> int:
    """Make ``dictionary`` hold ``rows`` (only the part ``where`` names, when given)."""
    store.create(dictionary.table, dictionary.columns, dictionary.key)
    if where is None:
        store.execute(f'DELETE FROM "{dictionary.table}"', doing=f"clearing {dictionary.table}")
    else:
        store.delete_in(dictionary.table, where[0], [where[1]])
    adapters: Dict[int, Any] = {n: store.adapters[kind]
                                for n, (_, kind) in enumerate(dictionary.columns)
                                if kind in store.adapters}
    ready = [tuple(adapters[n](v) if n in adapters and v is not None else v
                   for n, v in enumerate(row)) for row in rows]
    if ready:
        store.insert(dictionary.table, dictionary.names, ready)
    return len(ready)
