"""Each method's answers: shapes against recorded real responses, paging rules, refusals."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bitrix_fast.testing.sandbox.entities import USER
from bitrix_fast.testing.sandbox.outcome import ApiFault, CallContext
from bitrix_fast.testing.sandbox.store import Store

REAL = Path(__file__).resolve().parent.parent / "fixtures" / "real_responses"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def real(name):
    return json.loads((REAL / name).read_text(encoding="utf-8"))


def batch_result(name):
    """The one command result inside a recorded batch answer."""
    (value,) = real(name)["result"]["result"].values()
    return value


def kind(value):
    """A JSON value's type, for comparing shapes: "1" and "2" agree, "1" and 1 do not."""
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else type(value).__name__


@pytest.fixture(scope="module")
def seeded():
    s = Store()
    s.seed(deals=120, leads=30, contacts=10, companies=5, tasks=120, users=120)
    yield s
    s.close()


@pytest.fixture
def store():
    s = Store()
    yield s
    s.close()


def call(store, method, ctx=None, **params):
    return store.call(method, params, ctx or CallContext())


def refusal(store, method, **params) -> ApiFault:
    with pytest.raises(ApiFault) as info:
        call(store, method, **params)
    return info.value


# -- classic crm.* ---------------------------------------------------------------------------

def test_classic_list_matches_the_recorded_lead_list(seeded):
    recorded = real("crm_lead_list_one_page_success.json")
    out = call(seeded, "crm.lead.list", select=["ID", "TITLE"])
    for ours, theirs in zip(out.result, recorded["result"]):
        assert set(ours) == set(theirs)
        assert {k: kind(v) for k, v in ours.items()} == {k: kind(v) for k, v in theirs.items()}
        assert ours["ID"].isdigit()
    assert kind(out.total) == kind(recorded["total"]) and out.total == 30
    assert out.next is None and "next" not in recorded


def test_classic_values_are_strings_the_way_the_portal_prints_them(seeded):
    row = call(seeded, "crm.deal.get", id=1).result
    assert all(v is None or isinstance(v, str) for v in row.values())
    assert re.fullmatch(r"\d+\.\d\d", row["OPPORTUNITY"])
    assert ISO.match(row["DATE_CREATE"]) and ISO.match(row["BEGINDATE"])
    assert row["CLOSED"] in ("Y", "N")
    assert {"UF_CRM_1700000001", "UF_CRM_1700000002", "UF_CRM_1700000003"} <= set(row)


def test_empty_classic_list_matches_the_recorded_empty_batch_list(seeded):
    recorded = real("batch_list_empty.json")["result"]
    out = call(seeded, "crm.deal.list", filter={"ID": 0})
    assert out.result == batch_result("batch_list_empty.json") == []
    assert out.total == list(recorded["result_total"].values())[0] == 0
    assert out.next is None


def test_fields_match_the_recorded_lead_fields(seeded):
    recorded = real("crm_lead_fields_success.json")["result"]
    ours = call(seeded, "crm.lead.fields").result
    base = {"type", "isRequired", "isReadOnly", "isImmutable", "isMultiple", "isDynamic", "title"}
    real_uf = next(v for k, v in recorded.items() if k.startswith("UF_"))
    for name, meta in ours.items():
        if name.startswith("UF_"):
            assert set(meta) == set(real_uf) and meta["isDynamic"] is True
            assert {k: kind(v) for k, v in meta.items()} == {k: kind(v) for k, v in real_uf.items()}
            continue
        assert base <= set(meta) <= base | {"statusType"}
        if name in recorded:  # a field real leads have too: same type and flags
            for key in ("type", "isRequired", "isReadOnly", "statusType"):
                assert meta.get(key) == recorded[name].get(key), (name, key)


def test_get_and_its_refusals_match_the_recorded_batch(seeded):
    recorded = real("crm_get_batch_mix_success_and_errors.json")["result"]["result_error"]
    assert set(call(seeded, "crm.lead.get", ID="5").result) >= {"ID", "TITLE", "STATUS_ID"}
    assert refusal(seeded, "crm.lead.get", id="abc").body() == recorded[0]
    assert refusal(seeded, "crm.lead.get").body() == recorded[0]
    assert refusal(seeded, "crm.lead.get", id=999999).body() == recorded[1]


def test_add_update_delete_round_trip(store):
    new_id = call(store, "crm.contact.add", fields={
        "NAME": "Ann", "EXPORT": False, "COMPANY_ID": "7x", "NOPE": 1, "ID": 99,
        "DATE_CREATE": "2001-01-01", "BIRTHDATE": "1990-05-04"}).result
    assert kind(new_id) == kind(batch_result("crm_contact_add_batch.json")) and new_id == 1
    row = call(store, "crm.contact.get", id=new_id).result
    assert (row["NAME"], row["EXPORT"], row["COMPANY_ID"]) == ("Ann", "N", "7")
    assert row["BIRTHDATE"] == "1990-05-04T00:00:00+03:00"
    assert not row["DATE_CREATE"].startswith("2001")  # read-only: stamped by the server
    assert row["CREATED_BY_ID"] == row["ASSIGNED_BY_ID"] == "1"

    ctx = CallContext(user_id=7)
    assert call(store, "crm.contact.update", ctx, id=new_id,
                fields={"NAME": None, "EXPORT": "Y"}).result is True
    row = call(store, "crm.contact.get", id=new_id).result
    assert (row["NAME"], row["EXPORT"], row["MODIFY_BY_ID"]) == (None, "Y", "7")

    out = call(store, "crm.contact.delete", id=new_id)
    assert (out.result, out.written) == (True, 1)
    assert refusal(store, "crm.contact.delete", id=new_id).description == "Not found"
    assert refusal(store, "crm.contact.update", id=new_id, fields={}).description == "Not found"
    assert refusal(store, "crm.contact.add", fields="NAME=x").status == 400


@pytest.mark.parametrize("value, stored", [
    (True, "Y"), ("1", "Y"), ("Y", "Y"), (1, "Y"), (False, "N"), ("0", "N"), ("N", "N"), ("", "N"),
])
def test_yes_no_fields_take_php_booleans(store, value, stored):
    new_id = call(store, "crm.deal.add", fields={"TITLE": "t", "CLOSED": value}).result
    assert call(store, "crm.deal.get", id=new_id).result["CLOSED"] == stored


# -- paging -----------------------------------------------------------------------------------

def page(store, method="crm.deal.list", ctx=None, **params):
    out = call(store, method, ctx, **params)
    rows = out.result
    if isinstance(rows, dict):
        (rows,) = rows.values()
    key = "id" if method in ("crm.item.list", "tasks.task.list") else "ID"
    return [int(r[key]) for r in rows], out


def test_classic_start_is_page_aligned(seeded):
    first, out = page(seeded, start=7)
    assert first == list(range(1, 51))
    assert (out.next, out.total, out.counted, out.skipped, out.rows) == (50, 120, 120, 0, 50)
    second, out = page(seeded, start="57x")  # intval("57x") = 57 -> page 2
    assert second == list(range(51, 101)) and out.next == 100 and out.skipped == 50
    last, out = page(seeded, start=100)
    assert last == list(range(101, 121)) and out.next is None and out.total == 120
    assert page(seeded, start="abc")[0] == first


def test_classic_start_past_the_end_returns_page_one_again(seeded):
    again, out = page(seeded, start=500)
    assert again == list(range(1, 51)) and out.next == 50 and out.total == 120
    off = CallContext(classic_out_of_range_page1=False)
    empty, out = page(seeded, ctx=off, start=500)
    assert empty == [] and out.next is None and out.total == 120


def test_start_minus_one_skips_count_and_next(seeded):
    rows, out = page(seeded, start=-1, filter={">ID": 10})
    assert rows == list(range(11, 61))
    assert (out.next, out.total, out.counted, out.skipped) == (None, 0, 0, 0)
    assert page(seeded, ctx=CallContext(minus1_total="omit"), start=-1)[1].total is None
    items, out = page(seeded, "crm.item.list", start=-1, entityTypeId=2)
    assert len(items) == 50 and out.total is None and out.next is None and out.counted == 0
    zero = CallContext(minus1_total="zero")
    assert page(seeded, "tasks.task.list", zero, start="-1")[1].total == 0


def test_engine_list_past_the_end_is_an_empty_page(seeded):
    items, out = page(seeded, "crm.item.list", entityTypeId=2, start=60)
    assert items == list(range(51, 101)) and out.next == 100
    items, out = page(seeded, "crm.item.list", entityTypeId=2, start=1000)
    assert items == [] and out.total == 120 and out.next is None and out.rows == 0


def test_user_get_uses_exact_offsets(seeded):
    users, out = page(seeded, "user.get", start=10)
    assert users == list(range(11, 61)) and out.next == 60 and out.total == 120
    assert out.skipped == 10
    users, out = page(seeded, "user.get", start=110)
    assert users == list(range(111, 121)) and out.next is None


def test_user_get_with_no_rows_is_a_bare_list(seeded):
    for params in ({"start": 500}, {"FILTER": {"ID": 0}}, {"ID": 0}):
        out = call(seeded, "user.get", **params)
        assert (out.result, out.total, out.next) == ([], None, None)


# -- crm.item ----------------------------------------------------------------------------------

def test_item_list_matches_the_recorded_shape(seeded):
    recorded = real("crm_item_list.json")
    out = call(seeded, "crm.item.list", entityTypeId="2", select=["id", "title"])
    assert set(out.result) == set(recorded["result"]) == {"items"}
    for ours in out.result["items"]:
        assert {k: kind(v) for k, v in ours.items()} == {"id": "number", "title": "str"}
        assert isinstance(ours["id"], int)
    assert kind(out.total) == kind(recorded["total"])


def test_item_add_matches_the_recorded_shape(store):
    recorded = batch_result("crm_item_add.json")["item"]
    out = call(store, "crm.item.add", entityTypeId=1,
               fields={"title": "Lead", "opportunity": "19.5", "assignedById": 3, "ID": 9})
    item = out.result["item"]
    for key in set(recorded) & set(item):
        assert kind(item[key]) == kind(recorded[key]), key
    assert {"id", "title", "createdBy", "createdTime", "entityTypeId"} <= set(item)
    assert (item["id"], item["opportunity"], item["assignedById"], item["entityTypeId"]) == (
        1, 19.5, 3, 1)
    assert ISO.match(item["createdTime"]) and out.written == 1


def test_item_get_update_delete(store):
    new_id = call(store, "crm.item.add", entityTypeId=4, fields={"title": "Co"}).result["item"]["id"]
    item = call(store, "crm.item.update", entityTypeId=4, id=new_id,
                fields={"title": "Renamed", "typeId": "PARTNER"}).result["item"]
    assert (item["title"], item["typeId"]) == ("Renamed", "PARTNER")
    assert call(store, "crm.item.get", entityTypeId=4, id=new_id).result["item"]["title"] == "Renamed"
    assert call(store, "crm.company.get", id=new_id).result["COMPANY_TYPE"] == "PARTNER"
    assert call(store, "crm.item.delete", entityTypeId=4, id=new_id).result == []
    missing = refusal(store, "crm.item.get", entityTypeId=4, id=new_id)
    assert (missing.code, missing.status) == ("NOT_FOUND", 400)


@pytest.mark.parametrize("params, code", [
    ({}, "INVALID_ARG_VALUE"), ({"entityTypeId": 777}, "NOT_FOUND"),
    ({"entityTypeId": "abc"}, "NOT_FOUND"),
])
def test_item_entity_type_is_required_and_checked(store, params, code):
    error = refusal(store, "crm.item.list", **params)
    assert (error.code, error.status) == (code, 400)


# -- tasks -----------------------------------------------------------------------------------

def test_task_list_matches_the_recorded_shape_and_defaults_to_id_descending(seeded):
    recorded = real("get_all_tasks.json")[1]["result"]["result"]["cmd0000000000"]["tasks"][0]
    ids, out = page(seeded, "tasks.task.list", select=["ID", "STATUS"])
    assert ids == list(range(120, 70, -1)) and out.next == 50 and out.total == 120
    for task in out.result["tasks"]:
        assert set(task) <= set(recorded)
        assert all(kind(task[k]) == kind(recorded[k]) for k in task)


def test_task_list_filters_and_orders_by_upper_names(seeded):
    ids, _ = page(seeded, "tasks.task.list", filter={">ID": 100, "REAL_STATUS": [2, 3, 4, 5, 6]},
                  order={"ID": "asc"})
    assert ids == list(range(101, 121))
    assert refusal(seeded, "tasks.task.list", filter={"NOPE": 1}).code == "0"


def test_task_add_and_get_match_the_recorded_shape(store):
    recorded = real("single_add.json")["result"]["task"]
    task = call(store, "tasks.task.add", fields={"TITLE": "Call", "RESPONSIBLE_ID": 5}).result["task"]
    for key in set(recorded) & set(task):
        if task[key] is not None and recorded[key] is not None:
            assert kind(task[key]) == kind(recorded[key]), key
    assert (task["id"], task["title"], task["responsibleId"], task["status"]) == ("1", "Call", "5", "2")
    got = call(store, "tasks.task.get", taskId=1, select=["ID", "TITLE"]).result
    assert got == {"task": {"id": "1", "title": "Call"}}
    assert call(store, "tasks.task.get", taskId=2).result == []


@pytest.mark.parametrize("method, params, code", [
    ("tasks.task.add", {"fields": {"DESCRIPTION": "no title"}}, "ERROR_CORE"),
    ("tasks.task.add", {}, "100"),
    ("tasks.task.get", {}, "100"),
    ("tasks.task.get", {"taskId": "x"}, "0"),
])
def test_task_refusals(store, method, params, code):
    assert refusal(store, method, **params).code == code


# -- user.get ---------------------------------------------------------------------------------

def test_user_fields_match_the_recorded_user_fields(seeded):
    recorded = real("user_fields.json")["result"]
    (user,) = call(seeded, "user.get", ID=1).result
    assert set(user) == set(USER.by_name) and set(user) <= set(recorded)
    assert user["ACTIVE"] is True and user["ID"] == "1"
    assert isinstance(user["UF_DEPARTMENT"], list) and ISO.match(user["DATE_REGISTER"])


def test_user_get_filters_top_level_or_in_filter(seeded):
    inactive = {int(u["ID"]) for u in call(seeded, "user.get", ACTIVE=False).result}
    assert inactive and all(call(seeded, "user.get", ID=i).result[0]["ACTIVE"] is False
                            for i in inactive)
    assert {int(u["ID"]) for u in call(seeded, "user.get", filter={"active": "N"}).result} == inactive
    # with FILTER given, top-level keys are not a filter any more
    assert len(call(seeded, "user.get", FILTER={">ID": 115}, ID=1).result) == 5
    assert refusal(seeded, "user.get", FILTER={"NOPE": 1}).status == 400


def test_user_get_sorts_only_with_both_sort_and_order(seeded):
    ids, _ = page(seeded, "user.get", sort="ID", order="desc")
    assert ids == list(range(120, 70, -1))
    assert page(seeded, "user.get", SORT="ID")[0] == list(range(1, 51))
    assert refusal(seeded, "user.get", sort="ID", order="sideways").status == 400


# -- the rest ---------------------------------------------------------------------------------

def test_server_time_is_iso_with_offset(store):
    assert ISO.match(call(store, "server.time").result)


def test_unknown_method(store):
    error = refusal(store, "crm.deal.explode")
    assert (error.code, error.description, error.status) == (
        "ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
