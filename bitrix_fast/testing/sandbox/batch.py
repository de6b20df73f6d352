"""The ``batch`` method: run up to 50 ``method?query`` commands in one request.

Follows rest ``CRestProvider::methodsBatch`` and ``CRestUtil::processBatchElement``
(bitrix-rest-semantics.md §3):

- ``cmd`` is a dict (keys are command ids) or a list (ids ``0..n-1``); ``CMD`` / ``HALT``
  are found case-insensitively; ``halt`` is a PHP ``(bool)`` cast (``"0"`` and ``""`` are
  false, ``"false"`` is true);
- commands run in order; a non-string command is skipped but uses up one of the 50 slots;
  commands beyond the 50th are not run and each gets ``ERROR_BATCH_LENGTH_EXCEEDED``;
  ``batch``, ``download`` and ``upload`` inside a batch get ``ERROR_BATCH_METHOD_NOT_ALLOWED``;
- with ``halt`` the first failing command is recorded and nothing after it runs;
- each command's query is read with PHP ``parse_str``, then ``$result[id][key]...``
  references (also ``$next``, ``$total``, ``$time``, ``$error``) are replaced in the
  decoded values, seeing only earlier commands: a value that IS the reference becomes the
  referenced thing (array, number, null...); a reference inside longer text is replaced
  only by a scalar, otherwise the text stays; a missing key stops the walk at the last
  level found.

The answer is ``{"result", "result_error", "result_total", "result_next", "result_time"}``;
each group is encoded as PHP would: ``[]`` when empty, a JSON list when its ids are
``0..n-1`` in order, an object otherwise. The caller supplies ``execute(method, params)``,
which runs one command through the same auth, budget, cost and timing path as a single
call and returns the command's entry: ``{"result", "time", ["next"], ["total"]}`` or
``{"error", "error_description"}``.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from .phpquery import parse_str, parse_url_command, to_python

__all__ = ["MAX_LENGTH", "run_batch", "php_bool", "substitute", "encode_group"]

MAX_LENGTH = 50
NOT_ALLOWED = frozenset({"batch", "download", "upload"})

# PCRE's \s without the u flag is ASCII whitespace only; Python's would match more
_REFERENCE = re.compile(r"\$(result|next|total|time|error)([^ \t\n\x0b\f\r]*)", re.IGNORECASE)
_PATH_KEY = re.compile(r"\[([^\]]+)\]")
_INT_KEY = re.compile(r"(?:0|-?[1-9][0-9]*)\Z")

Entry = Dict[str, Any]
Execute = Callable[[str, Dict[str, Any]], Entry]


def php_bool(value: Any) -> bool:
    """PHP's ``(bool)`` cast of a request value."""
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)  # numbers, None, and arrays (empty ones are false) cast like Python


def _isset_get(container: Any, key: str) -> Tuple[bool, Any]:
    """PHP ``isset($r[$key])`` and the value, for decoded JSON-like values."""
    if isinstance(container, dict):
        if key in container:
            value = container[key]
        elif _INT_KEY.match(key) and int(key) in container:
            value = container[int(key)]
        else:
            return False, None
        return value is not None, value
    if isinstance(container, (list, str)) and _INT_KEY.match(key):
        index = int(key)
        if isinstance(container, list) and 0 <= index < len(container):
            value = container[index]
            return value is not None, value
        if isinstance(container, str) and -len(container) <= index < len(container):
            return True, container[index]  # PHP string offsets
    return False, None


def _php_string(value: Any) -> Optional[str]:
    """What ``is_numeric`` / ``is_string`` let through, as PHP would print it."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return None


def _substitute_text(text: str, acc: Dict[str, Dict[str, Any]]) -> Any:
    matches = list(_REFERENCE.finditer(text))
    query: Any = text
    for match in matches:
        keys = _PATH_KEY.findall(match.group(2))
        if not keys:
            continue
        found: Any = acc.get(match.group(1))  # exact case: "$RESULT" finds nothing, like PHP
        for key in keys:
            ok, value = _isset_get(found, key)
            if not ok:
                break
            found = value
        whole = match.group(0)
        if query == whole:
            query = found
        elif isinstance(query, str):
            replacement = _php_string(found)
            if replacement is not None:
                query = query.replace(whole, replacement)
    return query


def substitute(params: Any, acc: Dict[str, Dict[str, Any]]) -> Any:
    """Replace ``$result[...]``-style references in every string value (keys untouched)."""
    if isinstance(params, dict):
        return {key: substitute(value, acc) for key, value in params.items()}
    if isinstance(params, str) and "$" in params:
        return _substitute_text(params, acc)
    return params


def encode_group(group: Dict[str, Any]) -> Any:
    """PHP ``json_encode`` of one result group: ``[]``, a list for ids 0..n-1, or a dict."""
    if all(key == str(position) for position, key in enumerate(group)):
        return list(group.values())
    return group


def _commands(cmd: Any) -> List[Tuple[str, Any]]:
    if isinstance(cmd, dict):
        return [(str(key), value) for key, value in cmd.items()]
    if isinstance(cmd, list):
        return [(str(position), value) for position, value in enumerate(cmd)]
    return []  # PHP: foreach over a scalar does nothing


def run_batch(params: Dict[str, Any], execute: Execute, *, max_length: int = MAX_LENGTH) -> Dict[str, Any]:
    """Run a batch and return its ``result`` value (see the module docstring)."""
    upper: Dict[str, Any] = {}
    for key, value in params.items():
        upper[str(key).upper()] = value
    halt = php_bool(upper.get("HALT"))
    acc: Dict[str, Dict[str, Any]] = {"result": {}, "next": {}, "total": {}, "time": {}, "error": {}}
    for slot, (key, command) in enumerate(_commands(upper.get("CMD"))):
        if slot >= max_length:
            entry: Entry = {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}
        elif not isinstance(command, str):
            continue
        else:
            method, query = parse_url_command(command)
            if method.lower() in NOT_ALLOWED:
                entry = {
                    "error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
                    "error_description": "Method is not allowed for batch usage",
                }
            else:
                parsed = substitute(parse_str(query), acc) if query else {}
                entry = execute(method, {name: to_python(value) for name, value in parsed.items()})
        if "error" in entry:
            acc["error"][key] = dict(entry)
            if halt:
                break
            continue
        for name in ("result", "next", "total", "time"):
            if name in entry:
                acc[name][key] = entry[name]
    return {
        "result": encode_group(acc["result"]),
        "result_error": encode_group(acc["error"]),
        "result_total": encode_group(acc["total"]),
        "result_next": encode_group(acc["next"]),
        "result_time": encode_group(acc["time"]),
    }
