"""tasks.task.list / get / add.

UPPER names in ``select``, ``filter`` and ``order`` (``ID``, ``>ID``, ``RESPONSIBLE_ID``),
camelCase keys with string values in results (``"id": "8017"``), wrapped in
``{"tasks": [...]}`` or ``{"task": {...}}``; lists default to ID descending. Error codes
follow the docs: "100" for a missing parameter, "0" for a bad task ID, "ERROR_CORE" for a
task the module refuses.
"""
from __future__ import annotations

from typing import Any, Callable, Dict

from .dialects import TASK as DIALECT
from .entities import TASK
from .listing import fetch_one, list_page
from .outcome import ApiFault, CallContext, Outcome
from .query import id_param, param, select_fields
from .records import writable
from .values import php_str


def list_(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    page = list_page(store, TASK, DIALECT, params, ctx)
    page.result = {"tasks": page.result}
    return page


def get(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    raw = param(params, "taskId")
    if raw is None:
        raise ApiFault("100", "CTaskItem All parameters in the constructor must have real "
                              "class type (internal error)", 400)
    id_ = id_param(raw)
    if id_ is None:
        raise ApiFault("0", "wrong task id", 400)
    row = fetch_one(store, TASK, DIALECT, id_, select_fields(DIALECT, TASK, param(params, "select")))
    if row is None:  # the docs: an empty result when the task does not exist
        return Outcome([])
    return Outcome({"task": row}, rows=1)


def add(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    fields = param(params, "fields")
    if not fields or not isinstance(fields, dict):
        raise ApiFault("100", "Could not find value for parameter {fields} (internal error)", 400)
    values = writable(DIALECT, TASK, fields)
    if not php_str(values.get("TITLE")).strip():
        raise ApiFault("ERROR_CORE", "Task title not specified<br>", 400)
    new_id = store.insert(TASK.name, values, by=ctx.user_id)
    row = fetch_one(store, TASK, DIALECT, new_id, TASK.fields)
    return Outcome({"task": row}, rows=1, written=1)


METHODS: Dict[str, Callable[..., Outcome]] = {
    "tasks.task.list": list_, "tasks.task.get": get, "tasks.task.add": add,
}
