"""``export --resume``: go on with an interrupted export, with nothing missing and nothing twice.

Why not "export only ``>ID`` the largest ID in the file"? Because ``iter_all`` runs several
ID ranges at once and yields rows as replies arrive, so a killed export holds, say, IDs
1-40,000 and 100,001-140,000 but not 40,001-100,000. A ``>ID`` cursor would skip the hole
for ever. Writing in ID order instead would need the whole table buffered (or the export
made sequential, a tenth as fast), and the file alone cannot tell which ranges were finished.

So resume works by the set of IDs present: read the ``FILE.part`` an interrupted export
left (the finished ``FILE`` only ever appears complete, see :mod:`.files`), remember every
ID in it, export again with the same method, filter and select, and write only rows whose ID
is not in the file. That is correct whatever order the rows were written in:

* nothing is missing -- every row the filter matches now is either already in the file or
  written now;
* nothing is twice -- a row is skipped exactly when its ID is in the file, and ``iter_all``
  yields each ID once.

Reading everything again would cost a whole export, so the export also records which ID
intervals the ``.part`` holds in full (:mod:`.checkpoint`), and the resumed run skips them
(``iter_all(skip=...)``); the set of IDs still guards against a row written twice. Without a
record (another call's, or a plainly paged method) the resumed run reads everything again
and writes only what is new. Rows changed between the two runs keep the version
already written; rows deleted meanwhile stay in the file; rows added meanwhile are exported.

Memory stays small: the IDs are kept in :class:`~bitrix_fast.listing.IdSet`, a bitmap with
one bit per ID value up to the largest ID (1.25 MB per ten million), not a Python set (~60
bytes per ID).

A kill can cut the last record short (writes are buffered). :func:`scan` reads complete
records only -- each ends with ``\\n``; for CSV a record may span lines inside quotes -- and
reports where they end, and the caller cuts the file back to that size before appending.
A malformed record *before* the end means the file is not one of ours: exit 2.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator, List, Optional, Tuple

from ..protocol.methods import MethodFacts
from ..listing import IdSet, row_id
from .common import UsageError

@dataclass
class Existing:
    """What an interrupted export left behind."""

    ids: IdSet = field(default_factory=IdSet)
    rows: int = 0
    #: the CSV header (None for JSON Lines, or a file with no complete header)
    columns: Optional[List[str]] = None
    #: bytes of complete records; the file is cut back to this before appending
    size: int = 0
    #: bytes of a cut-off last record that will be dropped
    dropped: int = 0


def scan(path: str, fmt: str, facts: MethodFacts) -> Existing:
    """Read an export file for ``--resume``; a missing or empty file is an empty export."""
    try:
        total = os.path.getsize(path)
    except FileNotFoundError:
        return Existing()
    except OSError as error:
        raise UsageError(f"--resume: cannot read {path}: {error.strerror or error}") from None
    try:
        with open(path, "rb") as handle:
            found = _scan_csv(handle, path, facts) if fmt == "csv" else _scan_jsonl(handle, path, facts)
    except OSError as error:
        raise UsageError(f"--resume: cannot read {path}: {error.strerror or error}") from None
    found.dropped = total - found.size
    return found


def cut(path: str, size: int) -> None:
    """Drop everything after the last complete record."""
    try:
        with open(path, "r+b") as handle:
            handle.truncate(size)
    except OSError as error:
        raise UsageError(f"--resume: cannot cut {path} back to its last complete record: "
                         f"{error.strerror or error}") from None


def _scan_jsonl(handle: BinaryIO, path: str, facts: MethodFacts) -> Existing:
    found = Existing()
    for number, (line, end) in enumerate(complete_lines(handle), 1):
        if line.strip():
            try:
                row = json.loads(line.decode("utf-8"))
            except ValueError:
                raise UsageError(f"--resume: {path} line {number} is not a JSON object; "
                                 f"is this a jsonl export?") from None
            _remember(found, row_id(row, facts), path, f"line {number}", facts)
        found.size = end
    return found


def _scan_csv(handle: BinaryIO, path: str, facts: MethodFacts) -> Existing:
    found = Existing()
    column = -1
    position = {"end": 0, "eof": False}

    def lines() -> Iterator[str]:
        for line, end in complete_lines(handle):
            position["end"] = end
            yield line.decode("utf-8")
        position["eof"] = True

    reader = csv.reader(lines(), strict=True)
    try:
        # csv.reader pulls lines only until a record is complete, so after each record
        # position["end"] is exactly where that record ends in the file.
        for record in reader:
            if found.columns is None:
                found.columns = record
                column = _id_column(record, facts, path)
            elif record:
                _remember(found, _int(record[column] if column < len(record) else None),
                          path, f"record {reader.line_num}", facts)
            found.size = position["end"]
    except csv.Error as error:
        if not position["eof"]:
            raise UsageError(f"--resume: {path} is not a CSV export ({error})") from None
        # the end of the file fell inside a quoted cell: a cut-off record, dropped
    except UnicodeDecodeError:
        raise UsageError(f"--resume: {path} is not UTF-8 text") from None
    return found


def complete_lines(handle: BinaryIO) -> Iterator[Tuple[bytes, int]]:
    """(line, offset after it) for every line that ends with a newline; a last line without
    one is a record cut off by the kill and is never returned."""
    end = 0
    for line in handle:
        if not line.endswith(b"\n"):
            return
        end += len(line)
        yield line, end


def _id_column(header: List[str], facts: MethodFacts, path: str) -> int:
    for name in (facts.id_field, "ID"):
        if name in header:
            return header.index(name)
    raise UsageError(f"--resume: {path} has no {facts.id_field!r} column, so the rows "
                     f"already exported cannot be recognised")


def _remember(found: Existing, key: Optional[int], path: str, where: str,
              facts: MethodFacts) -> None:
    if key is None:
        raise UsageError(f"--resume: {path} {where} has no integer {facts.id_field!r}, so "
                         f"the rows already exported cannot be recognised")
    found.ids.add(key)
    found.rows += 1


def _int(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
