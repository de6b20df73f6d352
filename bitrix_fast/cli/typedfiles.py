"""Typed exports: ``--typed`` for csv and jsonl, and ``--format parquet``.

Rows are typed by the method's ``*.fields`` with the mirror's rules
(:class:`~bitrix_fast.typed.RowTyper`): numbers, booleans, dates and moments with the
portal's offset; a money field's currency in ``<field>__currency``. CSV cells print them
plainly (``1500.5``, ``true``, ``2024-05-27T13:55:27+03:00``); JSON Lines as JSON numbers,
booleans and ISO 8601 strings. A value that does not parse stays as the portal sent it and is
counted (the summary says how many).

Parquet (``pip install 'bitrix_fast[parquet]'``): a column per field, typed -- int64,
float64 (money and doubles), bool, date32, timestamp with the portal's offset as its time
zone, string, lists for multiple fields -- so ``pandas.read_parquet`` gets numbers, booleans
and timestamps. Its schema is fixed by the first rows: a later field outside it goes, as
JSON, into ``_extra``; a value that does not parse into ``_unparsed`` (``{field: value}``),
with null in its column. Rows go out in row groups of :data:`ROW_GROUP`, so memory stays
flat. A Parquet file is written whole or not at all: it cannot be resumed.
"""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, BinaryIO, Dict, List, Optional, Sequence

from ..typed.rows import CURRENCY_SUFFIX, RowTyper
from .common import UsageError

#: rows per Parquet row group
ROW_GROUP = 20_000
EXTRA = "_extra"
UNPARSED = "_unparsed"


def json_default(value: Any) -> Any:
    """What JSON has no type for: dates and moments as ISO 8601, decimals as numbers."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class TypedRows:
    """Types each row, then hands it to ``inner`` (a csv or jsonl writer)."""

    def __init__(self, inner: Any, typer: RowTyper) -> None:
        self._inner = inner
        self.typer = typer

    @property
    def count(self) -> int:
        return int(self._inner.count)

    @property
    def unparsed(self) -> int:
        return self.typer.unparsed

    def write(self, row: Dict[str, Any]) -> None:
        self._inner.write(self.typer.row(row))

    def flush(self) -> None:
        self._inner.flush()

    def finish(self) -> None:
        self._inner.finish()


class ParquetRows:
    """Typed rows into a Parquet file, a row group at a time."""

    def __init__(self, stream: BinaryIO, typer: RowTyper,
                 columns: Optional[Sequence[str]] = None) -> None:
        try:
            import pyarrow  # type: ignore[import-untyped, import-not-found, unused-ignore]
            import pyarrow.parquet  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError:
            raise UsageError("--format parquet needs pyarrow: pip install "
                             "'bitrix_fast[parquet]'") from None
        self._pa = pyarrow
        self._pq = pyarrow.parquet
        self._stream = stream
        self.typer = typer
        self._wanted = list(columns) if columns else None
        self._buffer: List[Dict[str, Any]] = []
        self._schema: Any = None
        self._writer: Any = None
        self.count = 0

    @property
    def unparsed(self) -> int:
        return self.typer.unparsed

    def write(self, row: Dict[str, Any]) -> None:
        typed = self.typer.row(row)
        bad = self.typer.last_unparsed
        if bad:
            typed[UNPARSED] = json.dumps(bad, ensure_ascii=False, default=json_default)
            for field in bad:
                typed[field] = None
        self._buffer.append(typed)
        self.count += 1
        if len(self._buffer) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        if self._schema is None:
            self._schema = self._make_schema(rows)
            self._writer = self._pq.ParquetWriter(self._stream, self._schema)
        names = [f.name for f in self._schema]
        known = set(names)
        columns: Dict[str, List[Any]] = {name: [] for name in names}
        for row in rows:
            extra = {k: v for k, v in row.items() if k not in known}
            for name in names:
                columns[name].append(row.get(name))
            if extra:
                columns[EXTRA][-1] = json.dumps(extra, ensure_ascii=False,
                                                default=json_default)
        table = self._pa.Table.from_pydict(columns, schema=self._schema)
        self._writer.write_table(table)

    def finish(self) -> None:
        self.flush()
        if self._schema is None:  # no rows: a file with the columns asked for, and no row
            self._schema = self._make_schema([])
            self._writer = self._pq.ParquetWriter(self._stream, self._schema)
        self._writer.close()

    def _make_schema(self, rows: List[Dict[str, Any]]) -> Any:
        pa = self._pa
        names: List[str] = list(self._wanted or [])
        for row in rows:
            names.extend(k for k in row if k not in names and k not in (EXTRA, UNPARSED))
        fields = [pa.field(name, self._type(name, rows)) for name in names]
        fields += [pa.field(EXTRA, pa.string()), pa.field(UNPARSED, pa.string())]
        return pa.schema(fields)

    def _type(self, name: str, rows: List[Dict[str, Any]]) -> Any:
        pa = self._pa
        if name.endswith(CURRENCY_SUFFIX):
            return pa.string()
        spec = self.typer.spec(name)
        if spec.kind == "multifield":
            return pa.list_(pa.struct([("VALUE_TYPE", pa.string()), ("VALUE", pa.string()),
                                       ("ID", pa.int64())]))
        one = self._scalar(spec.kind, name, rows)
        return pa.list_(one) if spec.multiple else one

    def _scalar(self, kind: str, name: str, rows: List[Dict[str, Any]]) -> Any:
        pa = self._pa
        if kind in ("int", "user", "category", "enum", "file"):
            return pa.int64()
        if kind in ("numeric", "money"):
            return pa.float64()
        if kind == "bool":
            return pa.bool_()
        if kind == "date":
            return pa.date32()
        if kind == "datetime":
            zone = next((_offset(v) for row in rows for v in _values(row.get(name))
                         if isinstance(v, datetime) and v.tzinfo is not None), None)
            return pa.timestamp("us", tz=zone)
        return pa.string()


def _values(value: Any) -> List[Any]:
    return value if isinstance(value, list) else [value]


def _offset(moment: datetime) -> str:
    """``+03:00``: the zone Arrow keeps with a timestamp column."""
    delta = moment.utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
