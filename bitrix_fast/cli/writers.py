"""Row writers for ``export``: JSON Lines and CSV, streamed, flushed about twice a second.

JSON Lines: one JSON object per line, exactly as the portal sent the row (``ensure_ascii``
off, so Cyrillic stays readable). JSON escapes newlines inside strings, so a line is a row.

CSV: the header is fixed when the first row is written -- the ``--select`` fields if they
name every column (no ``*`` wildcard), otherwise the first row's keys -- and a last column
``_extra`` is always added. A key some later row has that the header lacks goes into that
row's ``_extra`` cell as a JSON object, so nothing is lost and the columns never shift; in an
ordinary export the cell stays empty. Cells: strings as they are, ``None`` empty, numbers
with ``str``, booleans and nested values (dicts, lists) JSON-encoded.

Records end with ``\\n`` and writes are flushed on a timer, so a killed export leaves complete
rows plus at most one cut-off last record, which ``--resume`` drops (see :mod:`.resume`).
With ``on_sync`` given, each timed flush is also an fsync followed by ``on_sync(rows)``: the
rows counted are on disk, which is the moment to record how far an export got.
"""
from __future__ import annotations

import csv
import json
import os
import time
from datetime import date, datetime
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, TextIO

EXTRA = "_extra"
#: Seconds between flushes: often enough that a kill loses little, rarely enough to be free.
FLUSH_EVERY = 0.5


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_iso)
    if isinstance(value, (date, datetime)):  # typed exports: ISO 8601, offset kept
        return value.isoformat()
    return str(value)


def _iso(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


class _Flushing:
    def __init__(self, stream: TextIO, on_sync: Optional[Callable[[int], None]] = None) -> None:
        self._stream = stream
        self._on_sync = on_sync
        self._flushed = time.monotonic()
        self.count = 0

    def _wrote(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._flushed >= FLUSH_EVERY:
            if self._on_sync is not None:
                self.sync()
            else:
                self._stream.flush()
            self._flushed = now

    def flush(self) -> None:
        self._stream.flush()

    def sync(self) -> None:
        """Flush and fsync: every row written so far survives a crash of the machine."""
        self._stream.flush()
        try:
            os.fsync(self._stream.fileno())
        except (AttributeError, OSError, ValueError):
            pass  # a pipe or a terminal: nothing to sync
        if self._on_sync is not None:
            self._on_sync(self.count)

    def finish(self) -> None:
        self.flush()


class JsonlWriter(_Flushing):
    """One JSON object per line."""

    def write(self, row: Any) -> None:
        self._stream.write(json.dumps(row, ensure_ascii=False, default=_iso) + "\n")
        self._wrote()


class CsvWriter(_Flushing):
    """CSV with a header fixed at the first row and an ``_extra`` column (module docstring).

    ``columns`` given and ``header_written`` true: appending to a file that already has this
    header (``--resume``).
    """

    def __init__(self, stream: TextIO, columns: Optional[Sequence[str]] = None, *,
                 header_written: bool = False,
                 on_sync: Optional[Callable[[int], None]] = None) -> None:
        super().__init__(stream, on_sync)
        self._csv = csv.writer(stream, lineterminator="\n")
        self._columns: Optional[List[str]] = None
        self._known: FrozenSet[str] = frozenset()
        self._header_written = header_written
        if columns is not None:
            self._fix(columns)

    @property
    def columns(self) -> Optional[List[str]]:
        return self._columns

    def _fix(self, columns: Sequence[str]) -> None:
        names = [c for c in columns if c != EXTRA]
        self._columns = names + [EXTRA]
        self._known = frozenset(names)

    def write(self, row: Dict[str, Any]) -> None:
        if self._columns is None:
            self._fix(list(row))
        columns: List[str] = self._columns  # type: ignore[assignment]  # fixed just above
        if not self._header_written:
            self._csv.writerow(columns)
            self._header_written = True
        names = columns[:-1]
        extra = {k: v for k, v in row.items() if k not in self._known}
        values = [cell(row.get(name)) for name in names]
        values.append(json.dumps(extra, ensure_ascii=False, separators=(",", ":"))
                      if extra else "")
        self._csv.writerow(values)
        self._wrote()

    def finish(self) -> None:
        """Write the header of an export that found no rows, so the file is still a CSV."""
        if not self._header_written and self._columns is not None:
            self._csv.writerow(self._columns)
            self._header_written = True
        self.flush()


def make_writer(fmt: str, stream: TextIO, columns: Optional[Sequence[str]] = None, *,
                header_written: bool = False,
                on_sync: Optional[Callable[[int], None]] = None) -> Any:
    if fmt == "csv":
        return CsvWriter(stream, columns, header_written=header_written, on_sync=on_sync)
    return JsonlWriter(stream, on_sync)
