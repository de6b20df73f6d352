"""fast_bitrix24 1.8's result shapes and warnings, as pure functions of what the portal said.

Migrating from fast_bitrix24 is changing an import, so the public calls return what its
``Bitrix`` returns for the same replies: a tuple for a list of items, rows flattened into one
list for list methods, ``get_by_ID`` keyed by the IDs as the reply's JSON prints them, one-key
results such as ``{"items": [...]}`` or ``{"item": {...}}`` unwrapped. Its shapes come from a
batch parser that guesses by the data; the rules below reproduce them except where that
guess loses data, and those exceptions are decided by method, never by the data alone:

* ``methods.keyed_by_data``: methods whose one key *is* data (``crm.duplicate.findbycomm``
  answers ``{"CONTACT": [ids]}`` when only contacts match) are never unwrapped.
* A list of items whose results are not all lists is not flattened (fast_bitrix24 would
  splice the keys of a dict result into the rows).
* ``call(method, {one dict})`` returns the whole result, not its first row, and never a
  batch label (``{"order0000000000": item}``).

Nothing here does I/O; ``client.py`` applies these to what the engine returns.
"""
from __future__ import annotations

import json
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .protocol import methods
from .protocol.params import Params

#: Endings fast_bitrix24 takes for list methods (``call`` warns on these) ...
LIST_ENDINGS = (".list", ".getlist", ".fields", ".getavaliableforpayment", ".types")
#: ... and the endings ``get_all`` accepts without a warning.
GET_ALL_ENDINGS = LIST_ENDINGS + (".get",)


# -- result shapes ------------------------------------------------------------------------


def unwrap(method: str, result: Any) -> Any:
    """The value inside a one-key result (``{"items": [...]}`` -> ``[...]``), unless the
    method's one key is data (:func:`methods.keyed_by_data`)."""
    if isinstance(result, dict) and len(result) == 1 and not methods.keyed_by_data(method):
        return next(iter(result.values()))
    return result


def call_one(method: str, result: Any) -> Any:
    """``call(method, {params})``: the result, unwrapped."""
    return unwrap(method, result)


def call_many(method: str, results: Sequence[Any]) -> Union[Tuple[Any, ...], List[Any]]:
    """``call(method, [params, ...])`` given each item's result in input order.

    Results that are wrapped (one-key dicts) or lists come back as a list of the unwrapped
    values, flattened into one list of rows when every value is a list (a list method called
    per parameter set); any other results come back as a tuple, one entry per item."""
    if not results:
        return []
    first = results[0]
    if not (isinstance(first, list) or _wrapped(method, first)):
        return tuple(results)
    values = [unwrap(method, result) for result in results]
    if all(isinstance(value, list) for value in values):
        return [row for value in values for row in value]
    return values


def id_label(ID: Any) -> str:
    """The key of ``ID`` in ``get_by_ID``'s answer: the ID as a batch reply's JSON object key
    prints it (``5`` -> ``"5"``, ``True`` -> ``"true"``)."""
    if isinstance(ID, str):
        return ID
    try:
        label: str = next(iter(json.loads(json.dumps({ID: None}))))
        return label
    except (TypeError, ValueError):
        raise TypeError(f"get_by_ID(): IDs must be str or int, got {ID!r}") from None


def by_id(results: Mapping[str, Any]) -> Any:
    """``get_by_ID``'s answer from ``{label: result}`` (labels from :func:`id_label`).

    Several IDs: the mapping itself, results as the portal gave them. One ID: its result
    alone, and a one-element list as that element (fast_bitrix24 reads a batch of one
    command as a single reply)."""
    if len(results) != 1:
        return dict(results)
    (value,) = results.values()
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _wrapped(method: str, result: Any) -> bool:
    return isinstance(result, dict) and len(result) == 1 and not methods.keyed_by_data(method)


# -- warnings ------------------------------------------------------------------------------
# The UserWarnings fast_bitrix24 gives for the same calls, with the same category and gist.
# ``stacklevel`` is what the public method calling these would give ``warnings.warn`` (2: its
# caller's line), so each warning points at the user's line.


def warn_get_all(params: Params, stacklevel: int = 2) -> None:
    """What fast_bitrix24's ``get_all`` warns about before it sends anything."""
    level = stacklevel + 1
    method = params.method
    if not method.endswith(GET_ALL_ENDINGS):
        warnings.warn(f"get_all() is meant for list methods (names ending in "
                      f"{', '.join(GET_ALL_ENDINGS)}); {method!r} is not one. "
                      f"Use call() or get_by_ID() instead.", UserWarning, stacklevel=level)
    select = params.value("select")
    if isinstance(select, (list, tuple, set, frozenset)) and "*" in select \
            and params.key("filter") is None:
        warnings.warn(f"{method}: selecting all fields ('*') with no filter reads every field "
                      f"of every row: slow, and it spends the method's server-time budget.",
                      UserWarning, stacklevel=level)
    warn_none_in_filter(params, stacklevel=level)


def warn_none_in_filter(params: Params, stacklevel: int = 2) -> None:
    method = params.method
    flt = params.value("filter")
    if isinstance(flt, Mapping) and any(value is None for value in flt.values()):
        warnings.warn(f"{method}: None as a filter value confuses Bitrix24; use an empty "
                      f"string, 'null' or 'false'.", UserWarning, stacklevel=stacklevel + 1)


def warn_call(method: str, stacklevel: int = 2) -> None:
    """``call`` on a list method reads one page per item: get_all reads them all."""
    if method.endswith(LIST_ENDINGS):
        warnings.warn(f"call() reads one page (50 rows) per item of {method!r}; get_all() "
                      f"is better for list methods (names ending in {', '.join(LIST_ENDINGS)}).",
                      UserWarning, stacklevel=stacklevel + 1)


def warn_list_and_get(stacklevel: int = 2) -> None:
    warnings.warn("list_and_get() is deprecated: one get per row costs 50 times the "
                  "requests of get_all(); use get_all() with a select.", DeprecationWarning,
                  stacklevel=stacklevel + 1)
