"""Encode parameters as the query string of a ``batch`` command, by PHP ``http_build_query`` rules.

Inside ``batch`` every command is a string ``method?query`` that the server decodes with
PHP ``parse_str``. A query string can only carry strings, so the encoding must make each
value mean, once decoded, what it would mean in a JSON call:

- ``True`` / ``False`` become ``1`` / ``0``, as PHP itself encodes booleans: PHP reads ``"1"``
  as true and ``"0"`` as false. (``str()`` would give ``"True"`` and ``"False"``, and PHP reads
  both as true: that is fast_bitrix24 issues #156 and #265.)
- ``None`` and empty lists or dicts have no query-string form at all (PHP drops them, which
  would silently change the call), so :func:`build_query` refuses them with
  :class:`Unencodable`; the caller then sends that item as its own JSON call.
- Nested dicts and lists become ``key[sub]=...`` and ``key[0]=...``; unicode is UTF-8
  percent-encoded; operators in filter keys (``>=ID``) are percent-encoded too.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import enum
import functools
import math
import uuid
from collections import abc
from typing import Any, List, Mapping, Tuple
from urllib.parse import quote_plus


class Unencodable(ValueError):
    """A value that a query string cannot express without changing its meaning."""


def build_query(params: Mapping[str, Any]) -> str:
    """Encode ``params`` like PHP ``http_build_query``; raise :class:`Unencodable` when impossible."""
    if type(params) is not dict and not isinstance(params, abc.Mapping):
        raise TypeError(f"parameters must be a dict, not {type(params).__name__}")
    pairs: List[Tuple[str, str]] = []
    for key, value in params.items():
        _flatten(_key_text(key), value, pairs)
    return "&".join([f"{_quoted(name)}={_quoted(text)}" for name, text in pairs])


@functools.lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    # Names (``filter[>ID]``, ``select[0]``) and many values repeat in every command of a
    # listing: quoting each once saves most of the encoding time of a 50-command batch.
    return quote_plus(text, safe="")


def command(method: str, params: Mapping[str, Any]) -> str:
    """One ``batch`` command string: ``method?query``."""
    query = build_query(params) if params else ""
    return f"{method}?{query}" if query else method


def can_encode(params: Mapping[str, Any]) -> bool:
    """True when ``params`` survive a trip through a query string with their meaning intact."""
    try:
        build_query(params)
    except Unencodable:
        return False
    return True


def _flatten(name: str, value: Any, pairs: List[Tuple[str, str]]) -> None:
    """Append the (name, text) pairs of ``value`` under ``name`` to ``pairs``."""
    # A list's every command is encoded this way (tens of thousands a big export): plain
    # dicts, lists, strings and ints are told by their exact type before any ABC check.
    kind = type(value)
    if kind is str:
        pairs.append((name, value))
        return
    if kind is int:
        pairs.append((name, str(value)))
        return
    if kind is dict or (kind is not list and isinstance(value, abc.Mapping)):
        if not value:
            raise Unencodable(f"{name}: an empty dict has no query-string form")
        for key, item in value.items():
            _flatten(f"{name}[{_key_text(key)}]", item, pairs)
    elif kind is list or isinstance(value, (tuple, set, frozenset)):
        if isinstance(value, (set, frozenset)):
            value = sorted(value, key=repr)
        if not value:
            raise Unencodable(f"{name}: an empty list has no query-string form")
        for index, item in enumerate(value):
            _flatten(f"{name}[{index}]", item, pairs)
    else:
        pairs.append((name, scalar_text(name, value)))


def _key_text(key: Any) -> str:
    if type(key) is str and "[" not in key and "]" not in key:
        return key
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"parameter names must be str or int, not {type(key).__name__}: {key!r}")
    text = str(key)
    if "[" in text or "]" in text:
        # A bracket inside a name would be read back as nesting: the server would see
        # another structure than the one the caller built.
        raise Unencodable(f"{text!r}: brackets in a parameter name cannot be encoded")
    return text


def scalar_text(name: str, value: Any) -> str:
    """The query-string text of one scalar, or :class:`Unencodable` / ``TypeError``."""
    if value is None:
        raise Unencodable(f"{name}: None (null) has no query-string form")
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, enum.Enum):
        return scalar_text(name, value.value)
    if isinstance(value, (str, int)):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name}: {value!r} cannot be sent to Bitrix24")
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{name}: values of type {type(value).__name__} cannot be sent to Bitrix24")


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback so JSON calls accept the same scalars as batch commands."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, enum.Enum):
        return value.value
    return scalar_text("value", value)
