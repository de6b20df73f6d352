"""How the portal reads values the way PHP would, and the portal's clock and time zone.

Query strings deliver every value as a string and JSON bodies keep their types; the real
server casts both with PHP rules (``intval("7x") == 7``, ``"0"`` is false). These helpers
apply the same rules so the sandbox accepts and refuses exactly what a portal would.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

#: the portal's time zone; every date it prints carries this offset
TZ = timezone(timedelta(hours=3))
#: strftime pattern and shift that render a stored Unix time in :data:`TZ` inside SQLite
SQL_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+03:00"
SQL_TIME_SHIFT = "+3 hours"

_INT_PREFIX = re.compile(r"\s*[+-]?\d+")
_FLOAT_PREFIX = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_YES = {"Y", "y", "1"}
_NO = {"N", "n", "0"}


def php_int(value: Any) -> int:
    """PHP ``intval``: the leading integer of a string, 0 when there is none."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        match = _INT_PREFIX.match(value)
        return int(match.group()) if match else 0
    return 1 if value else 0  # arrays: 1 when non-empty


def php_float(value: Any) -> float:
    """PHP ``floatval``: the leading number of a string, 0.0 when there is none."""
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        match = _FLOAT_PREFIX.match(value)
        return float(match.group()) if match else 0.0
    return 1.0 if value else 0.0


def php_str(value: Any) -> str:
    """PHP ``strval``: true is "1", false and null are "", arrays are "Array"."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return "Array"
    return str(value)


def php_truthy(value: Any) -> bool:
    """PHP truthiness: "", "0", 0, null and empty arrays are false."""
    return bool(value) and value != "0"


def to_flag(value: Any) -> str:
    """Coerce a written value for a Y/N column: true/1/"Y" give "Y", anything else "N"."""
    return "Y" if value is True or value == 1 or php_str(value) in _YES else "N"


def filter_flag(value: Any) -> str:
    """Coerce a filter value for a Y/N column; an unrecognised string is kept as sent."""
    text = php_str(value)
    if value is True or text in _YES:
        return "Y"
    return "N" if text in _NO else text


def to_epoch(value: Any) -> Optional[int]:
    """An ISO-8601 date or date-time as Unix time; naive values are in the portal's zone.

    Returns None when the value is not a date the portal would understand.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=TZ)
    return int(moment.timestamp())


def iso_at(moment: float) -> str:
    """Unix time ``moment`` as the portal prints it: ``2024-05-27T13:55:27+03:00``."""
    return datetime.fromtimestamp(int(moment), TZ).isoformat()
