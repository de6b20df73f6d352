"""The list call as the caller asked it, and the commands an ID-range plan sends for it.

:class:`ListQuery` keeps the caller's filter and select and adds, per command, ID bounds, an
ID order, ``start`` and ``$result`` references, each spelled the way the method wants
(``ID`` or ``id``, an order dict under ``order`` / ``ELEMENT_ORDER`` or ``sort``/``order``
strings, the filter under ``filter`` or ``FILTER``). :func:`id_order` and
:func:`ranges_fit` say whether a call can be planned by ID ranges at all.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from ..protocol.methods import MethodFacts
from ..protocol.params import find_key

#: Rows per page: fixed by the server (``IRestService::LIST_LIMIT``).
PAGE = 50

_ID_OPS = ("", "=", ">", ">=", "<", "<=", "@", "!", "!=", "!@")


def value_of(params: Dict[str, Any], name: str, default: Any = None) -> Any:
    """The value of parameter ``name`` in ``params``, whatever case the caller wrote it in."""
    key = find_key(params, name)
    return default if key is None else params[key]


class ListQuery:
    """The caller's list call, ready to be cut into ID ranges."""

    def __init__(self, method: str, params: Dict[str, Any], facts: MethodFacts) -> None:
        self.method = method
        self.facts = facts
        self._filter_key = find_key(params, facts.filter_key) or facts.filter_key
        # The caller's own ID bounds stay in the filter: every bound we add is tighter (it
        # comes from rows their filter returned), and where both use one key ours replaces it.
        self._filter = dict(params.get(self._filter_key) or {})
        self._base = _base_params(params, facts, self._filter_key)

    def params(self, *, after: Any = None, before: Optional[int] = None,
               descending: bool = False, counted: bool = False, offset: int = 0
               ) -> Dict[str, Any]:
        """One command: rows with ID ``> after`` (a value or a ``$result`` reference) and
        ``< before``, in ID order; ``counted`` asks for the COUNT (``total``) and the page
        at ``offset``, else ``start=-1`` skips it."""
        key = self.facts.filter_id
        flt = dict(self._filter)
        if after is not None:
            flt[">" + key] = after
        if before is not None:
            flt["<" + key] = before
        params = dict(self._base)
        if flt:
            params[self._filter_key] = flt
        params.update(order_params(self.facts, "DESC" if descending else "ASC"))
        params["start"] = offset if counted else -1
        return params

    def ref(self, label: str, index: int) -> str:
        """A reference to the ID of row ``index`` of command ``label``'s page."""
        path = f"[{self.facts.wrapper}]" if self.facts.wrapper else ""
        return f"$result[{label}]{path}[{index}][{self.facts.id_field}]"


def order_params(facts: MethodFacts, direction: str) -> Dict[str, Any]:
    """The parameters that order a method's rows by ID."""
    if facts.order == "sort":
        return {"sort": facts.filter_id, "order": direction}
    return {facts.order_key: {facts.filter_id: direction}}


def id_order(params: Dict[str, Any], facts: MethodFacts) -> Optional[str]:
    """"ASC"/"DESC" when the caller's order is by ID only (or absent), else None."""
    if facts.order == "sort":
        sort = value_of(params, "sort")
        order = value_of(params, "order", "ASC")
        if sort is None:
            return "ASC"
        if str(sort).upper() != facts.filter_id.upper() or not isinstance(order, str):
            return None
        return order.upper() if order.upper() in ("ASC", "DESC") else None
    order = value_of(params, facts.order_key)
    if not order:
        return "ASC"
    if not isinstance(order, dict) or len(order) != 1:
        return None
    (field, direction), = order.items()
    if str(field).upper() != facts.filter_id.upper() or not isinstance(direction, str):
        return None
    return direction.upper() if direction.upper() in ("ASC", "DESC") else None


def ranges_fit(params: Dict[str, Any], facts: MethodFacts) -> bool:
    """False when the caller's parameters leave nothing for ID ranges to gain: a filter
    that pins IDs (``ID``, ``@ID``: plain paging is exact for such small results), or
    user.get filter keys given at the top level (its legacy form)."""
    known = {"filter", "select", "order", "sort", facts.order_key.lower()}
    if facts.order == "sort":
        if any(k.lower() not in known | {"admin_mode"} for k in params):
            return False
    flt = value_of(params, facts.filter_key, {})
    if not isinstance(flt, dict):
        return False
    for key in flt:
        op, name = _split_op(str(key))
        if name.upper() == facts.filter_id.upper() and op in ("", "=", "@"):
            return False
    return True


def _base_params(params: Dict[str, Any], facts: MethodFacts, filter_key: str) -> Dict[str, Any]:
    dropped = {"order", "sort", "start", facts.order_key.lower(), filter_key.lower()}
    base = {k: v for k, v in params.items() if k.lower() not in dropped}
    select_key = find_key(base, "select")
    if select_key is not None:
        select = list(base[select_key])
        names = {str(name).upper() for name in select}
        if "*" not in names and facts.id_field.upper() not in names:
            # Without its ID a row can be neither checked, chained nor deduplicated.
            base[select_key] = [facts.filter_id] + select
    return base


def _split_op(key: str) -> Tuple[str, str]:
    for op in sorted(_ID_OPS, key=len, reverse=True):
        if op and key.startswith(op):
            return op, key[len(op):]
    return "", key
