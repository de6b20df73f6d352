"""The list engine against a pure fake list method: completeness, proofs, request counts,
quirks, churn, refusals (no HTTP, no threads)."""
import functools
import random

import pytest

from bitrix_fast.errors import BitrixError, ListingError
from bitrix_fast.listing import Listing
from bitrix_fast.listing.coverage import Coverage
from bitrix_fast.listing.paging import OffsetPaging
from bitrix_fast.listing.ranges import RangePaging
from bitrix_fast.protocol.methods import list_facts
from listfakes import FakeList, run
from listfakes import id_space as _id_space

DEALS = list_facts("crm.deal.list")


@functools.lru_cache(maxsize=None)
def _ids(kind, size):
    return tuple(_id_space(kind, size))


def id_space(kind, size):
    """listfakes.id_space, made once per (kind, size) in this module: a fresh list each call
    (a FakeList may change its own)."""
    return list(_ids(kind, size))


def listing(method="crm.deal.list", params=None, **kwargs):
    return Listing(method, dict(params or {}), list_facts(method), batch_size=50, **kwargs)


def export(ids, method="crm.deal.list", params=None, in_flight=4, skip=(), **fake):
    server = FakeList(list(ids), **fake)
    plan = listing(method, params, skip=skip)
    rows = run(plan, server, in_flight=in_flight)
    key = fake.get("id_key", "ID")
    return [int(row[key]) for row in rows], server, plan


# -- every row once ---------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 49, 50, 51, 99, 100, 120, 2449, 2450, 2500, 2501,
                                  2600, 5000, 12_345])
def test_every_row_once_at_edge_sizes(size):
    """Empty, one row, a page and one more, a batch and one more: each ID exactly once."""
    got, server, _ = export(id_space("uniform", size))
    assert sorted(got) == list(range(1, size + 1))
    assert len(got) == len(set(got))


@pytest.mark.parametrize("size", [0, 1, 30, 49])
def test_a_one_page_list_costs_one_request(size):
    """The first page and the top page go together (issue 25: head and tail in one round
    trip); when they meet, that one request is the whole listing."""
    _, server, _ = export(id_space("uniform", size))
    assert server.commands == 2 and server.requests == 1


def test_a_120_row_list_costs_at_most_four_commands():
    _, server, _ = export(id_space("uniform", 120))
    assert server.commands <= 4 and server.requests == 2


@pytest.mark.parametrize("size,requests", [(51, 1), (100, 1), (1_000, 2), (2_450, 2)])
def test_up_to_a_batch_of_rows_costs_two_requests(size, requests):
    """The counted first page and the top page, then (unless they meet) one batch that reads
    the rest and proves its end."""
    got, server, _ = export(id_space("sparse", size))
    assert len(got) == size and server.requests == requests


@pytest.mark.parametrize("kind,size,floor", [("uniform", 300_000, 2_450),
                                             ("sparse", 200_000, 2_350),
                                             ("clustered", 200_000, 2_350)])
def test_rows_per_request_near_the_ceiling(kind, size, floor):
    """The ceiling is 2,500 rows a request; checking and proving pages costs no requests on a
    portal that behaves (the issue's bars: 2,450 contiguous, 2,350 sparse and clustered)."""
    ids = id_space(kind, size)
    got, server, _ = export(ids, in_flight=8)
    assert sorted(got) == ids
    assert size / server.requests >= floor, size / server.requests


def test_commands_count_only_small_ranges():
    """One COUNT over the filter (the first page's); every other count covers one span."""
    server = FakeList(id_space("clustered", 60_000))
    counts = []
    original = server._list

    def spy(params):
        result = original(params)
        if int(params.get("start", 0)) >= 0:
            counts.append(result[1])
        return result

    server._list = spy
    run(listing(), server)
    assert counts[0] == 60_000
    assert max(counts[1:]) <= 30_000  # a span, never the table
    assert {int(p["start"]) for p in server.log} <= {0, -1}  # no offsets, ever


def test_a_dense_run_is_cut_into_parallel_spans():
    ids = list(range(1, 3_001)) + list(range(1_000_000, 1_060_000)) + \
        list(range(5_000_000, 5_003_000))
    got, server, plan = export(ids, in_flight=8)
    assert sorted(got) == ids
    spans = plan._strategy._spans.values()
    assert sum(1 for s in spans if 1_000_000 <= s.after + 1 < 1_060_000) > 10


# -- proofs instead of claims -------------------------------------------------------------

@pytest.mark.parametrize("kind", ["uniform", "sparse", "clustered"])
def test_joined_short_pages_lose_nothing_and_cost_little(kind):
    """Every 7th row joined twice: pages come back ~44 rows long, totals overstated. Every
    row arrives once, in at most 1.5x the requests of a clean portal."""
    ids = id_space(kind, 30_000)
    _, clean, _ = export(ids)
    got, joined, _ = export(ids, quirks={"joined_pages"})
    assert sorted(got) == ids and len(got) == len(set(got))
    assert joined.requests <= 1.5 * clean.requests, (joined.requests, clean.requests)


def test_a_short_page_is_not_taken_for_the_end():
    """A first page cut short by joins, with next and an overstated total: read on."""
    ids = list(range(1, 200))
    got, server, _ = export(ids, quirks={"joined_pages"}, joined_every=2)
    assert sorted(got) == ids


@pytest.mark.parametrize("quirk", ["understated_total", "endless_next", "no_total",
                                   "ignored_start"])
def test_claims_that_lie_do_not_change_the_rows(quirk):
    """total, next and start are not used to decide the end of a range plan."""
    ids = id_space("sparse", 7_000)
    got, _, plan = export(ids, quirks={quirk})
    assert isinstance(plan._strategy, RangePaging)
    assert sorted(got) == ids


def test_ignored_id_filter_falls_back_to_offset_pages(caplog):
    """A method that drops the ID filter and the order (crm.productrow.list style): the first
    contradicting page stops range planning, with one warning, and offset pages read all
    (60 pages: more than one batch of them)."""
    ids = id_space("sparse", 3_000)
    got, server, plan = export(ids, quirks={"ignored_filters"})
    assert sorted(got) == ids and len(got) == len(set(got))
    assert isinstance(plan._strategy, OffsetPaging)
    warnings = [r for r in caplog.records if "offset pages" in r.getMessage()]
    assert len(warnings) == 1 and "crm.deal.list" in warnings[0].getMessage()


def test_ignored_start_with_ignored_filters_is_a_named_error():
    """No ID ranges and no offsets: nothing can page it, and a part is not returned."""
    server = FakeList(id_space("uniform", 300), quirks={"ignored_filters", "ignored_start"})
    with pytest.raises(ListingError, match=r"crm\.deal\.list: .*`start` is ignored"):
        run(listing(), server)


def test_plain_paging_ignoring_start_is_detected_on_the_second_page():
    server = FakeList(id_space("uniform", 6_000), quirks={"ignored_start"})
    with pytest.raises(ListingError, match="some.vendor.list"):
        run(listing("some.vendor.list"), server)
    assert server.commands == 2


@pytest.mark.parametrize("quirks", [{"endless_next"}, {"endless_next", "no_total"},
                                    {"no_total"}, {"understated_total"}])
def test_plain_paging_ends_where_the_rows_end(quirks):
    """A next that never ends, no total, an understated total: paging stops at the first
    batch whose last page brings no new IDs, with every row."""
    ids = id_space("sparse", 3_210)
    got, server, _ = export(ids, method="some.vendor.list", quirks=quirks)
    assert sorted(got) == ids
    assert server.commands <= len(ids) // 50 + 2 + 50


def test_plain_paging_of_joined_pages_deduplicates():
    ids = id_space("uniform", 4_000)
    got, _, plan = export(ids, method="some.vendor.list", quirks={"joined_pages"})
    assert sorted(got) == ids and len(got) == len(set(got))


def test_a_shortfall_plain_paging_cannot_explain_is_warned():
    """Fewer distinct rows than total, not explained by duplicates: a UserWarning (and a
    RuntimeWarning, as fast_bitrix24's)."""
    class Lossy(FakeList):
        def _list(self, params):
            result, total, nxt = super()._list(params)
            if total is not None:
                total += 30  # claims 30 rows that never come
            return result, total, nxt

    with pytest.warns(UserWarning, match="1,000 rows came back, but the server's total is 1,030"):
        run(listing("some.vendor.list"), Lossy(id_space("uniform", 1_000)))


# -- the method table ---------------------------------------------------------------------

@pytest.mark.parametrize("method,fake", [
    ("crm.item.list", dict(wrapper="items", id_key="id", filter_id="id")),
    ("tasks.task.list", dict(wrapper="tasks", id_key="id", filter_id="ID")),
    ("user.get", dict(filter_id="ID")),
])
def test_wrapped_and_camel_case_methods(method, fake):
    """crm.item (items, id), tasks.task (tasks, filter ID, row id), user.get (sort/order)."""
    ids = id_space("sparse", 8_000)
    got, server, plan = export(ids, method=method, **fake)
    assert isinstance(plan._strategy, RangePaging)
    assert sorted(got) == ids
    first = server.log[0]
    if method == "user.get":
        assert (first["sort"], first["order"]) == ("ID", "ASC")
    else:
        assert first["order"] == {fake["filter_id"]: "ASC"}


def test_strategies_follow_the_method_facts():
    def strategy(method, params=None):
        return type(listing(method, params)._strategy)

    assert strategy("crm.deal.list") is RangePaging
    assert strategy("crm.deal.list", {"order": {"TITLE": "ASC"}}) is OffsetPaging
    assert strategy("crm.deal.list", {"filter": {"@ID": [1, 2]}}) is OffsetPaging
    assert strategy("crm.deal.list", {"order": {"id": "desc"}}) is RangePaging
    assert strategy("user.get", {"ACTIVE": True}) is OffsetPaging
    assert strategy("some.vendor.list") is OffsetPaging
    assert strategy("crm.productrow.list") is OffsetPaging
    assert strategy("crm.timeline.comment.list") is OffsetPaging
    from bitrix_fast.listing.paging import NavPaging
    assert strategy("task.elapseditem.getlist") is NavPaging


def test_methods_without_an_id_are_deduplicated_by_their_key():
    rows = [{"TYPE_ID": "1", "ENTITY_TYPE_ID": "3", "ENTITY_ID": str(i % 70)} for i in range(140)]
    from bitrix_fast.listing.rows import Dedup
    assert len(Dedup(list_facts("crm.address.list")).filter(rows)) == 70


def test_caller_filter_and_bounds_are_kept():
    ids = id_space("uniform", 20_000)
    got, _, _ = export(ids, params={"filter": {">=ID": 5_001, "<=ID": 15_000}})
    assert sorted(got) == list(range(5_001, 15_001))


def test_select_without_id_gets_the_id():
    _, server, _ = export(id_space("uniform", 100), params={"select": ["TITLE"]})
    assert server.log[0]["select"] == ["ID", "TITLE"]


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("in_flight", [1, 4, 16])
def test_get_all_order_is_by_id_in_the_requested_direction(direction, in_flight):
    """Replies land in any order and each holds chain pages and a descending top page: the
    rows still come out in ID order, each once (ordered by whole replies, not row by row)."""
    ids = id_space("sparse", 6_000)
    plan = listing(params={"order": {"ID": direction}}, finishing=True)
    parts: list = []
    run(plan, FakeList(list(ids)), in_flight=in_flight, deliveries=parts)
    ordered = [int(row["ID"]) for row in plan.finish(parts)]
    assert ordered == sorted(ids, reverse=direction == "DESC")


def test_get_all_order_with_joined_pages():
    """Joined pages make chains overlap each other and the top pages: the rows each reply
    adds still order by its pages' runs."""
    ids = id_space("uniform", 3_000)
    plan = listing(finishing=True)
    parts: list = []
    run(plan, FakeList(list(ids), quirks=frozenset({"joined_pages"})), in_flight=8,
        deliveries=parts)
    ordered = [int(row["ID"]) for row in plan.finish(parts)]
    assert ordered == sorted(ids)


def test_finish_orders_rows_it_did_not_deliver_by_sorting_them():
    """Rows that are not the listing's own outputs, or not in their order, are sorted row by
    row: the quick order trusts only what it recorded."""
    ids = id_space("sparse", 3_000)
    plan = listing(finishing=True)
    parts: list = []
    run(plan, FakeList(list(ids)), in_flight=8, deliveries=parts)
    flat = [row for part in parts for row in part]
    random.Random(5).shuffle(flat)
    assert [int(row["ID"]) for row in plan.finish([flat])] == sorted(ids)
    shuffled = [list(reversed(part)) for part in parts]
    assert [int(row["ID"]) for row in plan.finish(shuffled)] == sorted(ids)


def test_dict_result_is_handed_back():
    class DictServer(FakeList):
        def batch(self, commands):
            from bitrix_fast.protocol.batch import CommandResult
            return [CommandResult(c.label, c.method, result={"a": 1, "b": 2}) for c in commands]

    plan = listing()
    assert run(plan, DictServer([])) == []
    assert plan.result_dict == {"a": 1, "b": 2}


# -- churn, refusals, resume --------------------------------------------------------------

def test_churn_loses_no_surviving_row_and_duplicates_none():
    """Deletes anywhere and inserts at the top while the export runs: every row that existed
    throughout comes back exactly once, with about the requests of a quiet export."""
    ids = id_space("sparse", 40_000)
    _, quiet, _ = export(ids)
    server = FakeList(list(ids))
    rng = random.Random(7)
    deleted = set()

    def churn(fake):
        for _ in range(3):
            deleted.add(fake.ids.pop(rng.randrange(len(fake.ids))))
            fake.ids.append(fake.ids[-1] + 1)

    server.on_command = churn
    rows = run(listing(), server, in_flight=8)
    got = [int(row["ID"]) for row in rows]
    assert len(got) == len(set(got))
    assert set(ids) - deleted <= set(got)
    assert server.requests <= 1.5 * quiet.requests


@pytest.mark.parametrize("label", ["head", "tail", "c0000", "c0010", "c0049"])
def test_refused_commands_are_replanned_not_lost(label):
    """A 429 on the head or tail repeats it; on a chained page, its span resumes from the
    last page proven read."""
    ids = id_space("sparse", 20_000)
    left = {"n": 3}

    def refuse(command):
        if command.label == label and left["n"]:
            left["n"] -= 1
            return True
        return False

    got, _, _ = export(ids, refuse=refuse)
    assert sorted(got) == ids and len(got) == len(set(got)) and left["n"] == 0


def test_a_head_refused_forever_gives_up_with_the_servers_error():
    server = FakeList(id_space("uniform", 5_000), refuse=lambda c: c.label == "head")
    with pytest.raises(BitrixError, match="OPERATION_TIME_LIMIT"):
        run(listing(), server)


def test_coverage_grows_to_the_whole_id_space():
    ids = id_space("clustered", 30_000)
    _, _, plan = export(ids)
    covered = Coverage(plan.covered())
    assert all(covered.contains(i) for i in ids)


def test_resume_reads_only_what_was_not_covered():
    """An interrupted listing's coverage, passed back as skip, leaves only the rest to read."""
    ids = id_space("sparse", 60_000)
    server = FakeList(list(ids))
    plan = listing()
    rows = []
    for _ in range(12):  # interrupt after a dozen replies
        work = plan.next_work()
        rows.extend(plan.feed(work, server.batch(work.commands)))
    first_requests = server.requests
    skip = plan.covered()
    assert skip
    got, again, _ = export(ids, skip=skip)
    done = {int(r["ID"]) for r in rows}
    assert set(got) | done == set(ids)
    _, whole, _ = export(ids)
    assert first_requests + again.requests <= 1.25 * whole.requests


def test_a_range_plan_warns_of_a_total_it_cannot_explain():
    """All rows are proven read, yet the server claims more: said, as fast_bitrix24 says it."""
    class Inflated(FakeList):
        def _list(self, params):
            result, total, nxt = super()._list(params)
            return result, (None if total is None else total + 3), nxt

    with pytest.warns(RuntimeWarning, match="120 rows came back, but the server's total is 123"):
        rows = run(listing(), Inflated(id_space("uniform", 120)))
    assert len(rows) == 120


def test_joined_rows_explain_an_overstated_total():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, _, _ = export(id_space("uniform", 5_000), quirks={"joined_pages"})
    assert len(got) == 5_000
