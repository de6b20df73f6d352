"""crm.deal / crm.lead / crm.contact / crm.company / crm.quote: list, get, add, update,
delete, fields.

The classic CCrm* methods: UPPER_CASE names, every value printed as a string, and refusals
with an empty ``error`` code and HTTP 400 ("ID is not defined or invalid.", "Not found";
see real_responses/crm_get_batch_mix_success_and_errors.json).
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from . import multifields
from .dialects import CLASSIC
from .entities import COMPANY, CONTACT, DEAL, LEAD, QUOTE, Entity
from .fieldmeta import UF_SETTINGS, classic_fields, field_meta
from .listing import fetch_one, list_page
from .outcome import ApiFault, CallContext, Outcome
from .query import id_param, param
from .records import writable

def _id(params: Dict[str, Any]) -> int:
    id_ = id_param(param(params, "id"))
    if id_ is None:
        raise ApiFault("", "ID is not defined or invalid.", 400)
    return id_


def _fields(params: Dict[str, Any]) -> Dict[str, Any]:
    fields = param(params, "fields")
    if fields == []:  # an empty PHP array arrives as a list
        return {}
    if not isinstance(fields, dict):
        raise ApiFault("", "Parameter 'fields' must be array.", 400)
    return fields


def _not_found() -> ApiFault:
    return ApiFault("", "Not found", 400)


def methods(e: Entity) -> Dict[str, Callable[..., Outcome]]:
    """The six classic methods of one entity, keyed by their lowercase names."""

    has_multi = e.name in multifields.OWNERS

    def list_(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        if not has_multi:
            return list_page(store, e, CLASSIC, params, ctx, joins=True)
        plain, kinds, added = multifields.split_select(params)
        page = list_page(store, e, CLASSIC, plain, ctx, joins=True)
        multifields.attach(store, e, page.result, kinds, drop_id=added)
        return page

    def get(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        row = fetch_one(store, e, CLASSIC, _id(params), e.fields)
        if row is None:
            raise _not_found()
        if has_multi:
            multifields.attach(store, e, [row], multifields.MULTIFIELD_TYPES)
        return Outcome(row, rows=1)

    def add(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        values = writable(CLASSIC, e, _fields(params))
        return Outcome(store.insert(e.name, values, by=ctx.user_id), written=1)

    def update(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        id_ = _id(params)
        values = writable(CLASSIC, e, _fields(params))
        if not store.update(e.name, id_, values, by=ctx.user_id):
            raise _not_found()
        return Outcome(True, written=1)

    def delete(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        if not store.delete(e.name, _id(params)):
            raise _not_found()
        return Outcome(True, written=1)

    def fields(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        return Outcome(classic_fields(e, multifields.meta() if has_multi else ()))

    prefix = f"crm.{e.name}."
    return {prefix + name: handler for name, handler in (
        ("list", list_), ("get", get), ("add", add), ("update", update), ("delete", delete),
        ("fields", fields))}


METHODS: Dict[str, Callable[..., Outcome]] = {
    name: handler for e in (DEAL, LEAD, CONTACT, COMPANY, QUOTE)
    for name, handler in methods(e).items()
}

__all__ = ["METHODS", "UF_SETTINGS", "field_meta", "methods"]
