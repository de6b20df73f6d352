"""The public surface against the sandbox portal, in memory on a fake clock."""
from typing import Any, Dict, Iterator, List

import pytest

from bitrix_fast import AuthError, BatchError, Bitrix, MethodNotFound
from bitrix_fast.errors import ApiError
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox
from portals_a import memory_portal


@pytest.fixture(scope="module")
def portal() -> Iterator[Sandbox]:
    with memory_portal(deals=6_000, leads=300, tasks=700, users=120, plan="x10",
                       id_gaps="sparse", seed=3) as sb:
        yield sb


@pytest.fixture
def bx(portal: Sandbox) -> Iterator[Bitrix]:
    with connect(portal, requests_per_second=20) as client:
        yield client


def ids(rows: List[Dict[str, Any]], key: str = "ID") -> List[int]:
    return [int(row[key]) for row in rows]


def test_get_all_deals_every_row_once_sorted(bx: Bitrix, portal: Sandbox) -> None:
    rows = bx.get_all("crm.deal.list", {"select": ["ID", "TITLE", "OPPORTUNITY"]})
    assert ids(rows) == sorted(portal.store.ids("deal"))
    assert set(rows[0]) == {"ID", "TITLE", "OPPORTUNITY"}


def test_get_all_with_a_filter_and_select_without_id(bx: Bitrix, portal: Sandbox) -> None:
    rows = bx.get_all("crm.deal.list", {"select": ["TITLE"], "filter": {"CLOSED": "N"}})
    expected = {int(r["ID"]) for r in bx.get_all("crm.deal.list", {"select": ["ID", "CLOSED"]})
                if r["CLOSED"] == "N"}
    assert set(ids(rows)) == expected and 0 < len(expected) < 6_000


def test_get_all_other_orders_keep_the_servers_order(bx: Bitrix) -> None:
    rows = bx.get_all("crm.deal.list", {"select": ["ID", "OPPORTUNITY"],
                                        "order": {"OPPORTUNITY": "DESC"}})
    amounts = [float(r["OPPORTUNITY"]) for r in rows]
    assert len(rows) == 6_000 and amounts == sorted(amounts, reverse=True)


def test_get_all_crm_item_tasks_and_users(bx: Bitrix, portal: Sandbox) -> None:
    items = bx.get_all("crm.item.list", {"entityTypeId": 2, "select": ["id", "title"]})
    assert ids(items, "id") == sorted(portal.store.ids("deal"))
    assert isinstance(items[0]["id"], int)
    tasks = bx.get_all("tasks.task.list", {"select": ["ID", "TITLE"]})
    assert ids(tasks, "id") == sorted(portal.store.ids("task"))
    users = bx.get_all("user.get")
    assert ids(users) == sorted(portal.store.ids("user"))


def test_iter_all_streams_each_row_once(bx: Bitrix, portal: Sandbox) -> None:
    seen = [int(row["ID"]) for row in bx.iter_all("crm.lead.list", {"select": ["ID"]},
                                                  read_ahead=2)]
    assert sorted(seen) == sorted(portal.store.ids("lead")) and len(seen) == len(set(seen))


def test_get_by_id(bx: Bitrix, portal: Sandbox) -> None:
    wanted = sorted(portal.store.ids("deal"))[:120]
    deals = bx.get_by_ID("crm.deal.get", wanted)
    # fast_bitrix24's shape: str keys (as the batch reply prints them), in input order
    assert list(deals) == [str(i) for i in wanted] and all(d["ID"] == k
                                                          for k, d in deals.items())
    items = bx.get_by_ID("crm.item.get", wanted[:5], "id", {"entityTypeId": 2})
    assert {k: v["item"]["id"] for k, v in items.items()} == {str(i): i for i in wanted[:5]}
    task_id = min(portal.store.ids("task"))
    # one ID: its result alone
    assert bx.get_by_ID("tasks.task.get", [task_id], "taskId")["task"]["id"] == str(task_id)


def test_call_5000_adds_come_back_in_input_order(bx: Bitrix, portal: Sandbox) -> None:
    before = portal.store.ids("contact")
    items = [{"fields": {"NAME": f"n{i}", "LAST_NAME": "Order"}} for i in range(5_000)]
    new_ids = bx.call("crm.contact.add", items)
    assert len(set(new_ids)) == 5_000
    created = bx.get_by_ID("crm.contact.get", new_ids)
    # result i is the contact made from item i, though batches finished in any order
    assert [created[str(new_id)]["NAME"] for new_id in new_ids] == \
        [f"n{i}" for i in range(5_000)]
    assert portal.store.ids("contact") - before == set(new_ids)


def test_call_single_dict_update_and_unwrapped_items(bx: Bitrix, portal: Sandbox) -> None:
    deal_id = min(portal.store.ids("deal"))
    assert bx.call("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "renamed"}}) is True
    assert bx.call("crm.deal.get", {"id": deal_id})["TITLE"] == "renamed"
    item = bx.call("crm.item.add", [{"entityTypeId": 2, "fields": {"title": "via item"}}])[0]
    assert item["title"] == "via item" and isinstance(item["id"], int)
    task = bx.call("tasks.task.add", {"fields": {"TITLE": "t", "RESPONSIBLE_ID": 1}})
    assert task["title"] == "t"


def test_none_values_travel_as_json(bx: Bitrix, portal: Sandbox) -> None:
    """A None cannot be written in a batch command: that item goes as its own JSON call, and
    reaches the portal as null (not as the string "None")."""
    first, second = sorted(portal.store.ids("deal"))[-2:]
    bx.call("crm.deal.update", [{"id": first, "fields": {"COMMENTS": "kept"}},
                                {"id": second, "fields": {"COMMENTS": None}}])
    assert bx.call("crm.deal.get", {"id": first})["COMMENTS"] == "kept"
    assert bx.call("crm.deal.get", {"id": second})["COMMENTS"] in (None, "")


def test_failed_items_raise_batch_error_with_the_successes(bx: Bitrix, portal: Sandbox) -> None:
    good = min(portal.store.ids("deal"))
    with pytest.raises(BatchError) as caught:
        bx.call("crm.deal.get", [{"id": good}, {"id": 999_999_999}, {"id": good}])
    error = caught.value
    assert set(error.results) == {0, 2} and set(error.errors) == {1}
    assert isinstance(error.errors[1], ApiError)
    assert error.errors[1].description == "Not found" and not error.in_doubt


def test_call_batch_passes_references_through(bx: Bitrix, portal: Sandbox) -> None:
    deal_id = min(portal.store.ids("deal"))
    out = bx.call_batch({"halt": 0, "cmd": {
        "deal": f"crm.deal.get?id={deal_id}",
        "same": "crm.deal.get?id=$result[deal][ID]"}})
    assert out["deal"] == out["same"] and int(out["same"]["ID"]) == deal_id


def test_raw_call_returns_the_envelope(bx: Bitrix) -> None:
    envelope = bx.call("crm.deal.list", {"select": ["ID"], "start": -1}, raw=True)
    assert len(envelope["result"]) == 50 and "time" in envelope and "next" not in envelope


def test_slow_caps_concurrency(bx: Bitrix) -> None:
    with bx.slow(1):
        assert bx.stats()["concurrency"] == 1
        assert len(bx.get_all("crm.lead.list", {"select": ["ID"]})) == 300
    assert bx.stats()["concurrency"] > 1


def test_unknown_method_and_parameter_mistakes(bx: Bitrix) -> None:
    with pytest.raises(MethodNotFound) as caught:
        bx.call("crm.nothing.here", {})
    assert caught.value.status == 404
    for bad in ({"select": "ID"}, {"filter": [1]}, {"start": 50}):
        with pytest.raises((TypeError, ValueError)):
            bx.get_all("crm.deal.list", bad)
    with pytest.raises(TypeError):
        bx.get_all(123)  # type: ignore[arg-type]  # the mistake under test


def test_wrong_webhook_raises_auth_error_quickly_without_the_secret(portal: Sandbox) -> None:
    wrong = portal.webhook.replace("/rest/1/", "/rest/1/x").rstrip("/") + "nope/"
    code = wrong.rstrip("/").rsplit("/", 1)[1]
    started, sent = portal.clock.now(), portal.stats()["requests"]
    with Bitrix(wrong, verbose=False, transport=portal.transport(), clock=portal.clock) as client:
        with pytest.raises(AuthError) as caught:
            client.get_all("crm.deal.list")
        stats = client.stats()
    # at once: one request, no backoff, no retry (a wait for the bucket at most)
    assert portal.stats()["requests"] == sent + 1
    assert stats["retries"] == stats["backoff_wait"] == 0
    assert portal.clock.now() - started < 2
    text = f"{caught.value} {caught.value!r} {client!r}"
    assert "INVALID_CREDENTIALS" in str(caught.value) and "(401)" in str(caught.value)
    assert code not in text


def test_standard_plan_export_of_100k_rows_sees_no_refusals() -> None:
    with memory_portal(deals=100_000, plan="standard") as sb:
        with connect(sb) as client:
            count = sum(1 for _ in client.iter_all("crm.deal.list", {"select": ["ID"]}))
        stats = sb.stats()
    assert count == 100_000
    assert stats["refused_503"] == 0 and stats["requests"] <= 42
    assert sb.max_window_excess() <= 0  # the standard plan's 50 + 2/s, seen by the portal


def test_first_pages_counts_id_ranges_fifty_per_request() -> None:
    with memory_portal(deals=3_000, id_gaps="sparse", plan="x10") as sb:
        ids = sorted(sb.store.ids("deal"))
        bounds = [(ids[0] + k * 97, ids[0] + (k + 1) * 97) for k in range(60)]
        with connect(sb, requests_per_second=20) as bx:
            pages = bx.first_pages("crm.deal.list", [
                {"filter": {">=ID": lo, "<ID": hi}, "select": ["ID"]} for lo, hi in bounds])
            requests = bx.stats()["requests"]
    assert requests == 2  # 60 commands, 50 to a request
    for (lo, hi), page in zip(bounds, pages):
        inside = [i for i in ids if lo <= i < hi]
        assert page.total == len(inside)
        assert [int(row["ID"]) for row in page.rows] == inside[:50]
