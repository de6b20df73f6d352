"""PHP's ``parse_str`` and the JSON shape PHP would give the result, in Python.

Bitrix reads every query string, form body and batch command with PHP's own parser, so
the sandbox must read them the same way, quirks included (php-src ``main/php_variables.c``,
``php_default_treat_data`` and ``php_register_variable_ex``):

- pairs are split on ``&`` (empty pairs skipped); a pair without ``=`` has the value ``""``;
- names and values are percent-decoded with ``+`` as a space; a ``%`` not followed by two
  hex digits stays as it is; bytes that are not UTF-8 become U+FFFD (PHP keeps raw bytes,
  but a JSON reply could not carry them either);
- a name is cut at a NUL byte, leading spaces are dropped, and ``.`` and space in the
  top-level part of the name (before the first ``[``) become ``_``;
- ``a[b][c]=v`` nests, ``a[]=v`` appends with the next integer key (one whitespace right
  after ``[`` is skipped, so ``a[ ]`` appends too), text after a ``]`` that is not ``[``
  is ignored, and an unclosed ``[`` in the top-level name becomes ``_`` (``a[b`` -> ``a_b``)
  while an unclosed one deeper ends the name (``a[b][c`` -> ``a[b]``);
- later duplicates overwrite in place; a scalar is replaced by an array when a later pair
  nests under it;
- more than ``max_input_nesting_level`` (64) brackets drop the whole top-level variable;
- names that mangling turns into ``__Host-`` / ``__Secure-`` prefixes are discarded.

Keys are returned as ``str``. PHP turns canonical integer strings (``"0"``, ``"-5"``, not
``"05"``) into integer keys; that only matters for appending, which follows PHP 8.3
(the next key is the largest integer key + 1, also after a negative one).

:func:`to_python` then applies ``json_encode``'s rule: an array whose keys are exactly
``"0".."n-1"`` in order (including the empty array) is a list, anything else a dict.
"""
from __future__ import annotations

import functools

import re
from typing import Any, Dict, Optional, Tuple
from urllib.parse import unquote_to_bytes

__all__ = ["parse_str", "to_python", "parse_url_command", "register", "plain", "plain_dict", "PhpArray", "MAX_NESTING"]

#: PHP's default ``max_input_nesting_level``
MAX_NESTING = 64

_LONG_MAX = 2**63 - 1
_LONG_MIN = -(2**63)
_INT_KEY = re.compile(r"(?:0|-?[1-9][0-9]*)\Z")
# C isspace(): the one character PHP skips right after an opening bracket
_ISSPACE = " \t\n\v\f\r"


class PhpArray(Dict[str, Any]):
    """A dict that remembers PHP's next free integer key (for ``a[]=...``)."""

    __slots__ = ("next_free",)

    def __init__(self) -> None:
        super().__init__()
        self.next_free: Optional[int] = None


def _int_key(key: str) -> Optional[int]:
    # The cheap test first: almost every key is a plain name, never an integer.
    if not key or not (key[0].isdigit() or key[0] == "-") or not _INT_KEY.match(key):
        return None
    value = int(key)
    return value if _LONG_MIN <= value <= _LONG_MAX else None


def _set(table: PhpArray, key: str, value: Any) -> None:
    table[key] = value
    number = _int_key(key)
    if number is not None and (table.next_free is None or number >= table.next_free):
        table.next_free = number + 1 if number < _LONG_MAX else _LONG_MAX


def _append(table: PhpArray, value: Any) -> bool:
    index = 0 if table.next_free is None else table.next_free
    if index >= _LONG_MAX and str(index) in table:
        return False  # PHP: "Cannot add element to the array as the next element is already occupied"
    _set(table, str(index), value)
    return True


def _decode(raw: str) -> str:
    """``php_url_decode``: ``+`` is a space, valid ``%XX`` escapes become bytes."""
    if "%" not in raw and "+" not in raw:
        try:
            raw.encode("utf-8")
            return raw
        except UnicodeEncodeError:  # lone surrogates; fall through to the byte path
            pass
    data = raw.encode("utf-8", "surrogatepass").replace(b"+", b" ")
    return unquote_to_bytes(data).decode("utf-8", "replace")


# Names repeat across every command of an export (filter[>ID], select[0], ...); values do not.
_decode_name = functools.lru_cache(maxsize=4096)(_decode)


def register(track: PhpArray, name: str, value: Any, max_nesting: int = MAX_NESTING) -> None:
    """Store ``value`` under the (already decoded) variable ``name``, as PHP does."""
    cut = name.find("\0")
    if cut >= 0:
        name = name[:cut]
    name = name.lstrip(" ")
    bracket = name.find("[")
    head = name if bracket < 0 else name[:bracket]
    var = head.replace(" ", "_").replace(".", "_")
    for prefix in ("__Host-", "__Secure-"):
        if var.startswith(prefix) and not name.startswith(prefix):
            return
    if not var:
        return
    if bracket < 0:
        _set(track, var, value)
        return

    size = len(name)
    table = track
    index: Optional[str] = var
    pos = bracket  # position of the current '['
    level = 0
    while True:
        level += 1
        if level > max_nesting:
            track.pop(var, None)
            return
        start = pos + 1
        probe = start
        if probe < size and name[probe] in _ISSPACE:
            probe += 1
        if probe < size and name[probe] == "]":
            new_index: Optional[str] = None
            close = probe
        else:
            close = name.find("]", probe)
            if close < 0:
                # Not an index after all. At the top level the bracket becomes part of the
                # name; deeper down the name simply ends at the last complete key.
                if level == 1:
                    rest = name[start:].replace(" ", "_").replace(".", "_").replace("[", "_")
                    index = var + "_" + rest
                break
            new_index = name[start:close]
        if index is None:
            child = PhpArray()
            if not _append(table, child):
                return
        else:
            found = table.get(index)
            if isinstance(found, PhpArray):
                child = found
            else:
                child = PhpArray()
                _set(table, index, child)
        table = child
        index = new_index
        pos = close + 1
        if pos < size and name[pos] == "[":
            continue
        break
    if index is None:
        _append(table, value)
    else:
        _set(table, index, value)


def parse_str(qs: str, *, max_vars: Optional[int] = None, max_nesting: int = MAX_NESTING) -> Dict[str, Any]:
    """Parse a query string exactly like PHP's ``parse_str`` (nested dicts, ``str`` keys).

    ``max_vars`` mimics ``max_input_vars`` (PHP stops reading after that many pairs); the
    default ``None`` reads everything, as a portal tuned for REST does in practice.
    """
    track = PhpArray()
    count = 0
    for pair in qs.split("&"):
        if not pair:
            continue
        count += 1
        if max_vars is not None and count > max_vars:
            break
        name, sep, value = pair.partition("=")
        decoded = _decode_name(name)
        keys = _plain_path(decoded)
        if keys is not None and len(keys) <= max_nesting:
            _register_plain(track, keys, _decode(value) if sep else "")
        else:
            register(track, decoded, _decode(value) if sep else "", max_nesting)
    return plain_dict(track)


# A name like ``filter[>ID]`` or ``select[0]``: a top-level part PHP does not mangle, then
# bracketed keys that are neither empty (append), nor start with whitespace, nor hold
# brackets. For such names PHP's rules reduce to plain nesting, so the path is computed once
# per distinct name (they repeat in every command of an export); anything else goes through
# ``register`` with all its quirks.
_PLAIN_NAME = re.compile(r"([A-Za-z0-9_-]+)((?:\[[^\[\]\s][^\[\]]*\])*)\Z")


@functools.lru_cache(maxsize=4096)
def _plain_path(name: str) -> Optional[Tuple[str, ...]]:
    match = _PLAIN_NAME.match(name)
    if match is None or name.startswith("__"):
        return None
    head, rest = match.groups()
    return (head,) + tuple(re.findall(r"\[([^\]]*)\]", rest))


def _register_plain(track: PhpArray, keys: Tuple[str, ...], value: Any) -> None:
    table = track
    for key in keys[:-1]:
        child = table.get(key)
        if not isinstance(child, PhpArray):
            child = PhpArray()
            _set(table, key, child)
        table = child
    _set(table, keys[-1], value)


def plain(value: Any) -> Any:
    """PhpArray -> plain dict, recursively (iterative, so deep input cannot blow the stack)."""
    if not isinstance(value, PhpArray):
        return value
    root: Dict[str, Any] = {}
    stack = [(value, root)]
    while stack:
        source, target = stack.pop()
        for key, item in source.items():
            if isinstance(item, PhpArray):
                copy: Dict[str, Any] = {}
                target[key] = copy
                stack.append((item, copy))
            else:
                target[key] = item
    return root


def _is_list_keys(table: Dict[Any, Any]) -> bool:
    for position, key in enumerate(table):
        if key != str(position) and key != position:
            return False
    return True


def to_python(value: Any, _depth: int = 0) -> Any:
    """Turn PHP-array dicts into what ``json_encode`` would emit: lists for keys 0..n-1.

    Applies to nested values too, and leaves lists, scalars and other dicts alone (their
    values are still converted). Raises ``ValueError`` beyond 512 levels (PHP's JSON depth).
    """
    if _depth > 512:
        raise ValueError("nesting too deep")
    if isinstance(value, dict):
        if _is_list_keys(value):
            out_list = []
            for item in value.values():
                out_list.append(to_python(item, _depth + 1))
            return out_list
        out: Dict[Any, Any] = {}
        for key, item in value.items():
            out[key] = to_python(item, _depth + 1)
        return out
    if isinstance(value, list):
        out_list = []
        for item in value:
            out_list.append(to_python(item, _depth + 1))
        return out_list
    return value


def parse_url_command(command: str) -> Tuple[str, str]:
    """Split a batch command ``"crm.deal.list?filter[>ID]=5"`` into (method, query).

    Like PHP's ``parse_url`` on such strings: a ``#fragment`` is dropped, the query is
    everything after the first ``?`` (``""`` when there is none).
    """
    command = command.split("#", 1)[0]
    method, _, query = command.partition("?")
    return method, query


def plain_dict(track: PhpArray) -> Dict[str, Any]:
    """:func:`plain` of a top-level PhpArray, which is always a dict."""
    out: Dict[str, Any] = plain(track)
    return out
