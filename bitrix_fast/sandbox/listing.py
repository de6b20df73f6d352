"""One page of a list method: the COUNT, the OFFSET, 50 rows, and ``next`` / ``total``.

The paging rules differ by family (bitrix-rest-semantics.md 2.3, 2.4):

* ``start`` is read with PHP ``intval``; any negative value (the documented ``-1``) skips
  the COUNT and the OFFSET and returns the first 50 rows, never with a ``next``;
* classic and engine lists are page-aligned (``start=7`` is page 1); exact lists
  (user.get) use ``start`` as the offset;
* past the end, classic lists answer page 1 again (``ctx.classic_out_of_range_page1``),
  the others an empty page;
* ``next`` is given only while rows remain; ``total`` is the number of matching rows.

The Outcome's counters say what the database did, so the HTTP layer can bill it:
``counted`` is the COUNT's matching rows (0 without a count), ``skipped`` the rows the OFFSET
passed over (all matching rows when ``start`` is past the end), ``rows`` the page size.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from .dialects import Dialect, renderer
from .entities import Entity, Field
from .outcome import CallContext, Outcome
from .query import Where, compile_filter, compile_order, param, select_fields
from .values import php_int

PAGE_SIZE = 50


def list_page(store: Any, entity: Entity, dialect: Dialect, params: Dict[str, Any],
              ctx: CallContext) -> Outcome:
    """One page of a list method that takes ``filter``, ``order``, ``select`` and ``start``."""
    where = compile_filter(dialect, entity, param(params, "filter"))
    order = compile_order(dialect, entity, param(params, "order"))
    fields = select_fields(dialect, entity, param(params, "select"))
    return fetch_page(store, entity, dialect, where, order, fields, params.get("start"), ctx)


def fetch_page(store: Any, entity: Entity, dialect: Dialect, where: Where, order_sql: str,
               fields: Tuple[Field, ...], start: Any, ctx: CallContext) -> Outcome:
    """Run one list command; ``store`` provides ``locked()`` (see :class:`Store`)."""
    start = php_int(start)
    counting = start >= 0
    if not counting:
        offset = 0
    elif dialect.paging == "exact":
        offset = start
    else:
        offset = start // PAGE_SIZE * PAGE_SIZE
    render = renderer(dialect, fields)
    table = entity.name
    total: Optional[int] = None
    raw: list = []
    with store.locked() as db:
        if counting:
            sql = f'SELECT COUNT(*) FROM "{table}" WHERE {where.sql}'
            total = db.execute(sql, where.params).fetchone()[0]
            if offset >= total and dialect.paging == "classic" and ctx.classic_out_of_range_page1:
                offset = 0
        if not counting or offset < total:
            sql = (f'SELECT {render.sql} FROM "{table}" WHERE {where.sql} '
                   f"ORDER BY {order_sql} LIMIT {PAGE_SIZE} OFFSET ?")
            raw = db.execute(sql, where.params + (offset,)).fetchall()
    rows = render.rows(raw)
    if not counting:
        return Outcome(rows, total=_uncounted_total(dialect, ctx), rows=len(rows))
    end = offset + len(rows)
    return Outcome(rows, next=end if end < total else None, total=total, rows=len(rows),
                   counted=total, skipped=min(offset, total))


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
