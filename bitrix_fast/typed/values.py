"""Reading one value by its kind: the portal's strings become numbers, booleans, dates.

Each reader takes the value as the portal sent it and returns the Python value, ``None``
for an empty one, or :data:`BAD` when the value does not read as its kind. ``BAD`` is never
an error and never a loss: the caller keeps the original value beside it (a side column, the
export's own cell) and counts it.

What reads as what (bitrix-rest-semantics and the recorded replies):

* integers: ``"37"``, ``37``, ``37.0``; ``""`` is empty. Anything else is BAD, so is a number
  outside 64 bits (no database column would hold it).
* numeric: ``"1500.00"``, ``1500``, ``1.5e3`` as :class:`~decimal.Decimal` (exact); NaN and
  infinities are BAD.
* money: ``"1500.00|RUB"`` as (amount, ``"RUB"``); a bare amount has no currency.
* bool: ``Y``/``N`` (char fields and what boolean user fields print), ``1``/``0`` (what
  they are filtered by), ``true``/``false``, JSON booleans.
* date: ``2024-04-19`` or ``2024-04-19T00:00:00+03:00`` as that calendar day, as written.
* datetime: ISO 8601 with its offset kept; one without an offset gets ``tz`` (the portal's).
* file: ``{"id": 17, "showUrl": ...}`` or a bare ID: the ID only.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Dict, Optional, Tuple


class _Bad:
    """The marker for a value that does not read as its kind."""

    def __repr__(self) -> str:
        return "BAD"


BAD: Any = _Bad()

_INT = re.compile(r"\s*[+-]?\d+\s*\Z")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?\Z")
_TRUE = frozenset({"Y", "y", "1", "true", "True", "TRUE"})
_FALSE = frozenset({"N", "n", "0", "false", "False", "FALSE"})
_INT64 = 1 << 63

Reader = Callable[[Any], Any]


def read_int(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        if value.isdigit() and len(value) < 19:  # the common case, at C speed
            return int(value)
        if not value:
            return None
        if not _INT.match(value) or not value.isascii():
            return BAD
        number = int(value)
    elif kind is int:
        number = value
    elif value is None:
        return None
    elif kind is float and value.is_integer():
        number = int(value)
    else:
        return BAD  # booleans, lists, fractions
    return number if -_INT64 <= number < _INT64 else BAD


def read_numeric(value: Any) -> Any:
    """An exact Decimal."""
    kind = type(value)
    if kind is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None if not value else BAD
        # Decimal also reads NaN, Infinity and 1_000: not numbers a portal prints
        return number if number.is_finite() and "_" not in value else BAD
    if value is None:
        return None
    if kind is int:
        return Decimal(value)
    if kind is float:
        return Decimal(repr(value)) if value - value == 0 else BAD
    return BAD


def read_float(value: Any) -> Any:
    """The same numbers as :func:`read_numeric`, as floats (for SQLite, which keeps no
    decimals, and for pandas)."""
    kind = type(value)
    if kind is str:
        try:
            number = float(value)
        except ValueError:
            return None if not value else BAD
        return number if number - number == 0 and "_" not in value else BAD
    if value is None:
        return None
    if kind is int or kind is float:
        number = float(value)
        return number if number - number == 0 else BAD
    return BAD


def money_reader(number: Reader = read_numeric) -> Reader:
    """Reads ``"1500.00|RUB"`` as (amount, currency or None), or None, or BAD."""

    def read_money(value: Any) -> Any:
        if isinstance(value, str) and "|" in value:
            amount, _, currency = value.partition("|")
            parsed = number(amount)
            if parsed is BAD or not currency.strip() or "|" in currency:
                return BAD
            return (parsed, currency.strip()) if parsed is not None else None
        parsed = number(value)
        return parsed if parsed is None or parsed is BAD else (parsed, None)
    return read_money


read_money = money_reader()


def read_bool(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0 if value in (0, 1) else BAD
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    return BAD


def read_date(value: Any) -> Any:
    if value is None or value == "":
        return None
    if type(value) is not str:
        return BAD
    text = value.strip()
    # "2024-04-19" and "2024-04-19T00:00:00+03:00" (classic lists) without a regex
    if len(text) not in (10, 25) and _DATE.match(text) is None:
        return BAD
    if len(text) == 25 and (text[10] != "T" or text[19] not in "+-"):
        return BAD
    try:
        return date.fromisoformat(text[:10])
    except ValueError:  # 2024-02-30, or not a date at all
        return BAD


def datetime_reader(tz: Optional[tzinfo] = None, *, as_text: bool = False) -> Reader:
    """A datetime reader giving values without an offset the zone ``tz`` (if known);
    ``as_text``: the moment as ISO 8601 text (SQLite's form), offset kept."""

    def read_datetime(value: Any) -> Any:
        if value is None or value == "":
            return None
        if type(value) is not str:
            return BAD
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return BAD
        if moment.tzinfo is None and tz is not None:
            moment = moment.replace(tzinfo=tz)
        elif as_text:
            return text  # already ISO 8601 with its offset: no need to print it again
        return moment.isoformat() if as_text else moment

    return read_datetime


def read_date_text(value: Any) -> Any:
    """:func:`read_date` as ISO text (SQLite's form)."""
    parsed = read_date(value)
    return parsed.isoformat() if isinstance(parsed, date) else parsed


def read_file(value: Any) -> Any:
    """The file's ID: ``{"id": 17, ...}`` (crm.item), ``{"ID": "17", ...}`` or a bare ID."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        return read_int(lowered.get("id")) if lowered.get("id") is not None else BAD
    return read_int(value)


def read_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, dict, bool)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def read_multifield(value: Any) -> Any:
    """PHONE / EMAIL entries as ``(value_type, value, entry ID)`` tuples; BAD for anything
    that is not a list of such dicts (``false``, as classic lists print an empty one, is
    none)."""
    if value is None or value is False or value == "" or value == []:
        return ()
    if not isinstance(value, list):
        return BAD
    out = []
    for entry in value:
        if not isinstance(entry, dict):
            return BAD
        upper = {str(k).upper(): v for k, v in entry.items()}
        id_ = read_int(upper.get("ID"))
        out.append((read_text(upper.get("VALUE_TYPE")), read_text(upper.get("VALUE")),
                    None if id_ is BAD else id_))
    return tuple(out)


def text_of(value: Any) -> str:
    """The original value as text, for the side column that keeps what did not parse."""
    text = read_text(value)
    return "" if text is None else text


def readers(tz: Optional[tzinfo] = None, *, exact: bool = True,
            dates_as_text: bool = False) -> Dict[str, Reader]:
    """kind -> reader, for single values (multiple values read element by element).
    ``exact``: numbers as Decimal, else float; ``dates_as_text``: dates and moments as ISO
    8601 text (what SQLite stores) instead of date and datetime objects."""
    number = read_numeric if exact else read_float
    return {
        "int": read_int, "user": read_int, "category": read_int, "enum": read_int,
        "numeric": number, "money": money_reader(number), "bool": read_bool,
        "date": read_date_text if dates_as_text else read_date,
        "datetime": datetime_reader(tz, as_text=dates_as_text), "file": read_file,
        "status": read_text, "currency": read_text, "text": read_text,
        "multifield": read_multifield,
    }


def as_list(value: Any) -> Tuple[Any, ...]:
    """The elements of a multiple field's value (``false`` and ``""`` mean none)."""
    if value is None or value is False or value == "":
        return ()
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):  # a PHP array with gaps in its keys
        return tuple(value.values())
    return (value,)
