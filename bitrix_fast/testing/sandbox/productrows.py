"""crm.productrow.list: the product rows of deals, as the old classic method serves them.

What real portals do (bitrix-rest-semantics.md §8; issue 17: a client that trusted its ID
filters got 50 of 6,000 rows):

* the filter is read only for ``OWNER_TYPE`` and ``OWNER_ID`` (any operator); every other
  key, ``>=ID`` and ``<ID`` included, is dropped without a word;
* ``order`` is ignored: rows come grouped by owner (``OWNER_TYPE``, ``OWNER_ID``, then ID),
  which is a stable order but not ID order;
* paging is the classic one: ``start`` page-aligned, ``next`` and ``total``, ``start=-1``
  without the count, a ``start`` past the end gives page 1 again.

Rows are ``ID, OWNER_TYPE, OWNER_ID, PRODUCT_ID, PRODUCT_NAME, PRICE, QUANTITY``, printed
as the classic methods print them (strings). The portal's quirks do not apply here: this
method has its own.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict

from .dialects import CLASSIC
from .entities import PRODUCTROW
from .listing import fetch_page
from .outcome import CallContext, Outcome
from .filterkeys import split_key
from .query import compile_filter, param, select_fields
from .quirks import NO_QUIRKS

#: the only filter keys the method reads
OWNER_KEYS = frozenset({"OWNER_TYPE", "OWNER_ID"})
#: the method's own order, whatever ``order`` says
OWN_ORDER = '"OWNER_TYPE" ASC, "OWNER_ID" ASC, "ID" ASC'


def owner_filter(filter_: Any) -> Any:
    """The part of ``filter`` the method reads: its top-level OWNER_TYPE / OWNER_ID keys."""
    if isinstance(filter_, dict):
        return {key: value for key, value in filter_.items()
                if split_key(str(key))[1] in OWNER_KEYS}
    if isinstance(filter_, list):
        return {}  # a PHP list has numeric keys only: nothing the method knows
    return filter_  # None, or a scalar the classic check refuses


def list_(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    where = compile_filter(CLASSIC, PRODUCTROW, owner_filter(param(params, "filter")))
    fields = select_fields(CLASSIC, PRODUCTROW, param(params, "select"))
    plain = dataclasses.replace(ctx, quirks=NO_QUIRKS)
    return fetch_page(store, PRODUCTROW, CLASSIC, where, OWN_ORDER, fields, params.get("start"),
                      plain)


METHODS: Dict[str, Callable[..., Outcome]] = {"crm.productrow.list": list_}
