"""Batch command encoding, round-tripped through the sandbox's PHP parse_str."""
import datetime as dt
import decimal

import pytest

from bitrix_fast.protocol.encoding import Unencodable, build_query, can_encode, command
from bitrix_fast.testing.sandbox.batch import php_bool
from bitrix_fast.testing.sandbox.phpquery import parse_str, to_python


def php_meaning(value):
    """What a JSON value turns into once PHP has read it from a query string."""
    if isinstance(value, dict):
        out = {str(k): php_meaning(v) for k, v in value.items()}
        # json_encode: keys exactly 0..n-1 in order make a list, in PHP as in JSON bodies
        return list(out.values()) if list(out) == [str(i) for i in range(len(out))] else out
    if isinstance(value, (list, tuple)):
        return [php_meaning(v) for v in value]
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def roundtrip(params):
    return to_python(parse_str(build_query(params)))


@pytest.mark.parametrize("params", [
    {"id": 5},
    {"filter": {">=ID": 10, "<ID": 20, "!STAGE_ID": "WON", "%TITLE": "50% off"}},
    {"select": ["ID", "TITLE", "UF_*"]},
    {"fields": {"TITLE": "Сделка №1 & co = «ok»", "OPPORTUNITY": 1500.5, "COMMENTS": "a+b c"}},
    {"fields": {"PHONE": [{"VALUE": "+7 999", "VALUE_TYPE": "WORK"},
                          {"VALUE": "#2", "VALUE_TYPE": "HOME"}]}},
    {"deep": {"a": {"b": {"c": [1, [2, 3], {"d": "e"}]}}}},
    {"filter": {"CLOSED": False, "OPENED": True}},
    {"emoji": "🚀 ok", "brackets": "x[0]=y&z", "percent": "%41%"},
    {0: "positional", 1: {"POST_MESSAGE": "text"}},
    {"when": dt.date(2024, 5, 27), "at": dt.datetime(2024, 5, 27, 13, 55, 27)},
])
def test_roundtrip_keeps_php_meaning(params):
    """Whatever we encode, PHP's parse_str reads back with the meaning of the JSON value."""
    assert roundtrip(params) == php_meaning(params)


def test_booleans_mean_what_they_mean_in_json():
    """False must read as false in PHP ("0"), not as the true string "False" (fb24 #265)."""
    decoded = roundtrip({"f": False, "t": True})
    assert php_bool(decoded["f"]) is False and php_bool(decoded["t"]) is True
    assert php_bool("False") is True  # what str(False) would have sent


def test_decimal_and_float_keep_their_value():
    decoded = roundtrip({"a": decimal.Decimal("10.50"), "b": 0.1, "c": 1e20})
    assert decoded == {"a": "10.50", "b": "0.1", "c": "1e+20"}
    assert float(decoded["c"]) == 1e20


@pytest.mark.parametrize("params", [
    {"fields": {"COMMENTS": None}},
    {"select": []},
    {"filter": {}},
    {"fields": {"PHONE": [{}]}},
    {"weird[key]": 1},
])
def test_values_a_query_string_cannot_carry_are_refused(params):
    """None and empty containers have no query-string form: the item must go as JSON."""
    with pytest.raises(Unencodable):
        build_query(params)
    assert not can_encode(params)


@pytest.mark.parametrize("value, error, says", [
    (object(), TypeError, "values of type object"),
    (b"bytes", TypeError, "values of type bytes"),
    (float("nan"), ValueError, "nan"),
])
def test_unsendable_values_raise(value, error, says):
    """The key is named, and what cannot be sent."""
    with pytest.raises(error, match=f"^x: {says} cannot be sent"):
        build_query({"x": value})


def test_command_string():
    assert command("crm.deal.get", {"id": 7}) == "crm.deal.get?id=7"
    assert command("server.time", {}) == "server.time"
    assert command("crm.deal.list", {"filter": {">ID": 1}}) == \
        "crm.deal.list?filter%5B%3EID%5D=1"


def test_sets_are_sorted_lists():
    assert roundtrip({"select": {"TITLE", "ID"}}) == {"select": ["ID", "TITLE"]}
