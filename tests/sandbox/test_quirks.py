"""The quirks: each real-portal misbehaviour, page by page, against a model of what it must do."""
from __future__ import annotations

import pytest

from bitrix_fast.testing.sandbox.outcome import CallContext
from bitrix_fast.testing.sandbox.portal import Sandbox
from bitrix_fast.testing.sandbox.quirks import KNOWN, Quirks, parse_quirks, understated
from bitrix_fast.testing.sandbox.store import Store

ALL = list(range(1, 121))


@pytest.fixture(scope="module")
def seeded():
    s = Store()
    s.seed(deals=120, leads=10, contacts=10, companies=5, tasks=120, users=120)
    yield s
    s.close()


def ctx(names, **options):
    every = options.pop("joined_every", 7)
    return CallContext(quirks=Quirks(names, joined_every=every), **options)


def page(store, names, method="crm.deal.list", context=None, **params):
    """(IDs of the page, Outcome) of one list call with these quirks on."""
    if method == "crm.deal.list":
        params.setdefault("select", ["ID"])
    out = store.call(method, params, context or ctx(names))
    rows = out.result
    if isinstance(rows, dict):
        (rows,) = rows.values()
    key = "id" if method in ("crm.item.list", "tasks.task.list") else "ID"
    return [int(r[key]) for r in rows], out


def joined(ids, every):
    """The joined result set: IDs divisible by ``every`` twice, in ID order."""
    return [i for i in ids for _ in range(2 if i % every == 0 else 1)]


def distinct(ids):
    return list(dict.fromkeys(ids))


def table_order(ids):
    """The stable non-ID order ``ignored_filters`` promises."""
    return sorted(ids, key=lambda i: ((i * 2654435761) % 4294967296, i))


# -- names and parameters -------------------------------------------------------------------

def test_quirk_names_parse_from_a_comma_string_or_an_iterable():
    assert parse_quirks("joined_pages, No_Total,") == {"joined_pages", "no_total"}
    assert parse_quirks(["ignored_start"]) == {"ignored_start"}
    assert parse_quirks(None) == parse_quirks("") == frozenset()
    assert set(KNOWN) == {"joined_pages", "ignored_filters", "ignored_start",
                          "understated_total", "endless_next", "no_total",
                          "owner_list_ignored", "capped_v3_pages"}


def test_unknown_quirks_and_bad_joined_every_are_refused_naming_the_known_ones():
    with pytest.raises(ValueError) as info:
        parse_quirks("joined_pages,slow_pages")
    assert "slow_pages" in str(info.value) and all(name in str(info.value) for name in KNOWN)
    for bad in (0, -7, True, 2.5, "7"):
        with pytest.raises(ValueError):
            Quirks("joined_pages", joined_every=bad)
    with pytest.raises(ValueError):
        Sandbox(quirks="teapot")  # before any socket or thread exists


def test_sandbox_exposes_its_quirks_as_a_frozenset():
    portal = Sandbox(quirks=("no_total", "endless_next"), joined_every=3)
    assert portal.quirks == frozenset({"no_total", "endless_next"})
    assert isinstance(portal.quirks, frozenset)
    assert portal.options.quirks.joined_every == 3
    assert Sandbox().quirks == frozenset()


# -- joined_pages ----------------------------------------------------------------------------

def test_joined_pages_classic_pages_are_short_overlap_and_overstate_the_total(seeded):
    model = joined(ALL, 7)
    assert len(model) == 137
    seen = []
    for start in (0, 50, 100):
        ids, out = page(seeded, "joined_pages", start=start)
        assert ids == distinct(model[start:start + 50])
        assert out.total == 137 and out.counted == 137 and out.skipped == start
        assert out.next == (start + 50 if start + 50 < 137 else None)
        seen += ids
    assert len(page(seeded, "joined_pages", start=0)[0]) == 44  # short, yet a next follows
    assert sorted(set(seen)) == ALL
    # a doubled row on a page boundary shows on both pages
    first, _ = page(seeded, "", context=ctx("joined_pages", joined_every=16), start=0)
    second, _ = page(seeded, "", context=ctx("joined_pages", joined_every=16), start=50)
    assert first[-1] == second[0] == 48


def test_joined_pages_apply_to_start_minus_one_and_to_filters(seeded):
    ids, out = page(seeded, "joined_pages", start=-1, filter={">ID": 30})
    assert ids == distinct(joined(range(31, 121), 7)[:50]) and len(ids) < 50
    assert out.next is None and out.total == 0 and out.counted == 0
    ids, out = page(seeded, "joined_pages", filter={">=ID": 100}, order={"ID": "DESC"})
    assert ids == list(range(120, 99, -1)) and out.total == 21 + 3 and out.next is None


def test_joined_pages_engine_next_is_offset_plus_page_count_and_start_is_page_aligned(seeded):
    items, out = page(seeded, "joined_pages", "crm.item.list", entityTypeId=2)
    assert items == list(range(1, 45)) and out.next == 44 and out.total == 137
    again, out = page(seeded, "joined_pages", "crm.item.list", entityTypeId=2, start=out.next)
    assert again == items and out.next == 44  # following next gives the same page forever


def test_joined_pages_leave_methods_without_multiple_fields_alone(seeded):
    tasks, out = page(seeded, "joined_pages", "tasks.task.list", order={"ID": "ASC"})
    assert tasks == list(range(1, 51)) and out.total == 120
    users, out = page(seeded, "joined_pages", "user.get")
    assert users == list(range(1, 51)) and out.total == 120


# -- ignored_filters -------------------------------------------------------------------------

def test_ignored_filters_drop_every_id_key_and_the_order(seeded):
    for key in ("ID", ">ID", ">=ID", "<ID", "<=ID", "@ID", "!ID", "!@ID"):
        ids, out = page(seeded, "ignored_filters", filter={key: [50, 60] if "@" in key else 50},
                        order={"ID": "ASC"})
        assert out.total == 120, key
        assert ids == table_order(ALL)[:50] and ids != sorted(ids)
    collected = []
    for start in (0, 50, 100):  # start still pages
        collected += page(seeded, "ignored_filters", start=start, order={"ID": "DESC"})[0]
    assert collected == table_order(ALL)


def test_ignored_filters_keep_other_keys(seeded):
    with seeded.locked() as db:
        won = [r[0] for r in db.execute("SELECT ID FROM deal WHERE STAGE_ID = 'WON'")]
    ids, out = page(seeded, "ignored_filters", filter={"STAGE_ID": "WON", "<ID": 10})
    assert sorted(ids) == sorted(won) and out.total == len(won)


def test_ignored_filters_on_item_task_and_user_lists(seeded):
    items, out = page(seeded, "ignored_filters", "crm.item.list", entityTypeId=2,
                      filter={">=id": 100}, order={"id": "ASC"})
    assert out.total == 120 and items == table_order(ALL)[:50]
    tasks, out = page(seeded, "ignored_filters", "tasks.task.list", filter={">ID": 100})
    assert out.total == 120 and tasks == table_order(ALL)[:50]  # not the default ID DESC
    users, out = page(seeded, "ignored_filters", "user.get", FILTER={">=ID": 100},
                      sort="ID", order="DESC")
    assert out.total == 120 and users == table_order(ALL)[:50]
    users, out = page(seeded, "ignored_filters", "user.get", **{">ID": 100})
    assert out.total == 120


# -- ignored_start ---------------------------------------------------------------------------

def test_ignored_start_serves_page_one_and_reports_next_as_if_paging_worked(seeded):
    for start, next_ in ((0, 50), (50, 100), (77, 100), (100, None)):
        ids, out = page(seeded, "ignored_start", start=start)
        assert ids == list(range(1, 51)) and out.next == next_ and out.total == 120
        assert out.skipped == 0
    items, out = page(seeded, "ignored_start", "crm.item.list", entityTypeId=2, start=50)
    assert items == list(range(1, 51)) and out.next == 100
    users, out = page(seeded, "ignored_start", "user.get", start=10)  # exact offsets
    assert users == list(range(1, 51)) and out.next == 60
    ids, out = page(seeded, "ignored_start", start=-1, filter={">ID": 10})
    assert ids == list(range(11, 61)) and out.next is None and out.counted == 0


# -- understated_total -----------------------------------------------------------------------

def test_understated_claim():
    assert [understated(n) for n in (0, 1, 9, 10, 120, 500)] == [0, 0, 8, 9, 108, 450]


def test_understated_total_stops_next_before_the_last_rows():
    store = Store()
    store.seed(deals=500)
    try:
        ids, out = page(store, "understated_total", start=350)
        assert out.total == 450 and out.next == 400 and out.counted == 500
        ids, out = page(store, "understated_total", start=400)
        assert ids == list(range(401, 451)) and out.next is None  # rows 451..500 unclaimed
        ids, out = page(store, "understated_total", start=450)
        assert ids == list(range(451, 501)) and out.total == 450  # still served if asked
        ids, out = page(store, "understated_total", filter={"ID": 7})
        assert ids == [7] and out.total == 0
    finally:
        store.close()


# -- endless_next ----------------------------------------------------------------------------

def test_endless_next_goes_on_past_the_end(seeded):
    ids, out = page(seeded, "endless_next", start=100)
    assert ids == list(range(101, 121)) and out.next == 150 and out.total == 120
    ids, out = page(seeded, "endless_next", start=150)  # classic: page 1 again
    assert ids == list(range(1, 51)) and out.next == 200
    off = ctx("endless_next", classic_out_of_range_page1=False)
    ids, out = page(seeded, "", context=off, start=150)
    assert ids == [] and out.next == 200
    items, out = page(seeded, "endless_next", "crm.item.list", entityTypeId=2, start=150)
    assert items == [] and out.next == 200
    tasks, out = page(seeded, "endless_next", "tasks.task.list", start=100)
    assert len(tasks) == 20 and out.next == 150
    assert page(seeded, "endless_next", start=-1)[1].next is None


# -- no_total --------------------------------------------------------------------------------

def test_no_total_never_reports_a_total_but_keeps_next(seeded):
    _, out = page(seeded, "no_total")
    assert out.total is None and out.next == 50
    _, out = page(seeded, "no_total", start=-1)  # classic lists say 0 here otherwise
    assert out.total is None and out.next is None
    _, out = page(seeded, "no_total", "crm.item.list", entityTypeId=2, start=100)
    assert out.total is None and out.next is None
    _, out = page(seeded, "no_total", "user.get")
    assert out.total is None and out.next == 50


def test_quirks_combine(seeded):
    ids, out = page(seeded, {"joined_pages", "understated_total", "ignored_start"}, start=50)
    assert ids == list(range(1, 45))  # page 1 of the joined rows
    assert out.total == understated(137) and out.next == 100


def test_no_quirk_is_on_by_default(seeded):
    ids, out = page(seeded, "", context=CallContext(), start=50, order={"ID": "DESC"})
    assert ids == list(range(70, 20, -1)) and out.total == 120 and out.next == 100


# -- over HTTP -------------------------------------------------------------------------------

def test_quirks_reach_single_calls_and_batch_commands(bitrix_sandbox_factory, http):
    portal = bitrix_sandbox_factory(deals=120, quirks="joined_pages,no_total")
    body = http.post(portal.webhook + "batch", json={"cmd": {
        "a": "crm.deal.list?select[]=ID&start=0",
        "b": "crm.deal.list?select[]=ID&start=50",
    }}).json()["result"]
    assert body["result_total"] == [] and body["result_next"] == {"a": 50, "b": 100}
    assert len(body["result"]["a"]) == 44 and body["result"]["b"][0]["ID"] == "45"
    portal = bitrix_sandbox_factory(deals=120, quirks=["ignored_filters"])
    reply = http.post(portal.webhook + "crm.deal.list.json",
                      json={"filter": {">ID": 100}, "select": ["ID"]}).json()
    assert reply["total"] == 120
    assert [int(r["ID"]) for r in reply["result"]] == table_order(ALL)[:50]
