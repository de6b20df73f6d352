"""The planner's numbers against the sandbox portal: rows per request, refusals, the cost that
kills offset paging, churn, and flat memory. Counts only -- times live in benchmarks/.

In memory on a fake clock, at the sizes the numbers need: the rate does not change the rows
per request, and in virtual time the ceiling costs nothing to wait for. Flat memory is a
property of a process, so that one runs a separate process over loopback HTTP.
"""
import json
import math
import subprocess
import sys
import textwrap
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox
from portals_a import Gate, http_portal, memory_portal

FAST = "standard-x1000"  # rows per request do not depend on the rate: run without waiting


def export(sb: Sandbox, params: Optional[Mapping[str, Any]] = None,
           **client: Any) -> Tuple[List[int], Dict[str, Any]]:
    with connect(sb, requests_per_second=client.pop("rps", 20), **client) as bx:
        rows = bx.get_all("crm.deal.list", params or {"select": ["ID", "TITLE"]})
    return [int(row["ID"]) for row in rows], sb.stats()


def least_requests(rows: int) -> int:
    """The fewest requests any client needs: the first request (the first page and the top
    page, 100 rows), then full batches of 2,500."""
    return 1 + math.ceil((rows - 100) / 2_500)


def test_contiguous_100k_in_the_fewest_requests_without_refusals() -> None:
    with memory_portal(deals=100_000, plan="x10") as sb:
        ids, stats = export(sb)
        expected = sb.store.ids("deal")
    assert ids == sorted(expected)
    assert stats["requests"] == least_requests(100_000)  # 41
    assert stats["refused_503"] == 0 and stats["refused_429"] == 0
    assert stats["rows_skipped"] == 0  # no OFFSET anywhere
    assert sb.max_window_excess() <= 0


@pytest.mark.parametrize("gaps", ["sparse", "clustered"])
def test_sparse_and_clustered_80k_within_two_requests_of_the_fewest(gaps: str) -> None:
    with memory_portal(deals=80_000, id_gaps=gaps, plan=FAST) as sb:
        ids, stats = export(sb, rps=1000)
        expected = sb.store.ids("deal")
    assert ids == sorted(expected)
    assert stats["requests"] <= least_requests(80_000) + 2  # 33 + 2


# The same at full size, as bench_export.py runs them: CI leaves them out for time, the
# planner's own tests (test_opening.py, test_listing.py) cover these sizes in virtual time.

@pytest.mark.slow
def test_contiguous_300k_at_the_ceiling_without_refusals() -> None:
    with memory_portal(deals=300_000, plan="x10") as sb:
        ids, stats = export(sb)
        expected = sb.store.ids("deal")
    assert ids == sorted(expected)
    assert 300_000 / stats["requests"] >= 2_450
    assert stats["refused_503"] == 0 and stats["refused_429"] == 0
    assert stats["rows_skipped"] == 0  # no OFFSET anywhere
    # at the ceiling: the portal saw the x10 plan's limit kept (burst 500, 20 per second)
    assert sb.max_window_excess() <= 0


@pytest.mark.slow
@pytest.mark.parametrize("gaps", ["sparse", "clustered"])
def test_sparse_and_clustered_200k(gaps: str) -> None:
    with memory_portal(deals=200_000, id_gaps=gaps, plan=FAST) as sb:
        ids, stats = export(sb, rps=1000)
        expected = sb.store.ids("deal")
    assert ids == sorted(expected)
    assert 200_000 / stats["requests"] >= 2_350


def test_a_filter_keeping_three_quarters_of_100k() -> None:
    with memory_portal(deals=100_000, id_gaps="sparse", plan=FAST) as sb:
        ids, stats = export(sb, {"select": ["ID"], "filter": {"CATEGORY_ID": 0}}, rps=1000)
        with sb.store.locked() as db:
            expected = {r[0] for r in db.execute("SELECT ID FROM deal WHERE CATEGORY_ID = 0")}
    assert 0.7 < len(expected) / 100_000 < 0.8
    assert ids == sorted(expected)
    assert len(expected) / stats["requests"] >= 2_200


def test_heavy_cost_is_never_billed_past_the_budget() -> None:
    """COUNT grows with the table on the heavy model: an offset pager spends the x10 plan's
    48 s budget in seconds; the range plan counts once and never sees a 429."""
    with memory_portal(deals=100_000, plan="x10", cost="heavy") as sb:
        ids, stats = export(sb)
        expected = sb.store.ids("deal")
    assert ids == sorted(expected)
    assert stats["refused_429"] == 0 and stats.get("refused_429_commands", 0) == 0
    assert stats["rows_counted"] <= 2 * 100_000  # the one count, plus small range counts


def test_churn_every_survivor_once_with_few_extra_requests() -> None:
    with memory_portal(deals=60_000, plan="x10", cost="light", seed=2) as quiet:
        _, calm = export(quiet)
    with memory_portal(deals=60_000, plan="x10", cost="light", seed=2) as sb:
        before = sb.store.ids("deal")
        # 200 inserts + 200 deletes a second of the portal's (virtual) time, made as
        # requests arrive. A burst of 5 at 5 a second spreads the 25 requests over about 4 s,
        # so rows come and go between the pages of one listing (in one burst they would all
        # be read at the same instant).
        sb.start_churn(400)
        with connect(sb, requests_per_second=5, request_pool_size=5) as bx:
            ids = [int(row["ID"]) for row in bx.iter_all("crm.deal.list", {"select": ["ID"]})]
        deleted = set(sb.churner.deleted_ids)
        sb.stop_churn()
        stats = sb.stats()
    assert len(deleted) > 100, "churn did not run"
    assert len(ids) == len(set(ids))
    assert before - deleted <= set(ids)
    assert stats["requests"] <= 1.5 * calm["requests"]


def test_iter_all_memory_stays_flat() -> None:
    """A separate process iterates 300k rows; its peak RSS stays far from the table's size."""
    with http_portal(deals=300_000, plan=FAST) as sb:
        code = textwrap.dedent(f"""
            import json
            from bitrix_fast import Bitrix
            bx = Bitrix({sb.webhook!r}, verbose=False, requests_per_second=1000)
            n = sum(1 for _ in bx.iter_all("crm.deal.list", {{"select": ["ID", "TITLE"]}}))
            hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
            print(json.dumps({{"rows": n, "mb": int(hwm.split()[1]) / 1024}}))
        """)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, check=True)
    out = json.loads(done.stdout)
    assert out["rows"] == 300_000 and out["mb"] < 120


def test_first_rows_arrive_before_the_second_reply() -> None:
    """iter_all hands over the probe's rows as soon as it is answered: here every request
    after the first is held until the first row is out."""
    with memory_portal(deals=10_000, plan="x10") as sb:
        gate = Gate(sb.transport(), open_for=1)
        with Bitrix(sb.webhook, verbose=False, requests_per_second=20, transport=gate,
                    clock=sb.clock) as bx:
            rows = bx.iter_all("crm.deal.list", {"select": ["ID"]})
            first = next(rows)
            answered_then = sb.stats()["requests"]
            gate.release()
            rest = sum(1 for _ in rows)
    assert not gate.timed_out  # the first row came while the other requests were held
    assert answered_then == 1 and int(first["ID"]) >= 1 and rest == 9_999
