"""One page of a list method: the COUNT, the OFFSET, 50 rows, and ``next`` / ``total``.

The paging rules differ by family (bitrix-rest-semantics.md 2.3, 2.4):

* ``start`` is read with PHP ``intval``; any negative value (the documented ``-1``) skips
  the COUNT and the OFFSET and returns the first 50 rows, never with a ``next``;
* classic and engine lists are page-aligned (``start=7`` is page 1); exact lists
  (user.get) use ``start`` as the offset;
* past the end, classic lists answer page 1 again (``ctx.classic_out_of_range_page1``),
  the others an empty page;
* ``next`` is given only while rows remain: classic lists step by the page's query rows
  (CDBResult's ``page * 50``), engine and exact lists by ``offset + count(page)``;
  ``total`` is the number of matching rows.

The portal's quirks (``ctx.quirks``, see :mod:`.quirks`) bend these rules the way real
portals do; the list handlers pass ``joins=True`` where ``joined_pages`` applies.

The Outcome's counters say what the database did, so the dispatcher can bill it:
``counted`` is the COUNT's matching rows (0 without a count), ``skipped`` the rows the OFFSET
passed over (all matching rows when ``start`` is past the end), ``rows`` the page size.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

from .dialects import Dialect, renderer
from .entities import Entity, Field
from .outcome import CallContext, Outcome
from .query import Where, compile_filter, compile_order, param, select_fields
from .quirks import TABLE_ORDER, Quirks, understated, without_id_keys
from .values import php_int

PAGE_SIZE = 50


def list_page(store: Any, entity: Entity, dialect: Dialect, params: Dict[str, Any],
              ctx: CallContext, *, joins: bool = False) -> Outcome:
    """One page of a list method that takes ``filter``, ``order``, ``select`` and ``start``.

    ``joins``: the method has multiple fields, so the ``joined_pages`` quirk applies to it.
    """
    quirks = ctx.quirks
    where = compile_filter(dialect, entity, quirky_filter(entity, param(params, "filter"), quirks))
    order = quirky_order(dialect, entity, param(params, "order"), quirks)
    fields = select_fields(dialect, entity, param(params, "select"))
    return fetch_page(store, entity, dialect, where, order, fields, params.get("start"), ctx,
                      joins=joins)


def quirky_filter(entity: Entity, filter_: Any, quirks: Quirks) -> Any:
    """The filter as the method sees it: ``ignored_filters`` drops the keys on the ID."""
    if "ignored_filters" not in quirks:
        return filter_
    # "ID" and crm.item's "id" alike: keys are compared without regard to case
    return without_id_keys(filter_, entity.id_field.name)


def quirky_order(dialect: Dialect, entity: Entity, order: Any, quirks: Quirks) -> str:
    """ORDER BY terms, or the table's own order when the method ignores ``order``."""
    if "ignored_filters" in quirks:
        return TABLE_ORDER
    return compile_order(dialect, entity, order)


def fetch_page(store: Any, entity: Entity, dialect: Dialect, where: Where, order_sql: str,
               fields: Tuple[Field, ...], start: Any, ctx: CallContext, *,
               joins: bool = False) -> Outcome:
    """Run one list command; ``store`` provides ``locked()`` (see :class:`Store`)."""
    quirks = ctx.quirks
    start = php_int(start)
    counting = start >= 0
    if not counting:
        requested = 0
    elif dialect.paging == "exact":
        requested = start
    else:
        requested = start // PAGE_SIZE * PAGE_SIZE
    offset = 0 if "ignored_start" in quirks else requested
    every = quirks.joined_every if joins and "joined_pages" in quirks else 0
    count_sql, source, condition = _queries(entity, where, every)
    render = renderer(dialect, fields)
    # the joined rows are told apart by ID after the LIMIT, as the real servers do
    columns = render.sql + (', "ID"' if every else "")
    count = 0
    raw: List[Tuple[Any, ...]] = []
    with store.locked() as db:
        if counting:
            count = db.execute(count_sql, where.params).fetchone()[0]
            if offset >= count and dialect.paging == "classic" and ctx.classic_out_of_range_page1:
                offset = 0
        if not counting or offset < count:
            sql = (f"SELECT {columns} FROM {source} WHERE {condition} "
                   f"ORDER BY {order_sql} LIMIT {PAGE_SIZE} OFFSET ?")
            raw = db.execute(sql, where.params + (offset,)).fetchall()
    rows = render.rows(_distinct(raw) if every else raw)
    if not counting:
        total = None if "no_total" in quirks else _uncounted_total(dialect, ctx)
        return Outcome(rows, total=total, rows=len(rows))
    claimed = understated(count) if "understated_total" in quirks else count
    # where the server believes this page starts: the navigation object's offset
    nav = requested if "ignored_start" in quirks else offset
    step = len(raw) if dialect.paging == "classic" else len(rows)
    if "endless_next" in quirks:
        next_: Optional[int] = requested + PAGE_SIZE
    else:
        next_ = nav + step if nav + step < claimed else None
    return Outcome(rows, next=next_, total=None if "no_total" in quirks else claimed,
                   rows=len(rows), counted=count, skipped=min(offset, count))


def _queries(entity: Entity, where: Where, every: int) -> Tuple[str, str, str]:
    """The COUNT, and the FROM and WHERE of the page: the table's, or (``every`` > 0) those
    of the table joined to itself so that the rows whose ID ``every`` divides come twice."""
    table = f'"{entity.name}"'
    if not every:
        return f"SELECT COUNT(*) FROM {table} WHERE {where.sql}", table, where.sql
    doubled = f'{table}."ID" % {int(every)} = 0'
    # the COUNT over the join, without making one; CROSS JOIN keeps the table the outer
    # loop, so an ORDER BY ID walks its B-tree instead of sorting the joined rows
    return (f"SELECT COUNT(*) + COALESCE(SUM({doubled}), 0) FROM {table} WHERE {where.sql}",
            f'{table} CROSS JOIN (SELECT 0 AS "_copy" UNION ALL SELECT 1) AS "_joined"',
            f'("_joined"."_copy" = 0 OR {doubled}) AND ({where.sql})')


def _distinct(raw: List[Tuple[Any, ...]]) -> List[Tuple[Any, ...]]:
    """Rows keyed by their ID (the last column), first occurrence kept."""
    seen: Set[Any] = set()
    out = []
    for row in raw:
        if row[-1] not in seen:
            seen.add(row[-1])
            out.append(row)
    return out


def _uncounted_total(dialect: Dialect, ctx: CallContext) -> Optional[int]:
    """What ``total`` reads with ``start=-1``: the docs show 0, the source shows nothing."""
    if ctx.minus1_total == "zero":
        return 0
    if ctx.minus1_total == "omit":
        return None
    return 0 if dialect.paging == "classic" else None


def fetch_one(store: Any, entity: Entity, dialect: Dialect, id_: int,
              fields: Tuple[Field, ...]) -> Optional[Dict[str, Any]]:
    """The row with this ID rendered in ``dialect``, or None when there is none."""
    render = renderer(dialect, fields)
    with store.locked() as db:
        raw = db.execute(f'SELECT {render.sql} FROM "{entity.name}" WHERE "ID" = ?',
                         (id_,)).fetchall()
    rows = render.rows(raw)
    return rows[0] if rows else None
