"""Filters, order and select of list methods, checked on a handful of hand-made deals."""
from __future__ import annotations

import pytest

from bitrix_fast.testing.sandbox.outcome import ApiFault, CallContext
from bitrix_fast.testing.sandbox.dialects import CLASSIC, TASK
from bitrix_fast.testing.sandbox.entities import DEAL, TASK as TASKS
from bitrix_fast.testing.sandbox.query import compile_order, split_key
from bitrix_fast.testing.sandbox.store import Store

ROWS = [
    {"TITLE": "Alpha", "OPPORTUNITY": 100, "CLOSED": "N", "STAGE_ID": "NEW",
     "BEGINDATE": "2024-03-01"},
    {"TITLE": "Beta", "OPPORTUNITY": 200, "CLOSED": "Y", "STAGE_ID": "WON", "COMMENTS": "x",
     "BEGINDATE": "2024-03-02"},
    {"TITLE": "alphabet", "OPPORTUNITY": 300, "CLOSED": "N", "STAGE_ID": "LOSE", "COMMENTS": ""},
    {"TITLE": "Gamma_1", "OPPORTUNITY": 400, "CLOSED": "Y", "STAGE_ID": "NEW",
     "COMMENTS": "note 50%"},
    {"TITLE": "Delta", "OPPORTUNITY": None, "CLOSED": "N", "STAGE_ID": "NEW"},
]


@pytest.fixture(scope="module")
def store():
    s = Store()
    for row in ROWS:
        s.insert("deal", row)
    yield s
    s.close()


def ids(store, filter_=None, **params):
    params = {"filter": filter_, **params} if filter_ is not None else params
    out = store.call("crm.deal.list", params, CallContext())
    return [int(row["ID"]) for row in out.result]


def fault(store, method="crm.deal.list", **params) -> ApiFault:
    with pytest.raises(ApiFault) as info:
        store.call(method, params, CallContext())
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize("key, expected", [
    (">=ID", (">=", "ID")), ("!=%TITLE", ("!=%", "TITLE")), ("!%=TITLE", ("!%=", "TITLE")),
    ("=%TITLE", ("=%", "TITLE")), ("%TITLE", ("%", "TITLE")), ("!@ID", ("!@", "ID")),
    ("ID", ("", "ID")), ("~ID", ("", "~ID")),
])
def test_split_key_reads_the_longest_operator(key, expected):
    assert split_key(key) == expected


@pytest.mark.parametrize("filter_, expected", [
    ({"ID": "3"}, {3}),
    ({"ID": "3x"}, {3}),               # PHP intval: the leading integer
    ({">ID": "abc"}, {1, 2, 3, 4, 5}),  # intval("abc") is 0
    ({"=ID": 3}, {3}),
    ({">ID": "3"}, {4, 5}),           # "3" compares as the integer 3, not the string
    ({">=ID": 4}, {4, 5}),
    ({"<ID": "10"}, {1, 2, 3, 4, 5}),  # a string comparison would put "10" before "2"
    ({"<=ID": 2}, {1, 2}),
    ({"!ID": 1}, {2, 3, 4, 5}),
    ({"!=ID": 1}, {2, 3, 4, 5}),
    ({"@ID": [2, "4"]}, {2, 4}),
    ({"@ID": "1, 3"}, {1, 3}),
    ({"@ID": []}, set()),
    ({"!@ID": [1, 2]}, {3, 4, 5}),
    ({"ID": [1, 5]}, {1, 5}),          # a list on an equality means IN
    ({"!ID": [1, 5]}, {2, 3, 4}),
    ({"%TITLE": "alpha"}, {1, 3}),
    ({"%TITLE": "_"}, {4}),            # LIKE wildcards in the value are literal
    ({"%COMMENTS": "50%"}, {4}),
    ({"=%TITLE": "Al%"}, {1, 3}),
    ({"%=TITLE": "%a"}, {1, 2, 5}),
    ({"!%TITLE": "alpha"}, {2, 4, 5}),
    ({"!=%TITLE": "%a"}, {3, 4}),
    ({"!%=TITLE": "%a"}, {3, 4}),
    ({"COMMENTS": ""}, {1, 3, 5}),     # empty means empty or NULL
    ({"COMMENTS": False}, {1, 3, 5}),
    ({"!COMMENTS": ""}, {2, 4}),
    ({"!COMMENTS": "x"}, {1, 3, 4, 5}),  # NULLs are "not x" too
    ({"OPPORTUNITY": ""}, {5}),
    ({">OPPORTUNITY": "150.5"}, {2, 3, 4}),
    ({"CLOSED": True}, {2, 4}),
    ({"CLOSED": "1"}, {2, 4}),
    ({"CLOSED": "Y"}, {2, 4}),
    ({"CLOSED": "N"}, {1, 3, 5}),
    ({"CLOSED": 0}, {1, 3, 5}),
    ({"STAGE_ID": "NEW", "CLOSED": "N"}, {1, 5}),
    ({"BEGINDATE": "2024-03-01"}, {1}),
    ({"BEGINDATE": "2024-02-29T21:00:00Z"}, {1}),  # the same instant in another zone
    ({">BEGINDATE": "2024-03-01T12:00:00+03:00"}, {2}),
    ({"<DATE_CREATE": "2001-01-01"}, set()),
    ({"0": {"LOGIC": "OR", "ID": 1, "TITLE": "Beta"}}, {1, 2}),
    ({"0": {"logic": "OR", "0": {"ID": 5}, "1": {"@ID": [3, 4]}}, ">ID": 3}, {4, 5}),
    ([], {1, 2, 3, 4, 5}),
    ({}, {1, 2, 3, 4, 5}),
])
def test_filter_operators(store, filter_, expected):
    assert set(ids(store, filter_)) == expected


@pytest.mark.parametrize("filter_", [{"~ID": 1}, {"?TITLE": "x"}, {"><ID": [1, 2]}, {"::X": 1}])
def test_unknown_operator_is_refused(store, filter_):
    assert fault(store, filter=filter_).description == "Filter operation not allowed"


@pytest.mark.parametrize("filter_", [
    {">ID": [1, 2]}, {"ID": {"a": 1}}, {"@ID": [[1]]}, {"%TITLE": ["a"]},
    {">DATE_CREATE": "yesterday"},
])
def test_value_of_the_wrong_shape_is_refused(store, filter_):
    assert "has invalid value" in fault(store, filter=filter_).description


def test_unknown_field_is_refused_by_name(store):
    error = fault(store, filter={">=NOPE": 1})
    assert (error.code, error.description) == (
        "", "Invalid filter: field 'NOPE' is not allowed in filter")


def test_filter_that_is_not_an_array_is_refused(store):
    assert fault(store, filter="ID=1").description == "Parameter 'filter' must be array."


def test_default_order_is_id_ascending(store):
    assert ids(store) == [1, 2, 3, 4, 5]


def test_order_by_a_field_breaks_ties_by_id_ascending(store):
    assert ids(store, order={"CLOSED": "desc"}) == [2, 4, 1, 3, 5]
    assert ids(store, order={"STAGE_ID": "ASC"}) == [3, 1, 4, 5, 2]


def test_order_sql_always_ends_with_the_id_tie_break():
    assert compile_order(CLASSIC, DEAL, {"TITLE": "asc"}) == '"TITLE" ASC, "ID" ASC'
    assert compile_order(CLASSIC, DEAL, {"ID": "desc"}) == '"ID" DESC'
    assert compile_order(TASK, TASKS, None) == '"ID" DESC'
    assert compile_order(TASK, TASKS, {"REAL_STATUS": "DESC"}) == '"STATUS" DESC, "ID" ASC'


def test_order_by_id_descending(store):
    assert ids(store, ORDER={"ID": "DESC"}) == [5, 4, 3, 2, 1]


@pytest.mark.parametrize("order, message", [
    ({"ID": "UP"}, "Order direction should be one of {ASC|DESC}"),
    ({"NOPE": "ASC"}, "Invalid order: field 'NOPE' is not allowed in order"),
    ("ID", "Parameter 'order' must be array."),
])
def test_bad_order_is_refused(store, order, message):
    assert fault(store, order=order).description == message


def keys(store, select, method="crm.deal.list", **params):
    out = store.call(method, {"select": select, **params}, CallContext())
    rows = out.result["items"] if method == "crm.item.list" else out.result
    return set(rows[0])


def test_default_select_is_every_standard_field(store):
    chosen = keys(store, None)
    assert {"ID", "TITLE", "STAGE_ID", "DATE_CREATE"} <= chosen
    assert not any(k.startswith("UF_") for k in chosen)
    assert keys(store, ["*"]) == chosen


def test_uf_star_selects_the_custom_fields(store):
    assert keys(store, ["ID", "UF_*"]) == {"ID"} | {f"UF_CRM_170000000{n}" for n in range(1, 9)}


def test_unknown_select_names_are_ignored(store):
    assert keys(store, ["TITLE", "NOPE"]) == {"TITLE"}
    assert keys(store, ["NOPE"]) == {"ID"}


def test_select_that_is_not_an_array_is_refused(store):
    assert fault(store, select="ID").description == "Parameter 'select' must be array."


def test_item_select_uses_camel_case_and_star_includes_custom_fields(store):
    chosen = keys(store, ["*"], "crm.item.list", entityTypeId=2)
    assert {"id", "title", "stageId", "assignedById", "ufCrm_1700000001"} <= chosen
    assert keys(store, ["id", "TITLE"], "crm.item.list", entityTypeId=2) == {"id"}


def test_item_filter_and_order_use_camel_case(store):
    out = store.call("crm.item.list", {"entityTypeId": 2, "filter": {"@id": [1, 2, 3]},
                                       "order": {"id": "DESC"}, "select": ["id"]},
                     CallContext())
    assert [row["id"] for row in out.result["items"]] == [3, 2, 1]
    error = fault(store, "crm.item.list", entityTypeId=2, filter={">ID": 1})
    assert error.code == "INVALID_ARG_VALUE"
