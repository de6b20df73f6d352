"""Whether a record already holds what an upsert would write: then it is left alone.

The portal prints values its own way -- numbers as strings (``"100.00"`` for ``100``),
flags as ``"Y"``/``"N"``, dates with a time and an offset, multiple fields with IDs of their
own -- so values are compared by meaning, and a doubt is a difference: a record that might
differ is updated (an update that changes nothing costs one command; a skipped change is a
wrong record).
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Mapping, Optional

__all__ = ["same", "unchanged"]

#: Text that is a number the way the portal prints one (no leading zeros: "00123" is a
#: code, not 123).
_PLAIN_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?\Z")
_TRUE = frozenset({"Y", "1", "TRUE"})
_FALSE = frozenset({"N", "0", "FALSE", ""})


def unchanged(item: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """True when every field of ``item`` already has its value in ``record``."""
    return all(name in record and same(value, record[name]) for name, value in item.items())


def same(sent: Any, stored: Any) -> bool:
    """Whether writing ``sent`` would leave ``stored`` as it is (see the module docstring)."""
    if _blank(sent) or _blank(stored):
        return _blank(sent) and _blank(stored)
    if isinstance(sent, bool):
        return _flag(stored) is sent
    if isinstance(sent, (int, float)):
        number = _number(stored)
        return number is not None and math.isclose(float(sent), number, rel_tol=1e-9,
                                                    abs_tol=1e-9)
    if isinstance(sent, str):
        return _same_text(sent, stored)
    if isinstance(sent, Mapping):
        # A multiple field's value: the portal adds its own keys (ID, TYPE_ID).
        return isinstance(stored, Mapping) and all(
            key in stored and same(value, stored[key]) for key, value in sent.items())
    if isinstance(sent, (list, tuple)):
        return isinstance(stored, (list, tuple)) and len(sent) == len(stored) and all(
            same(a, b) for a, b in zip(sent, stored))
    return False


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _flag(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    text = str(value).strip().upper()
    return True if text in _TRUE else False if text in _FALSE else None


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _same_text(sent: str, stored: Any) -> bool:
    if isinstance(stored, str) and sent == stored:
        return True
    if isinstance(stored, bool):
        return _flag(sent) is stored
    number, other = _number(sent), _number(stored)
    if number is not None and other is not None and _PLAIN_NUMBER.match(sent.strip()) \
            and _PLAIN_NUMBER.match(str(stored).strip()):
        return math.isclose(number, other, rel_tol=1e-9, abs_tol=1e-9)
    if not isinstance(stored, str):
        return False
    return _same_moment(sent, stored)


def _same_moment(sent: str, stored: str) -> bool:
    """``2024-05-01`` and ``2024-05-01T00:00:00+03:00``; two date-times at one instant."""
    mine, theirs = _moment(sent), _moment(stored)
    if mine is None or theirs is None:
        return False
    if len(sent.strip()) == 10:  # a date: the portal stores its midnight in its own zone
        return theirs.date() == mine.date() and theirs.time() == datetime.min.time()
    if (mine.tzinfo is None) != (theirs.tzinfo is None):
        return mine.replace(tzinfo=None) == theirs.replace(tzinfo=None)
    return mine == theirs


def _moment(text: str) -> Optional[datetime]:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
