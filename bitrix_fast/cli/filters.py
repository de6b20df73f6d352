"""``--filter [OP]FIELD=VALUE``: Bitrix filter entries written on a command line.

Bitrix puts a filter's operator in front of the field name (``>=DATE_CREATE``), and the
operators themselves contain ``=``, so "split on the first ``=``" would cut ``>=DATE_CREATE``
in the wrong place and "split on the last" would cut a value that holds an ``=``. The rule:

1. a leading run of operator characters (``! < > = % @ ? *``) is the operator;
2. the field name follows: letters, digits, ``_`` and ``.``; it ends at the next ``=``;
3. everything after that ``=`` is the value, verbatim (it may contain ``=`` and commas).

So ``>=DATE_CREATE=2024-01-01`` is ``{">=DATE_CREATE": "2024-01-01"}``, ``TITLE=a=b`` is
``{"TITLE": "a=b"}`` and ``STAGE_ID=`` matches an empty stage. With the list operators
``@`` / ``!@`` (in, not in) and ``><`` / ``!><`` (between) the value is split on commas:
``@STAGE_ID=NEW,WON`` is ``{"@STAGE_ID": ["NEW", "WON"]}``. An unknown operator, a missing
``=`` or the same key twice is a usage error (exit 2), found before anything is sent.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Union

from .common import UsageError

#: Operators Bitrix list filters understand (crm, tasks, user.get).
OPERATORS = frozenset({
    "", "=", "!", "!=", ">", ">=", "<", "<=",
    "%", "=%", "%=", "!%", "!=%", "!%=",
    "@", "!@", "><", "!><", "?", "*",
})
#: Operators whose value is a list, written comma-separated.
LIST_OPERATORS = frozenset({"@", "!@", "><", "!><"})

_ENTRY = re.compile(r"(?P<op>[!<>=%@?*]*)(?P<field>[A-Za-z0-9_.]+)=(?P<value>.*)", re.DOTALL)
_EXAMPLES = "e.g. STAGE_ID=WON, >=DATE_CREATE=2024-01-01 or @STAGE_ID=NEW,WON"

Value = Union[str, List[str]]


def parse_filter(text: str) -> Dict[str, Value]:
    """One ``--filter`` argument as a one-entry filter dict."""
    match = _ENTRY.fullmatch(text)
    if match is None:
        raise UsageError(f"--filter {text!r}: expected [OP]FIELD=VALUE, {_EXAMPLES}")
    op, field, value = match.group("op", "field", "value")
    if op not in OPERATORS:
        known = " ".join(sorted(o for o in OPERATORS if o))
        raise UsageError(f"--filter {text!r}: unknown operator {op!r} (known: {known})")
    if op in LIST_OPERATORS:
        items = [item.strip() for item in value.split(",")]
        if not value.strip() or any(not item for item in items):
            raise UsageError(f"--filter {text!r}: {op} takes a comma-separated list "
                             f"without empty items")
        if op.endswith("><") and len(items) != 2:
            raise UsageError(f"--filter {text!r}: {op} takes two values, FROM,TO")
        return {op + field: items}
    return {op + field: value}


def parse_filters(texts: Iterable[str]) -> Dict[str, Any]:
    """All ``--filter`` arguments as one filter dict (every entry must hold: AND)."""
    out: Dict[str, Any] = {}
    for text in texts:
        entry = parse_filter(text)
        (key,) = entry
        if key in out:
            raise UsageError(f"--filter {key} given twice; a Bitrix filter holds each key once "
                             f"(use @{key.lstrip('!<>=%@?*')}=A,B for several values)")
        out.update(entry)
    return out


def parse_select(text: str) -> List[str]:
    """``--select ID,TITLE,UF_*`` as a list of field names (no blanks, no repeats)."""
    fields = [f.strip() for f in text.split(",")]
    if not text.strip() or any(not f for f in fields):
        raise UsageError(f"--select {text!r}: expected FIELD,FIELD,... without empty names")
    return list(dict.fromkeys(fields))
