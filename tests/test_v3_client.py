"""REST 3.0 through a full client over the in-memory sandbox: JSON calls to /rest/api/, the
new error shape as typed errors, an Idempotency-Key per item reused on every resend, replays
reported as results, and lists paged by id without trusting the page size."""
from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Dict, List

import pytest

from bitrix_fast import BatchError, Bitrix, BitrixAsync
from bitrix_fast.errors import (ConnectionDropped, IdempotencyKeyReused, ListingError,
                                ValidationError)
from bitrix_fast.net.transport import HttpRequest, HttpResponse, Transport
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox

TASK = {"title": "Call back", "creatorId": 1, "responsibleId": 1}


class Recording:
    """The portal's transport, remembering each request's URL, key and body."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.seen: List[HttpRequest] = []

    def exchange(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request)
        return self.inner.exchange(request)

    def close(self) -> None:
        self.inner.close()


def recorded(portal: Sandbox, **options) -> "tuple[Bitrix, Recording]":
    wire = Recording(portal.transport())
    return Bitrix(portal.webhook, transport=wire, clock=portal.clock, verbose=False,
                  **options), wire


def test_a_v3_add_goes_to_rest_api_as_json_with_a_key_and_returns_the_item():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx, wire = recorded(portal)
        item = bx.call_v3("tasks.task.add", {"fields": TASK})
        assert item["id"] == 1 and item["title"] == TASK["title"]
        (request,) = wire.seen
        assert "/rest/api/1/" in request.url and request.url.endswith("/tasks.task.add")
        assert json.loads(request.body) == {"fields": TASK}
        assert len(request.headers["Idempotency-Key"]) == 32
        assert bx.call_v3("tasks.task.get", {"id": 1})["title"] == TASK["title"]
        assert "Idempotency-Key" not in wire.seen[-1].headers  # reads carry no key


def test_v3_writes_in_doubt_are_resent_under_their_key_after_the_cut_and_run_once():
    with Sandbox(http=False, clock=FakeClock(), faults="drop=0.1,504=0.1", seed=6) as portal:
        bx, wire = recorded(portal, settle_wait=75)
        before = portal.store.count("task")
        tasks = bx.call_v3("tasks.task.add", [{"fields": {**TASK, "title": f"t{n}"}}
                                              for n in range(40)])
        assert [t["title"] for t in tasks] == [f"t{n}" for n in range(40)]
        assert portal.store.count("task") == before + 40
        assert portal.stats()["idempotent_replays"] >= 1  # replayed answers are results
        keys: Dict[bytes, set] = defaultdict(set)
        for request in wire.seen:
            keys[request.body].add(request.headers["Idempotency-Key"])
        assert all(len(found) == 1 for found in keys.values())  # one key per item, always
        assert len({k for found in keys.values() for k in found}) == 40
        assert portal.clock.now() >= 75  # no resend before the cut


def test_own_keys_make_a_rerun_within_a_day_send_nothing_twice():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = connect(portal)
        items = [{"fields": {**TASK, "title": f"t{n}"}} for n in range(5)]
        keys = [f"order-{n}" for n in range(5)]
        first = bx.call_v3("tasks.task.add", items, keys=keys)
        again = bx.call_v3("tasks.task.add", items, keys=keys)
        assert [t["id"] for t in again] == [t["id"] for t in first]
        assert portal.stats()["idempotent_replays"] == 5 and portal.store.count("task") == 5
        with pytest.raises(ValueError, match="printable ASCII"):
            bx.call_v3("tasks.task.add", items[:1], keys=["has space"])


def test_v3_errors_are_typed_and_a_key_given_to_two_bodies_is_refused():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = connect(portal)
        with pytest.raises(ValidationError) as caught:
            bx.call_v3("tasks.task.add", {"fields": {"title": "nobody"}})
        assert {v["field"] for v in caught.value.validation} == {"creatorId", "responsibleId"}
        with pytest.raises(BatchError) as batch:
            bx.call_v3("tasks.task.add", [{"fields": TASK}, {"fields": {**TASK, "title": "b"}}],
                       keys=["same", "same"])
        assert list(batch.value.results) == [0]
        assert isinstance(batch.value.errors[1], IdempotencyKeyReused)


class DropAll:
    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def exchange(self, request: HttpRequest) -> HttpResponse:
        self.inner.exchange(request)
        raise ConnectionDropped("the connection was lost", method="tasks.task.add")

    def close(self) -> None:
        self.inner.close()


def test_a_v3_write_that_stays_in_doubt_is_named_after_its_resends():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = Bitrix(portal.webhook, transport=DropAll(portal.transport()), clock=portal.clock,
                    verbose=False, settle_wait=10)
        with pytest.raises(ConnectionDropped):
            bx.call_v3("tasks.task.add", {"fields": TASK})
        assert portal.store.count("task") == 1  # ran once, resends were replays
        assert portal.stats()["idempotent_replays"] == 4


def test_get_all_v3_reads_every_row_once_though_pages_are_cut_short():
    with Sandbox(tasks=1203, http=False, clock=FakeClock(), quirks="capped_v3_pages") as portal:
        bx, wire = recorded(portal)
        rows = bx.get_all_v3("tasks.task.list", {"select": ["title"]})
        assert [r["id"] for r in rows] == list(range(1, 1204))
        assert set(rows[0]) == {"id", "title"}
        assert len(wire.seen) == 6  # five pages of 250 and the empty one that ends it
        sent = json.loads(wire.seen[1].body)
        assert sent["filter"] == [["id", ">", 250]] and sent["pagination"] == {"limit": 1000}
        with pytest.raises(ValueError, match="order"):
            bx.get_all_v3("tasks.task.list", {"order": {"id": "DESC"}})


class Unordered:
    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def exchange(self, request: HttpRequest) -> HttpResponse:
        body = json.loads(request.body)
        body["filter"] = []  # a portal that drops the id filter
        return self.inner.exchange(HttpRequest(request.verb, request.url,
                                               json.dumps(body).encode(), request.headers,
                                               request.timeout, request.method))

    def close(self) -> None:
        self.inner.close()


def test_a_v3_list_that_ignores_the_id_filter_is_an_error_not_rows_twice():
    with Sandbox(tasks=30, http=False, clock=FakeClock()) as portal:
        bx = Bitrix(portal.webhook, transport=Unordered(portal.transport()),
                    clock=portal.clock, verbose=False)
        with pytest.raises(ListingError, match="ignored"):
            bx.get_all_v3("tasks.task.list")


def test_a_webhook_behind_a_proxy_path_cannot_call_v3():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = Bitrix(portal.base_url + "/hook/abc/", transport=portal.transport(),
                    clock=portal.clock, verbose=False)
        with pytest.raises(ValueError, match="/rest/"):
            bx.call_v3("tasks.task.add", {"fields": TASK})


def test_the_async_client_upserts_and_calls_v3():
    async def main(portal: Sandbox) -> None:
        async with BitrixAsync(portal.webhook, transport=portal.transport(),
                               clock=portal.clock, verbose=False) as bx:
            done = await bx.upsert("crm.deal", [{"ORIGIN_ID": "a", "TITLE": "x"}])
            assert done.added == 1
            ids = await bx.call("crm.deal.add", [{"fields": {"ORIGIN_ID": "b"}}],
                                key="ORIGIN_ID")
            assert ids == (2,)
            item = await bx.call_v3("tasks.task.add", {"fields": TASK})
            assert item["title"] == TASK["title"]
            assert len(await bx.get_all_v3("tasks.task.list")) == 1

    with Sandbox(http=False, clock=FakeClock()) as portal:
        asyncio.run(main(portal))


@pytest.mark.bitrix_sandbox(deals=0)
def test_the_key_and_the_replay_mark_travel_over_http(bitrix_sandbox):
    with Bitrix(bitrix_sandbox.webhook, verbose=False) as bx:
        first = bx.call_v3("tasks.task.add", {"fields": TASK}, keys="over-http-1")
        again = bx.call_v3("tasks.task.add", {"fields": TASK}, keys="over-http-1")
    assert again == first and bitrix_sandbox.stats()["idempotent_replays"] == 1


def test_a_deadline_ends_the_wait_before_a_v3_resend():
    from bitrix_fast import DeadlineExceeded

    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = Bitrix(portal.webhook, transport=DropAll(portal.transport()), clock=portal.clock,
                    verbose=False, settle_wait=75)
        with pytest.raises(DeadlineExceeded) as caught:
            bx.call_v3("tasks.task.add", [{"fields": TASK}], deadline=30)
        assert list(caught.value.partial.in_doubt) == [0]
        assert 30 <= portal.clock.now() < 31 and portal.store.count("task") == 1
