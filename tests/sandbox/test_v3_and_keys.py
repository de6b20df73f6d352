"""The sandbox's side of writes safe to repeat: records found again by ORIGIN_ID or a UF_
field (``=`` and ``@``), REST 3.0 under ``/rest/api/`` with the Idempotency-Key rules, and
the faults that strike after a method ran. In memory, on a FakeClock."""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Dict, Optional, Tuple

import pytest

from bitrix_fast.errors import ConnectionDropped
from bitrix_fast.net.transport import HttpRequest
from bitrix_fast.protocol.encoding import command
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox import Sandbox
from bitrix_fast.testing.sandbox.idempotency import INVALID, KEY_TTL, REUSED
from bitrix_fast.testing.sandbox.store import Store

TASK = {"title": "Call the client", "creatorId": 1, "responsibleId": 1}


class Wire:
    """POST JSON to a portal in memory; (status, body, headers) back."""

    def __init__(self, portal: Sandbox) -> None:
        self.portal = portal
        self.transport = portal.transport()

    def post(self, method: str, body: Dict[str, Any], *, v3: bool = False,
             key: Optional[str] = None) -> Tuple[int, Any, Dict[str, str]]:
        base = self.portal.webhook
        url = (base.replace("/rest/", "/rest/api/", 1) if v3 else base) + method
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        reply = self.transport.exchange(HttpRequest("POST", url, json.dumps(body).encode(),
                                                    headers))
        return reply.status, json.loads(reply.content) if reply.content else None, \
            dict(reply.headers)


@pytest.fixture
def wire():
    with Sandbox(deals=5, tasks=3, http=False, clock=FakeClock()) as portal:
        yield Wire(portal)


# -- keys on the old REST -----------------------------------------------------------------

def test_deals_are_found_by_origin_id_with_equals_and_in(wire):
    for n in range(3):
        status, body, _ = wire.post("crm.deal.add", {"fields": {"TITLE": f"t{n}",
                                                                "ORIGIN_ID": f"ext-{n}"}})
        assert status == 200 and isinstance(body["result"], int)
    _, body, _ = wire.post("crm.deal.list", {"filter": {"@ORIGIN_ID": ["ext-0", "ext-2", "x"]},
                                             "select": ["ID", "ORIGIN_ID"]})
    assert [row["ORIGIN_ID"] for row in body["result"]] == ["ext-0", "ext-2"]
    _, body, _ = wire.post("crm.deal.list", {"filter": {"=ORIGIN_ID": "ext-1"},
                                             "select": ["ID", "ORIGIN_ID", "ORIGINATOR_ID"]})
    assert body["result"] == [{"ID": "7", "ORIGIN_ID": "ext-1", "ORIGINATOR_ID": None}]


def test_a_user_field_and_crm_item_camel_case_names_find_records_too(wire):
    wire.post("crm.contact.add", {"fields": {"NAME": "Ann", "UF_CRM_1700000001": "K-1"}})
    _, body, _ = wire.post("crm.contact.list", {"filter": {"@UF_CRM_1700000001": ["K-1"]},
                                                "select": ["ID"]})
    assert body["result"] == [{"ID": "1"}]
    _, body, _ = wire.post("crm.item.add", {"entityTypeId": 2,
                                            "fields": {"title": "x", "originId": "o-9"}})
    new_id = body["result"]["item"]["id"]
    assert body["result"]["item"]["originId"] == "o-9"
    _, body, _ = wire.post("crm.item.list", {"entityTypeId": 2,
                                             "filter": {"@originId": ["o-9", "o-8"]},
                                             "select": ["id", "originId"]})
    assert body["result"]["items"] == [{"id": new_id, "originId": "o-9"}]


def test_a_batch_command_carries_a_list_of_keys(wire):
    wire.post("crm.deal.add", {"fields": {"TITLE": "a", "ORIGIN_ID": "k1"}})
    cmd = command("crm.deal.list", {"filter": {"@ORIGIN_ID": ["k1", "k2"], ">ID": 0},
                                    "order": {"ID": "ASC"}, "select": ["ID", "ORIGIN_ID"],
                                    "start": -1})
    _, body, _ = wire.post("batch", {"halt": 0, "cmd": {"q0": cmd}})
    assert body["result"]["result"]["q0"] == [{"ID": "6", "ORIGIN_ID": "k1"}]


def test_an_older_file_store_gets_the_new_fields(tmp_path):
    path = str(tmp_path / "old.sqlite")
    db = sqlite3.connect(path)
    db.execute('CREATE TABLE "deal" ("ID" INTEGER PRIMARY KEY AUTOINCREMENT, "TITLE" TEXT)')
    db.execute('INSERT INTO "deal" ("TITLE") VALUES (\'kept\')')
    db.commit()
    db.close()
    store = Store(path)
    try:
        with store.locked() as conn:
            columns = {row[1] for row in conn.execute('PRAGMA table_info("deal")')}
            assert {"ORIGIN_ID", "ORIGINATOR_ID", "STAGE_ID"} <= columns
            assert conn.execute('SELECT "TITLE" FROM "deal"').fetchall() == [("kept",)]
        assert store.insert("deal", {"TITLE": "new", "ORIGIN_ID": "z"}) == 2
    finally:
        store.close()


# -- REST 3.0 -------------------------------------------------------------------------------

def test_v3_add_replays_a_repeated_key_and_refuses_it_with_another_body(wire):
    status, first, headers = wire.post("tasks.task.add", {"fields": TASK}, v3=True, key="k-1")
    assert status == 200 and "idempotent-replayed" not in headers
    item = first["result"]["item"]
    assert item["title"] == TASK["title"] and item["status"] == "pending"
    tasks_before = wire.portal.store.count("task")
    status, again, headers = wire.post("tasks.task.add", {"fields": TASK}, v3=True, key="k-1")
    assert status == 200 and headers["idempotent-replayed"] == "true"
    assert again == first and wire.portal.store.count("task") == tasks_before
    status, body, _ = wire.post("tasks.task.add", {"fields": {**TASK, "title": "other"}},
                                v3=True, key="k-1")
    assert status == 422 and body["error"]["code"] == REUSED
    assert wire.portal.store.count("task") == tasks_before
    assert wire.portal.stats()["idempotent_replays"] == 1


def test_v3_refuses_an_invalid_key_and_runs_every_request_without_one(wire):
    for bad in ("", "has space", "x" * 256, "ключ"):
        status, body, _ = wire.post("tasks.task.add", {"fields": TASK}, v3=True, key=bad)
        assert status == 400 and body["error"]["code"] == INVALID, bad
    before = wire.portal.store.count("task")
    wire.post("tasks.task.add", {"fields": TASK}, v3=True)
    wire.post("tasks.task.add", {"fields": TASK}, v3=True)
    assert wire.portal.store.count("task") == before + 2


def test_v3_keys_are_kept_per_method_and_for_24_hours(wire):
    _, added, _ = wire.post("tasks.task.add", {"fields": TASK}, v3=True, key="same")
    new_id = added["result"]["item"]["id"]
    status, body, headers = wire.post("tasks.task.update",
                                      {"id": new_id, "fields": {"title": "renamed"}},
                                      v3=True, key="same")
    assert status == 200 and body["result"] == {"result": True}
    assert "idempotent-replayed" not in headers
    wire.portal.clock.advance(KEY_TTL + 1)
    before = wire.portal.store.count("task")
    _, again, headers = wire.post("tasks.task.add", {"fields": TASK}, v3=True, key="same")
    assert "idempotent-replayed" not in headers and wire.portal.store.count("task") == before + 1


def test_v3_errors_come_in_the_new_shape(wire):
    status, body, _ = wire.post("tasks.task.add", {"fields": {"title": "no people"}}, v3=True)
    assert status == 400
    error = body["error"]
    assert error["code"] == "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION"
    assert {v["field"] for v in error["validation"]} == {"creatorId", "responsibleId"}
    status, body, _ = wire.post("crm.deal.list", {}, v3=True)
    assert status == 404 and body["error"]["code"] == "ERROR_METHOD_NOT_FOUND"
    status, body, _ = wire.post("tasks.task.list", {"filter": [["title", "=", "x"]]}, v3=True)
    assert status == 400 and body["error"]["validation"][0]["field"] == "title"
    status, body, _ = wire.post("tasks.task.list", {"pagination": {"limit": 0}}, v3=True)
    assert status == 400 and body["error"]["code"].endswith("INVALIDPAGINATIONEXCEPTION")
    status, body, _ = wire.post("tasks.task.delete", {"id": 999}, v3=True, key="d")
    assert status == 400 and body["error"]["code"].endswith("ENTITYNOTFOUNDEXCEPTION")


def test_v3_lists_page_by_limit_and_id_filters_without_total_or_next():
    with Sandbox(tasks=1200, http=False, clock=FakeClock()) as portal:
        wire = Wire(portal)
        _, body, _ = wire.post("tasks.task.list", {"select": ["title"],
                                                   "filter": [["id", ">", 10]],
                                                   "pagination": {"limit": 5000}}, v3=True)
        rows = body["result"]["items"]
        assert len(rows) == 1000 and rows[0]["id"] == 11 and set(rows[0]) == {"id", "title"}
        assert "total" not in body and "next" not in body
        _, body, _ = wire.post("tasks.task.list", {"pagination": {"page": 2, "limit": 3}},
                               v3=True)
        assert [r["id"] for r in body["result"]["items"]] == [4, 5, 6]
    with Sandbox(tasks=600, http=False, clock=FakeClock(), quirks="capped_v3_pages") as portal:
        _, body, _ = Wire(portal).post("tasks.task.list", {"pagination": {"limit": 1000}},
                                       v3=True)
        assert len(body["result"]["items"]) == 250


def test_a_v3_write_dropped_after_it_ran_is_replayed_under_its_key():
    with Sandbox(tasks=1, http=False, clock=FakeClock(), faults="drop=1.0") as portal:
        wire = Wire(portal)
        with pytest.raises(ConnectionDropped):
            wire.post("tasks.task.add", {"fields": TASK}, v3=True, key="lost-1")
        assert portal.store.count("task") == 2  # it ran
        portal.faults.probabilities.clear()
        status, body, headers = wire.post("tasks.task.add", {"fields": TASK}, v3=True,
                                          key="lost-1")
        assert status == 200 and headers["idempotent-replayed"] == "true"
        assert body["result"]["item"]["id"] == 2 and portal.store.count("task") == 2
