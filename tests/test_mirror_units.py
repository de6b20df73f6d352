"""The mirror's pure parts: the range-count deletion check against a fake portal, table
names, column kinds and values, the listing's parameters, select growth."""
from __future__ import annotations

import bisect
import random

import pytest
from hypothesis import given, settings, strategies as st

from bitrix_fast.mirror.deletions import RangeCheck, RangeFilterIgnored
from bitrix_fast.mirror.fields import CONVERTERS, describe, fields_call, kind_of
from bitrix_fast.mirror.run import merge_select
from bitrix_fast.mirror.spec import Listing, column_name, table_name
from bitrix_fast.mirror.connect import open_store


class FakePortal:
    """Answers counted first pages over a sorted list of IDs; ``overstate`` adds to every
    non-zero total (a COUNT over joins), ``ignore_range`` answers as if no range was asked."""

    def __init__(self, ids, *, overstate=0, ignore_range=False):
        self.ids = sorted(ids)
        self.overstate = overstate
        self.ignore_range = ignore_range
        self.requests = 0

    def answer(self, spans):
        self.requests += -(-len(spans) // 50)
        out = []
        for span in spans:
            lo, hi = (0, 1 << 62) if self.ignore_range else (span.lo, span.hi)
            a, b = bisect.bisect_left(self.ids, lo), bisect.bisect_left(self.ids, hi)
            total = b - a
            out.append((total + (self.overstate if total else 0), self.ids[a:min(b, a + 50)]))
        return out


def run_check(local, portal):
    check = RangeCheck(sorted(local))
    while True:
        spans = check.next_round()
        if not spans:
            return check
        check.feed(portal.answer(spans))


def test_nothing_deleted_costs_one_request_whatever_the_size():
    local = range(1, 1_000_001)
    portal = FakePortal(local)
    check = run_check(local, portal)
    assert check.gone == [] and check.missing == [] and portal.requests == 1


def test_scattered_deletions_are_all_found_and_nothing_else():
    rnd = random.Random(5)
    local = list(range(1, 20_001))
    deleted = set(rnd.sample(local, 30))
    portal = FakePortal([i for i in local if i not in deleted])
    check = run_check(local, portal)
    assert set(check.gone) == deleted and check.missing == []
    assert portal.requests <= 6  # one round of 50 counts, then only the ranges that differ


def test_deleting_the_highest_id_and_the_lowest():
    local = list(range(10, 5010))
    portal = FakePortal(local[1:-1])
    check = run_check(local, portal)
    assert sorted(check.gone) == [10, 5009]


def test_a_row_deleted_and_another_added_in_the_same_range_are_both_seen():
    # Counts alone would balance out; the added row is local because changes were applied
    # first, so the range differs and its page names both.
    local = list(range(1, 3001)) + [3001]
    portal = FakePortal([i for i in local if i != 1500])
    check = run_check(local, portal)
    assert check.gone == [1500]


def test_a_row_the_table_lacks_is_reported_missing():
    local = [i for i in range(1, 2001) if i != 777]
    portal = FakePortal(range(1, 2001))
    check = run_check(local, portal)
    assert check.missing == [777] and check.gone == []


def test_a_listing_that_became_empty():
    local = list(range(1, 100_001))
    portal = FakePortal([])
    check = run_check(local, portal)
    assert len(check.gone) == 100_000 and portal.requests == 1


def test_dense_deletions_read_ids_instead_of_bisecting():
    rnd = random.Random(2)
    local = list(range(1, 100_001))
    deleted = set(rnd.sample(local, 5000))
    portal = FakePortal([i for i in local if i not in deleted])
    check = run_check(local, portal)
    assert set(check.gone) == deleted
    assert portal.requests <= 45  # about every ID once (2,500 per request), not 5,000 searches


def test_an_overstated_count_costs_commands_never_rows():
    local = list(range(1, 3001))
    portal = FakePortal([i for i in local if i != 42], overstate=3)
    check = run_check(local, portal)
    assert check.gone == [42]


def test_a_method_that_ignores_the_id_range_is_refused():
    local = list(range(1, 3001))
    with pytest.raises(RangeFilterIgnored):
        run_check(local, FakePortal(local[:-1], ignore_range=True))


def test_feed_must_answer_every_range():
    check = RangeCheck([1, 2, 3])
    check.next_round()
    with pytest.raises(ValueError):
        check.feed([])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 3000), unique=True, max_size=400),
       st.lists(st.integers(1, 3000), unique=True, max_size=400),
       st.integers(0, 2))
def test_the_check_finds_exactly_the_difference(local, portal_ids, overstate):
    portal = FakePortal(portal_ids, overstate=overstate)
    check = run_check(local, portal)
    local_set, portal_set = set(local), set(portal_ids)
    assert set(check.gone) <= local_set - portal_set  # never a row that exists
    if not overstate:
        assert set(check.gone) == local_set - portal_set
        assert set(check.missing) == {i for i in portal_set - local_set
                                      if local and min(local) <= i <= max(local)}


# -- names, kinds, values -----------------------------------------------------------------------

@pytest.mark.parametrize("method, params, name", [
    ("crm.deal.list", {}, "crm_deal"),
    ("crm.item.list", {"entityTypeId": 1032}, "crm_item_1032"),
    ("tasks.task.list", {}, "tasks_task"),
    ("user.get", {}, "user"),
    ("task.elapseditem.getlist", {}, "task_elapseditem"),
])
def test_table_names(method, params, name):
    assert table_name(method, params) == name


def test_long_field_names_fit_postgresql():
    field = "UF_CRM_" + "X" * 80
    name = column_name(field)
    assert len(name.encode()) <= 63 and name != column_name(field + "Y")
    assert column_name("TITLE") == "TITLE"


def test_field_kinds_from_a_fields_description():
    kinds = describe({
        "ID": {"type": "integer"}, "OPPORTUNITY": {"type": "double"},
        "DATE_MODIFY": {"type": "datetime"}, "BEGINDATE": {"type": "date"},
        "UF_FLAG": {"type": "boolean"}, "PHONE": {"type": "crm_multifield", "isMultiple": True},
        "CONTACT_IDS": {"type": "crm_contact", "isMultiple": True},
        "STAGE_ID": {"type": "crm_status"},
    })
    assert kinds == {"id": "int", "opportunity": "real", "datemodify": "datetime",
                     "begindate": "date", "ufflag": "bool", "phone": "json",
                     "contactids": "json", "stageid": "text"}
    # tasks describe CHANGED_DATE and answer changedDate
    tasks = describe({"fields": {"CHANGED_DATE": {"type": "datetime"}}})
    assert kind_of("changedDate", tasks, "id") == "datetime"
    assert kind_of("id", {}, "id") == "int" and kind_of("UNKNOWN", kinds, "ID") == "text"


def test_fields_methods():
    assert fields_call("crm.deal.list", {}) == ("crm.deal.fields", {})
    assert fields_call("crm.item.list", {"entityTypeId": 7}) == ("crm.item.fields",
                                                                 {"entityTypeId": 7})
    assert fields_call("tasks.task.list", {}) == ("tasks.task.getfields", {})
    assert fields_call("crm.address.list", {})[0] == "crm.address.fields"
    assert fields_call("lists.element.get", {}) is None


@pytest.mark.parametrize("kind, value, stored", [
    ("int", "42", 42), ("int", "", None), ("int", 7.0, 7), ("int", "7x", "7x"),
    ("real", "11483.82", 11483.82), ("real", None, None),
    ("bool", "Y", True), ("bool", "N", False), ("bool", True, True), ("bool", "0", False),
    ("date", "2024-01-15T00:00:00+03:00", "2024-01-15"), ("date", "", None),
    ("datetime", "2024-01-15T13:55:27+03:00", "2024-01-15T13:55:27+03:00"),
    ("json", [{"VALUE": "+7 900", "VALUE_TYPE": "WORK"}], '[{"VALUE":"+7 900","VALUE_TYPE":"WORK"}]'),
    ("json", None, None),
    ("text", "abc", "abc"), ("text", [1, 2], "[1,2]"), ("text", 5, "5"), ("text", True, "true"),
])
def test_values_fit_their_kind(kind, value, stored):
    assert CONVERTERS[kind](value) == stored


# -- the listing ---------------------------------------------------------------------------------

def test_listing_params_for_reading_changes_and_counting():
    listing = Listing.build("crm.deal.list", filter={"CATEGORY_ID": 0}, select=["TITLE"])
    assert listing.select == ("ID", "TITLE") and listing.incremental
    assert listing.read_params() == {"filter": {"CATEGORY_ID": 0}, "select": ["ID", "TITLE"]}
    assert listing.changes_params("2024-05-01T10:00:00+03:00")["filter"] == {
        "CATEGORY_ID": 0, ">=DATE_MODIFY": "2024-05-01T10:00:00+03:00"}
    assert listing.count_params(1, 5001) == {
        "filter": {"CATEGORY_ID": 0, ">=ID": 1, "<ID": 5001}, "select": ["ID"]}
    item = Listing.build("crm.item.list", params={"entityTypeId": 1032})
    assert item.table == "crm_item_1032"
    assert item.count_params(1, 2)["filter"] == {">=id": 1, "<id": 2}
    assert item.changes_params("2024-05-01T10:00:00+03:00")["filter"] == {
        ">=updatedTime": "2024-05-01T10:00:00+03:00"}
    tasks = Listing.build("tasks.task.list", select=["TITLE"])
    assert tasks.select == ("ID", "TITLE") and tasks.changes_params("x")["filter"] == {
        ">=CHANGED_DATE": "x"}


def test_the_later_of_two_lower_bounds_on_the_modification_time():
    listing = Listing.build("crm.deal.list", filter={">=DATE_MODIFY": "2030-01-01T00:00:00+03:00"})
    assert listing.changes_params("2024-05-01T10:00:00+03:00")["filter"] == {
        ">=DATE_MODIFY": "2030-01-01T00:00:00+03:00"}
    assert listing.changes_params("2031-05-01T10:00:00+03:00")["filter"] == {
        ">=DATE_MODIFY": "2031-05-01T10:00:00+03:00"}
    with pytest.raises(ValueError, match="ISO 8601"):
        Listing.build("crm.deal.list", filter={">=DATE_MODIFY": "01.01.2024"}).changes_params(
            "2024-05-01T10:00:00+03:00")


def test_listings_that_cannot_be_read_by_changes_are_read_whole():
    assert not Listing.build("user.get").incremental  # no modification field
    assert not Listing.build("crm.activity.list").incremental
    assert not Listing.build("crm.deal.list", filter={">ID": 100}).incremental  # pins IDs


@pytest.mark.parametrize("kwargs, error", [
    ({"select": "ID,TITLE"}, TypeError),
    ({"params": {"order": {"ID": "DESC"}}}, ValueError),
    ({"params": {"filter": {}}, "filter": {}}, ValueError),
    ({"table": "bad name"}, ValueError),
    ({"table": "bitrix_fast_mirror"}, ValueError),
    ({"params": {"start": 50}}, ValueError),
])
def test_bad_arguments_are_refused_before_anything_is_sent(kwargs, error):
    with pytest.raises(error):
        Listing.build("crm.deal.list", **kwargs)


def test_select_only_grows():
    assert merge_select(("ID", "TITLE"), ("ID", "TITLE")) == ("ID", "TITLE")
    assert merge_select(("ID", "TITLE"), ("ID",)) == ("ID", "TITLE")
    assert merge_select(("ID", "TITLE"), ("ID", "STAGE_ID")) == ("ID", "TITLE", "STAGE_ID")
    assert merge_select(None, None) is None
    assert merge_select(None, ("ID", "UF_*")) == ("*", "ID", "UF_*")


@pytest.mark.parametrize("url", ["", "mysql://x/y", "sqlite://relative.db", "sqlite:///:memory:"])
def test_database_urls_that_are_refused(url):
    with pytest.raises(ValueError):
        open_store(url)


def test_database_urls(tmp_path):
    assert open_store("sqlite:///crm.sqlite").path == "crm.sqlite"
    assert open_store("sqlite:////var/x.sqlite").path == "/var/x.sqlite"
    assert open_store(str(tmp_path / "a.db")).path == str(tmp_path / "a.db")
    assert open_store("postgresql://u@h/db").name == "postgresql"
