"""``FILE.part.progress``: which ID intervals an interrupted export has on disk in full, so that
``--resume`` reads only the rest.

The export writes it beside its ``.part`` after every timed flush, and only after the rows
were fsynced: the intervals it records come from ``Rows.covered()`` -- every row of them
handed out by the listing, so written before the flush -- and a crash can never leave a
record of rows that are not in the file. It is replaced atomically (write, fsync, rename), so
a kill leaves the previous record or the new one, never half of one.

It also records the call (method and parameters): a resume with other parameters would skip
intervals of another listing, so then it is ignored (the resume reads everything and skips
the rows the ``.part`` holds, as without a record). Exports that page plainly record no
intervals and resume that way too.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple

Interval = Tuple[int, int]


def path_of(part: str) -> str:
    return part + ".progress"


def load(part: str, method: str, params: Dict[str, Any]) -> List[Interval]:
    """The intervals recorded for this very call, or [] (no record, another call, garbage)."""
    try:
        with open(path_of(part), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return []
    if not isinstance(record, dict) or record.get("method") != method or \
            record.get("params") != _canonical(params):
        return []
    out: List[Interval] = []
    for pair in record.get("covered") or []:
        if (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
                and pair[0] < pair[1]):
            out.append((pair[0], pair[1]))
    return out


def save(part: str, method: str, params: Dict[str, Any], covered: List[Interval]) -> None:
    """Record ``covered`` for this call, atomically."""
    path = path_of(part)
    temporary = path + ".tmp"
    record = {"method": method, "params": _canonical(params),
              "covered": [[lo, hi] for lo, hi in covered]}
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def remove(part: str) -> None:
    for path in (path_of(part), path_of(part) + ".tmp"):
        try:
            os.unlink(path)
        except OSError:
            pass


def _canonical(params: Dict[str, Any]) -> Optional[Any]:
    """The parameters as JSON would give them back (tuples as lists, keys as strings)."""
    try:
        return json.loads(json.dumps(params, sort_keys=True, default=str))
    except (TypeError, ValueError):
        return None
