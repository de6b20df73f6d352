"""The Store itself: rows, IDs, method lookup, files, and many threads at once."""
from __future__ import annotations

import threading

import pytest

from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox.outcome import ApiFault, CallContext
from bitrix_fast.testing.sandbox.store import Store


@pytest.fixture
def store():
    s = Store()
    yield s
    s.close()


def test_insert_delete_ids_and_count(store):
    first, second = store.insert("deal", {"TITLE": "a"}), store.insert("deal")
    assert (first, second) == (1, 2)
    assert store.ids("deal") == {1, 2} and store.count("deal") == 2
    assert store.delete("deal", 1) is True
    assert store.delete("deal", 1) is False
    assert store.ids("deal") == {2} and store.count("deal") == 1


def test_new_ids_follow_the_largest_id_ever_used(store):
    store.seed(deals=10, id_gaps="sparse")
    top = max(store.ids("deal"))
    store.delete("deal", top)
    assert store.insert("deal") == top + 1  # the deleted ID is not handed out again


def test_insert_fills_defaults_and_stamps():
    store = Store(clock=FakeClock(wall_start=1_716_807_327.0))  # 2024-05-27 10:55:27 UTC
    try:
        new_id = store.insert("deal", {"TITLE": "x", "NOPE": 1}, by=4)
        row = store.call("crm.deal.get", {"id": new_id}, CallContext()).result
    finally:
        store.close()
    assert (row["STAGE_ID"], row["OPENED"], row["CLOSED"], row["CURRENCY_ID"]) == (
        "NEW", "Y", "N", "RUB")
    assert row["CREATED_BY_ID"] == row["ASSIGNED_BY_ID"] == row["MODIFY_BY_ID"] == "4"
    # stamped with the store's clock, as the portal prints times (Moscow time)
    assert row["DATE_CREATE"] == row["DATE_MODIFY"] == "2024-05-27T13:55:27+03:00"


def test_update_reports_whether_the_row_exists(store):
    new_id = store.insert("user", {"NAME": "A"})
    assert store.update("user", new_id, {"NAME": "B"}) is True
    assert store.update("user", new_id + 1, {"NAME": "B"}) is False


def test_unknown_entity_is_a_value_error(store):
    with pytest.raises(ValueError, match="unknown entity"):
        store.ids("invoice")


def test_knows_the_methods_it_serves(store):
    assert store.knows("crm.deal.list") and store.knows("user.get")
    assert store.knows("crm.item.delete") and store.knows("server.time")
    assert not store.knows("batch")
    assert not store.knows("crm.invoice.list")


def test_unknown_method_raises_method_not_found(store):
    with pytest.raises(ApiFault) as info:
        store.call("no.such.method", {}, CallContext())
    assert (info.value.code, info.value.status) == ("ERROR_METHOD_NOT_FOUND", 404)


def test_a_file_store_keeps_its_rows_and_is_not_seeded_twice(tmp_path):
    path = str(tmp_path / "portal.sqlite")
    store = Store(path)
    store.seed(deals=30, users=3)
    store.close()
    again = Store(path)
    again.seed(deals=30, users=3)
    assert again.count("deal") == 30 and again.count("user") == 3
    assert again.insert("deal") == 31
    again.close()


def test_many_threads_list_and_add_at_once(store):
    store.seed(deals=200)
    added, errors = [], []
    lock = threading.Lock()

    def worker(n):
        ctx = CallContext()
        try:
            for i in range(25):
                new_id = store.call("crm.deal.add", {"fields": {"TITLE": f"{n}-{i}"}}, ctx).result
                page = store.call("crm.deal.list", {"filter": {">=ID": 1, "<ID": 101},
                                                    "start": (i % 3) * 50}, ctx)
                assert page.total == 100 and len(page.result) == 50
                with lock:
                    added.append(new_id)
        except Exception as exc:  # collected, so a failure in a thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(added)) == 200 and min(added) == 201
    assert store.count("deal") == 400
