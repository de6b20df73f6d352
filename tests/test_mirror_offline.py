"""The mirror of an OAuth application reads CRM deletions from the portal's offline event
queue (bitrix_fast/mirror/offline.py); webhooks, filtered listings and unbound events keep
counting. In memory, on a FakeClock."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from bitrix_fast import Bitrix, OAuthApp
from bitrix_fast.errors import BitrixError
from bitrix_fast.mirror import sync
from bitrix_fast.mirror import offline
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import AppPortals, Sandbox
from bitrix_fast.tokens import FileTokenStore

SELECT = ["ID", "TITLE", "DATE_MODIFY"]


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Tuple[Sandbox, Bitrix, str]]:
    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", "off")
    clock = FakeClock()
    deals = getattr(request, "param", 3000)
    with AppPortals(1, deals=deals, id_gaps="clustered", http=False, clock=clock) as cloud:
        app = OAuthApp(cloud.client_id, cloud.client_secret,
                       store=FileTokenStore(str(tmp_path / "tokens.json"), clock=clock),
                       token_url=cloud.token_url, transport=cloud.transport(), clock=clock)
        portal = cloud.portals[0]
        app.save(portal.issue_tokens())
        with app.client(portal.member_id, verbose=False) as bx:
            bx.call("event.bind", {"event": "ONCRMDEALDELETE", "event_type": "offline"})
            yield portal, bx, f"sqlite:///{tmp_path / 'mirror.sqlite'}"


def delete(portal: Sandbox, count: int, seed: int = 0) -> List[int]:
    import random

    ids = random.Random(seed).sample(sorted(portal.store.ids("deal")), count)
    for row in ids:
        portal.store.delete("deal", row)
    portal.clock.advance(5)
    return ids


def table_ids(db: str) -> set:
    import sqlite3

    with sqlite3.connect(db[len("sqlite:///"):]) as con:
        return {row[0] for row in con.execute('SELECT "ID" FROM crm_deal')}


@pytest.mark.parametrize("world", [12_000], indirect=True)
def test_an_applications_mirror_reads_deletions_from_the_queue(world):
    portal, bx, db = world
    first = sync(bx, "crm.deal.list", db, select=SELECT)
    assert first.mode == "first" and first.rows == 12_000
    delete(portal, 100)
    second = sync(bx, "crm.deal.list", db, select=SELECT)
    assert second.deleted == 100 and table_ids(db) == portal.store.ids("deal")
    assert portal.offline.entries() == []  # applied, then cleared from the portal
    # The same change counted instead costs more, and more the bigger the table.
    delete(portal, 100, seed=1)
    counted = sync(bx, "crm.deal.list", db, select=SELECT, deletions="count")
    assert counted.deleted == 100 and counted.requests >= second.requests + 3
    # server.time with the bindings, the changes, the queue, the columns' description
    assert second.requests <= 7


def test_a_table_made_before_the_binding_is_counted_once(world):
    portal, bx, db = world
    sync(bx, "crm.deal.list", db, select=SELECT, deletions="count")  # no marker yet
    delete(portal, 50)
    trusting = sync(bx, "crm.deal.list", db, select=SELECT)
    assert trusting.deleted == 50 and table_ids(db) == portal.store.ids("deal")
    delete(portal, 50, seed=2)
    queued = sync(bx, "crm.deal.list", db, select=SELECT)
    assert queued.deleted == 50 and queued.requests < trusting.requests


def test_webhooks_and_filtered_listings_keep_counting(world):
    portal, bx, db = world
    webhook = connect(portal)
    sync(webhook, "crm.deal.list", db, select=SELECT)
    delete(portal, 40)
    by_webhook = sync(webhook, "crm.deal.list", db, select=SELECT)
    assert by_webhook.deleted == 40 and table_ids(db) == portal.store.ids("deal")
    # The queue was never read: the webhook's run left the app's events alone.
    assert len(portal.offline.entries()) == 40
    filtered_db = db.replace("mirror.sqlite", "filtered.sqlite")
    sync(bx, "crm.deal.list", filtered_db, select=SELECT, filter={"CLOSED": "N"})
    assert len(portal.offline.entries()) == 40


def test_events_applied_but_not_cleared_are_applied_again_and_cleared(world, monkeypatch):
    portal, bx, db = world
    sync(bx, "crm.deal.list", db, select=SELECT)
    delete(portal, 30)

    def fails(self: offline.QueuedDeletions) -> None:
        raise BitrixError("the portal did not answer")

    with monkeypatch.context() as patch:
        patch.setattr(offline.QueuedDeletions, "clear", fails)
        assert sync(bx, "crm.deal.list", db, select=SELECT).deleted == 30
    assert len(portal.offline.entries()) == 30  # still marked on the portal
    again = sync(bx, "crm.deal.list", db, select=SELECT)
    assert again.deleted == 0 and portal.offline.entries() == []


def test_a_run_that_fails_after_reading_the_queue_loses_no_deletion(world, monkeypatch):
    portal, bx, db = world
    sync(bx, "crm.deal.list", db, select=SELECT)
    deleted = delete(portal, 30)

    from bitrix_fast.mirror import table as mirror_table

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr(mirror_table.TableRun, "_product_rows", broken)  # after the queue
        with pytest.raises(RuntimeError):
            sync(bx, "crm.deal.list", db, select=SELECT)
    assert set(deleted) <= table_ids(db)  # rolled back
    assert all(e["PROCESS_ID"] for e in portal.offline.entries())  # marked, hidden, kept
    recovered = sync(bx, "crm.deal.list", db, select=SELECT)
    assert recovered.deleted == 30 and table_ids(db) == portal.store.ids("deal")
    assert portal.offline.entries() == []


def test_unbinding_makes_the_mirror_count_again(world):
    portal, bx, db = world
    sync(bx, "crm.deal.list", db, select=SELECT)
    bx.call("event.unbind", {"event": "ONCRMDEALDELETE", "event_type": "offline"})
    delete(portal, 20)
    counted = sync(bx, "crm.deal.list", db, select=SELECT)
    assert counted.deleted == 20
    bx.call("event.bind", {"event": "ONCRMDEALDELETE", "event_type": "offline"})
    delete(portal, 20, seed=3)  # not queued... and found by counting once more
    assert sync(bx, "crm.deal.list", db, select=SELECT).deleted == 20
    assert table_ids(db) == portal.store.ids("deal")


def test_which_event_reports_which_listing():
    assert offline.delete_event("crm.deal.list", {}) == ("ONCRMDEALDELETE", None)
    assert offline.delete_event("crm.item.list", {"entityTypeId": 1}) == \
        ("ONCRMLEADDELETE", None)
    assert offline.delete_event("crm.item.list", {"ENTITYTYPEID": "1032"}) == \
        ("ONCRMDYNAMICITEMDELETE", 1032)
    assert offline.delete_event("tasks.task.list", {}) is None
    assert offline.delete_event("crm.item.list", {}) is None


def test_dynamic_types_take_only_their_own_events():
    queue = offline.QueuedDeletions(bx=None, event="ONCRMDYNAMICITEMDELETE", type_id=128)
    rows = [
        {"ID": "1", "PROCESS_ID": "p1", "EVENT_DATA": {"FIELDS": {"ID": "7", "ENTITY_TYPE_ID": "128"}}},
        {"ID": "2", "PROCESS_ID": "p1", "EVENT_DATA": {"FIELDS": {"ID": 8, "ENTITY_TYPE_ID": 130}}},
        {"ID": "3", "PROCESS_ID": "", "EVENT_DATA": {"FIELDS": {"ID": 9, "ENTITY_TYPE_ID": 128}}},
        {"ID": "4", "PROCESS_ID": "p2", "EVENT_DATA": {"FIELDS": {"ID": 10, "ENTITY_TYPE_ID": 128}}},
        {"ID": "x", "PROCESS_ID": "p2", "EVENT_DATA": None},
    ]
    assert queue._take(rows) == [7, 10]
    # Only those are cleared: type 130's mirror finds its event among the marked ones.
    assert queue._applied == {"p1": [1], "p2": [4]}
