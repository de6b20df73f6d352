"""The ID-range planner against a pure fake list method: completeness, request counts, churn."""
import random

import pytest

from bitrix_fast.errors import BitrixError
from bitrix_fast.methods import list_facts
from bitrix_fast.listing import choose_plan
from bitrix_fast.listing.paging import PlainPlan
from bitrix_fast.listing.plan import CURSOR_ROWS, RangePlan
from listfakes import FakeList, id_space, run

DEALS = list_facts("crm.deal.list")


def export(ids, method="crm.deal.list", params=None, in_flight=4, **fake):
    server = FakeList(list(ids), **fake)
    plan = choose_plan(method, params or {}, list_facts(method))
    rows = run(plan, server, in_flight=in_flight)
    key = fake.get("id_key", "ID")
    return [int(row[key]) for row in rows], server, plan


@pytest.mark.parametrize("size", [0, 1, 49, 50, 51, 2449, 2450, 2500, 2501, 5000, 12_345])
def test_every_row_once_at_edge_sizes(size):
    """Empty, one row, a page and one more, a batch and one more: each ID exactly once."""
    got, server, _ = export(id_space("uniform", size))
    assert sorted(got) == list(range(1, size + 1))
    assert len(got) == len(set(got))


@pytest.mark.parametrize("size", [0, 1, 50, 51, 2500])
def test_small_results_take_one_request(size):
    """Up to ~2,500 rows the probe (head, its chain and tail) is the whole export: no count."""
    _, server, _ = export(id_space("uniform", size))
    assert server.requests == 1 and server.counted == 0


def test_the_count_never_holds_rows_back():
    """While the (possibly slow) count is out, the probe's chain reads on: rows keep coming."""
    ids = id_space("uniform", 30_000)
    server = FakeList(list(ids))
    plan = choose_plan("crm.deal.list", {}, DEALS)
    probe = plan.next_work()
    plan.feed(probe, server.batch(probe.commands))
    count, lead = plan.next_work(), plan.next_work()
    assert [c.label for c in count.commands] == ["count"]
    assert count.commands[0].params["start"] == 0 and lead.commands[0].params["start"] == -1
    rows = plan.feed(lead, server.batch(lead.commands))  # the lead's rows, count still out
    assert len(rows) == 2_500 and plan.total is None
    plan.feed(count, server.batch(count.commands))
    assert plan.total == 30_000


@pytest.mark.parametrize("kind,size,floor", [("uniform", 300_000, 2_470),
                                             ("sparse", 200_000, 2_400),
                                             ("clustered", 200_000, 2_370)])
def test_rows_per_request_near_the_ceiling(kind, size, floor):
    """The ceiling is 2,500 rows a request; the plan stays close on every ID space (the
    issue's bars: 2,450 contiguous, 2,350 sparse and clustered)."""
    ids = id_space(kind, size)
    got, server, _ = export(ids, in_flight=8)
    assert sorted(got) == ids
    assert size / server.requests >= floor


def test_contiguous_ids_are_read_without_further_counts():
    """Total == span proves every ID exists: cursors know their sizes, only the probe counts."""
    _, server, _ = export(id_space("uniform", 30_000))
    assert server.counted == 30_000


def test_sparse_cursors_count_only_their_own_range():
    """Each cursor's COUNT covers its range, never the table: no count grows with the table."""
    ids = id_space("sparse", 60_000)
    server = FakeList(list(ids))
    counts = []
    original = server._list

    def spy(params):
        result = original(params)
        if int(params.get("start", 0)) >= 0:
            counts.append(result[1])
        return result

    server._list = spy
    plan = choose_plan("crm.deal.list", {}, DEALS)
    run(plan, server)
    assert counts[0] == 60_000  # the one count of the export, in the probe
    assert max(counts[1:]) <= 2 * CURSOR_ROWS


def test_commands_never_use_offsets():
    """Every command after the probe's count is a start=-1 page or a range count at 0."""
    server = FakeList(id_space("clustered", 40_000))
    run(choose_plan("crm.deal.list", {}, DEALS), server)
    assert {int(params["start"]) for params in server.log} <= {0, -1}


def test_long_cursors_are_split():
    """A cursor that turns out to hold many batches (a dense run the global density did not
    foresee) is cut into parallel cursors, and still every row arrives once."""
    ids = list(range(1, 3_001)) + list(range(1_000_000, 1_060_000)) + \
        list(range(5_000_000, 5_003_000))
    server = FakeList(list(ids))
    plan = choose_plan("crm.deal.list", {}, DEALS)
    rows = run(plan, server, in_flight=8)
    in_run = [c for c in plan._cursors.values() if c.end > 1_000_000 and c.start < 1_060_000]
    assert len(in_run) > 3  # the 60k-row run was cut into several cursors
    assert sorted(int(r["ID"]) for r in rows) == ids


def test_churn_loses_no_surviving_row_and_duplicates_none():
    """Deletes anywhere and inserts at the top while the export runs: every row that existed
    throughout comes back exactly once, with about the requests of a quiet export."""
    ids = id_space("sparse", 40_000)
    quiet = FakeList(list(ids))
    run(choose_plan("crm.deal.list", {}, DEALS), quiet)
    server = FakeList(list(ids))
    rng = random.Random(7)
    deleted = set()

    def churn(fake):
        for _ in range(3):
            deleted.add(fake.ids.pop(rng.randrange(len(fake.ids))))
            fake.ids.append(fake.ids[-1] + 1)

    server.on_command = churn
    rows = run(choose_plan("crm.deal.list", {}, DEALS), server, in_flight=8)
    got = [int(row["ID"]) for row in rows]
    assert len(got) == len(set(got))
    assert set(ids) - deleted <= set(got)
    assert server.requests <= 1.5 * quiet.requests


def test_refused_command_is_replanned_not_lost():
    """A chained command refused mid-batch (429) cannot be resent alone: its cursor resumes
    from the last page read."""
    ids = id_space("uniform", 20_000)
    refusals = {"left": 3}

    def refuse(command):
        if refusals["left"] and command.label == "c0010":
            refusals["left"] -= 1
            return True
        return False

    got, server, _ = export(ids, refuse=refuse)
    assert sorted(got) == ids and refusals["left"] == 0


def test_server_ignoring_the_id_filter_is_an_error_not_a_loop():
    """If pages do not follow each other, the plan stops with a clear error."""
    ids = id_space("uniform", 10_000)
    server = FakeList(list(ids))
    server.filter_id = "IGNORED"  # the fake now ignores every ID bound
    with pytest.raises(BitrixError, match="do not follow each other"):
        run(choose_plan("crm.deal.list", {}, DEALS), server)


@pytest.mark.parametrize("method,fake", [
    ("crm.item.list", dict(wrapper="items", id_key="id", filter_id="id")),
    ("tasks.task.list", dict(wrapper="tasks", id_key="id", filter_id="ID")),
    ("user.get", dict(filter_id="ID")),
])
def test_wrapped_and_camel_case_methods(method, fake):
    """crm.item (items, id), tasks.task (tasks, filter ID, row id), user.get (sort/order)."""
    ids = id_space("sparse", 8_000)
    got, server, plan = export(ids, method=method, **fake)
    assert isinstance(plan, RangePlan)
    assert sorted(got) == ids
    first = server.log[0]
    if method == "user.get":
        assert (first["sort"], first["order"]) == ("ID", "ASC")
    else:
        assert first["order"] == {fake["filter_id"]: "ASC"}


def test_caller_filter_and_bounds_are_kept():
    """The caller's filter applies to every command; their ID bounds still hold."""
    ids = id_space("uniform", 20_000)
    got, server, _ = export(ids, params={"filter": {">=ID": 5_001, "<=ID": 15_000}})
    assert sorted(got) == list(range(5_001, 15_001))


def test_fallbacks_to_plain_paging():
    """Orders other than ID, filters pinning IDs, and unknown methods page plainly."""
    assert isinstance(choose_plan("crm.deal.list", {"order": {"TITLE": "ASC"}}, DEALS), PlainPlan)
    assert isinstance(choose_plan("crm.deal.list", {"filter": {"@ID": [1, 2]}}, DEALS), PlainPlan)
    assert isinstance(choose_plan("some.vendor.list", {}, list_facts("some.vendor.list")),
                      PlainPlan)
    user = list_facts("user.get")
    assert isinstance(choose_plan("user.get", {"ACTIVE": True}, user), PlainPlan)
    assert isinstance(choose_plan("crm.deal.list", {"order": {"id": "desc"}}, DEALS), RangePlan)


def test_select_without_id_gets_the_id():
    """Rows need their ID to be chained and deduplicated."""
    _, server, _ = export(id_space("uniform", 100), params={"select": ["TITLE"]})
    assert server.log[0]["select"] == ["ID", "TITLE"]


def test_get_all_order_is_by_id_in_the_requested_direction():
    """finish() sorts what arrived in any order; ORDER ID DESC gives descending rows."""
    plan = choose_plan("crm.deal.list", {"order": {"ID": "DESC"}}, DEALS)
    rows = run(plan, FakeList(id_space("sparse", 6_000)))
    ordered = [int(row["ID"]) for row in plan.finish(rows)]
    assert ordered == sorted(ordered, reverse=True)


def test_dict_result_is_handed_back():
    """A method answering with a dict instead of rows: the plan returns it untouched."""

    class DictServer(FakeList):
        def batch(self, commands):
            from bitrix_fast.batch import CommandResult
            return [CommandResult(c.label, c.method, result={"a": 1, "b": 2}) for c in commands]

    plan = choose_plan("crm.deal.list", {}, DEALS)
    assert run(plan, DictServer([])) == []
    assert plan.result_dict == {"a": 1, "b": 2}


@pytest.mark.parametrize("label", ["head", "tail", "h05"])
def test_refused_probe_commands_are_recovered(label):
    """A 429 on the head repeats the probe, on the tail asks for the tail alone, on a chain
    page leaves the rest to the cursors: every row still arrives once."""
    ids = id_space("sparse", 9_000)
    left = {"n": 2}

    def refuse(command):
        if command.label == label and left["n"]:
            left["n"] -= 1
            return True
        return False

    got, server, _ = export(ids, refuse=refuse)
    assert sorted(got) == ids and len(got) == len(set(got))
    assert left["n"] < 2  # refused at least once (a chain page exists in one probe only)


def test_a_probe_refused_forever_gives_up_with_the_servers_error():
    server = FakeList(id_space("uniform", 5_000), refuse=lambda c: c.label == "head")
    with pytest.raises(BitrixError, match="OPERATION_TIME_LIMIT"):
        run(choose_plan("crm.deal.list", {}, DEALS), server)
