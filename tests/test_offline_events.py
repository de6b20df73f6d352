"""app.events(member_id): a portal's offline event queue read so that no event is lost
between reading and handling -- in memory, on a FakeClock."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from bitrix_fast import OAuthApp
from bitrix_fast.app import EventBatch
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox import AppPortals, Sandbox
from bitrix_fast.tokens import FileTokenStore


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Tuple[Sandbox, OAuthApp]]:
    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", "off")
    clock = FakeClock()
    with AppPortals(1, deals=200, leads=20, http=False, clock=clock) as cloud:
        app = OAuthApp(cloud.client_id, cloud.client_secret,
                       store=FileTokenStore(str(tmp_path / "tokens.json"), clock=clock),
                       token_url=cloud.token_url, transport=cloud.transport(), clock=clock)
        portal = cloud.portals[0]
        app.save(portal.issue_tokens())
        with app.client(portal.member_id, verbose=False) as bx:
            for name in ("ONCRMDEALDELETE", "ONCRMLEADDELETE"):
                bx.call("event.bind", {"event": name, "event_type": "offline"})
        yield portal, app


def delete_deals(portal: Sandbox, count: int) -> List[int]:
    ids = sorted(portal.store.ids("deal"))[:count]
    for row in ids:
        portal.store.delete("deal", row)
    return ids


def ids_of(batch: EventBatch) -> List[int]:
    return [event.data["FIELDS"]["ID"] for event in batch]


def test_events_are_read_then_cleared_once_handled(world):
    portal, app = world
    deleted = delete_deals(portal, 70)
    with app.events(portal.member_id) as events:
        first = events.read()
        assert first is not None and len(first) == 50 and first.process_id
        assert first.events[0].name == "ONCRMDEALDELETE"
        # Read but not handled: still on the portal, and its reader is on record.
        assert len(portal.offline.entries()) == 70
        assert first.process_id in app.store.load(portal.member_id).pending
        events.done(first)
        second = events.read()
        assert second is not None and len(second) == 20
        events.done(second)
        assert events.read() is None
    assert ids_of(first) + ids_of(second) == deleted
    assert portal.offline.entries() == [] and app.store.load(portal.member_id).pending == {}


def test_process_hands_every_batch_to_the_handler(world):
    portal, app = world
    deleted = delete_deals(portal, 120)
    seen: List[int] = []
    with app.events(portal.member_id) as events:
        assert events.process(lambda batch: seen.extend(ids_of(batch))) == 120
    assert seen == deleted and portal.offline.entries() == []


def test_a_batch_whose_handler_failed_is_read_again_after_the_readers_lease(world):
    portal, app = world
    deleted = delete_deals(portal, 30)

    def crash(batch: EventBatch) -> None:
        raise RuntimeError("the handler died")

    with app.events(portal.member_id, lease=120) as dying:
        with pytest.raises(RuntimeError):
            dying.process(crash)
    assert len(portal.offline.entries()) == 30  # nothing lost
    # Another process, while the first reader's lease runs: the batch is not its to take.
    with app.events(portal.member_id, lease=120) as other:
        assert other.read() is None
        portal.clock.advance(121)
        again = other.read()
        assert again is not None and ids_of(again) == deleted
        other.done(again)
        assert other.read() is None
    assert portal.offline.entries() == [] and app.store.load(portal.member_id).pending == {}


def test_one_event_name_at_a_time(world):
    portal, app = world
    delete_deals(portal, 3)
    lead = sorted(portal.store.ids("lead"))[0]
    portal.store.delete("lead", lead)
    with app.events(portal.member_id, event="ONCRMLEADDELETE") as leads:
        batch = leads.read()
        assert batch is not None and [e.name for e in batch] == ["ONCRMLEADDELETE"]
        leads.done(batch)
        assert leads.read() is None
    assert len(portal.offline.entries()) == 3  # the deals' events wait for their reader


def test_reader_arguments_are_checked(world):
    portal, app = world
    with pytest.raises(ValueError, match="limit"):
        app.events(portal.member_id, limit=51)
