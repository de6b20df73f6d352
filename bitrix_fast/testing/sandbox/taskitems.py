"""task.elapseditem.getlist and task.commentitem.getlist: old task methods with their own rules.

Both take their parameters by name (``TASKID``, ``ORDER``, ``FILTER``, ``SELECT``,
``PARAMS``, any letter case) or by position (``[TASKID, ORDER, FILTER, ...]``, e.g. a JSON
list body or ``0=5&1[ID]=asc``); ``task.elapseditem.getlist`` may leave the task ID out
(``[ORDER, FILTER, SELECT, PARAMS]``: the first value is then an array). ``ORDER`` and
``FILTER`` accept only the documented fields and the operators ``! < <= > >=``; anything
else is refused as the tasks module does (``ERROR_CORE``, ``TASKS_ERROR_EXCEPTION_#256 ...
must not contain key``). Values print as strings, dates with the portal's offset.

``task.elapseditem.getlist`` (time records, api-reference/tasks/elapsed-item):

* ``start`` is ignored; pages come from ``PARAMS: {NAV_PARAMS: {nPageSize, iNumPage}}``
  (``nPageSize`` capped at 50, 50 when missing or not positive; ``iNumPage`` from 1; a page
  past the end is page 1 again, as CDBResult does, unless ``classic_out_of_range_page1``
  is off);
* the REST layer still reports ``total`` (the matching rows) and ``next`` (``iNumPage x
  nPageSize`` while pages remain), so a client that follows ``next`` gets page 1 forever
  (fast_bitrix24 #197: 50 rows of 23,732);
* with a task (``TASKID``, or ``FILTER[TASK_ID]`` equal to one ID) and no ``NAV_PARAMS`` it
  returns every row of that task, with ``total`` and no ``next`` (as recorded in
  real_responses/task_elapseditem_getlist_mixed_types.json); without either, the first 50;
* default order: ``CREATED_DATE``, then ID (the day worked, not the ID).

``task.commentitem.getlist`` (comments, api-reference/tasks/comment-item): ``TASKID`` is
required; every comment of the task comes back at once, ``ID`` descending unless ``ORDER``
says otherwise, with no ``next`` and no ``total``.

The portal's quirks do not apply here: these methods have their own.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from .dialects import LEGACY, renderer
from .entities import COMMENTITEM, ELAPSEDITEM, Entity
from .listing import PAGE_SIZE
from .outcome import ApiFault, CallContext, Outcome
from .filterkeys import split_key
from .query import compile_filter, compile_order, id_param, param, select_fields
from .values import php_int, php_str

#: fields ORDER / FILTER may name, and the filter operators the tasks module knows
ELAPSED_ORDER = ("ID", "USER_ID", "MINUTES", "SECONDS", "CREATED_DATE", "DATE_START", "DATE_STOP")
ELAPSED_FILTER = ("ID", "USER_ID", "CREATED_DATE", "TASK_ID")
COMMENT_ORDER = ("ID", "AUTHOR_ID", "AUTHOR_NAME", "AUTHOR_EMAIL", "POST_DATE")
COMMENT_FILTER = ("ID", "AUTHOR_ID", "AUTHOR_NAME", "POST_DATE")
FILTER_OPERATORS = ("", "!", "<", "<=", ">", ">=")

ELAPSED_NAMES = ("TASKID", "ORDER", "FILTER", "SELECT", "PARAMS")
COMMENT_NAMES = ("TASKID", "ORDER", "FILTER")
#: a comment as the method prints it; TASK_ID is stored but not shown
COMMENT_FIELDS = tuple(f for f in COMMENTITEM.fields if f.name != "TASK_ID")


def arguments(params: Mapping[str, Any], names: Sequence[str], *,
              task_optional: bool = False) -> Dict[str, Any]:
    """The method's arguments by name, from named or positional parameters."""
    if "0" not in params:
        return {name: param(params, name) for name in names}
    if task_optional and isinstance(params["0"], (dict, list)):
        names = names[1:]  # [ORDER, FILTER, SELECT, PARAMS]: no task ID first
    args: Dict[str, Any] = {name: None for name in names}
    for position, name in enumerate(names):
        args[name] = params.get(str(position))
    return args


def _wrong(cls: str, index: int, what: str, detail: str) -> ApiFault:
    return ApiFault("ERROR_CORE", f"TASKS_ERROR_EXCEPTION_#256; Param #{index} ({what}) for method "
                                  f"{cls}::getlist() {detail}.; 256/TE/WRONG_ARGUMENTS<br>", 400)


def _order(cls: str, entity: Entity, order: Any, allowed: Sequence[str],
           default: Tuple[Tuple[str, str], ...]) -> str:
    if order is None or order == [] or order == {}:
        return compile_order(LEGACY, entity, dict(default))
    if not isinstance(order, dict):
        raise _wrong(cls, 1, "arOrder", "expected to be of type \"array\", but given something else")
    for key, direction in order.items():
        if key not in allowed or php_str(direction).upper() not in ("ASC", "DESC"):
            raise _wrong(cls, 1, "arOrder", f'must not contain key "{key}"')
    return compile_order(LEGACY, entity, {k: php_str(v).upper() for k, v in order.items()})


def _filter(cls: str, filter_: Any, allowed: Sequence[str]) -> Dict[str, Any]:
    if filter_ is None or filter_ == []:
        return {}
    if not isinstance(filter_, dict):
        raise _wrong(cls, 2, "arFilter", "expected to be of type \"array\", but given something else")
    for key in filter_:
        op, name = split_key(str(key))
        if op not in FILTER_OPERATORS or name not in allowed:
            raise _wrong(cls, 2, "arFilter", f'must not contain key "{key}"')
    return dict(filter_)


def _nav(params: Any) -> Optional[Tuple[int, int]]:
    """(page size, page number) from ``PARAMS.NAV_PARAMS``, or None when not given."""
    nav = param(params, "NAV_PARAMS") if isinstance(params, dict) else None
    if not isinstance(nav, dict):
        return None
    size = php_int(nav.get("nPageSize"))
    size = PAGE_SIZE if size <= 0 else min(size, PAGE_SIZE)
    return size, max(1, php_int(nav.get("iNumPage", 1)))


def elapsed_list(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    cls = "ctaskelapseditem"
    args = arguments(params, ELAPSED_NAMES, task_optional=True)
    filter_ = _filter(cls, args["FILTER"], ELAPSED_FILTER)
    task_id = id_param(args.get("TASKID"))
    if task_id is not None:
        filter_["TASK_ID"] = task_id
    one_task = "TASK_ID" in filter_ and not isinstance(filter_["TASK_ID"], (list, dict))
    where = compile_filter(LEGACY, ELAPSEDITEM, filter_)
    order = _order(cls, ELAPSEDITEM, args["ORDER"], ELAPSED_ORDER,
                   (("CREATED_DATE", "ASC"), ("ID", "ASC")))
    render = renderer(LEGACY, select_fields(LEGACY, ELAPSEDITEM, args.get("SELECT")))
    nav = _nav(args.get("PARAMS"))
    base = f'FROM "{ELAPSEDITEM.name}" WHERE {where.sql}'
    with store.locked() as db:
        count = db.execute(f"SELECT COUNT(*) {base}", where.params).fetchone()[0]
        if nav is None and one_task:  # the whole task at once
            raw = db.execute(f"SELECT {render.sql} {base} ORDER BY {order}", where.params).fetchall()
            return Outcome(render.rows(raw), total=count, rows=len(raw), counted=count)
        size, page = nav or (PAGE_SIZE, 1)
        pages = -(-count // size)
        if page > pages and ctx.classic_out_of_range_page1:
            page = 1
        offset = (page - 1) * size
        raw = db.execute(f"SELECT {render.sql} {base} ORDER BY {order} LIMIT ? OFFSET ?",
                         where.params + (size, offset)).fetchall()
    return Outcome(render.rows(raw), next=page * size if page < pages else None, total=count,
                   rows=len(raw), counted=count, skipped=min(offset, count))


def comment_list(store: Any, params: Dict[str, Any], ctx: CallContext) -> Outcome:
    cls = "ctaskcommentitem"
    args = arguments(params, COMMENT_NAMES)
    task_id = id_param(args["TASKID"]) if not isinstance(args["TASKID"], (dict, list)) else None
    if task_id is None:
        raise _wrong(cls, 0, "taskId", 'expected to be of type "integer", but given something else')
    order = _order(cls, COMMENTITEM, args["ORDER"], COMMENT_ORDER, (("ID", "DESC"),))
    filter_ = _filter(cls, args["FILTER"], COMMENT_FILTER)
    filter_["TASK_ID"] = task_id
    where = compile_filter(LEGACY, COMMENTITEM, filter_)
    render = renderer(LEGACY, COMMENT_FIELDS)
    with store.locked() as db:
        raw = db.execute(f'SELECT {render.sql} FROM "{COMMENTITEM.name}" WHERE {where.sql} '
                         f"ORDER BY {order}", where.params).fetchall()
    # attachments would be an object keyed by attachment ID; none here, so PHP's empty array
    result = [{"POST_MESSAGE_HTML": None, **row, "ATTACHED_OBJECTS": []} for row in render.rows(raw)]
    return Outcome(result, rows=len(result))


METHODS: Dict[str, Callable[..., Outcome]] = {
    "task.elapseditem.getlist": elapsed_list, "task.commentitem.getlist": comment_list,
}
