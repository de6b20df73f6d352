"""Product rows of a mirrored table's owners, into ``<owner table>_productrow``.

Run inside the owner table's transaction, right after its rows: the owners read in this run
(every owner on a first or full run, the changed ones on a later run) have their product rows
read again with ``crm.item.productrow.list`` in groups (:mod:`.owners`), written typed
(:mod:`.typedwriter`), and their rows that are gone are deleted; the product rows of deleted
owners go with them. A product row change bumps its owner's modification time (the portal
recalculates the owner's amount), so reading changed owners is enough.
"""
from __future__ import annotations

import logging
from array import array
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Dict, Mapping, Optional, Sequence, Set

from ..errors import ApiError
from ..listing.rows import IdSet
from ..protocol import methods
from ..typed.load import load_fields
from ..typed.naming import fit
from .errors import MirrorError
from .layout import Layout
from .owners import OwnerFilterIgnored, OwnerGroups
from .portal import Portal
from .spec import canonical
from .store import CHUNK, SqlStore, quote
from .typedwriter import TypedWriter

logger = logging.getLogger("bitrix_fast.mirror")

METHOD = "crm.item.productrow.list"
#: the owner type code of a list method's rows (crm.item.list: by entityTypeId)
CODES = {"crm.deal.list": "D", "crm.quote.list": "Q", "crm.lead.list": "L"}
_TYPE_CODES = {1: "L", 2: "D", 7: "Q"}


def owner_code(method: str, params: Mapping[str, Any]) -> Optional[str]:
    """``D`` for deals, ``Q`` for quotes, ``T<hex>`` for a smart process; None otherwise."""
    if method in CODES:
        return CODES[method]
    if method == "crm.item.list":
        type_id = {k.lower(): v for k, v in params.items()}.get("entitytypeid")
        try:
            number = int(type_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return _TYPE_CODES.get(number, f"T{number:x}")
    return None


@dataclass(frozen=True)
class RowsResult:
    table: str
    added: int
    changed: int
    deleted: int
    rows: int
    unparsed: int
    grouped: bool


def sync_rows(bx: Portal, store: SqlStore, owner_table: str, code: str,
              owners: Sequence[int], gone_owners: Sequence[int], *, whole: bool,
              tz: Optional[tzinfo], cutoff: str, synced_at: str) -> RowsResult:
    """Bring the product rows of ``owners`` in step (``whole``: ``owners`` are all of them,
    so every other product row goes)."""
    table = fit(f"{owner_table}_productrow")
    facts = methods.list_facts(METHOD)
    state = store.read_state(table)
    exists = store.table_exists(table)
    fresh = state is None or not exists
    if fresh:
        if exists:
            raise MirrorError(f"table {table} exists but is not a mirror's; drop it or "
                              f"rename it")
        layout = Layout.new(table, facts.id_field)
        store.create_table(table, layout.id_column)
    else:
        assert state is not None
        layout = Layout.from_state(table, facts.id_field, state["columns"],
                                   state.get("extra") or {})
    before = _before(store, layout, owners, whole=whole, fresh=fresh)
    specs: Dict[str, Any] = {}

    def describe() -> Dict[str, Any]:
        if not specs:
            specs.update(load_fields(bx, METHOD))
        return specs

    writer = TypedWriter(store, layout, facts, describe, fresh=fresh, tz=tz, keep_ids=True)
    plan = OwnerGroups(_unique(owners), code)
    _read(bx, plan, writer)
    seen = IdSet()  # a bitmap: 125 KB per million product rows, where a set costs 60 MB
    for id_ in writer.ids:
        seen.add(id_)
    gone = [i for i in before if i not in seen]
    deleted = store.delete(table, layout.id_column, gone)
    if gone_owners:
        deleted += store.delete_in(table, _owner_column(layout), gone_owners)
    rows = store.count(table)
    columns, extra = layout.state()
    store.write_state({
        "table_name": table, "method": METHOD, "params": canonical({"ownerType": code}),
        "filter": "{}", "select_fields": None, "columns": columns, "cutoff": cutoff,
        "runs": (int(state["runs"] or 0) if state else 0) + 1, "row_count": rows,
        "synced_at": synced_at, "extra": {**extra, "owner_table": owner_table,
                                          "grouped": plan.grouped}})
    logger.debug("%s: %d owners in %d commands (%s)", table, len(owners), plan.commands,
                 "grouped" if plan.grouped else "one owner each")
    return RowsResult(table, writer.added, writer.changed, deleted, rows, writer.unparsed,
                      plan.grouped)


def _read(bx: Portal, plan: OwnerGroups, writer: TypedWriter) -> None:
    while True:
        groups = plan.next_round()
        if not groups:
            break
        try:
            pages = bx.first_pages(METHOD, [plan.params(g) for g in groups])
        except ApiError as error:
            if not plan.grouped:
                raise
            logger.info("%s: grouped owners refused (%s); asking one owner each", METHOD,
                        error)
            plan.refused()
            continue
        try:
            rows = plan.feed([(page.total, page.rows) for page in pages])
        except (OwnerFilterIgnored, ValueError) as error:
            raise MirrorError(f"{METHOD}: {error}; product rows were not changed") from None
        for row in rows:
            writer.write(row)
    for owner in plan.whole:
        params: Dict[str, Any] = {"filter": {"=ownerType": plan.owner_type, "=ownerId": owner}}
        for row in bx.iter_all(METHOD, params):
            if str(row.get("ownerType")) != plan.owner_type or \
                    str(row.get("ownerId")) != str(owner):
                raise MirrorError(f"{METHOD}: rows of other owners came back for "
                                  f"{plan.owner_type} owner {owner}; product rows were not "
                                  f"changed")
            writer.write(row)
    writer.flush()


def _unique(owners: Sequence[int]) -> "array[int]":
    """``owners`` once each, in their order (8 bytes an owner)."""
    seen = IdSet()
    return array("q", (owner for owner in owners if seen.add(owner)))


def _owner_column(layout: Layout) -> str:
    place = layout.places.get("ownerId")
    return place.column if place is not None and place.column else "owner_id"


def _before(store: SqlStore, layout: Layout, owners: Sequence[int], *, whole: bool,
            fresh: bool) -> "array[int]":
    """IDs of the product rows the table holds for ``owners`` now (all of them: ``whole``)."""
    if fresh or "ownerId" not in layout.places:
        return array("q") if not whole else store.ids(layout.table, layout.id_column)
    if whole:
        return store.ids(layout.table, layout.id_column)
    out: Set[int] = set()
    owner = _owner_column(layout)
    unique = sorted(set(owners))
    for first in range(0, len(unique), CHUNK):
        chunk = unique[first:first + CHUNK]
        marks = ", ".join([store.mark] * len(chunk))
        for (id_,) in store.query(f"SELECT {quote(layout.id_column)} FROM {quote(layout.table)} "
                                  f"WHERE {quote(owner)} IN ({marks})", chunk):
            out.add(int(id_))
    return array("q", sorted(out))


__all__ = ["CODES", "METHOD", "RowsResult", "owner_code", "sync_rows"]
