"""One table's run, inside one transaction the caller opened: compare with the state, read
(everything, or the changes), write, find deletions, describe the columns, bring the owners'
product rows along, record the state.

Tables made before typed columns (their state has no typed layout) keep their old writer
and column names; every new table is typed (:mod:`.typedwriter`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Protocol, Sequence, Tuple

from . import offline
from .offline import QueuedDeletions
from ..protocol.limits import CHANGES_OVERLAP
from ..typed.load import load_fields
from ..typed.spec import FieldSpec
from . import fields as legacy_kinds
from . import meta
from .deletions import PAGE, RangeCheck, RangeFilterIgnored
from .errors import MirrorError
from .layout import Layout
from .portal import READ_AHEAD, Portal
from .productrows import RowsResult, owner_code, sync_rows
from .spec import Listing, column_name, ids_of
from .state import check_same, merge_select, select_of
from .store import SqlStore
from .typedwriter import TypedWriter
from .writer import Seen, TableWriter

logger = logging.getLogger("bitrix_fast.mirror")

#: seconds before the last run's start from which changes are read again: a write stamped
#: just before that start may commit just after it, at most one request (the 60 s cut) later
DEFAULT_OVERLAP = CHANGES_OVERLAP


@dataclass(frozen=True)
class Options:
    """How a table is mirrored (the same for every table of one run)."""

    overlap: float = DEFAULT_OVERLAP
    #: multiple values into the child table ("table") or a JSON column ("json")
    multiple: str = "table"
    #: bring deals', quotes' and smart-process items' product rows along
    product_rows: bool = False
    #: describe the columns in dict_fields / dict_enum (one ``*.fields`` call every run)
    describe: bool = True
    read_ahead: int = READ_AHEAD
    #: where deletions come from: "auto" (the offline event queue of an OAuth application
    #: that has the delete event bound, else counting) or "count"
    deletions: str = "auto"


@dataclass(frozen=True)
class TableResult:
    method: str
    table: str
    mode: str
    added: int
    changed: int
    deleted: int
    rows: int
    unparsed: int
    product_rows: Optional[RowsResult]
    #: the kinds of the table's columns (which dictionaries they point into)
    kinds: FrozenSet[str] = frozenset()


class RowWriter(Protocol):
    added: int
    changed: int

    @property
    def id_column(self) -> str: ...

    def write(self, row: Any) -> None: ...

    def flush(self) -> None: ...


class TableRun:
    def __init__(self, bx: Portal, store: SqlStore, listing: Listing, options: Options,
                 run_start: datetime, queue: Optional[QueuedDeletions] = None) -> None:
        self.bx = bx
        self.store = store
        self.listing = listing
        self.options = options
        self.run_start = run_start
        #: the offline event queue this table's deletions come from (see :mod:`.offline`)
        self.queue = queue
        self._legacy_kinds: Optional[Dict[str, str]] = None
        self._specs: Optional[Dict[str, FieldSpec]] = None

    def specs(self) -> Dict[str, FieldSpec]:
        """The listing's field descriptions, asked for once per run (and only when needed)."""
        if self._specs is None:
            self._specs = load_fields(self.bx, self.listing.method, self.listing.params)
        return self._specs

    def go(self) -> TableResult:
        listing, store = self.listing, self.store
        state = store.read_state(listing.table)
        exists = store.table_exists(listing.table)
        check_same(state, listing, exists)
        fresh = state is None or not exists
        old_select = select_of(state)
        select = listing.select if fresh else merge_select(old_select, listing.select)
        mode = "first" if fresh else (
            "changes" if listing.incremental and select == old_select else "full")
        listing = self.listing = Listing(listing.method, listing.table, listing.facts,
                                         listing.params, listing.filter, select)
        extra: Mapping[str, Any] = (state or {}).get("extra") or {}
        typed = fresh or extra.get("layout") == "typed"
        if typed and self.options.describe:
            self._specs = load_fields(self.bx, listing.method, listing.params)
        seen = None if mode != "full" else Seen(store.ids(listing.table, self._id_column(
            state, typed)))
        writer, layout = self._writer(state, typed, fresh=fresh, seen=seen)
        queued: List[int] = []
        deleted = 0
        if self.queue is not None:
            # Before anything is read: a row restored meanwhile is read back below.
            queued = self.queue.gone()
            deleted = store.delete(listing.table, writer.id_column, queued)
        read = listing.changes_params(state["cutoff"]) if mode == "changes" and state \
            else listing.read_params()
        for row in self.bx.iter_all(listing.method, read, read_ahead=self.options.read_ahead):
            writer.write(row)
        writer.flush()
        counted: List[int] = []
        if mode == "changes":
            if self.queue is None or not self.queue.trusted(store, listing.table):
                counted = self._deletions(writer)
        elif seen is not None:
            counted = seen.unseen()
        gone = sorted(set(queued) | set(counted))
        deleted += store.delete(listing.table, writer.id_column, counted)
        if layout is not None and layout.child:
            store.delete_in(layout.child, "owner_id", gone)
        if layout is not None and self.options.describe:
            meta.write(store, layout, self.specs())
        rows_result = self._product_rows(writer, gone, whole=mode != "changes")
        rows = store.count(listing.table)
        columns, layout_extra = layout.state() if layout is not None else (
            _legacy_columns(writer), {})
        store.write_state({
            "table_name": listing.table, **listing.record(),
            "select_fields": list(select) if select is not None else None,
            "columns": columns, "cutoff": self.cutoff(),
            "runs": (int(state["runs"] or 0) if state and exists else 0) + 1,
            "row_count": rows, "synced_at": _now(), "extra": {**extra, **layout_extra}})
        if self.queue is not None:
            self.queue.settle(store, listing.table)
        else:
            offline.distrust(store, listing.table)
        kinds = frozenset(p.kind for p in layout.places.values()) if layout else frozenset()
        return TableResult(listing.method, listing.table, mode, writer.added, writer.changed,
                           deleted, rows, int(_unparsed(writer)), rows_result, kinds)

    def cutoff(self) -> str:
        return (self.run_start - timedelta(seconds=self.options.overlap)).isoformat()

    # -- writers -------------------------------------------------------------------------------

    def _id_column(self, state: Optional[Mapping[str, Any]], typed: bool) -> str:
        id_field = self.listing.facts.id_field
        entry = (state or {}).get("columns", {}).get(id_field)
        return str(entry[0]) if entry else ("id" if typed else column_name(id_field))

    def _writer(self, state: Optional[Mapping[str, Any]], typed: bool, *, fresh: bool,
                seen: Optional[Seen]) -> Tuple[Any, Optional[Layout]]:
        listing, store, facts = self.listing, self.store, self.listing.facts
        if typed:
            if fresh:
                layout = Layout.new(listing.table, facts.id_field,
                                    multiple=self.options.multiple)
                store.create_table(listing.table, layout.id_column)
            else:
                assert state is not None
                layout = Layout.from_state(listing.table, facts.id_field, state["columns"],
                                           state.get("extra") or {})
            owners = self.options.product_rows and owner_code(listing.method,
                                                              listing.params) is not None
            return TypedWriter(store, layout, facts, self.specs, fresh=fresh, seen=seen,
                               tz=self.run_start.tzinfo, keep_ids=owners), layout
        assert state is not None
        return TableWriter(store, listing.table, facts, state["columns"], self._kinds,
                           fresh=False, seen=seen), None

    def _kinds(self) -> Dict[str, str]:
        if self._legacy_kinds is None:
            self._legacy_kinds = legacy_kinds.load(self.bx, self.listing.method,
                                                   self.listing.params)
        return self._legacy_kinds

    # -- deletions and product rows ------------------------------------------------------------

    def _deletions(self, writer: RowWriter) -> List[int]:
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

    def _product_rows(self, writer: Any, gone: Sequence[int], *, whole: bool
                      ) -> Optional[RowsResult]:
        code = owner_code(self.listing.method, self.listing.params)
        if not self.options.product_rows or code is None or not isinstance(writer,
                                                                             TypedWriter):
            return None
        return sync_rows(self.bx, self.store, self.listing.table, code, writer.ids, gone,
                         whole=whole, tz=self.run_start.tzinfo, cutoff=self.cutoff(),
                         synced_at=_now())


def _legacy_columns(writer: Any) -> Dict[str, Any]:
    return dict(writer.columns) if isinstance(writer, TableWriter) else {}


def _unparsed(writer: Any) -> int:
    return writer.unparsed if isinstance(writer, TypedWriter) else 0


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
