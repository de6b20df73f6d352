"""Filter keys carry their operator as a prefix (``>=ID``, ``!@STAGE_ID``, ``%TITLE``).

A leaf module: the SQL compiler, the quirks and the legacy task methods all read keys, and
none of them imports another for it.
"""
from __future__ import annotations

from typing import Tuple

#: longest first, so "!=%" is not read as "!=" followed by a field called "%TITLE"
OPERATORS = ("!=%", "!%=", "=%", "%=", "!%", "!@", "!=", ">=", "<=", "!", "=", ">", "<", "@", "%")


def split_key(key: str) -> Tuple[str, str]:
    """``">=ID"`` -> ``(">=", "ID")``; a key without an operator -> ``("", key)``."""
    for op in OPERATORS:
        if key.startswith(op):
            return op, key[len(op):]
    return "", key
