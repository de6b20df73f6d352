"""Writes safe to repeat, sans-I/O: the repeat-safety table, key fields, lookups by key, the
settling clock, and when a record already holds an upsert's values."""
from __future__ import annotations

import pytest

from bitrix_fast.errors import ApiError, ListingError, ValidationError
from bitrix_fast.writes.safe.compare import same, unchanged
from bitrix_fast.writes.safe.keys import KeySpec
from bitrix_fast.writes.safe.lookup import KEYS_PER_COMMAND, Lookup, Query
from bitrix_fast.writes.safe.settle import Decision, Doubt, Settler
from bitrix_fast.writes.safe.table import Treatment, is_not_found, treatment

# -- the table ----------------------------------------------------------------------------


@pytest.mark.parametrize("method,params,keyed,v3,expected", [
    ("crm.deal.list", {}, False, False, Treatment.READ),
    ("crm.deal.update", {"id": 1, "fields": {"TITLE": "x"}}, False, False, Treatment.RESEND),
    ("crm.deal.productrows.set", {"id": 1, "rows": []}, False, False, Treatment.RESEND),
    ("tasks.task.update", {"taskId": 1, "fields": {"TITLE": "x"}}, False, False,
     Treatment.RESEND),
    ("crm.contact.update", {"id": 1, "fields": {"PHONE": [{"VALUE": "+7"}]}}, False, False,
     Treatment.IN_DOUBT),
    ("crm.contact.update", {"id": 1, "fields": {"PHONE": [{"ID": 4, "VALUE": "+7"}]}},
     False, False, Treatment.RESEND),
    ("crm.deal.delete", {"id": 1}, False, False, Treatment.DELETE),
    ("crm.deal.add", {"fields": {}}, True, False, Treatment.SETTLE),
    ("crm.deal.add", {"fields": {}}, False, False, Treatment.IN_DOUBT),
    ("crm.timeline.comment.add", {"fields": {}}, False, False, Treatment.IN_DOUBT),
    ("im.notify.system.add", {}, False, False, Treatment.IN_DOUBT),
    ("bizproc.workflow.start", {}, False, False, Treatment.IN_DOUBT),
    ("tasks.task.add", {"fields": {}}, False, True, Treatment.IDEMPOTENT),
    ("tasks.task.delete", {"id": 1}, False, True, Treatment.IDEMPOTENT),
    ("tasks.task.list", {}, False, True, Treatment.READ),
])
def test_each_write_has_its_treatment(method, params, keyed, v3, expected):
    assert treatment(method, params, keyed=keyed, v3=v3) is expected


def test_not_found_is_recognised_in_each_family_and_nothing_else_is():
    assert is_not_found(ApiError("", "Not found", status=400))
    assert is_not_found(ApiError("NOT_FOUND", "Element not found", status=400))
    assert is_not_found(ApiError("BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION", "x"))
    assert not is_not_found(ApiError("ERROR_METHOD_NOT_FOUND", "Method not found!"))
    assert not is_not_found(ValidationError("BITRIX_REST_V3_EXCEPTION_VALIDATION_X", "id"))
    assert not is_not_found(ApiError("", "ID is not defined or invalid."))


# -- keys ---------------------------------------------------------------------------------

def test_keys_take_add_methods_of_crm_families_with_names_the_portal_knows():
    spec = KeySpec.for_add("crm.deal.add", "ORIGIN_ID")
    assert (spec.list, spec.update, spec.id_field, spec.filter_id) == \
        ("crm.deal.list", "crm.deal.update", "ID", "ID")
    item = KeySpec.for_add("crm.item.add", "originId")
    assert (item.list, item.id_field) == ("crm.item.list", "id")
    for method, field, words in [("crm.deal.update", "ORIGIN_ID", "add methods"),
                                 ("tasks.task.add", "ORIGIN_ID", "keys work for"),
                                 ("crm.deal.add", "origin_id", "UPPER_CASE"),
                                 ("crm.item.add", "ORIGIN_ID", "camelCase"),
                                 ("crm.deal.add", "A B", "field name")]:
        with pytest.raises(ValueError, match=words):
            KeySpec.for_add(method, field)


def test_every_item_needs_its_own_key_value():
    spec = KeySpec.for_add("crm.deal.add", "ORIGIN_ID")
    assert spec.values("crm.deal.add", [{"fields": {"ORIGIN_ID": "a"}},
                                        {"FIELDS": {"ORIGIN_ID": 17}}]) == ["a", "17"]
    bad = [([{"fields": {"TITLE": "x"}}], "hold no 'ORIGIN_ID'"),
           ([{"fields": {"origin_id": "a"}}], "hold no 'ORIGIN_ID'"),
           ([{"fields": {"ORIGIN_ID": " "}}], "non-empty"),
           ([{"fields": {"ORIGIN_ID": True}}], "non-empty"),
           ([{"fields": {"ORIGIN_ID": 17}}, {"fields": {"ORIGIN_ID": "17"}}],
            "items 0 and 1 hold the same ORIGIN_ID '17'")]
    for items, words in bad:
        with pytest.raises(ValueError, match=words):
            spec.values("crm.deal.add", items)
    smart = KeySpec.for_add("crm.item.add", "originId")
    assert smart.values("crm.item.add", [{"entityTypeId": 1036, "fields": {"originId": "a"}},
                                         {"entityTypeId": 1038, "fields": {"originId": "a"}}])
    assert smart.record_id({"item": {"id": 9}}) == 9 and spec.record_id(12) == 12
    assert spec.record_id(None) is None


# -- lookups --------------------------------------------------------------------------------

def test_a_lookup_asks_fifty_keys_a_command_and_pages_past_the_last_id():
    spec = KeySpec.for_add("crm.deal.add", "ORIGIN_ID")
    lookup = Lookup(spec, ["TITLE", "ORIGIN_ID"])
    lookup.ask((), [f"k{n}" for n in range(120)])
    assert lookup.waiting == 3
    first = lookup.next_query()
    assert first is not None and len(first.keys) == KEYS_PER_COMMAND
    command = lookup.command(first, "q0")
    assert command.method == "crm.deal.list"
    assert command.params == {"filter": {"@ORIGIN_ID": list(first.keys), ">ID": 0},
                              "order": {"ID": "ASC"}, "select": ["ID", "ORIGIN_ID", "TITLE"],
                              "start": -1}
    # A short page is no proof of the end: the query is asked again past its last ID.
    assert lookup.answer(first, [{"ID": "5", "ORIGIN_ID": "k0"},
                                 {"ID": "9", "ORIGIN_ID": "k3"}]) == []
    again = lookup.next_query()
    assert again == Query((), first.keys, 9)
    found = lookup.answer(again, [])
    assert dict((key, [r["ID"] for r in rows]) for _, key, rows in found)["k0"] == ["5"]
    assert {key for _, key, rows in found if not rows} == set(first.keys) - {"k0", "k3"}


@pytest.mark.parametrize("rows,words", [
    ([{"ID": "5", "ORIGIN_ID": "other"}], "the filter was ignored"),
    ([{"ID": "5", "ORIGIN_ID": "k0"}, {"ID": "3", "ORIGIN_ID": "k1"}], "order was ignored"),
    ([{"ID": "5"}], "no ORIGIN_ID"),
    ([{"ORIGIN_ID": "k0"}], "has no ID"),
])
def test_a_page_that_contradicts_the_lookup_raises_and_takes_nothing(rows, words):
    lookup = Lookup(KeySpec.for_add("crm.deal.add", "ORIGIN_ID"))
    lookup.ask((), ["k0", "k1"])
    query = lookup.next_query()
    with pytest.raises(ListingError, match=words):
        lookup.answer(query, rows)
    assert lookup.fail(query) == [((), "k0"), ((), "k1")]
    assert lookup.idle


def test_crm_item_lookups_name_the_id_in_camel_case_and_keep_the_scope():
    lookup = Lookup(KeySpec.for_add("crm.item.add", "originId"))
    lookup.ask((("entityTypeId", 1036),), ["a"])
    command = lookup.command(lookup.next_query(), "q0")
    assert command.params["entityTypeId"] == 1036
    assert command.params["filter"] == {"@originId": ["a"], ">id": 0}
    assert command.params["order"] == {"id": "ASC"}


# -- settling -----------------------------------------------------------------------------

def test_an_absent_add_is_resent_only_after_a_second_read_past_the_cut():
    settler = Settler(75.0, max_sends=2)
    settler.doubt(Doubt(3, (), "k", sent_at=100.0, error=RuntimeError("504")))
    assert [d.index for d in settler.due(now=101.0)] == [3]
    decision, _ = settler.decide((), "k", [])
    assert decision is Decision.WAIT and settler.next_due() == 175.0
    assert settler.due(now=174.9) == []
    (doubt,) = settler.due(now=175.0)
    decision, doubt = settler.decide((), "k", [])
    assert decision is Decision.RESEND and settler.empty
    doubt.sends, doubt.absent_once, doubt.sent_at = 2, False, 200.0
    settler.doubt(doubt)
    settler.due(200.0)
    assert settler.decide((), "k", [])[0] is Decision.WAIT
    settler.due(275.0)
    assert settler.decide((), "k", [])[0] is Decision.GIVE_UP


def test_a_found_add_is_created_and_two_records_are_a_conflict():
    settler = Settler(60.0, max_sends=5)
    for index, key in enumerate("ab"):
        settler.doubt(Doubt(index, (), key, sent_at=0.0, error=RuntimeError()))
    settler.due(0.0)
    assert settler.decide((), "a", [7])[0] is Decision.FOUND
    assert settler.decide((), "b", [7, 8])[0] is Decision.CONFLICT
    assert settler.empty


# -- unchanged records ------------------------------------------------------------------------

@pytest.mark.parametrize("sent,stored", [
    ("Deal 1", "Deal 1"), (100, "100.00"), ("100", "100.00"), (2.5, 2.5), (True, "Y"),
    (False, "N"), ("Y", True), ("", None), (None, ""),
    ("2024-05-01", "2024-05-01T00:00:00+03:00"),
    ("2024-05-01T10:00:00+03:00", "2024-05-01T07:00:00+00:00"),
    ([{"VALUE": "+7 900", "VALUE_TYPE": "WORK"}],
     [{"ID": "3", "VALUE": "+7 900", "VALUE_TYPE": "WORK", "TYPE_ID": "PHONE"}]),
])
def test_values_the_portal_prints_its_own_way_are_the_same(sent, stored):
    assert same(sent, stored)


@pytest.mark.parametrize("sent,stored", [
    ("Deal 1", "Deal 2"), ("00123", "123"), (100, "100.01"), (True, "N"), ("x", None),
    ("2024-05-01", "2024-05-01T10:00:00+03:00"), ([1, 2], [1]), ({"VALUE": "a"}, "a"),
    (1, None), ("Y", "maybe"),
])
def test_a_doubt_is_a_difference(sent, stored):
    assert not same(sent, stored)


def test_an_item_is_unchanged_only_when_every_field_is_held():
    record = {"ID": "5", "TITLE": "a", "OPPORTUNITY": "10.00"}
    assert unchanged({"TITLE": "a", "OPPORTUNITY": 10}, record)
    assert not unchanged({"TITLE": "a", "COMMENTS": "new"}, record)


def test_the_guide_table_says_what_the_code_does():
    """Every method the guide's table names is treated as the table says."""
    from pathlib import Path

    guide = (Path(__file__).resolve().parent.parent / "docs" / "guides"
             / "writes-safe-to-repeat.rst").read_text("utf-8")
    table = guide.split("What is safe to repeat", 1)[1].split("REST 3.0\n", 1)[0]
    claims = {
        Treatment.RESEND: ["crm.deal.update", "tasks.task.update", "crm.deal.productrows.set"],
        Treatment.DELETE: ["crm.deal.delete", "crm.item.delete"],
        Treatment.IN_DOUBT: ["crm.timeline.comment.add", "im.message.add",
                             "bizproc.workflow.start"],
    }
    for expected, names in claims.items():
        for name in names:
            assert f"``{name}``" in table, name
            assert treatment(name, {"fields": {"TITLE": "x"}}) is expected, name
    assert treatment("crm.deal.add", {}, keyed=True) is Treatment.SETTLE
    assert treatment("tasks.task.add", {}, v3=True) is Treatment.IDEMPOTENT
