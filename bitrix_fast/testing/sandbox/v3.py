"""REST 3.0 (``/rest/api/``): ``tasks.task.add / get / update / delete / list`` over the task
table, in the new API's shapes (api-reference/rest-v3/index.md, tasks/*.md).

* JSON bodies; camelCase fields; numbers as numbers; ``status`` and ``priority`` as words;
* success ``{"result": {"item": {...}}}`` (add, get), ``{"result": {"result": true}}``
  (update, delete), ``{"result": {"items": [...]}}`` (list), each with ``time``;
* errors ``{"error": {"code": "BITRIX_REST_V3_EXCEPTION_...", "message": ...,
  "validation": [{"field", "message"}]}}`` with HTTP 400 (404 for an unknown method);
* lists: ``select`` (absent: only ``id``; an unknown field is a 400), ``filter`` as a list of
  ``[field, op, value]`` / ``[field, value]`` conditions and ``{"logic": "or",
  "conditions": [...]}`` groups, filterable on ``id`` only (anything else is a 400, as the
  docs say of tasks), ``order`` ``{field: ASC|DESC}`` (default ``id`` ASC), ``pagination``
  ``{page, limit, offset}`` with ``limit`` 50 by default, at most 1000 (more is cut to 1000
  without a word; 0 or a non-number is a 400); no ``total``, no ``next``. The
  ``capped_v3_pages`` quirk cuts every page at 250 rows, as b24jssdk reports portals do.

A task that does not exist answers ``BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION``
(400): the docs show no example, so the code is the sandbox's.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

from . import v3query
from .entities import TASK, Field
from .outcome import CallContext, Outcome
from .records import coerce
from .v3query import FIELDS as _FIELDS
from .v3query import PREFIX, V3Fault, invalid as _invalid
from .values import iso_at

__all__ = ["V3Fault", "V3Methods", "not_found_v3", "PREFIX"]

CAPPED_LIMIT = 250

_WRITABLE = ("title", "description", "creatorId", "responsibleId", "groupId", "priority",
             "status", "deadline")
_REQUIRED = ("title", "creatorId", "responsibleId")
_STATUS = {1: "new", 2: "pending", 3: "in_progress", 4: "supposedly_completed",
           5: "completed", 6: "deferred", 7: "declined"}
_PRIORITY = {0: "low", 1: "average", 2: "high"}


def not_found_v3() -> V3Fault:
    return V3Fault("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)


def _missing_task() -> V3Fault:
    return V3Fault(PREFIX + "ENTITYNOTFOUNDEXCEPTION", "Task not found", 400)


def _column(name: str) -> Field:
    return TASK.by_name[_FIELDS[name]]


def _render(name: str, value: Any) -> Any:
    kind = _column(name).kind
    if value is None:
        return None
    if name == "status":
        return _STATUS.get(int(value), str(value))
    if name == "priority":
        return _PRIORITY.get(int(value), str(value))
    if kind == "time":
        return iso_at(value)
    return value


def _select(params: Dict[str, Any], everything: bool) -> List[str]:
    select = params.get("select")
    if select is None:
        return list(_FIELDS) if everything else ["id"]
    if not isinstance(select, list) or not all(isinstance(s, str) for s in select):
        raise _invalid("select", "The `select` field requires a list of field names")
    for name in select:
        if name not in _FIELDS:
            raise V3Fault(PREFIX + "UNKNOWNDTOPROPERTYEXCEPTION",
                          f"Unknown field `{name}` for entity `TaskDto`")
    return ["id"] + [name for name in select if name != "id"]


def _id(params: Dict[str, Any]) -> int:
    value = params.get("id")
    if value is None:
        raise _invalid("id", "Required field `id` is not specified")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid("id", "The `id` field requires a data type of `int` for this request")
    return value


def _rows(store: Any, names: List[str], where: str, bound: Tuple[Any, ...], order: str,
          limit: int = -1, offset: int = 0) -> List[Dict[str, Any]]:
    columns = ", ".join(f'"{_FIELDS[name]}"' for name in names)
    sql = (f'SELECT {columns} FROM "{TASK.name}" WHERE {where} ORDER BY {order} '
           f'LIMIT ? OFFSET ?')
    with store.locked() as db:
        raw = db.execute(sql, bound + (limit, offset)).fetchall()
    return [{name: _render(name, value) for name, value in zip(names, row)} for row in raw]


def _item(store: Any, id_: int, names: List[str]) -> Dict[str, Any]:
    found = _rows(store, names, '"ID" = ?', (id_,), '"ID"', 1)
    if not found:
        raise _missing_task()
    return found[0]


def _values(fields: Any) -> Dict[str, Any]:
    if not isinstance(fields, dict):
        raise _invalid("fields", "Required field `fields` is not specified")
    out: Dict[str, Any] = {}
    for name, value in fields.items():
        if name not in _WRITABLE:
            raise V3Fault(PREFIX + "UNKNOWNDTOPROPERTYEXCEPTION",
                          f"Unknown field `{name}` for entity `TaskDto`")
        if name in ("creatorId", "responsibleId", "groupId") and value is not None and (
                isinstance(value, bool) or not isinstance(value, int)):
            raise _invalid(name, f"The `{name}` field requires a data type of `int` for "
                                 f"this request")
        out[_FIELDS[name]] = coerce(_column(name), value)
    return out


def add(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    fields = params.get("fields")
    values = _values(fields)
    missing = [name for name in _REQUIRED if _FIELDS[name] not in values]
    if missing:
        raise V3Fault(PREFIX + "VALIDATION_REQUESTVALIDATIONEXCEPTION",
                      "Error validating the request object", 400,
                      [{"field": name, "message": f"Required field `{name}` is not specified"}
                       for name in missing])
    new_id = store.insert(TASK.name, values, by=ctx.user_id)
    return Outcome({"item": _item(store, new_id, list(_FIELDS))}, rows=1, written=1)


def get(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    return Outcome({"item": _item(store, _id(params), _select(params, everything=True))},
                   rows=1)


def update(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    id_ = _id(params)
    if not store.update(TASK.name, id_, _values(params.get("fields")), by=ctx.user_id):
        raise _missing_task()
    return Outcome({"result": True}, written=1)


def delete(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    if not store.delete(TASK.name, _id(params)):
        raise _missing_task()
    return Outcome({"result": True}, written=1)


def list_(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    names = _select(params, everything=False)
    bound: List[Any] = []
    where = v3query.where(params.get("filter"), bound)
    order = v3query.order(params.get("order"))
    limit, offset = v3query.pagination(params.get("pagination"))
    if "capped_v3_pages" in ctx.quirks:
        limit = min(limit, CAPPED_LIMIT)
    rows = _rows(store, names, where, tuple(bound), order, limit, offset)
    return Outcome({"items": rows}, rows=len(rows))


Handler = Callable[[Any, Dict[str, Any], CallContext], Outcome]

#: the methods, and whether each writes (so takes an Idempotency-Key)
METHODS: Dict[str, Tuple[Handler, bool]] = {
    "tasks.task.add": (add, True), "tasks.task.update": (update, True),
    "tasks.task.delete": (delete, True), "tasks.task.get": (get, False),
    "tasks.task.list": (list_, False),
}


class V3Methods:
    """The REST 3.0 methods as a store the dispatcher can run (``knows`` / ``call``)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def knows(self, method: str) -> bool:
        return method in METHODS

    def writes(self, method: str) -> bool:
        return method in METHODS and METHODS[method][1]

    def call(self, method: str, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        found = METHODS.get(method)
        if found is None:
            raise not_found_v3()
        return found[0](self._store, params or {}, ctx)
