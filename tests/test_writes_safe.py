"""Writes safe to repeat, through a full client over the in-memory sandbox on a FakeClock:
keyed adds under faults after execution, the wait past the portal's cut, updates and deletes
in doubt, upserts and their reruns."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from bitrix_fast import BatchError, Bitrix, DeadlineExceeded
from bitrix_fast.errors import ConnectError, ConnectionDropped, KeyConflict, UpsertError
from bitrix_fast.net.transport import HttpRequest, HttpResponse, Transport
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox
from bitrix_fast.writes.bulk import Status


def deals(portal: Sandbox) -> Dict[str, List[int]]:
    """ORIGIN_ID -> the IDs of the deals holding it."""
    out: Dict[str, List[int]] = {}
    with portal.store.locked() as db:
        for ident, origin in db.execute('SELECT "ID", "ORIGIN_ID" FROM deal ORDER BY "ID"'):
            out.setdefault(origin, []).append(ident)
    return out


def keyed(count: int, start: int = 0) -> List[Dict[str, Any]]:
    return [{"fields": {"TITLE": f"Order {n}", "ORIGIN_ID": f"ext-{n}"}}
            for n in range(start, start + count)]


def through(portal: Sandbox, wrapper: type, **options: Any) -> Bitrix:
    """A client whose requests reach the portal through ``wrapper(portal.transport())``."""
    return Bitrix(portal.webhook, transport=wrapper(portal.transport()), clock=portal.clock,
                  verbose=False, **options)


class Wrapped:
    """A transport around the portal's, for the faults the sandbox cannot draw."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def exchange(self, request: HttpRequest) -> HttpResponse:
        return self.inner.exchange(request)

    def close(self) -> None:
        self.inner.close()


# -- keyed adds ----------------------------------------------------------------------------

def test_keyed_adds_under_drops_and_504s_after_execution_create_each_item_once():
    with Sandbox(http=False, clock=FakeClock(), faults="drop=0.1,504=0.1", seed=3) as portal:
        bx = connect(portal)
        ids = bx.call("crm.deal.add", keyed(1000), key="ORIGIN_ID")
        held = deals(portal)
        assert all(len(held[f"ext-{n}"]) == 1 for n in range(1000)) and len(held) == 1000
        assert list(ids) == [held[f"ext-{n}"][0] for n in range(1000)]  # in item order
        faults = portal.stats()["faults"]
        assert faults.get("drop", 0) + faults.get("504", 0) >= 3
        # The adds in doubt were all found (they ran), read back a few requests' worth.
        assert bx.stats()["requests"] <= 21 + 2 * sum(faults.values()) + 4
        assert portal.clock.now() < 75  # found at once: nobody waited for the cut


def test_an_add_that_never_ran_is_resent_only_after_the_cut_and_created_once():
    with Sandbox(http=False, clock=FakeClock(), faults="hang=0.3", seed=5) as portal:
        bx = connect(portal, timeout=10, settle_wait=75)
        ids = bx.call("crm.deal.add", keyed(300), key="ORIGIN_ID")
        held = deals(portal)
        assert len(ids) == 300 and all(len(held[f"ext-{n}"]) == 1 for n in range(300))
        assert portal.stats()["faults"]["hang"] >= 1
        assert portal.clock.now() >= 75  # absence was trusted only past the cut


class LateAdd(Wrapped):
    """A proxy's 504 for the first add while the portal still queues it: the add runs only
    after the first read-back has looked for it (and not found it)."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.held: Optional[HttpRequest] = None
        self.done = False

    def exchange(self, request: HttpRequest) -> HttpResponse:
        if not self.done and b"crm.deal.add" in request.body:
            self.done, self.held = True, request
            return HttpResponse(504, b"<html>504 Gateway Time-out</html>",
                                {"content-type": "text/html"})
        response = self.inner.exchange(request)
        if self.held is not None and b"crm.deal.list" in request.body:
            held, self.held = self.held, None
            self.inner.exchange(held)  # ... and now it runs
        return response


def test_an_add_still_running_behind_a_504_is_found_by_the_second_read_not_resent():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = through(portal, LateAdd, settle_wait=60)
        ids = bx.call("crm.deal.add", keyed(120), key="ORIGIN_ID")
        held = deals(portal)
        assert all(len(held[f"ext-{n}"]) == 1 for n in range(120))
        assert ids[0] == held["ext-0"][0] and portal.clock.now() >= 60


def test_a_deadline_ends_the_wait_for_the_cut_and_names_the_items_in_doubt():
    with Sandbox(http=False, clock=FakeClock(), faults="hang=1.0") as portal:
        bx = connect(portal, timeout=10)
        with pytest.raises(DeadlineExceeded) as caught:
            bx.call("crm.deal.add", keyed(3), key="ORIGIN_ID", deadline=40)
        assert caught.value.partial is not None
        assert sorted(caught.value.partial.in_doubt) == [0, 1, 2]
        assert 40 <= portal.clock.now() < 41  # the 75 s wait was cut at the deadline


class GoneAfterAdds(Wrapped):
    """Every add runs and its answer is lost; then the portal is gone."""

    def exchange(self, request: HttpRequest) -> HttpResponse:
        if b"crm.deal.add" in request.body:
            self.inner.exchange(request)
            raise ConnectionDropped("the connection was lost", method="batch")
        raise ConnectError("could not connect: refused", method="batch")


def test_what_cannot_be_settled_because_the_portal_is_gone_stays_in_doubt():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = through(portal, GoneAfterAdds)
        with pytest.raises(BatchError) as caught:
            bx.call("crm.deal.add", keyed(60), key="ORIGIN_ID")
        assert sorted(caught.value.in_doubt) == list(range(60))
        assert all(isinstance(e, ConnectionDropped) for e in caught.value.in_doubt.values())


def test_duplicate_or_missing_keys_are_refused_before_anything_is_sent():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = connect(portal)
        with pytest.raises(ValueError, match="items 0 and 2 hold the same ORIGIN_ID 'a'"):
            bx.call("crm.deal.add", [{"fields": {"ORIGIN_ID": "a"}},
                                     {"fields": {"ORIGIN_ID": "b"}},
                                     {"fields": {"ORIGIN_ID": "a"}}], key="ORIGIN_ID")
        with pytest.raises(ValueError, match="item 1: its fields hold no 'ORIGIN_ID'"):
            bx.call("crm.deal.add", [{"fields": {"ORIGIN_ID": "a"}}, {"fields": {}}],
                    key="ORIGIN_ID")
        with pytest.raises(ValueError, match="add methods"):
            bx.call("crm.deal.update", [{"id": 1, "fields": {}}], key="ORIGIN_ID")
        assert portal.stats()["requests"] == 0


def test_smart_process_items_are_keyed_by_their_camel_case_field():
    with Sandbox(http=False, clock=FakeClock(), faults="drop=0.2", seed=1) as portal:
        bx = connect(portal)
        items = [{"entityTypeId": 2, "fields": {"title": f"t{n}", "originId": f"o{n}"}}
                 for n in range(200)]
        ids = bx.call("crm.item.add", items, key="originId")
        held = deals(portal)
        assert [held[f"o{n}"] for n in range(200)] == [[ident] for ident in ids]


def test_a_user_field_works_as_the_key_and_iter_call_yields_ids():
    with Sandbox(http=False, clock=FakeClock(), faults="504=0.2", seed=4) as portal:
        bx = connect(portal)
        items = [{"fields": {"NAME": f"n{n}", "UF_CRM_1700000001": f"C-{n}"}}
                 for n in range(150)]
        with bx.iter_call("crm.contact.add", items, key="UF_CRM_1700000001") as outcomes:
            got = {o.index: o for o in outcomes}
        assert sorted(got) == list(range(150))
        assert all(o.status is Status.RESULT and isinstance(o.result, int)
                   for o in got.values())
        assert portal.store.count("contact") == 150


class DropAdds(Wrapped):
    """Every add runs and its answer is lost; reads come through."""

    def exchange(self, request: HttpRequest) -> HttpResponse:
        response = self.inner.exchange(request)
        if b"crm.deal.add" in request.body:
            raise ConnectionDropped("the connection was lost", method="batch")
        return response


def test_an_add_whose_key_turns_out_held_twice_is_an_error_naming_the_records():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        portal.store.insert("deal", {"TITLE": "old", "ORIGIN_ID": "ext-0"})
        bx = through(portal, DropAdds)
        with pytest.raises(BatchError) as caught:
            bx.call("crm.deal.add", keyed(1), key="ORIGIN_ID")
        error = caught.value.errors[0]
        assert isinstance(error, KeyConflict) and error.ids == [1, 2]


# -- updates and deletes in doubt ----------------------------------------------------------------

def test_updates_and_deletes_in_doubt_are_sent_again():
    with Sandbox(deals=200, http=False, clock=FakeClock(), faults="drop=0.2,504=0.2",
                 seed=2) as portal:
        bx = connect(portal)
        updated = bx.call("crm.deal.update",
                          [{"id": n, "fields": {"TITLE": f"u{n}"}} for n in range(1, 201)])
        assert updated == tuple([True] * 200)
        with portal.store.locked() as db:
            titles = dict(db.execute('SELECT "ID", "TITLE" FROM deal'))
        assert all(titles[n] == f"u{n}" for n in range(1, 201))
        deleted = bx.call("crm.deal.delete", [{"id": n} for n in range(1, 201)])
        assert deleted == tuple([True] * 200) and portal.store.count("deal") == 0
        assert sum(portal.stats()["faults"].values()) >= 2


class DropFirst(Wrapped):
    """The first request runs and its answer is lost; the rest come through."""

    dropped = False

    def exchange(self, request: HttpRequest) -> HttpResponse:
        response = self.inner.exchange(request)
        if not self.dropped:
            self.dropped = True
            raise ConnectionDropped("the connection was lost", method="batch")
        return response


def test_a_delete_that_ran_before_its_answer_was_lost_counts_as_deleted():
    with Sandbox(deals=3, http=False, clock=FakeClock()) as portal:
        bx = through(portal, DropFirst)
        assert bx.call("crm.deal.delete", [{"id": 2}]) == (True,)
        assert portal.store.ids("deal") == {1, 3}
        assert portal.stats()["errors"].get("", 0) == 1  # the resend's "Not found"


def test_an_update_that_appends_to_a_multiple_field_stays_in_doubt():
    with Sandbox(contacts=2, http=False, clock=FakeClock(), faults="drop=1.0") as portal:
        bx = connect(portal)
        with pytest.raises(BatchError) as caught:
            bx.call("crm.contact.update", [{"id": 1, "fields": {"PHONE": [{"VALUE": "+7"}]}}])
        assert list(caught.value.in_doubt) == [0]
        assert portal.stats()["requests"] == 1  # never sent again


def test_adds_without_a_key_stay_in_doubt_as_before():
    with Sandbox(http=False, clock=FakeClock(), faults="drop=1.0") as portal:
        bx = connect(portal)
        with pytest.raises(BatchError) as caught:
            bx.call("crm.deal.add", [{"fields": {"TITLE": "x"}}])
        assert list(caught.value.in_doubt) == [0] and portal.stats()["requests"] == 1


# -- upsert ----------------------------------------------------------------------------------------

def orders(count: int, changed: int = 0) -> List[Dict[str, Any]]:
    return [{"ORIGIN_ID": f"ext-{n}", "TITLE": f"Order {n}" + ("*" if n < changed else ""),
             "OPPORTUNITY": 100 + n} for n in range(count)]


def test_an_upsert_adds_then_a_rerun_adds_nothing_and_updates_only_what_changed():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = connect(portal)
        first = bx.upsert("crm.deal", orders(300))
        assert (first.added, first.updated, first.unchanged) == (300, 0, 0)
        held = deals(portal)
        assert first.ids == [held[f"ext-{n}"][0] for n in range(300)]
        portal.reset_stats()
        again = bx.upsert("crm.deal", orders(300, changed=30))
        assert (again.added, again.updated, again.unchanged) == (0, 30, 270)
        assert again.ids == first.ids and portal.store.count("deal") == 300
        # 300 keys: 6 lookups in one request, their 6 follow-ups past the last ID in a
        # second; the 30 updates: the first one alone (it proves the credentials), 29.
        assert portal.stats()["requests"] == 4
        portal.reset_stats()
        assert bx.upsert("crm.deal", orders(300, changed=30)).unchanged == 300


def test_an_upsert_under_faults_leaves_every_record_once():
    with Sandbox(deals=0, http=False, clock=FakeClock(), faults="drop=0.15,504=0.15",
                 seed=8) as portal:
        bx = connect(portal)
        bx.upsert("crm.deal", orders(400))
        bx.upsert("crm.deal", orders(600, changed=200))
        held = deals(portal)
        assert len(held) == 600 and all(len(ids) == 1 for ids in held.values())
        with portal.store.locked() as db:
            titles = dict(db.execute('SELECT "ORIGIN_ID", "TITLE" FROM deal'))
        assert all(titles[f"ext-{n}"] == f"Order {n}" + ("*" if n < 200 else "")
                   for n in range(600))


def test_a_key_held_by_two_records_writes_nothing_for_it_and_names_them():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        first = portal.store.insert("deal", {"TITLE": "a", "ORIGIN_ID": "ext-1"})
        second = portal.store.insert("deal", {"TITLE": "b", "ORIGIN_ID": "ext-1"})
        bx = connect(portal)
        with pytest.raises(UpsertError) as caught:
            bx.upsert("crm.deal", orders(3))
        error = caught.value
        assert error.conflicts == {"ext-1": [first, second]}
        assert isinstance(error.errors[1], KeyConflict)
        assert error.result.added == 2 and error.result.ids[1] is None
        assert "'ext-1' (IDs 1, 2)" in str(error)
        with portal.store.locked() as db:
            assert sorted(t for (t,) in db.execute(
                'SELECT "TITLE" FROM deal WHERE "ORIGIN_ID" = ?', ("ext-1",))) == ["a", "b"]


def test_a_smart_process_upsert_uses_entity_type_and_camel_case_fields():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = connect(portal)
        items = [{"originId": f"o{n}", "title": f"t{n}"} for n in range(20)]
        done = bx.upsert("crm.item", items, key="originId", params={"entityTypeId": 2})
        assert done.added == 20
        items[3]["title"] = "changed"
        again = bx.upsert("crm.item", items, key="originId", params={"entityTypeId": 2})
        assert (again.added, again.updated, again.unchanged) == (0, 1, 19)
        with pytest.raises(ValueError, match="entityTypeId"):
            bx.upsert("crm.item", items, key="originId")


def test_iter_upsert_yields_each_item_with_its_action_and_journals_positions():
    with Sandbox(http=False, clock=FakeClock()) as portal:
        bx = connect(portal)
        bx.upsert("crm.deal", orders(10))
        sent: List[int] = []
        with bx.iter_upsert("crm.deal", orders(12, changed=2),
                            on_send=lambda indexes: sent.extend(indexes)) as outcomes:
            actions = {o.index: o.result["action"] for o in outcomes}
        assert actions == {**{n: "updated" for n in (0, 1)},
                           **{n: "unchanged" for n in range(2, 10)},
                           **{n: "added" for n in (10, 11)}}
        assert sorted(sent) == [0, 1, 10, 11]
