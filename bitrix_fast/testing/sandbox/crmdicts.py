"""The CRM's dictionaries and descriptions: crm.status.list, crm.currency.list,
crm.category.list, crm.type.list, crm.item.fields.

* crm.status.list is a classic list over the ``status`` table (filter, order, paging), rows
  ``{"ID", "ENTITY_ID", "STATUS_ID", "NAME", "SORT", "CATEGORY_ID", "SEMANTICS", ...}``
  printed as strings; stages of deal pipeline N are ``C<N>:CODE`` in ``DEAL_STAGE_<N>``,
  a smart process's ``DT<type>_<N>:CODE`` in ``DYNAMIC_<type>_STAGE_<N>``;
* crm.currency.list prints the three currencies of :data:`CURRENCIES`;
* crm.category.list (``entityTypeId``) and crm.type.list are engine lists: camelCase,
  numbers as numbers, wrapped in ``{"categories": [...]}`` / ``{"types": [...]}``, with
  ``total`` (real_responses/crm_category_list.json);
* crm.item.fields (``entityTypeId``) is ``{"fields": {camelName: {... "upperName"}}}``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from .dialects import CLASSIC
from .entities import ITEM_TYPES, STATUS
from .entities_crm import SMART_PROCESSES
from .fieldmeta import item_fields
from .listing import PAGE_SIZE, list_page
from .outcome import ApiFault, CallContext, Outcome
from .query import param
from .seed_crm import DEAL_CATEGORIES
from .values import php_int

#: (code, name, amount, base) as crm.currency.list prints them
CURRENCIES = (("RUB", "Russian Ruble", "1.0000", "Y"), ("USD", "US Dollar", "92.5000", "N"),
              ("EUR", "Euro", "99.8000", "N"))


def engine_page(rows: List[Dict[str, Any]], wrapper: str, start: Any) -> Outcome:
    """One page of a small engine list: page-aligned ``start``, ``next`` while rows remain,
    ``total`` (none with ``start=-1``)."""
    at = php_int(start)
    if at < 0:
        return Outcome({wrapper: rows[:PAGE_SIZE]}, rows=min(len(rows), PAGE_SIZE))
    offset = at // PAGE_SIZE * PAGE_SIZE
    page = rows[offset:offset + PAGE_SIZE]
    more = offset + len(page) < len(rows)
    return Outcome({wrapper: page}, next=offset + len(page) if more else None,
                   total=len(rows), rows=len(page), counted=len(rows), skipped=offset)


def status_list(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    return list_page(store, STATUS, CLASSIC, params, ctx)


def currency_list(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    rows = [{"CURRENCY": code, "AMOUNT_CNT": "1", "AMOUNT": amount, "SORT": str(100 * (n + 1)),
             "BASE": base, "FULL_NAME": name, "LID": "en", "FORMAT_STRING": f"# {code}",
             "DEC_POINT": ".", "THOUSANDS_SEP": " ", "DECIMALS": "2"}
            for n, (code, name, amount, base) in enumerate(CURRENCIES)]
    return Outcome(rows, total=len(rows), rows=len(rows))


def _type_id(params: Dict[str, Any]) -> int:
    value = param(params, "entityTypeId")
    if value is None or value == "":
        raise ApiFault("INVALID_ARG_VALUE", "Could not find value for parameter "
                                            "{entityTypeId}", 400)
    return php_int(value)


def categories_of(type_id: int) -> Optional[List[Dict[str, Any]]]:
    if type_id == 2:
        pairs = DEAL_CATEGORIES
    elif type_id in SMART_PROCESSES:
        pairs = SMART_PROCESSES[type_id][2]
    else:
        return None
    return [{"id": id_, "name": name, "sort": 100 * (n + 1), "entityTypeId": type_id,
             "isDefault": "Y" if n == 0 else "N", "originId": "", "originatorId": ""}
            for n, (id_, name) in enumerate(pairs)]


def category_list(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    rows = categories_of(_type_id(params))
    if rows is None:
        raise ApiFault("NOT_FOUND", "Entity type does not support categories", 400)
    return engine_page(rows, "categories", params.get("start"))


def type_list(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    rows = [{"id": own_id, "title": title, "code": "", "createdBy": 1, "entityTypeId": type_id,
             "customSectionId": None, "isCategoriesEnabled": "Y", "isStagesEnabled": "Y",
             "isBeginCloseDatesEnabled": "Y", "isClientEnabled": "Y",
             "isLinkWithProductsEnabled": "Y", "isUseInUserfieldEnabled": "Y",
             "isAutomationEnabled": "Y", "isPaymentsEnabled": "N",
             "createdTime": "2024-01-15T10:00:00+03:00",
             "updatedTime": "2024-01-15T10:00:00+03:00", "updatedBy": 1}
            for type_id, (own_id, title, _) in sorted(SMART_PROCESSES.items())]
    return engine_page(rows, "types", params.get("start"))


def item_fields_(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    entity = ITEM_TYPES.get(_type_id(params))
    if entity is None:
        raise ApiFault("NOT_FOUND", "Smart process not found", 400)
    return Outcome(item_fields(entity))


METHODS: Dict[str, Callable[..., Outcome]] = {
    "crm.status.list": status_list, "crm.currency.list": currency_list,
    "crm.category.list": category_list, "crm.type.list": type_list,
    "crm.item.fields": item_fields_,
}
