"""The typed mirror as a BI tool reads it, on SQLite and PostgreSQL: money summed by stage
name and deals counted per responsible user in plain SQL, column types, enumeration labels,
multiple values, files, values that do not parse, a field added on the portal, and the
dictionaries following the portal's renames."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.mirror import sync
from mirror_db import db, number  # noqa: F401  (fixture)
from mirror_pg import postgres_db, postgres_url  # noqa: F401  (fixtures)

DEALS = ["*", "UF_*"]


@pytest.fixture
def bx(bitrix_sandbox):
    with Bitrix(bitrix_sandbox.webhook, verbose=False) as client:
        yield client


def portal(sb, sql, params=()):
    with sb.store.locked() as con:
        return con.execute(sql, params).fetchall()


@pytest.mark.bitrix_sandbox(deals=1200, users=12, plan="x10")
def test_money_by_stage_name_and_deals_per_user_in_plain_sql(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    result = sync(bx, "crm.deal.list", db.url, select=DEALS)
    assert (result.mode, result.rows, result.unparsed) == ("first", 1200, 0)
    assert [d.table for d in result.dictionaries] == [
        "dict_status", "dict_category", "dict_user", "dict_currency"]
    got = {name: number(total) for name, total in db.query(
        "SELECT s.name, SUM(d.opportunity) FROM crm_deal d JOIN dict_status s "
        "ON s.status_type = 'DEAL_STAGE' AND s.status_id = d.stage_id GROUP BY s.name")}
    want = dict(portal(sb, """SELECT s."NAME", SUM(ROUND(d."OPPORTUNITY", 2)) FROM deal d
        JOIN status s ON s."STATUS_ID" = d."STAGE_ID" AND s."ENTITY_ID" LIKE 'DEAL_STAGE%'
        GROUP BY s."NAME" """))
    assert set(got) == set(want) == {"New", "Preparing documents", "Invoice sent",
                                     "In progress", "Final invoice", "Won", "Lost"}
    assert got == pytest.approx(want, rel=1e-12)
    per_user = dict(db.query("SELECT u.full_name, COUNT(*) FROM crm_deal d JOIN dict_user u "
                             "ON u.id = d.assigned_by_id GROUP BY u.full_name"))
    assert per_user == dict(portal(sb, """SELECT u."NAME" || ' ' || u."LAST_NAME", COUNT(*)
        FROM deal d JOIN user u ON u."ID" = d."ASSIGNED_BY_ID" GROUP BY 1"""))
    types = db.types("crm_deal")
    sql_types = {"sqlite": ("numeric", "boolean", "datetime", "date", "integer", "text"),
                 "postgres": ("numeric", "boolean", "timestamp with time zone", "date",
                              "bigint", "text")}[db.kind]
    assert (types["opportunity"], types["closed"], types["date_modify"], types["begindate"],
            types["assigned_by_id"], types["stage_id"]) == sql_types
    # the moment is the portal's, offset and all
    first = portal(sb, """SELECT strftime('%Y-%m-%dT%H:%M:%S+03:00', "DATE_MODIFY",
                          'unixepoch', '+3 hours') FROM deal WHERE "ID" = 1""")[0][0]
    stored = db.query("SELECT date_modify FROM crm_deal WHERE id = 1")[0][0]
    moment = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
    assert moment == datetime.fromisoformat(first)
    if db.kind == "sqlite":
        assert stored == first  # ISO 8601 text with the portal's offset


@pytest.mark.bitrix_sandbox(deals=1200, plan="x10")
def test_custom_fields_enumerations_multiple_values_files_and_booleans(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    sync(bx, "crm.deal.list", db.url, select=DEALS)
    channels = dict(db.query(
        "SELECT e.value, COUNT(*) FROM crm_deal d JOIN dict_enum e ON e.table_name = "
        "'crm_deal' AND e.field = 'UF_CRM_1700000004' AND e.item_id = d.uf_crm_1700000004 "
        "GROUP BY e.value"))
    labels = {61: "Website", 62: "Phone call", 63: "Exhibition", 64: "Partner"}
    assert channels == {labels[k]: n for k, n in portal(
        sb, 'SELECT "UF_CRM_1700000004", COUNT(*) FROM deal WHERE "UF_CRM_1700000004" '
            'IS NOT NULL GROUP BY 1')}
    interests = Counter(i for (raw,) in portal(sb, 'SELECT "UF_CRM_1700000005" FROM deal')
                        if raw for i in json.loads(raw))
    assert dict(db.query("SELECT e.value, COUNT(*) FROM crm_deal_multi m JOIN dict_enum e ON "
                         "e.table_name = 'crm_deal' AND e.field = 'UF_CRM_1700000005' AND "
                         "e.item_id = m.value_id WHERE m.field = 'uf_crm_1700000005' "
                         "GROUP BY e.value")) == {
        {71: "Hardware", 72: "Software", 73: "Services"}[k]: n for k, n in interests.items()}
    files = {i: json.loads(raw)["id"] for i, raw in portal(
        sb, 'SELECT "ID", "UF_CRM_1700000008" FROM deal WHERE "UF_CRM_1700000008" IS NOT NULL')}
    assert files and dict(db.query("SELECT id, uf_crm_1700000008 FROM crm_deal WHERE "
                                   "uf_crm_1700000008 IS NOT NULL")) == files
    # a file is its ID: the portal's download URL (with its auth token) is kept nowhere
    assert "uf_crm_1700000008__raw" not in db.columns("crm_deal")
    key_accounts = portal(sb, """SELECT COUNT(*) FROM deal WHERE "UF_CRM_1700000007" = 'Y'""")
    assert db.query("SELECT COUNT(*) FROM crm_deal WHERE uf_crm_1700000007") == key_accounts
    budget = portal(sb, 'SELECT "ID", "UF_CRM_1700000006" FROM deal WHERE '
                        '"UF_CRM_1700000006" IS NOT NULL ORDER BY "ID" LIMIT 1')[0]
    amount, currency = budget[1].split("|")
    assert [(number(a), c) for a, c in db.query(
        "SELECT uf_crm_1700000006, uf_crm_1700000006__currency FROM crm_deal WHERE id = ?",
        (budget[0],))] == [(float(amount), currency)]
    titles = dict(db.query("SELECT column_name, title FROM dict_fields WHERE table_name = "
                           "'crm_deal'"))
    assert titles["uf_crm_1700000004"] == "Lead channel" and titles["stage_id"] == "Stage"


@pytest.mark.bitrix_sandbox(deals=600, plan="x10")
def test_a_value_that_does_not_parse_is_kept_beside_its_column_and_counted(bitrix_sandbox, bx,
                                                                          db):
    sb = bitrix_sandbox
    sync(bx, "crm.deal.list", db.url, select=DEALS)
    sb.store.update("deal", 7, {"TITLE": "edited"})  # a newer modification time
    with sb.store.locked() as con:  # values a typed column cannot hold, as old data has
        con.execute("""UPDATE deal SET "UF_CRM_1700000006" = '12,5 rub',
                       "UF_CRM_1700000005" = '[71, "x"]' WHERE "ID" = 7""")
    result = sync(bx, "crm.deal.list", db.url, select=DEALS)
    assert (result.changed, result.unparsed) == (1, 2)
    assert "2 values did not parse" in result.summary()
    assert db.query("SELECT uf_crm_1700000006, uf_crm_1700000006__raw FROM crm_deal "
                    "WHERE id = 7") == [(None, "12,5 rub")]
    assert db.query("SELECT position, value, value_id FROM crm_deal_multi WHERE owner_id = 7 "
                    "AND field = 'uf_crm_1700000005' ORDER BY position") == [
        (0, "71", 71), (1, "x", None)]
    sb.store.update("deal", 7, {"UF_CRM_1700000006": "99.50|USD", "UF_CRM_1700000005": [72]})
    fixed = sync(bx, "crm.deal.list", db.url, select=DEALS)
    assert fixed.unparsed == 0
    assert [(number(a), r) for a, r in db.query(
        "SELECT uf_crm_1700000006, uf_crm_1700000006__raw FROM crm_deal WHERE id = 7")] == [
        (99.5, None)]


@pytest.mark.bitrix_sandbox(contacts=300, plan="x10")
def test_phones_and_emails_as_child_rows_or_json(bitrix_sandbox, bx, db, tmp_path):
    sb = bitrix_sandbox
    select = ["*", "UF_*", "PHONE", "EMAIL"]
    sync(bx, "crm.contact.list", db.url, select=select)

    def want():
        return sorted(portal(sb, 'SELECT "ELEMENT_ID", lower("TYPE_ID"), "VALUE", '
                                 '"VALUE_TYPE", "ID" FROM multifield WHERE "ENTITY_ID" = '
                                 "'CONTACT'"))

    got = "SELECT owner_id, field, value, value_type, value_id FROM crm_contact_multi"
    assert sorted(db.query(got)) == want()
    phone_of_5 = portal(sb, "SELECT \"ID\" FROM multifield WHERE \"ELEMENT_ID\" = 5 AND "
                            "\"ENTITY_ID\" = 'CONTACT' AND \"TYPE_ID\" = 'PHONE'")[0][0]
    with sb.store.locked() as con:
        con.execute('DELETE FROM multifield WHERE "ID" = ?', (phone_of_5,))
    sb.store.update("contact", 5, {"POST": "moved"})
    sb.store.delete("contact", 9)
    sync(bx, "crm.contact.list", db.url, select=select)
    assert sorted(db.query(got)) == [r for r in want() if r[0] != 9]
    as_json = str(tmp_path / "json.sqlite")
    sync(bx, "crm.contact.list", as_json, select=select, multiple="json")
    from mirror_db import Db

    rows = Db("sqlite", as_json).rows("crm_contact")
    assert [e["VALUE"] for e in json.loads(rows[1]["phone"])] == [
        v for (o, f, v, *_) in want() if o == 1 and f == "phone"]


@pytest.mark.bitrix_sandbox(deals=300, users=6, plan="x10")
def test_dictionaries_follow_renames_without_any_row_changing(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    sync(bx, "crm.deal.list", db.url, select=DEALS)
    with sb.store.locked() as con:
        con.execute("""UPDATE status SET "NAME" = 'Signed' WHERE "STATUS_ID" = 'WON'""")
        con.execute("""UPDATE user SET "LAST_NAME" = 'Renamed' WHERE "ID" = 2""")
    again = sync(bx, "crm.deal.list", db.url, select=DEALS)
    assert (again.added, again.changed, again.deleted) == (0, 0, 0)
    assert db.query("SELECT name FROM dict_status WHERE status_id = 'WON'") == [("Signed",)]
    assert db.query("SELECT last_name FROM dict_user WHERE id = 2") == [("Renamed",)]
    assert db.query("SELECT COUNT(*) FROM dict_category") == [(2,)]
