"""The pure typing rules: descriptions read from recorded replies, every reader's accepted and
refused values, column names, rows typed for Python, and the mirror's layout and product-row
planner against fakes."""
from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from bitrix_fast.mirror.layout import Layout
from bitrix_fast.mirror.owners import OwnerFilterIgnored, OwnerGroups
from bitrix_fast.typed import BAD, FieldSpec, describe, spec_for, typed_list
from bitrix_fast.typed.naming import fit, snake, unique
from bitrix_fast.typed.values import (datetime_reader, read_bool, read_date, read_file,
                                      read_int, read_money, read_multifield, read_numeric)

REAL = Path(__file__).resolve().parent / "fixtures" / "real_responses"
MSK = timezone(timedelta(hours=3))


def real(name):
    return json.loads((REAL / name).read_text(encoding="utf-8"))


def test_the_recorded_lead_fields_give_each_field_its_kind():
    specs = describe(real("crm_lead_fields_success.json")["result"])
    kinds = {name: s.kind for name, s in specs.items()}
    assert (kinds["ID"], kinds["OPPORTUNITY"], kinds["OPENED"], kinds["BIRTHDATE"],
            kinds["DATE_CREATE"], kinds["STATUS_ID"], kinds["CURRENCY_ID"],
            kinds["ASSIGNED_BY_ID"], kinds["PHONE"], kinds["COMPANY_ID"], kinds["TITLE"],
            kinds["UF_CRM_1594289659496"], kinds["UF_CRM_1594290129890"]) == (
        "int", "numeric", "bool", "date", "datetime", "status", "currency", "user",
        "multifield", "int", "text", "money", "text")
    assert specs["STATUS_ID"].status_type == "STATUS"
    assert specs["UF_CRM_1594289616952"].title == "Метро"  # the label, not the code
    assert specs["CONTACT_IDS"].multiple and not specs["CONTACT_ID"].multiple


def test_item_fields_enumerations_and_user_fields():
    specs = describe({"fields": {
        "stageId": {"type": "crm_status", "statusType": "DYNAMIC_1032_STAGE_5",
                    "upperName": "STAGE_ID"},
        "ufCrm5_17": {"type": "enumeration", "isMultiple": "Y", "upperName": "UF_CRM_5_17",
                      "items": [{"ID": "81", "VALUE": "Low"}, {"ID": 82, "VALUE": "High"},
                                {"ID": "x", "VALUE": "dropped"}]},
        "ownerType": {"type": "char"}, "taxIncluded": {"type": "char"},
        "mystery": {"type": "resourcebooking"}}})
    assert specs["stageId"].column_stem == "STAGE_ID"
    assert [(i.id, i.value) for i in specs["ufCrm5_17"].items] == [(81, "Low"), (82, "High")]
    assert specs["ufCrm5_17"].multiple
    assert (specs["ownerType"].kind, specs["taxIncluded"].kind, specs["mystery"].kind) == (
        "text", "bool", "text")
    users = describe(real("user_fields.json")["result"], user_fields=True)
    assert (users["ACTIVE"].kind, users["LAST_LOGIN"].kind, users["NAME"].kind,
            users["NAME"].title) == ("bool", "datetime", "text", "Имя")
    tasks = {"CHANGED_DATE": FieldSpec("CHANGED_DATE", "datetime")}
    assert spec_for("changedDate", tasks, "id").kind == "datetime"
    assert spec_for("id", tasks, "id").kind == "int" and spec_for("nope", tasks, "id").kind == "text"


@pytest.mark.parametrize("reader, value, want", [
    (read_int, "37", 37), (read_int, 37.0, 37), (read_int, " -5 ", -5), (read_int, "", None),
    (read_int, None, None), (read_int, "3.5", BAD), (read_int, True, BAD),
    (read_int, str(1 << 63), BAD), (read_int, "12abc", BAD),
    (read_numeric, "1500.00", Decimal("1500.00")), (read_numeric, 1.5, Decimal("1.5")),
    (read_numeric, "1e3", Decimal("1e3")), (read_numeric, "1,5", BAD),
    (read_numeric, float("nan"), BAD), (read_numeric, "", None),
    (read_money, "1500.00|RUB", (Decimal("1500.00"), "RUB")),
    (read_money, "7", (Decimal("7"), None)), (read_money, "|RUB", None),
    (read_money, "12,5 rub", BAD), (read_money, "5|", BAD),
    (read_bool, "Y", True), (read_bool, "N", False), (read_bool, "1", True),
    (read_bool, 0, False), (read_bool, True, True), (read_bool, "yes", BAD),
    (read_bool, 2, BAD), (read_bool, "", None),
    (read_date, "2024-04-19", date(2024, 4, 19)),
    (read_date, "2024-04-19T00:00:00+03:00", date(2024, 4, 19)),
    (read_date, "2024-02-30", BAD), (read_date, "19.04.2024", BAD), (read_date, 5, BAD),
    (read_file, {"id": 17, "showUrl": "/x"}, 17), (read_file, {"ID": "18"}, 18),
    (read_file, "19", 19), (read_file, {"url": "/x"}, BAD), (read_file, [], None),
])
def test_readers(reader, value, want):
    assert reader(value) == want if want is not BAD else reader(value) is BAD


def test_moments_keep_their_offset_and_naive_ones_get_the_portals():
    read = datetime_reader(MSK)
    assert read("2024-05-27T13:55:27+03:00").utcoffset() == timedelta(hours=3)
    assert read("2024-05-27T10:55:27Z") == read("2024-05-27T13:55:27+03:00")
    assert read("2024-05-27T13:55:27").tzinfo is MSK
    assert datetime_reader()("2024-05-27T13:55:27").tzinfo is None
    assert read("27.05.2024 13:55") is BAD and read(1716807327) is BAD


def test_multifield_entries():
    entries = [{"ID": "3", "VALUE_TYPE": "WORK", "VALUE": "+7 1", "TYPE_ID": "PHONE"}]
    assert read_multifield(entries) == (("WORK", "+7 1", 3),)
    assert read_multifield(False) == () and read_multifield("+7") is BAD


def test_column_names():
    assert [snake(n) for n in ("STAGE_ID", "stageId", "assignedById", "UF_CRM_11_1712074666",
                               "ufCrm11_1712074666", "ID", "xmlId", "2fa", "ÄÖ")] == [
        "stage_id", "stage_id", "assigned_by_id", "uf_crm_11_1712074666",
        "uf_crm11_1712074666", "id", "xml_id", "f_2fa", "field"]
    long = "x" * 80
    assert len(fit(long).encode()) == 63 and fit(long) == fit(long) != fit("y" * 80)
    assert unique("title", {"TITLE", "title_2"}) == "title_3"


def test_rows_typed_for_python():
    specs = describe(real("crm_lead_fields_success.json")["result"])
    rows, bad = typed_list([{
        "ID": "5", "OPPORTUNITY": "1500.50", "OPENED": "Y", "DATE_CREATE":
        "2024-05-27T13:55:27+03:00", "BIRTHDATE": "2024-01-02T00:00:00+03:00",
        "UF_CRM_1594289659496": "100|RUB", "CONTACT_IDS": ["1", "x"], "NEW": "kept",
        "PHONE": [{"ID": "3", "VALUE_TYPE": "WORK", "VALUE": "+7", "TYPE_ID": "PHONE"}]}],
        specs)
    assert bad == 1
    assert rows == [{"ID": 5, "OPPORTUNITY": 1500.5, "OPENED": True,
                     "DATE_CREATE": datetime(2024, 5, 27, 13, 55, 27, tzinfo=MSK),
                     "BIRTHDATE": date(2024, 1, 2), "UF_CRM_1594289659496": 100.0,
                     "UF_CRM_1594289659496__currency": "RUB", "CONTACT_IDS": [1, "x"],
                     "NEW": "kept", "PHONE": [{"VALUE_TYPE": "WORK", "VALUE": "+7", "ID": 3}]}]


def test_a_layout_places_fields_once_and_survives_the_state():
    layout = Layout.new("crm_deal", "ID")
    place, adds, child = layout.place(FieldSpec("UF_CRM_1", "money"))
    assert (place.column, adds, child) == ("uf_crm_1", [("uf_crm_1", "numeric"),
                                                        ("uf_crm_1__currency", "text")], False)
    _, adds, child = layout.place(FieldSpec("PHONE", "multifield", multiple=True))
    assert adds == [] and child and layout.child == "crm_deal_multi"
    _, adds, _ = layout.place(FieldSpec("uf_crm_1", "int"))  # another spelling, same stem
    assert adds == [("uf_crm_1_2", "int")]
    assert layout.place_raw("UF_CRM_1") == ("uf_crm_1__raw", "text")
    columns, extra = layout.state()
    again = Layout.from_state("crm_deal", "ID", json.loads(json.dumps(columns)), extra)
    assert again.state() == (columns, extra) and again.places["PHONE"].child_name == "phone"
    with pytest.raises(ValueError, match="multiple must be one of"):
        Layout.new("t", "ID", multiple="csv")


class FakeRows:
    """Owners' product rows; ``ignore_lists`` answers a list of owners with every row."""

    def __init__(self, per_owner, *, ignore_lists=False, seed=1):
        rnd = random.Random(seed)
        self.rows = {}
        n = 0
        for owner in range(1, 401):
            for _ in range(rnd.choice(per_owner)):
                n += 1
                self.rows.setdefault(owner, []).append({"id": n, "ownerType": "D",
                                                        "ownerId": owner})
        self.ignore_lists = ignore_lists

    def answer(self, plan, groups):
        out = []
        for group in groups:
            owner = plan.params(group)["filter"]["=ownerId"]
            wanted = list(self.rows) if isinstance(owner, list) and self.ignore_lists else (
                owner if isinstance(owner, list) else [owner])
            rows = [r for o in wanted for r in self.rows.get(o, [])]
            out.append((len(rows), rows[:50]))
        return out


def read_all(fake, owners=range(1, 401)):
    plan = OwnerGroups(list(owners), "D")
    got = []
    while True:
        groups = plan.next_round()
        if not groups:
            return plan, got
        got.extend(plan.feed(fake.answer(plan, groups)))


def test_owner_groups_read_every_row_once_in_few_commands():
    fake = FakeRows((0, 1, 2, 3))
    plan, got = read_all(fake)
    assert sorted(r["id"] for r in got) == sorted(r["id"] for rs in fake.rows.values()
                                                  for r in rs)
    assert plan.grouped and plan.commands < 400 // 8 and plan.whole == []


def test_owners_with_more_than_a_page_are_split_then_read_whole():
    fake = FakeRows((0, 0, 0, 70))
    plan, got = read_all(fake)
    big = sorted(o for o, rs in fake.rows.items() if len(rs) > 50)
    assert sorted(plan.whole) == big and big
    assert {r["ownerId"] for r in got} == set(fake.rows) - set(big)


def test_a_portal_that_ignores_owner_lists_is_asked_one_owner_each():
    fake = FakeRows((0, 1, 2), ignore_lists=True)
    plan, got = read_all(fake)
    assert not plan.grouped
    assert sorted(r["id"] for r in got) == sorted(r["id"] for rs in fake.rows.values()
                                                  for r in rs)


def test_other_owners_rows_for_one_owner_are_an_error_and_a_refusal_ungroups():
    plan = OwnerGroups([1, 2, 3], "D", grouped=False)
    plan.next_round()
    with pytest.raises(OwnerFilterIgnored):
        plan.feed([(1, [{"ownerType": "D", "ownerId": 9}])] * 3)
    plan = OwnerGroups([1, 2, 3], "D")
    assert plan.next_round() == [(1, 2, 3)]
    plan.refused()
    assert not plan.grouped and plan.next_round() == [(1,), (2,), (3,)]
    plan = OwnerGroups([1], "D")
    plan.next_round()
    with pytest.raises(ValueError, match="without a total"):
        plan.feed([(None, [])])


def test_status_rows_take_semantics_from_extra_when_the_portal_leaves_it_empty():
    from bitrix_fast.mirror.dictionaries import status_rows, status_type

    rows = status_rows([
        {"ENTITY_ID": "DEAL_STAGE_3", "STATUS_ID": "C3:WON", "NAME": "Won", "SORT": "60",
         "SEMANTICS": None, "EXTRA": {"SEMANTICS": "success"}, "CATEGORY_ID": "3"},
        {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "NEW", "NAME": "New", "SORT": "10",
         "SEMANTICS": None, "EXTRA": {"SEMANTICS": "process"}, "CATEGORY_ID": None},
        {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "NEW", "NAME": "again"},  # repeated: dropped
    ])
    assert [(r[1], r[3], r[4], r[5], r[6]) for r in rows] == [
        ("C3:WON", 60, "S", 3, "DEAL_STAGE"), ("NEW", 10, None, None, "DEAL_STAGE")]
    assert status_type("DYNAMIC_1032_STAGE_5") == "DYNAMIC_1032_STAGE"
    assert status_type("SOURCE") == "SOURCE"
