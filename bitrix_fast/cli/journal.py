"""The write journal of ``bitrix-fast call``: one JSON line per item outcome, on disk as soon
as its batch returns, and the side files derived from it.

Journal lines (``index`` counts the items file's non-blank lines from 0)::

    {"sending": [0, 1, 2, 3]}
    {"index": 0, "result": 123}
    {"index": 1, "error": {"code": "...", "description": "..."}}
    {"index": 2, "in_doubt": "crm.deal.add: item 2: connection lost ..."}
    {"index": 3, "not_sent": "crm.deal.add: interrupted before this item was sent"}

A ``sending`` line is written and flushed just before a batch is handed to the client (a
write-ahead record); the outcome lines follow as the batch returns, in the order batches
return, not in input order. The journal is append-only: a ``--resume`` run adds lines, and
the last line naming an index is that item's state. So an item in a ``sending`` line with no
outcome after it (the process was killed with ``kill -9`` while it was in flight) is in
doubt, and an index with no line at all was never sent.

The state of every item is also kept in memory, one byte each (:class:`States`), so that the
side files -- the items file's own lines of the items that failed, are in doubt or were not
sent -- can be written at the end of every run, interrupted or not, describing the whole
journal, and exist only when they have lines.
"""
from __future__ import annotations

import json
import os
from typing import IO, Any, Dict, Iterable, Iterator, Optional, Tuple

from ..writes.bulk import Outcome, Status
from . import common, files
from .common import UsageError
from .resume import complete_lines

#: One byte per item: no outcome yet (never sent), or the status of its last outcome.
NONE = 0
CODES = {Status.RESULT: 1, Status.ERROR: 2, Status.IN_DOUBT: 3, Status.NOT_SENT: 4}
#: Items a resumed run does not send again: they reached the portal (or may have).
DONE = frozenset(CODES[s] for s in (Status.RESULT, Status.ERROR, Status.IN_DOUBT))


class States:
    """The status of every item, one byte each (1 MB per million items)."""

    def __init__(self, total: int) -> None:
        self.codes = bytearray(total)

    def __len__(self) -> int:
        return len(self.codes)

    def set(self, index: int, status: Status) -> None:
        self.codes[index] = CODES[status]

    def done(self, index: int) -> bool:
        return self.codes[index] in DONE

    def count(self, status: Optional[Status]) -> int:
        return self.codes.count(NONE if status is None else CODES[status])


def line(index: int, outcome: Outcome) -> str:
    """The journal line of one outcome (with the item's index in the items file)."""
    status = outcome.status
    if status is Status.RESULT:
        value: Any = outcome.result
    elif status is Status.ERROR:
        value = error_body(outcome.error)
    else:
        value = common.one_line(str(outcome.error or "the call stopped before it was sent"))
    return json.dumps({"index": index, status.value: value}, ensure_ascii=False) + "\n"


def sending_line(indexes: Iterable[int]) -> str:
    return json.dumps({"sending": list(indexes)}) + "\n"


def error_body(error: Any) -> Dict[str, Any]:
    code = getattr(error, "code", None)
    if code is None:  # not a portal's answer: a transport failure, a bad item
        return {"code": type(error).__name__, "description": common.one_line(str(error))}
    return {"code": code, "description": getattr(error, "description", "") or str(error)}


def load(path: str, total: int, items_name: str) -> States:
    """Read a journal for ``--resume``: the state of every item (from its last line).
    A cut-off last line (the process was killed mid-write) is cut away; anything else that is
    not a journal line of this items file is a usage error."""
    states = States(total)
    try:
        with open(path, "rb") as handle:
            end = 0
            for number, (raw, end) in enumerate(complete_lines(handle), 1):
                if raw.strip():
                    for index, status in _parse(raw, number, path, total, items_name):
                        states.set(index, status)
            size = os.path.getsize(path)
        if size > end:
            with open(path, "r+b") as handle:
                handle.truncate(end)
    except FileNotFoundError:
        return states
    except OSError as error:
        raise UsageError(f"--resume: cannot read {path}: {error.strerror or error}") from None
    return states


def _parse(raw: bytes, number: int, path: str, total: int, items_name: str
           ) -> Iterator[Tuple[int, Status]]:
    where = f"--resume: {path} line {number}"
    try:
        record = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise UsageError(f"{where} is not JSON; is it the journal of a call?") from None
    if isinstance(record, dict) and set(record) == {"sending"}:
        indexes = record["sending"]
        if not isinstance(indexes, list):
            raise UsageError(f"{where} is not a journal line ('sending' takes a list)")
        # Sent, fate unknown until an outcome line says otherwise.
        return ((_index(i, where, total, items_name), Status.IN_DOUBT) for i in indexes)
    kinds = [s for s in Status if isinstance(record, dict) and s.value in record]
    if len(kinds) != 1 or "index" not in record:
        raise UsageError(f"{where} is not a journal line (index and one of result, error, "
                         f"in_doubt, not_sent)")
    return iter([(_index(record["index"], where, total, items_name), kinds[0])])


def _index(value: Any, where: str, total: int, items_name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(f"{where} is not a journal line (an index must be a whole number)")
    if not 0 <= value < total:
        raise UsageError(f"{where}: item {value} is not in {items_name} "
                         f"({common.plural(total, 'item')}); is this the journal of another "
                         f"items file?")
    return value


class SideFiles:
    """``<stem>.failed.jsonl``, ``<stem>.in_doubt.jsonl``, ``<stem>.not_sent.jsonl``: the
    items file's lines of the items in each state, so each file can be given to ``--items``."""

    KINDS = ((Status.ERROR, "failed"), (Status.IN_DOUBT, "in_doubt"),
             (Status.NOT_SENT, "not_sent"))

    def __init__(self, output: str, items: str) -> None:
        base = output if output != "-" else (items if items != "-" else "stdin.jsonl")
        stem = base[: -len(".jsonl")] if base.endswith(".jsonl") else base
        self.paths = {status: f"{stem}.{name}.jsonl" for status, name in self.KINDS}

    def path(self, status: Status) -> str:
        return self.paths[status]

    def write(self, states: States, lines: Iterable[Tuple[int, str]]) -> None:
        """Rewrite every side file from ``states``; an item with no outcome at all was never
        sent. A side file with nothing in it is removed, not left empty."""
        wanted = {CODES[status]: status for status, _ in self.KINDS}
        wanted[NONE] = Status.NOT_SENT
        streams: Dict[Status, IO[str]] = {}
        try:
            for index, text in lines:
                status = wanted.get(states.codes[index])
                if status is None:
                    continue
                stream = streams.get(status)
                if stream is None:
                    stream = streams[status] = open(files.part_of(self.paths[status]), "w",
                                                    encoding="utf-8")
                stream.write(text + "\n")
        except BaseException:
            for stream in streams.values():
                stream.close()
            raise
        for status, path in self.paths.items():
            stream = streams.get(status)
            if stream is not None:
                files.sync_and_close(stream)
                files.commit(files.part_of(path), path)
            elif os.path.exists(path):
                os.remove(path)  # from an earlier run: nothing is in that state now


def numbered(lines: Iterator[Tuple[int, int, str]]) -> Iterator[Tuple[int, str]]:
    for index, _, text in lines:
        yield index, text
