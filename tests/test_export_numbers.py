"""The planner's numbers against the sandbox portal: rows per request, refusals, the cost that
kills offset paging, churn, and flat memory. Counts only -- times live in benchmarks/."""
import json
import subprocess
import sys
import textwrap

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.testing.sandbox import Sandbox

FAST = "standard-x1000"  # rows per request do not depend on the rate: run without waiting


def export(sb, params=None, **client):
    with Bitrix(sb.webhook, verbose=False, requests_per_second=client.pop("rps", 20),
                **client) as bx:
        rows = bx.get_all("crm.deal.list", params or {"select": ["ID", "TITLE"]})
    return [int(row["ID"]) for row in rows], sb.stats()


def test_contiguous_300k_at_the_ceiling_without_refusals():
    with Sandbox(deals=300_000, plan="x10") as sb:
        ids, stats = export(sb)
        expected = sb.store.ids("deal")
    assert ids == sorted(expected)
    assert 300_000 / stats["requests"] >= 2_450
    assert stats["refused_503"] == 0 and stats["refused_429"] == 0
    assert stats["rows_skipped"] == 0  # no OFFSET anywhere


@pytest.mark.parametrize("gaps", ["sparse", "clustered"])
def test_sparse_and_clustered_200k(gaps):
    with Sandbox(deals=200_000, id_gaps=gaps, plan=FAST) as sb:
        ids, stats = export(sb, rps=1000)
        expected = sb.store.ids("deal")
    assert ids == sorted(expected)
    assert 200_000 / stats["requests"] >= 2_350


def test_a_filter_keeping_three_quarters_of_100k():
    with Sandbox(deals=100_000, id_gaps="sparse", plan=FAST) as sb:
        ids, stats = export(sb, {"select": ["ID"], "filter": {"CATEGORY_ID": 0}}, rps=1000)
        with sb.store.locked() as db:
            expected = {r[0] for r in db.execute("SELECT ID FROM deal WHERE CATEGORY_ID = 0")}
    assert 0.7 < len(expected) / 100_000 < 0.8
    assert ids == sorted(expected)
    assert len(expected) / stats["requests"] >= 2_200


def test_heavy_cost_is_never_billed_past_the_budget():
    """COUNT grows with the table on the heavy model: an offset pager spends the x10 plan's
    48 s budget in seconds; the range plan counts once and never sees a 429."""
    with Sandbox(deals=100_000, plan="x10", cost="heavy") as sb:
        ids, stats = export(sb)
        expected = sb.store.ids("deal")
    assert ids == sorted(expected)
    assert stats["refused_429"] == 0 and stats.get("refused_429_commands", 0) == 0
    assert stats["rows_counted"] <= 2 * 100_000  # the one count, plus small range counts


def test_churn_every_survivor_once_with_few_extra_requests():
    with Sandbox(deals=60_000, plan="x10", cost="light", seed=2) as quiet:
        _, calm = export(quiet)
    with Sandbox(deals=60_000, plan="x10", cost="light", seed=2) as sb:
        before = sb.store.ids("deal")
        sb.start_churn(400)  # 200 inserts + 200 deletes a second
        with Bitrix(sb.webhook, verbose=False, requests_per_second=20) as bx:
            ids = [int(row["ID"]) for row in bx.iter_all("crm.deal.list", {"select": ["ID"]})]
        deleted = set(sb.churner.deleted_ids)
        sb.stop_churn()
        stats = sb.stats()
    assert deleted, "churn did not run"
    assert len(ids) == len(set(ids))
    assert before - deleted <= set(ids)
    assert stats["requests"] <= 1.5 * calm["requests"]


def test_iter_all_memory_stays_flat():
    """A separate process iterates 300k rows; its peak RSS stays far from the table's size."""
    with Sandbox(deals=300_000, plan=FAST) as sb:
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


def test_first_rows_arrive_before_the_second_reply():
    """iter_all hands over the first reply's rows (the first page and the top page) at once,
    while the batches of the middle -- sent as soon as that reply landed -- still run: on a
    portal whose batches take 1.5 s, the first row comes within a fraction of that."""
    import time
    with Sandbox(deals=50_000, plan="x10", cost="x10-latency") as sb:
        with Bitrix(sb.webhook, verbose=False, requests_per_second=20) as bx:
            started = time.monotonic()
            rows = bx.iter_all("crm.deal.list", {"select": ["ID"]})
            next(rows)
            first = time.monotonic() - started
            rest = sum(1 for _ in rows)
            whole = time.monotonic() - started
    assert rest == 49_999
    assert first < 0.75 < 1.4 < whole, (first, whole)
