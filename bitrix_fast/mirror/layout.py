"""Where each field of a listing lives in the database: pure bookkeeping, kept in the state.

A field gets one :class:`Place`:

* a main column named :func:`~bitrix_fast.typed.naming.snake` of its name, typed by its
  kind (``STAGE_ID`` -> ``stage_id TEXT``, ``OPPORTUNITY`` -> ``opportunity NUMERIC``);
* a money field also gets ``<column>__currency``;
* a value that does not read as its kind puts NULL in the main column and the value as sent
  in ``<column>__raw``, added the first time one turns up (and emptied when the value
  reads again);
* a multiple field (``PHONE``, ``CONTACT_IDS``, a multiple user field) has no main column:
  its values are rows of the table's child table ``<table>_multi`` (owner_id, field,
  position, value, value_type, value_id) -- or, with ``multiple="json"``, one JSON column.

:meth:`Layout.place` decides and returns the columns to add; nothing here talks to the
database. The layout round-trips through the state table (:meth:`Layout.state`), so a later
run adds only what is new and never retypes a column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from ..typed.naming import fit, snake, unique
from ..typed.spec import FieldSpec

#: field kind -> the column kind the stores know
STORED = {"int": "int", "user": "int", "category": "int", "enum": "int", "file": "int",
          "numeric": "numeric", "money": "numeric", "bool": "bool", "date": "date",
          "datetime": "datetime", "status": "text", "currency": "text", "text": "text",
          "multifield": "json"}
RAW = "__raw"
CURRENCY = "__currency"
MULTIPLE_MODES = ("table", "json")

#: the child table's columns: (name, column kind); its key is owner_id, field, position
CHILD_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("owner_id", "int"), ("field", "text"), ("position", "int"), ("value", "text"),
    ("value_type", "text"), ("value_id", "int"))
CHILD_KEY = ("owner_id", "field", "position")


@dataclass
class Place:
    """One field's columns."""

    field: str
    kind: str
    column: Optional[str]
    raw: Optional[str] = None
    currency: Optional[str] = None
    #: "table" (values in the child table) or "json" (a JSON column); None: one value
    multiple: Optional[str] = None
    #: the field's name in the child table's ``field`` column
    child_name: Optional[str] = None

    def state(self) -> List[Any]:
        opts = {k: v for k, v in (("raw", self.raw), ("currency", self.currency),
                                  ("multiple", self.multiple), ("child", self.child_name)) if v}
        return [self.column, self.kind, opts]


class Layout:
    """The places of one table's fields, in column order."""

    def __init__(self, table: str, id_field: str, places: Mapping[str, Place], *,
                 multiple: str = "table", child: Optional[str] = None) -> None:
        if multiple not in MULTIPLE_MODES:
            raise ValueError(f"multiple must be one of {', '.join(MULTIPLE_MODES)}, "
                             f"not {multiple!r}")
        self.table = table
        self.id_field = id_field
        self.places: Dict[str, Place] = dict(places)
        self.multiple = multiple
        self.child = child

    @classmethod
    def new(cls, table: str, id_field: str, *, multiple: str = "table") -> "Layout":
        return cls(table, id_field, {id_field: Place(id_field, "int", "id")},
                   multiple=multiple)

    @classmethod
    def from_state(cls, table: str, id_field: str, columns: Mapping[str, Any],
                   extra: Mapping[str, Any]) -> "Layout":
        places = {}
        for field, entry in columns.items():
            column, kind = entry[0], entry[1]
            opts = entry[2] if len(entry) > 2 and isinstance(entry[2], dict) else {}
            places[field] = Place(field, kind, column, opts.get("raw"), opts.get("currency"),
                                  opts.get("multiple"), opts.get("child"))
        return cls(table, id_field, places, multiple=str(extra.get("multiple", "table")),
                   child=extra.get("child"))

    def state(self) -> Tuple[Dict[str, List[Any]], Dict[str, Any]]:
        """(the state's ``columns``, the layout part of its ``extra``)."""
        return ({f: p.state() for f, p in self.places.items()},
                {"layout": "typed", "multiple": self.multiple, "child": self.child})

    @property
    def id_column(self) -> str:
        column = self.places[self.id_field].column
        assert column is not None
        return column

    def taken(self) -> Set[str]:
        names: Set[str] = set()
        for p in self.places.values():
            names.update(c for c in (p.column, p.raw, p.currency) if c)
        return names

    def child_table(self) -> str:
        return fit(f"{self.table}_multi")

    # -- deciding ------------------------------------------------------------------------------

    def place(self, spec: FieldSpec) -> Tuple[Place, List[Tuple[str, str]], bool]:
        """Place a new field: (its place, (column, kind) pairs to add, whether the child
        table must exist first)."""
        stem = snake(spec.column_stem)
        if spec.multiple or spec.kind == "multifield":
            if self.multiple == "table":
                taken_names = {p.child_name for p in self.places.values() if p.child_name}
                place = Place(spec.name, spec.kind, None, multiple="table",
                              child_name=unique(stem, taken_names))
                self.places[spec.name] = place
                new_child = self.child is None
                self.child = self.child or self.child_table()
                return place, [], new_child
            column = unique(fit(stem), self.taken())
            place = Place(spec.name, spec.kind, column, multiple="json")
            self.places[spec.name] = place
            return place, [(column, "json")], False
        column = unique(fit(stem, len(CURRENCY)), self.taken())
        place = Place(spec.name, spec.kind, column)
        adds = [(column, STORED.get(spec.kind, "text"))]
        if spec.kind == "money":
            place.currency = unique(column + CURRENCY, self.taken() | {column})
            adds.append((place.currency, "text"))
        self.places[spec.name] = place
        return place, adds, False

    def place_raw(self, field: str) -> Tuple[str, str]:
        """Give ``field`` its side column for values that did not parse: (column, kind)."""
        place = self.places[field]
        assert place.column is not None
        place.raw = unique(fit(place.column, len(RAW)) + RAW, self.taken())
        return place.raw, "text"
