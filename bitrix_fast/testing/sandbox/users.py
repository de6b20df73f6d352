"""user.get, as ``Bitrix\\Rest\\Api\\User::userGet`` behaves.

* Parameter names are upper-cased first, so ``sort``/``SORT`` and ``order``/``ORDER`` are
  the same; the sort applies only when both are given, otherwise the list is ID ascending.
* The filter is ``FILTER`` when that is an array, otherwise the top-level keys themselves;
  there, keys that are not user fields (``SORT``, ``START``, ``ADMIN_MODE``...) are
  skipped, as the real method does. A ``FILTER`` array is checked strictly.
* Paging is an exact offset (``start=10`` returns rows 10..59), and a page with no rows is
  a bare ``[]``: no ``total``, no ``next``.
* ``ACTIVE`` prints as a JSON boolean, ``UF_DEPARTMENT`` as a list.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from .dialects import USER as DIALECT
from .entities import USER
from .listing import fetch_page, quirky_filter, quirky_order
from .outcome import CallContext, Outcome
from .filterkeys import split_key
from .query import compile_filter
from .values import php_str, php_truthy


def _filter(query: Dict[str, Any]) -> Any:
    explicit = query.get("FILTER")
    if isinstance(explicit, dict):
        return {str(key).upper(): value for key, value in explicit.items()}
    if isinstance(explicit, list):
        return explicit
    return {key: value for key, value in query.items() if split_key(key)[1] in USER.by_name}


def get(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    query = {str(key).upper(): value for key, value in params.items()}
    sort, direction = query.get("SORT"), query.get("ORDER")
    order = {php_str(sort).upper(): direction} if php_truthy(sort) and php_truthy(direction) else None
    where = compile_filter(DIALECT, USER, quirky_filter(USER, _filter(query), ctx.quirks))
    page = fetch_page(store, USER, DIALECT, where, quirky_order(DIALECT, USER, order, ctx.quirks),
                      USER.fields, params.get("start"), ctx)
    if not page.result:
        page.total = page.next = None
    return page


METHODS: Dict[str, Callable[..., Outcome]] = {"user.get": get}
