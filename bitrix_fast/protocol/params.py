"""The caller's parameters, parsed once: checked before anything is sent, then read by the
compatibility warnings, the validation and the list engine alike.

Mistakes that the server would answer with a puzzling error -- or, worse, silently misread
(a ``select`` string becomes one field, a ``filter`` list is ignored) -- raise ``TypeError`` or
``ValueError`` here, naming the method. Parameters are never rewritten: what the caller
passes is what the server gets (a ``select`` given as a set becomes a sorted list).

The server reads parameter names in any case (``FILTER``, ``filter``, ``Filter``);
:func:`find_key` is the one place that looks a name up that way.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping, Optional

from . import methods


def find_key(params: Mapping[str, Any], name: str) -> Optional[str]:
    """The caller's spelling of parameter ``name`` in ``params`` (any case), or None."""
    lowered = name.lower()
    return next((key for key in params if isinstance(key, str) and key.lower() == lowered),
                None)


class Params:
    """One method's parameters as the caller gave them, checked (see the module docstring).

    ``raw`` is what is sent. :meth:`key` and :meth:`value` read a parameter whatever case
    the caller wrote its name in."""

    __slots__ = ("method", "raw")

    def __init__(self, method: str, params: Optional[Mapping[str, Any]]) -> None:
        self.method = method
        self.raw: Dict[str, Any] = check_params(params, method)

    @classmethod
    def listing(cls, method: str, params: Optional[Mapping[str, Any]]) -> "Params":
        """The parameters of a list call that pages by itself (get_all, iter_all, export,
        the mirror): the checks of any call, and no ``start``."""
        checked = cls(method, params)
        _check_listing(checked)
        return checked

    def key(self, name: str) -> Optional[str]:
        """The caller's spelling of ``name``, or None when absent."""
        return find_key(self.raw, name)

    def value(self, name: str, default: Any = None) -> Any:
        """The value of ``name`` (any case), or ``default``."""
        key = self.key(name)
        return default if key is None else self.raw[key]

    def __repr__(self) -> str:
        return f"Params({self.method!r}, {sorted(self.raw)!r})"

#: Clause -> the Python types that mean what the server expects.
_CLAUSE_TYPES = {
    "select": (list, tuple, set, frozenset),
    "filter": (Mapping,),
    "fields": (Mapping,),
}


def check_method(method: Any) -> str:
    name = methods.normalize(method)
    if name == "batch":
        raise ValueError("use call_batch() to send a batch of your own")
    return name


def check_params(params: Optional[Mapping[str, Any]], method: str) -> Dict[str, Any]:
    """A shallow copy of ``params`` after type checks of the clauses everyone uses."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"{method}: params must be a dict, not {type(params).__name__}")
    facts = methods.list_facts(method)
    out: Dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise TypeError(f"{method}: parameter names must be str, got {key!r}")
        name = key.lower()
        if name == "order":
            _check_order(method, key, value, facts.order)
        elif name == "sort" and facts.order == "sort" and not isinstance(value, str):
            raise TypeError(f"{method}: {key!r} must be a field name (str), "
                            f"not {type(value).__name__}")
        else:
            expected = _CLAUSE_TYPES.get(name)
            if expected is not None and not isinstance(value, expected):
                kind = "a list of field names" if name == "select" else "a dict"
                raise TypeError(f"{method}: {key!r} must be {kind}, "
                                f"not {type(value).__name__}")
        if name == "select":
            if isinstance(value, (set, frozenset)):
                value = sorted(value, key=str)
            bad = next((f for f in value if not isinstance(f, str)), _NONE)
            if bad is not _NONE:
                raise TypeError(f"{method}: {key!r} must be a list of field names (str), "
                                f"but holds {bad!r}")
        if name in ("filter", "order") and isinstance(value, Mapping):
            bad = next((k for k in value if not isinstance(k, str)), _NONE)
            if bad is not _NONE:
                raise TypeError(f"{method}: {key!r} keys must be field names (str), "
                                f"got {bad!r}")
        if name == "start" and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{method}: 'start' must be an int")
        out[key] = value
    return out


_NONE = object()
_DIRECTIONS = ("ASC", "DESC")


def _check_order(method: str, key: str, value: Any, style: Optional[str]) -> None:
    """``order`` as the method expects it: a dict ``{"ID": "ASC"}`` (crm, tasks, ...), or a
    direction string next to ``sort`` (user.get); for methods we know nothing about, either."""
    if isinstance(value, str):
        if style == "dict":
            raise TypeError(f"{method}: {key!r} must be a dict of field: direction, e.g. "
                            f"{{'ID': 'ASC'}}, not the str {value!r}")
        if style == "sort" and value.upper() not in _DIRECTIONS:
            raise ValueError(f"{method}: {key!r} must be 'ASC' or 'DESC', got {value!r}")
        return
    if not isinstance(value, Mapping):
        raise TypeError(f"{method}: {key!r} must be a dict, not {type(value).__name__}")
    if style == "sort":
        raise TypeError(f"{method}: {key!r} must be 'ASC' or 'DESC' (the field goes in "
                        f"'sort'), not a {type(value).__name__}")
    if style == "dict":
        for field, direction in value.items():
            if not isinstance(direction, str) or direction.upper() not in _DIRECTIONS:
                raise ValueError(f"{method}: {key!r} directions must be 'ASC' or 'DESC', "
                                 f"got {field!r}: {direction!r}")


def check_list_params(params: Optional[Mapping[str, Any]], method: str) -> Dict[str, Any]:
    """``check_params`` plus the rules of get_all / iter_all, which page by themselves."""
    return Params.listing(method, params).raw


def _check_listing(params: Params) -> None:
    method = params.method
    order_key = params.key("order")
    order = params.value("order")
    if isinstance(order, str) and methods.list_facts(method).order != "sort":
        raise TypeError(f"{method}: {order_key!r} must be a dict of field: direction, "
                        f"e.g. {{'ID': 'ASC'}}, not the str {order!r}")
    start = params.key("start")
    if start is not None:
        raise ValueError(f"{method}: get_all() pages by itself; remove {start!r}")
    if params.key("limit") is not None:
        warnings.warn(f"{method}: Bitrix24 list methods ignore 'limit'; every row is fetched",
                      UserWarning, stacklevel=5)
