"""PHP parse_str rules, checked against what php-src's php_register_variable_ex does."""
from __future__ import annotations

import pytest

from bitrix_fast.testing.sandbox.phpquery import parse_str, parse_url_command, to_python

CASES = [
    # basics
    ("a=1&b=2", {"a": "1", "b": "2"}),
    ("a=1&a=2", {"a": "2"}),
    ("a", {"a": ""}),
    ("a=", {"a": ""}),
    ("&&a=1&&", {"a": "1"}),
    ("=1", {}),
    ("", {}),
    # decoding
    ("a+b=c+d%20e", {"a_b": "c d e"}),
    ("a=%zz%4", {"a": "%zz%4"}),
    ("a=%2B", {"a": "+"}),
    ("a=%D0%9F%D1%80%D0%B8", {"a": "При"}),
    ("a=%ff%fe", {"a": "\ufffd\ufffd"}),
    ("a=%E2%82", {"a": "\ufffd"}),
    ("a%5Bb%5D=1", {"a": {"b": "1"}}),
    ("filter[%3EID]=5", {"filter": {">ID": "5"}}),
    ("filter[%3E%3DPRICE]=15", {"filter": {">=PRICE": "15"}}),
    ("a%00b=1", {"a": "1"}),
    ("a=x%00y", {"a": "x\x00y"}),
    # top-level name mangling
    ("a.b c=1", {"a_b_c": "1"}),
    ("  x=1", {"x": "1"}),
    ("a.b[c.d]=1", {"a_b": {"c.d": "1"}}),
    ("..Host-x=1", {}),
    ("__Host-x=1", {"__Host-x": "1"}),
    # brackets
    ("a[b][c]=v", {"a": {"b": {"c": "v"}}}),
    ("a[]=1&a[]=2", {"a": {"0": "1", "1": "2"}}),
    ("a[ ]=1", {"a": {"0": "1"}}),
    ("a[ b]=1", {"a": {" b": "1"}}),
    ("a[][]=x&a[][]=y", {"a": {"0": {"0": "x"}, "1": {"0": "y"}}}),
    ("a[5]=x&a[]=y", {"a": {"5": "x", "6": "y"}}),
    ("a[05]=x&a[]=y", {"a": {"05": "x", "0": "y"}}),
    ("a[-5]=x&a[]=y", {"a": {"-5": "x", "-4": "y"}}),
    ("a[b]x=1", {"a": {"b": "1"}}),
    ("a[b[c]=1", {"a": {"b[c": "1"}}),
    ("a[]x[y]=1", {"a": {"0": "1"}}),
    # unclosed brackets
    ("a[b=1", {"a_b": "1"}),
    ("a[b.c d[e=1", {"a_b_c_d_e": "1"}),
    ("a[b][c=1", {"a": {"b": "1"}}),
    ("a[][b=1", {"a": {"0": "1"}}),
    ("[a]=1", {}),
    ("a]=1", {"a]": "1"}),
    # overwrite and re-typing
    ("a=1&a[b]=2", {"a": {"b": "2"}}),
    ("a[b]=2&a=1", {"a": "1"}),
    ("a[x]=1&a[y]=2&a[x]=3", {"a": {"x": "3", "y": "2"}}),
]


@pytest.mark.parametrize("qs,expected", CASES)
def test_parse_str_matches_php(qs, expected):
    assert parse_str(qs) == expected


def test_nesting_limit_drops_the_whole_variable():
    assert parse_str("x=1&a[k]=2&" + "a" + "[b]" * 65 + "=1") == {"x": "1"}
    deep = parse_str("a" + "[b]" * 64 + "=1")
    for _ in range(65):
        deep = deep[next(iter(deep))]
    assert deep == "1"


def test_max_vars_stops_reading():
    assert parse_str("a=1&b=2&c=3", max_vars=2) == {"a": "1", "b": "2"}


def test_garbage_never_raises():
    for junk in ["%", "%%%", "[[[]]]=", "a[" * 1000, "\ud800=\udfff", "a=" + "%" * 1000, "a[]" * 500 + "=1"]:
        parse_str(junk)


def test_lone_surrogates_become_replacement_chars():
    value = parse_str("a=\ud800")["a"]
    assert value and set(value) == {"\ufffd"}
    value.encode("utf-8")


def test_to_python_makes_lists_only_for_dense_zero_based_keys():
    parsed = parse_str("a[]=1&a[]=2&b[x]=1&c[1]=1&c[0]=2&d[0][0]=z")
    assert to_python(parsed) == {
        "a": ["1", "2"],
        "b": {"x": "1"},
        "c": {"1": "1", "0": "2"},
        "d": [["z"]],
    }
    assert to_python({}) == []
    assert to_python({"0": {}, "x": [1, {"0": "a"}]}) == {"0": [], "x": [1, ["a"]]}


def test_to_python_refuses_absurd_depth():
    value: dict = {}
    for _ in range(600):
        value = {"k": value}
    with pytest.raises(ValueError):
        to_python(value)


def test_parse_url_command():
    assert parse_url_command("crm.deal.list?filter[>ID]=5&select[]=ID") == (
        "crm.deal.list",
        "filter[>ID]=5&select[]=ID",
    )
    assert parse_url_command("user.get") == ("user.get", "")
    assert parse_url_command("a.b?x=1#frag") == ("a.b", "x=1")
    assert parse_url_command("a.b?x=1?y=2") == ("a.b", "x=1?y=2")


def test_the_plain_name_fast_path_agrees_with_the_full_rules():
    """parse_str takes a shortcut for plain names; it must give what register() gives."""
    import random

    from bitrix_fast.testing.sandbox.phpquery import PhpArray, _decode, plain, register

    def slow(qs):
        track = PhpArray()
        for pair in filter(None, qs.split("&")):
            name, sep, value = pair.partition("=")
            register(track, _decode(name), _decode(value) if sep else "")
        return plain(track)

    names = ["a", "a[b]", "a[b][c]", "a[0]", "a[-1]", "a[05]", "a[]", "a[ b]", "a.b[c]",
             "a b", "__Host-x", "a[b", "a[b][c", "a]b", "a[b]x[c]", "a[[b]]", "-x[1]",
             "filter[>=ID]", "select[0]", "cmd[c0001]", "a[b][]", "x[9223372036854775807]",
             "x[9223372036854775808]", "__x[1]", "a[\tb]"]
    rng = random.Random(1)
    alphabet = "ab0-_[] .>=%"
    names += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
              for _ in range(2000)]
    for name in names:
        qs = f"{name}=1&{name}=2&x[y]=3&{name}[z]=4"
        assert parse_str(qs) == slow(qs), name
