"""Reading the dictionaries from the portal and replacing their tables (see
:mod:`.dictionaries` for what each holds).

Each dictionary is one listing (a request or two: they are small) and one transaction under
its own lock. A dictionary the portal refuses (a webhook without the ``user`` scope, say) is
reported and left as the last run wrote it; the tables of the run are not held back for it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..errors import AuthError, BitrixError
from . import dictionaries as d
from .connect import table_transaction
from .meta import replace
from .portal import Portal

logger = logging.getLogger("bitrix_fast.mirror")

#: the dictionaries a table's columns point into, by the columns' kind
BY_KIND = {"status": d.STATUS.table, "user": d.USER.table, "currency": d.CURRENCY.table,
           "category": d.CATEGORY.table}


@dataclass(frozen=True)
class DictResult:
    table: str
    rows: int
    #: why it was not refreshed (None: it was)
    error: Optional[str] = None

    def summary(self) -> str:
        if self.error is not None:
            return f"{self.table}: not refreshed ({self.error}); it holds the last run's rows"
        return f"{self.table}: {self.rows:,} rows"


def read(bx: Portal, table: str, *, category_types: Sequence[int] = (),
         smart: Sequence[Mapping[str, Any]] = (),
         table_of: Callable[[int], Optional[str]] = lambda _: None) -> List[Tuple[Any, ...]]:
    """The rows of one dictionary, as its table holds them."""
    if table == d.STATUS.table:
        return d.status_rows(bx.iter_all("crm.status.list"))
    if table == d.CURRENCY.table:
        return d.currency_rows(bx.iter_all("crm.currency.list"))
    if table == d.USER.table:
        return d.user_rows(bx.iter_all("user.get"))
    if table == d.CATEGORY.table:
        raw: List[Dict[str, Any]] = []
        for type_id in category_types:
            raw.extend(bx.iter_all("crm.category.list", {"entityTypeId": type_id}))
        return d.category_rows(raw)
    if table == d.ENTITY_TYPE.table:
        return d.entity_type_rows(smart, table_of)
    raise ValueError(f"no dictionary {table!r}; known: {', '.join(d.ALL)}")


def refresh(bx: Portal, db: str, tables: Iterable[str], *, wait: float = 0.0,
            category_types: Sequence[int] = (), smart: Sequence[Mapping[str, Any]] = (),
            table_of: Callable[[int], Optional[str]] = lambda _: None) -> List[DictResult]:
    """Read and replace each of ``tables`` (dictionary names), in order."""
    out = []
    for table in dict.fromkeys(tables):
        if table == d.CATEGORY.table and not category_types:
            continue
        try:
            rows = read(bx, table, category_types=category_types, smart=smart,
                        table_of=table_of)
        except AuthError as error:
            if str(error.code).upper() != "INSUFFICIENT_SCOPE":
                raise  # a wrong webhook fails everything alike: say so once, at once
            logger.warning("%s: not refreshed: %s", table, error)
            out.append(DictResult(table, 0, str(error)))
            continue
        except BitrixError as error:
            logger.warning("%s: not refreshed: %s", table, error)
            out.append(DictResult(table, 0, str(error)))
            continue
        with table_transaction(db, table, wait) as store:
            if table == d.CATEGORY.table:  # only the pipelines of the types asked for
                count = sum(replace(store, d.CATEGORY, [r for r in rows if r[0] == t],
                                    where=("entity_type_id", t)) for t in category_types)
            else:
                count = replace(store, d.ALL[table], rows)
        out.append(DictResult(table, count))
    return out


def wanted_for(kinds: Iterable[str]) -> List[str]:
    """The dictionaries columns of these kinds join to, in a fixed order."""
    found = {BY_KIND[k] for k in kinds if k in BY_KIND}
    return [t for t in (d.STATUS.table, d.CATEGORY.table, d.USER.table, d.CURRENCY.table)
            if t in found]
