"""Column types from the method's ``*.fields`` description, and values made to fit them.

Kinds: ``int``, ``real``, ``bool``, ``date``, ``datetime``, ``text`` and ``json`` (multiple
and nested values). A field the description does not know, or a method without one, is
``text``; a list or dict arriving in a ``text`` column is stored as JSON text. A value that
does not fit its kind is kept as the portal sent it (SQLite stores it as it is; PostgreSQL
refuses it with an error naming the column) rather than silently dropped.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from ..errors import ApiError
from ..typed.load import fields_call

logger = logging.getLogger("bitrix_fast.mirror")

KINDS = ("int", "real", "bool", "date", "datetime", "text", "json")

#: ``type`` in a ``*.fields`` entry -> kind; anything else is text
_TYPES = {
    **dict.fromkeys(("integer", "int", "user", "employee", "crm_company", "crm_contact",
                     "crm_lead", "crm_deal", "crm_quote", "crm_invoice", "crm_category",
                     "group", "iblock_element", "iblock_section", "enumeration"), "int"),
    **dict.fromkeys(("double", "float", "number"), "real"),
    "boolean": "bool",
    "date": "date",
    "datetime": "datetime",
    **dict.fromkeys(("file", "crm_multifield", "product_property", "address"), "json"),
}

_INT = re.compile(r"\s*[+-]?\d+\s*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRUE = {"Y", "y", "1", "true", "TRUE", "True"}
_FALSE = {"N", "n", "0", "false", "FALSE", "False", ""}


def describe(result: Any) -> Dict[str, str]:
    """``{normalised field name: kind}`` from a ``*.fields`` result (crm.item and tasks wrap
    theirs in ``fields``; user.fields has titles only, so it yields nothing)."""
    if isinstance(result, dict) and isinstance(result.get("fields"), dict):
        result = result["fields"]
    kinds: Dict[str, str] = {}
    if not isinstance(result, dict):
        return kinds
    for name, meta in result.items():
        if not isinstance(meta, dict):
            continue
        multiple = meta.get("isMultiple") in (True, "Y", "true", 1)
        kind = "json" if multiple else _TYPES.get(str(meta.get("type", "")).lower(), "text")
        kinds[normalise(str(name))] = kind
    return kinds


def load(bx: Any, method: str, params: Mapping[str, Any]) -> Dict[str, str]:
    """Kinds for a method's fields: one request; an API refusal means no description."""
    call = fields_call(method, params)
    if call is None:
        return {}
    try:
        # A raw call: ``call()`` on a ``*.fields`` method warns the way fast_bitrix24 does,
        # which is meant for a user's script, not for the mirror's own bookkeeping.
        envelope = bx.call(call[0], dict(call[1]) if len(call) > 1 and call[1] else {},
                           raw=True)
        return describe(envelope.get("result") if isinstance(envelope, dict) else None)
    except ApiError as error:  # no such method, no access: columns fall back to text
        logger.info("%s: no field types (%s); unknown fields are stored as text", method, error)
        return {}


def normalise(name: str) -> str:
    """``CHANGED_DATE``, ``changedDate`` and ``changeddate`` are one field: tasks describe
    their fields in UPPER_CASE but answer in camelCase."""
    return name.replace("_", "").lower()


def kind_of(field: str, kinds: Mapping[str, str], id_field: str) -> str:
    if field == id_field:
        return "int"
    return kinds.get(normalise(field), "text")


# -- values -----------------------------------------------------------------------------------

def _int(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    return _text(value)


def _real(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return _text(value)


def _bool(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    return _text(value)


def _date(value: Any) -> Any:
    """The calendar date as the portal wrote it: ``2024-01-15T00:00:00+03:00`` is 2024-01-15
    there, whatever the time zone of the database."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and _DATE.match(value):
        return value[:10]
    return _text(value)


def _datetime(value: Any) -> Any:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else _text(value)


def _json(value: Any) -> Any:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, dict, bool)):
        return _json(value)
    return str(value)


CONVERTERS: Dict[str, Callable[[Any], Any]] = {
    "int": _int, "real": _real, "bool": _bool, "date": _date, "datetime": _datetime,
    "text": _text, "json": _json,
}
