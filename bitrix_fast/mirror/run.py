"""One mirror run of one listing: lock, read, write, commit; then the dictionaries its
columns point into. See :func:`sync`."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, List, Mapping, Optional, Sequence

from ..errors import BitrixError
from ..protocol.params import find_key
from . import offline
from .connect import open_store, table_transaction
from .layout import MULTIPLE_MODES
from .portal import READ_AHEAD, Portal, portal_time, requests_made
from .productrows import RowsResult
from .refresh import DictResult, refresh, wanted_for
from .spec import Listing
from .state import merge_select
from .table import DEFAULT_OVERLAP, Options, TableResult, TableRun

__all__ = ["DEFAULT_OVERLAP", "SyncResult", "merge_select", "run_table", "sync"]

logger = logging.getLogger("bitrix_fast.mirror")


@dataclass(frozen=True)
class SyncResult:
    """What one run did to one table. ``mode``: ``first`` (the table was created),
    ``changes`` (only changes and deletions were read), ``full`` (the whole listing was
    read again: a method without a modification field, or a select that grew).
    ``unparsed``: values that did not read as their column's type, kept as sent in the
    column's ``__raw`` side column."""

    method: str
    table: str
    mode: str
    added: int
    changed: int
    deleted: int
    rows: int
    requests: int
    seconds: float
    unparsed: int = 0
    product_rows: Optional[RowsResult] = None
    dictionaries: List[DictResult] = field(default_factory=list)

    def summary(self) -> str:
        first = ", first run" if self.mode == "first" else (
            ", full read" if self.mode == "full" else "")
        bad = (f"; {self.unparsed:,} values did not parse (kept as sent in __raw columns)"
               if self.unparsed else "")
        return (f"{self.method} -> {self.table}: {self.added:,} added, {self.changed:,} "
                f"changed, {self.deleted:,} deleted ({self.rows:,} rows{first}){bad}; "
                f"{self.requests:,} requests, {self.seconds:.1f} s")

    def lines(self) -> List[str]:
        """The summary, the product rows' line and the dictionaries', one per table."""
        out = [self.summary()]
        if self.product_rows is not None:
            p = self.product_rows
            bad = f"; {p.unparsed:,} values did not parse" if p.unparsed else ""
            how = "" if p.grouped else " (one owner per command: the portal ignores grouped owners)"
            out.append(f"crm.item.productrow.list -> {p.table}: {p.added:,} added, "
                       f"{p.changed:,} changed, {p.deleted:,} deleted ({p.rows:,} rows)"
                       f"{bad}{how}")
        out.extend(d.summary() for d in self.dictionaries)
        return out


def sync(bx: Portal, method: str, db: str, *, params: Optional[Mapping[str, Any]] = None,
         filter: Optional[Mapping[str, Any]] = None, select: Optional[Sequence[str]] = None,
         table: Optional[str] = None, overlap: float = DEFAULT_OVERLAP, wait: float = 0.0,
         multiple: str = "table", product_rows: bool = False,
         dictionaries: bool = True, read_ahead: int = READ_AHEAD,
         deletions: str = "auto") -> SyncResult:
    """Bring the table mirroring ``method`` (with ``filter``, ``select`` and other
    ``params``) in ``db`` in step with the portal, through the client ``bx``.

    The first run copies the listing into a new table with typed columns (from the method's
    ``*.fields``); later runs read only rows modified since the previous run's start (less
    ``overlap`` seconds), upsert them, and find rows gone from the listing by comparing
    per-ID-range counts. Afterwards the table equals the listing as of the run's start. The
    table's run is one transaction: interrupted, it leaves the database as the last complete
    run left it. A second run of the same mirror waits up to ``wait`` seconds for the first
    and then raises :class:`MirrorBusy`.

    ``multiple``: ``"table"`` (multiple values as rows of ``<table>_multi``) or ``"json"``.
    ``product_rows``: deals', quotes' and smart-process items' product rows into
    ``<table>_productrow``. ``dictionaries``: refresh the dictionary tables the columns point
    into (statuses, pipelines, users, currencies). ``read_ahead``: requests' worth of rows
    (~2,500 each) held while the database catches up: what bounds the memory.
    ``deletions``: ``"auto"`` reads them from the portal's offline event queue when the
    client is an OAuth application with the type's delete event bound offline and the
    listing has no filter (:mod:`.offline`), and counts otherwise; ``"count"`` always counts.

    ``db``: ``sqlite:///file.sqlite``, a file path, or ``postgresql://user@host/dbname``.
    Raises TypeError/ValueError for bad arguments (before anything is sent),
    :class:`MirrorConflict` when the table holds another listing, :class:`StoreError` when
    the database fails, and the client's :class:`~bitrix_fast.BitrixError` for the portal.
    """
    listing = Listing.build(method, params=params, filter=filter, select=select, table=table)
    options = replace(check_options(overlap, wait, multiple, read_ahead, deletions),
                      product_rows=bool(product_rows), describe=bool(dictionaries))
    open_store(db)  # a bad URL is a ValueError before anything is sent
    started = time.monotonic()
    before = requests_made(bx)
    now, bound = offline.probe(bx) if options.deletions == "auto" else (None, None)
    result = run_table(bx, db, listing, options, portal_time(bx, now), float(wait),
                       queue=offline.QueuedDeletions.choose(bx, listing, bound))
    dicts: List[DictResult] = []
    if dictionaries:
        dicts = refresh(bx, db, wanted_for(result.kinds), wait=float(wait),
                        category_types=category_types(listing))
    return as_sync_result(result, requests_made(bx) - before, time.monotonic() - started,
                          dicts)


def run_table(bx: Portal, db: str, listing: Listing, options: Options, run_start: datetime,
              wait: float, queue: Optional[offline.QueuedDeletions] = None) -> TableResult:
    """One table's run in its own transaction, under its own lock; deletions from ``queue``
    when given (its events are cleared on the portal once the run is committed)."""
    with table_transaction(db, listing.table, wait) as store:
        result = TableRun(bx, store, listing, options, run_start, queue).go()
    if queue is not None:
        clear_applied(queue, listing.table)
    return result


def clear_applied(queue: offline.QueuedDeletions, table: str) -> None:
    """After the commit: clear the offline events the run applied. A failure leaves them
    marked on the portal; the next run applies and clears them again."""
    try:
        queue.clear()
    except BitrixError as error:
        logger.warning("%s: the offline events applied could not be cleared (%s); the next "
                       "run clears them", table, error)


def as_sync_result(result: TableResult, requests: int, seconds: float,
                   dicts: Sequence[DictResult] = ()) -> SyncResult:
    return SyncResult(result.method, result.table, result.mode, result.added, result.changed,
                      result.deleted, result.rows, requests, seconds, result.unparsed,
                      result.product_rows, list(dicts))


def category_types(listing: Listing) -> List[int]:
    """The entity type whose pipelines a listing's ``CATEGORY_ID`` names, if any."""
    if listing.method == "crm.deal.list":
        return [2]
    if listing.method == "crm.item.list":
        key = find_key(listing.params, "entityTypeId")
        type_id = None if key is None else listing.params[key]
        try:
            return [int(type_id)]  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return []
    return []


def check_options(overlap: Any, wait: Any, multiple: Any, read_ahead: Any = READ_AHEAD,
                  deletions: Any = "auto") -> Options:
    if not isinstance(overlap, (int, float)) or isinstance(overlap, bool) or overlap < 0:
        raise ValueError("overlap must be a number of seconds >= 0")
    if not isinstance(wait, (int, float)) or isinstance(wait, bool) or wait < 0:
        raise ValueError("wait must be a number of seconds >= 0")
    if multiple not in MULTIPLE_MODES:
        raise ValueError(f"multiple must be one of {', '.join(MULTIPLE_MODES)}, not "
                         f"{multiple!r}")
    if isinstance(read_ahead, bool) or not isinstance(read_ahead, int) or read_ahead < 1:
        raise ValueError("read_ahead must be an int >= 1")
    if deletions not in ("auto", "count"):
        raise ValueError("deletions must be 'auto' or 'count'")
    return Options(overlap=float(overlap), multiple=str(multiple), read_ahead=read_ahead,
                   deletions=str(deletions))
