"""Product rows, smart processes and many tables in one run (``sync_all``, ``bitrix-fast sync
--all-crm`` and ``--config``), against the sandbox, on SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.cli import main
from bitrix_fast.mirror import sync
from bitrix_fast.mirror.crm import TableSpec, sync_all
from mirror_db import Db, db, number  # noqa: F401  (fixture)
from mirror_pg import postgres_db, postgres_url  # noqa: F401  (fixtures)


@pytest.fixture
def bx(bitrix_sandbox):
    with Bitrix(bitrix_sandbox.webhook, verbose=False) as client:
        yield client


def portal_rows(sb, code, owners=None):
    """{id: (owner, product, quantity)} of the portal's product rows of one owner type."""
    with sb.store.locked() as con:
        rows = con.execute('SELECT "ID", "OWNER_ID", "PRODUCT_ID", "QUANTITY" FROM productrow '
                           'WHERE "OWNER_TYPE" = ?', (code,)).fetchall()
    return {i: (o, p, q) for i, o, p, q in rows if owners is None or o in owners}


def mirror_rows(db, table):
    return {i: (o, p, number(q)) for i, o, p, q in db.query(
        f"SELECT id, owner_id, product_id, quantity FROM {table}")}


@pytest.mark.bitrix_sandbox(deals=1500, productrows=2200, plan="x10")
def test_product_rows_follow_their_owners_in_few_commands(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    first = sync(bx, "crm.deal.list", db.url, select=["ID", "TITLE", "OPPORTUNITY"],
                 product_rows=True, dictionaries=False)
    rows = first.product_rows
    assert rows is not None and rows.grouped and rows.rows == 2200
    assert mirror_rows(db, "crm_deal_productrow") == portal_rows(sb, "D")
    commands = sb.stats()["methods"]["crm.item.productrow.list"]
    assert commands <= 100  # 1,500 owners in groups (one each would be 1,500 commands)
    types = db.types("crm_deal_productrow")
    assert types["price"] == "numeric" and types["owner_type"] == "text"
    # later: a row added to one deal, a row removed from another, a deal deleted
    owners = sorted({o for o, _, _ in portal_rows(sb, "D").values()})
    with sb.store.locked() as con:
        removed = con.execute('SELECT "ID" FROM productrow WHERE "OWNER_ID" = ? LIMIT 1',
                              (owners[3],)).fetchone()[0]
        con.execute('DELETE FROM productrow WHERE "ID" = ?', (removed,))
    sb.store.insert("productrow", {"OWNER_TYPE": "D", "OWNER_ID": owners[5],
                                   "PRODUCT_ID": 999, "PRODUCT_NAME": "Extra", "PRICE": 5.5,
                                   "QUANTITY": 3})
    for owner in owners[3], owners[5]:  # the portal recalculates the owner's amount
        sb.store.update("deal", owner, {"OPPORTUNITY": 1})
    sb.store.delete("deal", owners[8])
    sb.reset_stats()
    later = sync(bx, "crm.deal.list", db.url, select=["ID", "TITLE", "OPPORTUNITY"],
                 product_rows=True, dictionaries=False)
    assert (later.changed, later.deleted) == (2, 1)
    r = later.product_rows
    assert (r.added, r.deleted) == (1, 1 + len([1 for o, _, _ in portal_rows(sb, "D").values()
                                               if o == owners[8]]))
    assert mirror_rows(db, "crm_deal_productrow") == portal_rows(
        sb, "D", owners=sb.store.ids("deal"))
    assert sb.stats()["methods"]["crm.item.productrow.list"] == 1


@pytest.mark.bitrix_sandbox(deals=400, productrows=600, plan="x10",
                            quirks="owner_list_ignored")
def test_a_portal_that_ignores_grouped_owners_is_read_one_owner_each(bitrix_sandbox, bx,
                                                                      tmp_path):
    url = str(tmp_path / "m.sqlite")
    result = sync(bx, "crm.deal.list", url, select=["ID", "TITLE"], product_rows=True,
                  dictionaries=False)
    assert result.product_rows is not None and not result.product_rows.grouped
    assert "one owner per command" in "\n".join(result.lines())
    assert mirror_rows(Db("sqlite", url), "crm_deal_productrow") == portal_rows(
        bitrix_sandbox, "D")


@pytest.mark.bitrix_sandbox(deals=200, quotes=60, smart_items=120, contacts=30,
                            companies=20, leads=30, users=6, productrows=300, plan="x10")
def test_all_crm_tables_in_one_run(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    result = sync_all(bx, db.url)
    assert [t.table for t in result.tables] == [
        "crm_deal", "crm_lead", "crm_contact", "crm_company", "crm_quote", "crm_item_1032"]
    assert not result.failures and sb.stats()["methods"]["server.time"] == 1
    lines = result.lines()
    assert any(line.startswith("crm.item.list -> crm_item_1032: 120 added") for line in lines)
    assert any("crm_quote_productrow" in line for line in lines)
    assert any("crm_item_1032_productrow" in line for line in lines)
    assert mirror_rows(db, "crm_item_1032_productrow") == portal_rows(sb, "T408")
    assert mirror_rows(db, "crm_quote_productrow") == portal_rows(sb, "Q")
    # a smart process: camelCase fields in the same snake_case names, stages by name
    columns = db.columns("crm_item_1032")
    assert {"stage_id", "assigned_by_id", "uf_crm_5_1700000101", "updated_time"} <= set(columns)
    by_stage = dict(db.query(
        "SELECT s.name, COUNT(*) FROM crm_item_1032 i JOIN dict_status s ON s.status_type = "
        "'DYNAMIC_1032_STAGE' AND s.status_id = i.stage_id GROUP BY s.name"))
    with sb.store.locked() as con:
        want = dict(con.execute("""SELECT s."NAME", COUNT(*) FROM smart1032 i JOIN status s
            ON s."STATUS_ID" = i."STAGE_ID" GROUP BY s."NAME" """).fetchall())
    assert by_stage == want
    assert db.query("SELECT title, table_name FROM dict_entity_type WHERE entity_type_id = "
                    "1032") == [("Projects", "crm_item_1032")]
    assert sorted(db.query("SELECT entity_type_id, id, name FROM dict_category")) == [
        (2, 0, "General"), (2, 1, "Wholesale"), (1032, 5, "Main"), (1032, 6, "Pilots")]
    team = db.query("SELECT COUNT(*) FROM crm_item_1032_multi WHERE field = "
                    "'uf_crm_5_1700000104'")[0][0]
    assert team >= 120
    again = sync_all(bx, db.url)
    assert all((t.added, t.changed, t.deleted) == (0, 0, 0) for t in again.tables)
    assert again.requests <= 45


@pytest.mark.bitrix_sandbox(deals=200, quotes=30, smart_items=20, users=4, plan="x10")
def test_the_command_line_all_crm_and_a_config_file(bitrix_sandbox, tmp_path, capsys):
    db = str(tmp_path / "crm.sqlite")
    hook = ["--webhook", bitrix_sandbox.webhook]
    assert main(["sync", "--all-crm", "--db", db, *hook]) == 0
    err = capsys.readouterr().err
    assert "crm.deal.list -> crm_deal: 200 added" in err and "crm_item_1032" in err
    assert "dict_status:" in err and "tables in step, 0 not" in err
    config = tmp_path / "mirror.json"
    config.write_text(json.dumps({
        "db": f"sqlite:///{tmp_path / 'won.sqlite'}", "dictionaries": False,
        "table": [{"method": "crm.deal.list", "table": "deals_won",
                   "filter": {"STAGE_ID": "WON"}, "select": ["ID", "TITLE", "OPPORTUNITY"]}]}))
    assert main(["sync", "--config", str(config), *hook]) == 0
    err = capsys.readouterr().err
    assert "-> deals_won:" in err and "dict_status" not in err
    with bitrix_sandbox.store.locked() as con:
        won = {r[0] for r in con.execute("""SELECT "ID" FROM deal WHERE "STAGE_ID" = 'WON'""")}
    assert {r[0] for r in Db("sqlite", str(tmp_path / "won.sqlite")).query(
        "SELECT id FROM deals_won")} == won
    assert main(["sync", "crm.deal.list", "--all-crm", "--db", db, *hook]) == 2
    assert "only one of METHOD, --all-crm" in capsys.readouterr().err
    config.write_text(json.dumps({"entities": ["deals"]}))
    assert main(["sync", "--config", str(config), "--db", db, *hook]) == 2
    assert "unknown entities deals" in capsys.readouterr().err


@pytest.mark.bitrix_sandbox(deals=100, plan="x10")
def test_a_busy_table_does_not_hold_back_the_others(bitrix_sandbox, bx, postgres_db):
    import psycopg

    from bitrix_fast.mirror.postgres import lock_key

    with psycopg.connect(postgres_db) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("crm_lead"),))
        result = sync_all(bx, postgres_db, entities=["deal", "lead"], dictionaries=False,
                          tables=[TableSpec("crm.contact.list", select=["ID", "NAME"])])
    assert [t.table for t in result.tables] == ["crm_contact", "crm_deal"]
    assert [(f.table, f.kind) for f in result.failures] == [("crm_lead", "busy")]
