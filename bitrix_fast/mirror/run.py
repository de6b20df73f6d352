"""One mirror run: lock, compare with the state, read, write, commit. See :func:`sync`."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..protocol.limits import CHANGES_OVERLAP
from . import fields as field_types
from .deletions import PAGE, RangeCheck, RangeFilterIgnored
from .errors import MirrorConflict, MirrorError
from .spec import Listing, column_name, ids_of
from .connect import open_store
from .writer import Seen, TableWriter

logger = logging.getLogger("bitrix_fast.mirror")

#: seconds before the last run's start from which changes are read again: a write stamped
#: just before that start may commit just after it, at most one request (the 60 s cut) later
DEFAULT_OVERLAP = CHANGES_OVERLAP


@dataclass(frozen=True)
class SyncResult:
    """What one run did. ``mode``: ``first`` (the table was created), ``changes`` (only
    changes and deletions were read), ``full`` (the whole listing was read again: a method
    without a modification field, or a select that grew)."""

    method: str
    table: str
    mode: str
    added: int
    changed: int
    deleted: int
    rows: int
    requests: int
    seconds: float

    def summary(self) -> str:
        first = ", first run" if self.mode == "first" else (
            ", full read" if self.mode == "full" else "")
        return (f"{self.method} -> {self.table}: {self.added:,} added, {self.changed:,} "
                f"changed, {self.deleted:,} deleted ({self.rows:,} rows{first}); "
                f"{self.requests:,} requests, {self.seconds:.1f} s")


def sync(bx: Any, method: str, db: str, *, params: Optional[Mapping[str, Any]] = None,
         filter: Optional[Mapping[str, Any]] = None, select: Optional[Sequence[str]] = None,
         table: Optional[str] = None, overlap: float = DEFAULT_OVERLAP,
         wait: float = 0.0) -> SyncResult:
    """Bring the table mirroring ``method`` (with ``filter``, ``select`` and other
    ``params``) in ``db`` in step with the portal, through the client ``bx``.

    The first run copies the listing into a new table; later runs read only rows modified
    since the previous run's start (less ``overlap`` seconds), upsert them, and find rows
    gone from the listing by comparing per-ID-range counts. Afterwards the table equals the
    listing as of the run's start; anything that changes during the run is picked up by the
    next one. The whole run is one transaction: interrupted, it leaves the database as the
    last complete run left it. A second run of the same mirror waits up to ``wait`` seconds
    for the first and then raises :class:`MirrorBusy`.

    ``db``: ``sqlite:///file.sqlite``, a file path, or ``postgresql://user@host/dbname``.
    Raises TypeError/ValueError for bad arguments (before anything is sent),
    :class:`MirrorConflict` when the table holds another listing, :class:`StoreError` when
    the database fails, and the client's :class:`~bitrix_fast.BitrixError` for the portal.
    """
    listing = Listing.build(method, params=params, filter=filter, select=select, table=table)
    if not isinstance(overlap, (int, float)) or isinstance(overlap, bool) or overlap < 0:
        raise ValueError("overlap must be a number of seconds >= 0")
    if not isinstance(wait, (int, float)) or isinstance(wait, bool) or wait < 0:
        raise ValueError("wait must be a number of seconds >= 0")
    store = open_store(db)
    started = time.monotonic()
    before = _requests(bx)
    try:
        store.begin(listing.table, float(wait))
        result = _Run(bx, store, listing, float(overlap)).go()
        store.commit()
    except BaseException:
        store.rollback()
        raise
    finally:
        store.close()
    return SyncResult(listing.method, listing.table, result["mode"], result["added"],
                      result["changed"], result["deleted"], result["rows"],
                      _requests(bx) - before, time.monotonic() - started)


class _Run:
    def __init__(self, bx: Any, store: Any, listing: Listing, overlap: float) -> None:
        self.bx = bx
        self.store = store
        self.listing = listing
        self.overlap = overlap
        self._kinds: Optional[Dict[str, str]] = None

    def go(self) -> Dict[str, Any]:
        listing, store = self.listing, self.store
        state = store.read_state(listing.table)
        exists = store.table_exists(listing.table)
        _check_same(state, listing, exists)
        old_select = _select_of(state)
        select = listing.select if state is None or not exists else \
            merge_select(old_select, listing.select)
        if state is None or not exists:
            mode = "first"
        elif listing.incremental and select == old_select:
            mode = "changes"
        else:
            mode = "full"
        listing = Listing(listing.method, listing.table, listing.facts, listing.params,
                          listing.filter, select)
        # The portal's own clock: changes are stamped by it, not by ours.
        run_start = portal_time(self.bx)
        facts = listing.facts
        if mode == "first":
            columns = {facts.id_field: [column_name(facts.id_field), "int"]}
            store.create_table(listing.table, columns[facts.id_field][0])
        else:
            columns = state["columns"]
        deleted = 0
        if mode == "changes":
            writer = self._writer(columns, fresh=False)
            for row in self.bx.iter_all(listing.method, listing.changes_params(state["cutoff"])):
                writer.write(row)
            writer.flush()
            gone = self._deletions(writer)
            deleted = store.delete(listing.table, writer.id_column, gone)
        else:
            seen = None
            if mode == "full":
                seen = Seen(store.ids(listing.table, columns[facts.id_field][0]))
            writer = self._writer(columns, fresh=mode == "first", seen=seen)
            for row in self.bx.iter_all(listing.method, listing.read_params()):
                writer.write(row)
            writer.flush()
            if seen is not None:
                deleted = store.delete(listing.table, writer.id_column, seen.unseen())
        rows = store.count(listing.table)
        cutoff = (run_start - timedelta(seconds=self.overlap)).isoformat()
        store.write_state({
            "table_name": listing.table, **listing.record(),
            "select_fields": list(select) if select is not None else None,
            "columns": writer.columns, "cutoff": cutoff,
            "runs": (state["runs"] if state and exists else 0) + 1, "row_count": rows,
            "synced_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        })
        return {"mode": mode, "added": writer.added, "changed": writer.changed,
                "deleted": deleted, "rows": rows}

    def _writer(self, columns: Mapping[str, List[str]], *, fresh: bool,
                seen: Optional[Seen] = None) -> TableWriter:
        return TableWriter(self.store, self.listing.table, self.listing.facts, columns,
                           self._field_kinds, fresh=fresh, seen=seen)

    def _field_kinds(self) -> Dict[str, str]:
        if self._kinds is None:
            self._kinds = field_types.load(self.bx, self.listing.method, self.listing.params)
        return self._kinds

    def _deletions(self, writer: TableWriter) -> List[int]:
        """Local IDs gone from the listing; rows the table lacks are read and written."""
        listing = self.listing
        check = RangeCheck(self.store.ids(listing.table, writer.id_column))
        try:
            while True:
                spans = check.next_round()
                if not spans:
                    break
                pages = self.bx.first_pages(listing.method,
                                            [listing.count_params(s.lo, s.hi) for s in spans])
                check.feed([(page.total, ids_of(page.rows, listing.facts)) for page in pages])
        except RangeFilterIgnored as error:
            raise MirrorError(f"{listing.method}: the portal ignores ID-range filters on "
                              f"this listing ({error}), so deletions cannot be counted; "
                              f"nothing was changed") from None
        if check.missing:
            # Rows in the listing the table lacks without a newer modification time (added
            # during this run, or restored): read them now rather than wait for their change.
            chunks = [check.missing[i:i + PAGE] for i in range(0, len(check.missing), PAGE)]
            for page in self.bx.first_pages(listing.method,
                                            [listing.rows_params(c) for c in chunks]):
                for row in page.rows:
                    writer.write(row)
            writer.flush()
        logger.debug("%s: deletions checked in %d rounds, %d commands", listing.table,
                     check.rounds, check.commands)
        return check.gone


def merge_select(old: Optional[Sequence[str]], new: Optional[Sequence[str]]
                 ) -> Optional[tuple]:
    """A select only grows: the fields of both, the method's default set (None) as ``*``."""
    if old == new or (old is not None and new is not None and set(new) <= set(old)):
        return tuple(old) if old is not None else None
    if old is None and new is None:
        return None
    merged = list(old) if old is not None else ["*"]
    for name in new if new is not None else ["*"]:
        if name not in merged:
            merged.append(name)
    return tuple(merged)


def portal_time(bx: Any) -> datetime:
    """The portal's clock now (``server.time``), with its time zone."""
    value = bx.call("server.time")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MirrorError(f"server.time answered {value!r}, not a date and time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _check_same(state: Optional[Dict[str, Any]], listing: Listing, exists: bool) -> None:
    if state is None:
        if exists:
            raise MirrorConflict(
                f"table {listing.table} exists but is not a mirror (no state row in "
                f"bitrix_fast_mirror); give this listing another table")
        return
    asked = listing.record()
    held = {key: state.get(key) for key in asked}
    if held != asked:
        raise MirrorConflict(
            f"table {listing.table} mirrors {_describe(held)}, but this run asks for "
            f"{listing.describe()}; a different listing needs its own table (table=... in Python, --table NAME on the command line)")


def _describe(held: Dict[str, Any]) -> str:
    parts = [str(held.get("method"))]
    if held.get("params") not in (None, "{}"):
        parts.append(f"params {held['params']}")
    parts.append(f"filter {held['filter']}" if held.get("filter") not in (None, "{}")
                 else "no filter")
    return ", ".join(parts)


def _select_of(state: Optional[Dict[str, Any]]) -> Optional[tuple]:
    if state is None or state.get("select_fields") is None:
        return None
    return tuple(state["select_fields"])


def _requests(bx: Any) -> int:
    try:
        return int(bx.stats().get("requests", 0))
    except Exception:
        return 0
