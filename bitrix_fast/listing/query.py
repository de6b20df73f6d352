"""How a list call is asked: the commands of an ID-range plan, and the choice of plan.

:class:`ListQuery` turns the caller's parameters into the commands the range planner sends:
the caller's filter and select, plus ID bounds, an ID order, ``start`` and ``$result``
references, each spelled the way the method wants (``ID`` or ``id``, an order dict or
``sort``/``order`` strings). :func:`choose_plan` decides whether a call can be planned by ID
ranges at all.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from ..methods import MethodFacts
from .paging import PAGE

_ID_OPS = ("", "=", ">", ">=", "<", "<=", "@", "!", "!=", "!@")


class ListQuery:
    """The caller's list call, ready to be cut into ID ranges."""

    def __init__(self, method: str, params: Dict[str, Any], facts: MethodFacts) -> None:
        self.method = method
        self.facts = facts
        self._filter_key = next((k for k in params if k.lower() == facts.filter_key.lower()),
                                facts.filter_key)
        # The caller's own ID bounds stay in the filter: every bound we add is tighter (it
        # comes from rows their filter returned), and where both use one key ours replaces it.
        self._filter = dict(params.get(self._filter_key) or {})
        self._base = _base_params(params, facts, self._filter_key)

    def params(self, *, start: int = -1, after: Any = None, start_at: Optional[int] = None,
               end: Optional[int] = None, descending: bool = False,
               select_id: bool = False) -> Dict[str, Any]:
        """One command's parameters: rows with ID ``> after`` (a value or a ``$result``
        reference) or ``>= start_at``, and ``< end``, in ID order."""
        key = self.facts.filter_id
        flt = dict(self._filter)
        if after is not None:
            flt[">" + key] = after
        if start_at is not None:
            flt[">=" + key] = start_at
        if end is not None:
            flt["<" + key] = end
        params = dict(self._base)
        if select_id:  # the count: its rows are not used, so ask for as little as possible
            select_key = next((k for k in params if k.lower() == "select"), "select")
            params[select_key] = [key]
        if flt:
            params[self._filter_key] = flt
        direction = "DESC" if descending else "ASC"
        if self.facts.order == "sort":
            params["sort"], params["order"] = key, direction
        else:
            params["order"] = {key: direction}
        params["start"] = start
        return params

    def ref(self, label: str) -> str:
        """A reference to the ID of the last row of command ``label``'s page."""
        path = f"[{self.facts.wrapper}]" if self.facts.wrapper else ""
        return f"$result[{label}]{path}[{PAGE - 1}][{self.facts.id_field}]"


def id_order(params: Dict[str, Any], facts: MethodFacts) -> Optional[str]:
    """"ASC"/"DESC" when the caller's order is by ID only (or absent), else None."""
    if facts.order == "sort":
        sort = next((v for k, v in params.items() if k.lower() == "sort"), None)
        order = next((v for k, v in params.items() if k.lower() == "order"), "ASC")
        if sort is None:
            return "ASC"
        if str(sort).upper() != facts.filter_id.upper() or not isinstance(order, str):
            return None
        return order.upper() if order.upper() in ("ASC", "DESC") else None
    order = next((v for k, v in params.items() if k.lower() == "order"), None)
    if not order:
        return "ASC"
    if len(order) != 1:
        return None
    (field, direction), = order.items()
    if str(field).upper() != facts.filter_id.upper() or not isinstance(direction, str):
        return None
    return direction.upper() if direction.upper() in ("ASC", "DESC") else None


def _ranges_fit(params: Dict[str, Any], facts: MethodFacts) -> bool:
    """False when the caller's filter pins IDs (``ID``, ``@ID``, ...): a range plan would
    only add requests, and plain paging is exact for such small results."""
    known = {"filter", "select", "order", "sort"}
    if facts.order == "sort":
        # user.get also takes filter keys at the top level; only plan when it has none.
        if any(k.lower() not in known | {"admin_mode"} for k in params):
            return False
    flt = next((v for k, v in params.items() if k.lower() == facts.filter_key.lower()), {})
    for key in flt:
        op, name = _split_op(str(key))
        if name.upper() == facts.filter_id.upper() and op in ("", "=", "@"):
            return False
    return True


def _base_params(params: Dict[str, Any], facts: MethodFacts, filter_key: str) -> Dict[str, Any]:
    base = {k: v for k, v in params.items()
            if k.lower() not in ("order", "sort", "start", filter_key.lower())}
    select_key = next((k for k in base if k.lower() == "select"), None)
    if select_key is not None:
        select = list(base[select_key])
        names = {str(name).upper() for name in select}
        if "*" not in names and facts.id_field.upper() not in names:
            # Without its ID a row cannot be chained or deduplicated.
            base[select_key] = [facts.filter_id] + select
    return base


def _split_op(key: str) -> Tuple[str, str]:
    for op in sorted(_ID_OPS, key=len, reverse=True):
        if op and key.startswith(op):
            return op, key[len(op):]
    return "", key
