"""crm.item.list / get / add / update / delete: the universal CRM API over the same tables.

``entityTypeId`` 1, 2, 3, 4 select leads, deals, contacts and companies. Names are
camelCase (``assignedById``, ``ufCrm_1700000001``), ``id`` and other numbers are JSON
numbers, lists come wrapped in ``{"items": [...]}`` and single items in ``{"item": ...}``
(real_responses/crm_item_list.json, crm_item_add.json).
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from .dialects import ITEM
from .entities import ITEM_TYPES, Entity
from .listing import fetch_one, list_page
from .outcome import ApiFault, CallContext, Outcome
from .query import id_param, param
from .records import writable
from .values import php_int


def _required(params: Dict[str, Any], name: str) -> Any:
    value = param(params, name)
    if value is None or value == "":
        raise ApiFault("INVALID_ARG_VALUE", f"Could not find value for parameter {{{name}}}", 400)
    return value


def _entity(params: Dict[str, Any]) -> Entity:
    found = ITEM_TYPES.get(php_int(_required(params, "entityTypeId")))
    if found is None:
        raise ApiFault("NOT_FOUND", "Smart process not found", 400)
    return found


def _not_found() -> ApiFault:
    return ApiFault("NOT_FOUND", "Element not found", 400)


def _id(params: Dict[str, Any]) -> int:
    id_ = id_param(_required(params, "id"))
    if id_ is None:
        raise _not_found()
    return id_


def _fields(params: Dict[str, Any]) -> Dict[str, Any]:
    fields = _required(params, "fields")
    if not isinstance(fields, dict):
        raise ApiFault("INVALID_ARG_VALUE", "Invalid value for parameter {fields}", 400)
    return fields


def _item(store: Any, e: Entity, id_: int) -> Outcome:
    row = fetch_one(store, e, ITEM, id_, e.fields)
    if row is None:
        raise _not_found()
    row["entityTypeId"] = e.type_id
    return Outcome({"item": row}, rows=1)


def list_(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    e = _entity(params)
    page = list_page(store, e, ITEM, params, ctx, joins=True)
    page.result = {"items": page.result}
    return page


def get(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    return _item(store, _entity(params), _id(params))


def add(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    e = _entity(params)
    new_id = store.insert(e.name, writable(ITEM, e, _fields(params)), by=ctx.user_id)
    out = _item(store, e, new_id)
    out.written = 1
    return out


def update(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    e = _entity(params)
    id_ = _id(params)
    if not store.update(e.name, id_, writable(ITEM, e, _fields(params)), by=ctx.user_id):
        raise _not_found()
    out = _item(store, e, id_)
    out.written = 1
    return out


def delete(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    e = _entity(params)
    if not store.delete(e.name, _id(params)):
        raise _not_found()
    return Outcome([], written=1)  # an empty PHP array: JSON []


METHODS: Dict[str, Callable[..., Outcome]] = {
    "crm.item.list": list_, "crm.item.get": get, "crm.item.add": add,
    "crm.item.update": update, "crm.item.delete": delete,
}
