"""REST 3.0 requests as the sandbox reads them: the error every refusal is, and a list's
``filter`` (``[field, op, value]`` conditions, ``{"logic": "or", "conditions": [...]}``
groups; ``id`` only), ``order`` and ``pagination`` turned into SQL (see :mod:`.v3`).
Values are bound parameters and names come from :data:`FIELDS`: nothing a client sends is
spliced into SQL text.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .outcome import ApiFault
from .values import php_int

__all__ = ["V3Fault", "invalid", "where", "order", "pagination", "FIELDS", "PREFIX",
           "MAX_LIMIT"]

PREFIX = "BITRIX_REST_V3_EXCEPTION_"
MAX_LIMIT = 1000

#: v3 name -> the task table's column
FIELDS: Dict[str, str] = {
    "id": "ID", "title": "TITLE", "description": "DESCRIPTION", "creatorId": "CREATED_BY",
    "responsibleId": "RESPONSIBLE_ID", "groupId": "GROUP_ID", "priority": "PRIORITY",
    "status": "STATUS", "deadline": "DEADLINE", "created": "CREATED_DATE",
    "changed": "CHANGED_DATE", "closed": "CLOSED_DATE",
}
_SORTABLE = frozenset(FIELDS)
_FILTERABLE = frozenset({"id"})
_OPS = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


class V3Fault(ApiFault):
    """A REST 3.0 refusal: ``{"error": {"code", "message", "validation"}}``."""

    def __init__(self, code: str, message: str, status: int = 400,
                 validation: Optional[List[Dict[str, str]]] = None) -> None:
        super().__init__(code, message, status)
        self.validation = list(validation or [])

    def body(self) -> Dict[str, Any]:
        error: Dict[str, Any] = {"code": self.code, "message": self.description}
        if self.validation:
            error["validation"] = self.validation
        return {"error": error}


def invalid(field: str, message: str) -> V3Fault:
    """A request validation error naming one field."""
    return V3Fault(PREFIX + "VALIDATION_REQUESTVALIDATIONEXCEPTION",
                   "Error validating the request object", 400,
                   [{"field": field, "message": message}])


def where(filter_: Any, bound: List[Any]) -> str:
    if filter_ is None or filter_ == []:
        return "1"
    if not isinstance(filter_, list):
        raise invalid("filter", "The `filter` field requires a list of conditions")
    return "(" + " AND ".join(_condition(c, bound) for c in filter_) + ")"


def _condition(condition: Any, bound: List[Any]) -> str:
    if isinstance(condition, dict):
        logic = str(condition.get("logic", "and")).lower()
        parts = condition.get("conditions")
        if logic not in ("and", "or") or not isinstance(parts, list) or not parts:
            raise invalid("filter", "Unable to recognize a condition group")
        joiner = " OR " if logic == "or" else " AND "
        return "(" + joiner.join(_condition(c, bound) for c in parts) + ")"
    if not isinstance(condition, list) or len(condition) not in (2, 3):
        raise invalid("filter", "Unable to recognize a filter condition")
    field = condition[0]
    op, value = ("in" if isinstance(condition[1], list) else "=", condition[1]) \
        if len(condition) == 2 else (condition[1], condition[2])
    if field not in _FILTERABLE:
        raise invalid(str(field), f"In DTO `TaskDto`, the `{field}` field requires the "
                                   f"`Filterable` attribute for such a request")
    column = f'"{FIELDS[field]}"'
    if op == "in" and isinstance(value, list) and value:
        bound.extend(php_int(v) for v in value)
        return f"{column} IN ({', '.join('?' * len(value))})"
    if op == "between" and isinstance(value, list) and len(value) == 2:
        bound.extend(php_int(v) for v in value)
        return f"{column} BETWEEN ? AND ?"
    if op in _OPS and not isinstance(value, (list, dict)):
        bound.append(php_int(value))
        return f"{column} {_OPS[op]} ?"
    raise invalid(str(field), f"Unable to recognize the operator `{op}`")


def order(order: Any) -> str:
    if order is None or order == {} or order == []:
        return '"ID" ASC'
    if not isinstance(order, dict):
        raise V3Fault(PREFIX + "INVALIDORDEREXCEPTION",
                      f"Unable to recognize sorting parameter `{order}`")
    terms = []
    for name, way in order.items():
        if name not in _SORTABLE or str(way).upper() not in ("ASC", "DESC"):
            raise V3Fault(PREFIX + "INVALIDORDEREXCEPTION",
                          f"Unable to recognize sorting parameter `{name}`")
        terms.append(f'"{FIELDS[name]}" {str(way).upper()}')
    if "id" not in order:
        terms.append('"ID" ASC')
    return ", ".join(terms)


def pagination(value: Any) -> Tuple[int, int]:
    if value is None:
        return 50, 0
    if not isinstance(value, dict):
        raise _bad_pagination(value)
    numbers = {}
    for name in ("page", "limit", "offset"):
        raw = value.get(name)
        if raw is None:
            continue
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise _bad_pagination(value)
        numbers[name] = raw
    limit = numbers.get("limit", 50)
    if limit == 0:
        raise _bad_pagination(value)
    limit = min(limit, MAX_LIMIT)
    if "page" in numbers and numbers["page"] >= 1:
        return limit, (numbers["page"] - 1) * limit
    return limit, numbers.get("offset", 0)


def _bad_pagination(value: Any) -> V3Fault:
    return V3Fault(PREFIX + "INVALIDPAGINATIONEXCEPTION",
                   f"Unable to recognize the pagination parameter `{value}`")
