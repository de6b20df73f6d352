"""crm.item.productrow.list / .fields: product rows of deals, quotes and smart-process items,
as the engine controller (``Bitrix\\Crm\\Controller\\Item\\ProductRow``) serves them.

* ``filter`` must hold ``=ownerType`` (``D``, ``Q``, ``L``, ``T<hex type id>``) and
  ``=ownerId``, spelled so; without them ``REQUIRED_ARG_MISSING``. An unknown owner type
  is ``ACCESS_DENIED``. ``=ownerId`` may be a list (the ORM reads ``=`` with an array as
  IN); with the ``owner_list_ignored`` quirk a list is dropped as an unsupported condition
  (the newest docs' reading) and rows of every owner of the type come back.
* Other keys: ``id`` and ``productId`` with ``= != > >= < <= @`` (only ``@`` takes a list;
  a list under a comparison is ``INVALID_ARG_VALUE``); any other key is ignored silently.
* ``order`` by ``id`` and ``sort`` only (others ignored), default ``sort`` then ``id``.
* Engine paging: page-aligned ``start``, ``next``, ``total``; ``start=-1`` counts nothing.
* No ``select``: every field, camelCase, numbers as JSON numbers, in ``{"productRows"}``.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

from .entities import ITEM_TYPES
from .filterkeys import split_key
from .listing import PAGE_SIZE
from .outcome import ApiFault, CallContext, Outcome
from .query import param
from .values import php_int, php_str

#: owner type codes the CRM knows (smart processes: T + hex entityTypeId)
FIXED_OWNERS = {"L": 1, "D": 2, "Q": 7}
_OPS = {"": "=", "=": "=", "!=": "!=", "!": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_KEYS = {"id": "ID", "productid": "PRODUCT_ID"}
COLUMNS = '"ID", "OWNER_ID", "OWNER_TYPE", "PRODUCT_ID", "PRODUCT_NAME", "PRICE", "QUANTITY"'


def owner_type_id(code: str) -> int:
    """The entityTypeId of an owner type code; 0 when the CRM has none."""
    if code in FIXED_OWNERS:
        return FIXED_OWNERS[code]
    if len(code) > 1 and code[0] == "T":
        try:
            return int(code[1:], 16)
        except ValueError:
            return 0
    return 0


def _missing(name: str) -> ApiFault:
    return ApiFault("REQUIRED_ARG_MISSING", f"Required argument '{name}' is missing", 400)


def _where(filter_: Any, ctx: CallContext) -> Tuple[str, List[Any]]:
    if not isinstance(filter_, dict):
        raise _missing("=ownerType")
    owner_type = filter_.get("=ownerType")
    if not isinstance(owner_type, str) or not owner_type:
        raise _missing("=ownerType")
    owner = filter_.get("=ownerId")
    if owner is None or (not isinstance(owner, list) and php_int(owner) <= 0):
        raise _missing("=ownerId")
    if owner_type_id(owner_type) not in ITEM_TYPES:
        raise ApiFault("ACCESS_DENIED", "Access denied", 400)
    sql: List[str] = ['"OWNER_TYPE" = ?']
    bound: List[Any] = [owner_type]
    if isinstance(owner, list):
        if "owner_list_ignored" not in ctx.quirks:
            ids = [php_int(v) for v in owner]
            sql.append(f'"OWNER_ID" IN ({", ".join("?" * len(ids))})' if ids else "0")
            bound.extend(ids)
    else:
        sql.append('"OWNER_ID" = ?')
        bound.append(php_int(owner))
    for key, value in filter_.items():
        op, name = split_key(str(key))
        column = _KEYS.get(name.lower()) if name == name[:1].lower() + name[1:] else None
        if column is None or key in ("=ownerType", "=ownerId"):
            continue  # a condition the method does not support: ignored
        if isinstance(value, (list, dict)) and op != "@":
            raise ApiFault("INVALID_ARG_VALUE", f"Value for filter key '{key}' should be "
                                                f"either string or number", 400)
        if op == "@":
            values = value if isinstance(value, list) else [value]
            sql.append(f'"{column}" IN ({", ".join("?" * len(values))})' if values else "0")
            bound.extend(php_int(v) for v in values)
        elif op in _OPS:
            sql.append(f'"{column}" {_OPS[op]} ?')
            bound.append(php_int(value))
    return " AND ".join(sql), bound


def _order(order: Any) -> str:
    terms = []
    if isinstance(order, dict):
        for key, way in order.items():
            column = {"id": '"ID"', "sort": '"ID"'}.get(str(key).lower())
            direction = php_str(way).upper()
            if column and direction in ("ASC", "DESC"):
                terms.append(f"{column} {direction}")
    return ", ".join(terms + ['"ID" ASC']) if terms else '"ID" ASC'


def _row(raw: Tuple[Any, ...]) -> Dict[str, Any]:
    id_, owner, owner_type, product, name, price, quantity = raw
    return {"id": id_, "ownerId": owner, "ownerType": owner_type, "productId": product,
            "productName": name, "price": price, "priceAccount": price,
            "priceExclusive": price, "priceNetto": price, "priceBrutto": price,
            "quantity": quantity, "discountTypeId": 2, "discountRate": 0, "discountSum": 0,
            "taxRate": None, "taxIncluded": "Y", "customized": "Y", "measureCode": 796,
            "measureName": "pcs", "sort": 10, "xmlId": "", "type": 1, "storeId": None}


def list_(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    where, bound = _where(param(params, "filter"), ctx)
    order = _order(param(params, "order"))
    start = php_int(params.get("start"))
    counting = start >= 0
    offset = start // PAGE_SIZE * PAGE_SIZE if counting else 0
    with store.locked() as db:
        count = db.execute(f'SELECT COUNT(*) FROM "productrow" WHERE {where}',
                           bound).fetchone()[0] if counting else 0
        raw = db.execute(f'SELECT {COLUMNS} FROM "productrow" WHERE {where} ORDER BY {order} '
                         f'LIMIT {PAGE_SIZE} OFFSET ?', (*bound, offset)).fetchall()
    rows = [_row(r) for r in raw]
    result = {"productRows": rows}
    if not counting:
        return Outcome(result, rows=len(rows))
    more = offset + len(rows) < count
    return Outcome(result, next=offset + len(rows) if more else None, total=count,
                   rows=len(rows), counted=count, skipped=min(offset, count))


def fields(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    types = {"id": "integer", "ownerId": "integer", "ownerType": "char", "productId": "integer",
             "productName": "string", "price": "double", "priceAccount": "double",
             "priceExclusive": "double", "priceNetto": "double", "priceBrutto": "double",
             "quantity": "double", "discountTypeId": "integer", "discountRate": "double",
             "discountSum": "double", "taxRate": "double", "taxIncluded": "char",
             "customized": "char", "measureCode": "integer", "measureName": "string",
             "sort": "integer", "xmlId": "string", "type": "integer", "storeId": "integer"}
    return Outcome({"fields": {name: {"type": type_, "isRequired": name == "ownerId",
                                      "isReadOnly": name == "id", "isImmutable": False,
                                      "isMultiple": False, "isDynamic": False, "title": name}
                               for name, type_ in types.items()}})


METHODS: Dict[str, Callable[..., Outcome]] = {
    "crm.item.productrow.list": list_, "crm.item.productrow.fields": fields,
}
