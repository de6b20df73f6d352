"""Check a caller's parameters before anything is sent.

Mistakes that the server would answer with a puzzling error -- or, worse, silently misread
(a ``select`` string becomes one field, a ``filter`` list is ignored) -- raise ``TypeError`` or
``ValueError`` here, naming the method. Parameters are never rewritten: what the caller
passes is what the server gets.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping, Optional

from . import methods

#: Clause -> the Python types that mean what the server expects.
_CLAUSE_TYPES = {
    "select": (list, tuple, set, frozenset),
    "filter": (Mapping,),
    "order": (Mapping,),
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
    out: Dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise TypeError(f"{method}: parameter names must be str, got {key!r}")
        expected = _CLAUSE_TYPES.get(key.lower())
        # user.get takes `order` as a string ("ASC"), next to `sort`.
        if expected is not None and not (key.lower() == "order" and isinstance(value, str)):
            if not isinstance(value, expected):
                kind = "a list of field names" if key.lower() == "select" else "a dict"
                raise TypeError(f"{method}: {key!r} must be {kind}, "
                                f"not {type(value).__name__}")
        if key.lower() == "select" and isinstance(value, (set, frozenset)):
            value = sorted(value)
        if key.lower() == "start" and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{method}: 'start' must be an int")
        out[key] = value
    return out


def check_list_params(params: Optional[Mapping[str, Any]], method: str) -> Dict[str, Any]:
    """``check_params`` plus the rules of get_all / iter_all, which page by themselves."""
    out = check_params(params, method)
    lowered = {key.lower(): key for key in out}
    if "start" in lowered:
        raise ValueError(f"{method}: get_all() pages by itself; remove {lowered['start']!r}")
    if "limit" in lowered:
        warnings.warn(f"{method}: Bitrix24 list methods ignore 'limit'; every row is fetched",
                      UserWarning, stacklevel=4)
    return out
