"""Methods with their own rules: crm.productrow.list, task.elapseditem.getlist, task.commentitem.getlist."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bitrix_fast.testing.sandbox.outcome import ApiFault, CallContext
from bitrix_fast.testing.sandbox.quirks import Quirks
from bitrix_fast.testing.sandbox.store import Store

REAL = Path(__file__).resolve().parent.parent / "fixtures" / "real_responses"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture(scope="module")
def store():
    s = Store()
    s.seed(deals=60, tasks=3, users=10, productrows=400, elapseditems=300, commentitems=200)
    yield s
    s.close()


def call(store, method, ctx=None, **params):
    return store.call(method, params, ctx or CallContext())


def ids(out):
    return [int(row["ID"]) for row in out.result]


def column(store, sql, *args):
    with store.locked() as db:
        return [row[0] for row in db.execute(sql, args)]


def refusal(store, method, **params) -> ApiFault:
    with pytest.raises(ApiFault) as info:
        call(store, method, **params)
    return info.value


# -- crm.productrow.list ---------------------------------------------------------------------

def test_productrows_page_by_start_in_their_own_order(store):
    everything = column(store, 'SELECT ID FROM productrow ORDER BY OWNER_TYPE, OWNER_ID, ID')
    assert everything != sorted(everything)  # grouped by deal, not in ID order
    collected, start = [], 0
    while start is not None:
        out = call(store, "crm.productrow.list", start=start)
        assert out.total == 400
        collected += ids(out)
        start = out.next
    assert collected == everything
    first = call(store, "crm.productrow.list")
    assert list(first.result[0]) == ["ID", "OWNER_TYPE", "OWNER_ID", "PRODUCT_ID",
                                      "PRODUCT_NAME", "PRICE", "QUANTITY"]
    assert all(isinstance(v, str) for v in first.result[0].values())
    assert first.result[0]["OWNER_TYPE"] == "D"


def test_productrows_read_only_the_owner_keys_of_the_filter(store):
    owner = column(store, "SELECT OWNER_ID FROM productrow ORDER BY ID LIMIT 1")[0]
    mine = column(store, "SELECT ID FROM productrow WHERE OWNER_ID = ? ORDER BY ID", owner)
    out = call(store, "crm.productrow.list", filter={"OWNER_TYPE": "D", "OWNER_ID": owner,
                                                     ">=ID": 10_000, "PRODUCT_NAME": "nothing"})
    assert ids(out) == mine and out.total == len(mine)
    out = call(store, "crm.productrow.list", filter={">=ID": 100, "<ID": 150}, order={"ID": "DESC"})
    assert out.total == 400 and ids(out) == ids(call(store, "crm.productrow.list"))
    out = call(store, "crm.productrow.list", filter={">OWNER_ID": 50})
    assert out.total == len(column(store, "SELECT ID FROM productrow WHERE OWNER_ID > 50"))


def test_productrows_classic_paging_details_and_no_quirks(store):
    out = call(store, "crm.productrow.list", start=-1)
    assert len(out.result) == 50 and out.next is None and out.total == 0
    again = call(store, "crm.productrow.list", start=5000)
    assert ids(again) == ids(call(store, "crm.productrow.list")) and again.next == 50
    quirky = CallContext(quirks=Quirks("ignored_start,no_total,endless_next"))
    out = call(store, "crm.productrow.list", quirky, start=350)
    assert out.total == 400 and out.next is None and len(out.result) == 50


def test_productrows_without_deals_belong_to_made_up_owners():
    s = Store()
    s.seed(productrows=100)
    try:
        owners = set(column(s, "SELECT OWNER_ID FROM productrow"))
        assert owners <= set(range(1, 11)) and len(owners) > 1
    finally:
        s.close()


# -- task.elapseditem.getlist ----------------------------------------------------------------

def test_elapsed_items_look_like_the_recorded_ones(store):
    recorded = json.loads((REAL / "task_elapseditem_getlist_mixed_types.json").read_text())
    sample = next(rows[0] for rows in recorded["result"]["result"].values() if rows)
    out = call(store, "task.elapseditem.getlist", TASKID=1)
    row = out.result[0]
    assert list(row) == list(sample)
    assert all(isinstance(v, str) for v in row.values())
    assert all(ISO.match(row[k]) for k in ("CREATED_DATE", "DATE_START", "DATE_STOP"))
    for row in out.result:
        assert int(row["MINUTES"]) == int(row["SECONDS"]) // 60
        if row["SOURCE"] == "2":  # entered by hand: no duration between start and stop
            assert row["DATE_START"] == row["DATE_STOP"]


def test_elapsed_items_of_one_task_come_all_at_once(store):
    mine = column(store, "SELECT ID FROM elapseditem WHERE TASK_ID = 2 ORDER BY CREATED_DATE, ID")
    assert len(mine) > 50
    for params in ({"0": 2}, {"TASKID": "2"}, {"taskId": 2}, {"FILTER": {"TASK_ID": 2}},
                   {"0": {}, "1": {"TASK_ID": 2}}):
        out = call(store, "task.elapseditem.getlist", **params)
        assert ids(out) == mine and out.total == len(mine) and out.next is None, params
    empty = call(store, "task.elapseditem.getlist", TASKID=999)
    assert empty.result == [] and empty.total == 0 and empty.next is None


def test_elapsed_items_ignore_start_yet_report_next_and_total(store):
    first = call(store, "task.elapseditem.getlist")
    assert len(first.result) == 50 and first.total == 300 and first.next == 50
    again = call(store, "task.elapseditem.getlist", start=50)
    assert ids(again) == ids(first) and again.next == 50  # a client following next loops
    task = call(store, "task.elapseditem.getlist", TASKID=2, start=50)
    assert ids(task) == ids(call(store, "task.elapseditem.getlist", TASKID=2))


def test_elapsed_items_page_by_nav_params(store):
    everything = column(store, "SELECT ID FROM elapseditem ORDER BY CREATED_DATE, ID")
    assert everything != sorted(everything)  # the day worked, not the ID
    collected = []
    for number in range(1, 16):
        out = call(store, "task.elapseditem.getlist",
                   PARAMS={"NAV_PARAMS": {"nPageSize": 20, "iNumPage": number}})
        assert out.total == 300 and out.next == (number * 20 if number < 15 else None)
        collected += ids(out)
    assert collected == everything
    big = call(store, "task.elapseditem.getlist", PARAMS={"NAV_PARAMS": {"nPageSize": 500}})
    assert len(big.result) == 50 and big.next == 50  # capped at 50
    task = call(store, "task.elapseditem.getlist",
                **{"0": 2, "4": {"NAV_PARAMS": {"nPageSize": 10, "iNumPage": 2}}})
    mine = column(store, "SELECT ID FROM elapseditem WHERE TASK_ID = 2 ORDER BY CREATED_DATE, ID")
    assert ids(task) == mine[10:20] and task.next == 20 and task.total == len(mine)


def test_elapsed_items_past_the_last_page(store):
    nav = {"NAV_PARAMS": {"nPageSize": 50, "iNumPage": 99}}
    out = call(store, "task.elapseditem.getlist", PARAMS=nav)
    assert ids(out) == ids(call(store, "task.elapseditem.getlist")) and out.next == 50
    off = CallContext(classic_out_of_range_page1=False)
    out = call(store, "task.elapseditem.getlist", off, PARAMS=nav)
    assert out.result == [] and out.next is None and out.total == 300


def test_elapsed_items_order_filter_select_named_and_positional(store):
    out = call(store, "task.elapseditem.getlist", ORDER={"ID": "desc"}, FILTER={">ID": 250},
               SELECT=["ID", "TASK_ID"])
    assert ids(out) == list(range(300, 250, -1)) and list(out.result[0]) == ["ID", "TASK_ID"]
    out = call(store, "task.elapseditem.getlist", **{"0": {"ID": "desc"}, "1": {"<ID": 30}})
    assert ids(out) == list(range(29, 0, -1)) and out.total == 29
    out = call(store, "task.elapseditem.getlist", **{"0": 3, "1": {"ID": "asc"}, "2": {"!USER_ID": 1}})
    mine = column(store, "SELECT ID FROM elapseditem WHERE TASK_ID = 3 AND USER_ID != 1 ORDER BY ID")
    assert ids(out) == mine


def test_elapsed_items_refuse_unknown_order_and_filter_keys(store):
    fault = refusal(store, "task.elapseditem.getlist", ORDER={"TITLE": "asc"})
    assert fault.code == "ERROR_CORE" and fault.status == 400
    assert 'must not contain key "TITLE"' in fault.description
    fault = refusal(store, "task.elapseditem.getlist", FILTER={"%USER_ID": 1})
    assert fault.code == "ERROR_CORE" and "arFilter" in fault.description


def test_elapsed_items_over_http_with_a_positional_json_body(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(tasks=3, elapseditems=90)
    reply = http.post(portal.webhook + "task.elapseditem.getlist",
                      json=[2, {"ID": "asc"}, {}]).json()
    mine = sorted(i for i in portal.store.ids("elapseditem")
                  if column(portal.store, "SELECT TASK_ID FROM elapseditem WHERE ID = ?", i)[0] == 2)
    assert [int(r["ID"]) for r in reply["result"]] == mine and reply["total"] == len(mine)
    assert "next" not in reply
    batch = http.post(portal.webhook + "batch", json={"cmd": {
        "p": "task.elapseditem.getlist?PARAMS[NAV_PARAMS][nPageSize]=10&PARAMS[NAV_PARAMS][iNumPage]=2",
    }}).json()["result"]
    assert len(batch["result"]["p"]) == 10
    assert batch["result_next"] == {"p": 20} and batch["result_total"] == {"p": 90}


# -- task.commentitem.getlist ----------------------------------------------------------------

def test_comments_of_a_task_come_all_at_once_newest_first(store):
    mine = column(store, "SELECT ID FROM commentitem WHERE TASK_ID = 1 ORDER BY ID DESC")
    assert len(mine) > 50
    for params in ({"TASKID": 1}, {"0": "1"}, {"TASKID": 1, "start": 50}):
        out = call(store, "task.commentitem.getlist", **params)
        assert ids(out) == mine and out.next is None and out.total is None, params
    row = out.result[0]
    assert list(row) == ["POST_MESSAGE_HTML", "ID", "AUTHOR_ID", "AUTHOR_NAME", "AUTHOR_EMAIL",
                         "POST_DATE", "POST_MESSAGE", "ATTACHED_OBJECTS"]
    assert row["POST_MESSAGE_HTML"] is None and ISO.match(row["POST_DATE"])


def test_comments_order_and_filter(store):
    author = column(store, "SELECT AUTHOR_ID FROM commentitem WHERE TASK_ID = 1 LIMIT 1")[0]
    mine = column(store, "SELECT ID FROM commentitem WHERE TASK_ID = 1 AND AUTHOR_ID = ? "
                         "ORDER BY ID", author)
    out = call(store, "task.commentitem.getlist", TASKID=1, ORDER={"ID": "asc"},
               FILTER={"AUTHOR_ID": author})
    assert ids(out) == mine
    out = call(store, "task.commentitem.getlist", **{"0": 1, "1": {"ID": "asc"}, "2": {">ID": 150}})
    assert ids(out) == [i for i in column(store, "SELECT ID FROM commentitem WHERE TASK_ID = 1 "
                                                 "ORDER BY ID") if i > 150]


def test_comments_need_a_task_id(store):
    for params in ({}, {"TASKID": "abc"}, {"0": {"ID": "asc"}}):
        fault = refusal(store, "task.commentitem.getlist", **params)
        assert fault.code == "ERROR_CORE" and "taskId" in fault.description, params
    fault = refusal(store, "task.commentitem.getlist", TASKID=1, FILTER={">=POST_DATE": "2020",
                                                                          "%POST_MESSAGE": "x"})
    assert 'must not contain key "%POST_MESSAGE"' in fault.description


def test_owned_rows_are_deterministic_and_follow_the_id_space():
    def rows(seed):
        s = Store()
        s.seed(deals=20, tasks=5, productrows=60, elapseditems=60, commentitems=60,
               id_gaps="sparse", seed=seed)
        try:
            return [call(s, method, **params).result for method, params in (
                ("crm.productrow.list", {}), ("task.elapseditem.getlist", {}),
                ("task.commentitem.getlist", {"TASKID": 1}))]
        finally:
            s.close()

    first = rows(4)
    assert first == rows(4) and first != rows(5)
    product_ids = sorted(int(r["ID"]) for r in first[0])
    assert product_ids[0] == 1 and product_ids[-1] > 2 * len(product_ids)  # sparse IDs
