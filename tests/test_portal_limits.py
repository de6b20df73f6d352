"""The portal's limits as they are in 2026 (issue 25), end to end over an in-memory portal on
a FakeClock: replies without ``time`` or ``operating`` (lists, writes, the mirror), the
operating limit read from the portal, a shorter batch length learnt instead of raised, and
no batch of ours running into the 60 s cut."""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.mirror import sync
from bitrix_fast.net.transport import HttpRequest, HttpResponse
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox
from bitrix_fast.testing.sandbox.cost import CostModel


def portal(**options: Any) -> Sandbox:
    return Sandbox(http=False, clock=FakeClock(), **options)


def ids_of(rows: List[Dict[str, Any]]) -> List[int]:
    return sorted(int(row["ID"]) for row in rows)


def titles(sb: Sandbox, prefix: str) -> Dict[str, int]:
    with sb.store.locked() as db:
        return dict(db.execute('SELECT "TITLE", COUNT(*) FROM deal WHERE "TITLE" LIKE ? '
                               'GROUP BY "TITLE"', (prefix + "%",)))


def adds(n: int, prefix: str = "new-") -> List[Dict[str, Any]]:
    return [{"fields": {"TITLE": f"{prefix}{i}"}} for i in range(n)]


class Spy:
    """A transport that remembers the commands of every batch it carried."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: List[List[str]] = []

    def exchange(self, request: HttpRequest) -> HttpResponse:
        if request.url.rstrip("/").endswith("batch"):
            self.batches.append(sorted(json.loads(request.body)["cmd"].values()))
        return self.inner.exchange(request)

    def close(self) -> None:
        self.inner.close()


# -- replies without time or operating ----------------------------------------------------

@pytest.mark.parametrize("fields", ["none", "no_operating"])
def test_lists_writes_and_the_mirror_work_without_time(fields, tmp_path):
    with portal(deals=3_000, id_gaps="sparse", plan="x10", time_fields=fields,
                cost=CostModel(per_command=0.002)) as sb:
        bx = connect(sb, requests_per_second=20)
        rows = bx.get_all("crm.deal.list", {"select": ["ID", "TITLE"]})
        assert ids_of(rows) == sorted(sb.store.ids("deal"))
        assert len(bx.call("crm.deal.add", adds(120))) == 120
        assert set(titles(sb, "new-").values()) == {1} and len(titles(sb, "new-")) == 120
        first = sync(bx, "crm.deal.list", str(tmp_path / "m.sqlite"), select=["ID", "TITLE"])
        assert first.rows == 3_120
        sb.store.update("deal", min(sb.store.ids("deal")), {"TITLE": "changed"})
        assert sync(bx, "crm.deal.list", str(tmp_path / "m.sqlite"),
                    select=["ID", "TITLE"]).changed == 1
        bx.close()


def test_without_operating_the_client_paces_by_its_own_measurements():
    """The portal limits what it does not report: 120 s of server time per method per 10
    minutes, 0.5 s a call, 300 s of calls, one request at a time (a FakeClock runs requests
    one after another anyway). The client counts its own calls' time and waits for its
    window instead of running into the wall."""
    with portal(deals=5, plan="standard", time_fields="none", operating_limit=120,
                cost=CostModel(per_command=0.5)) as sb:
        bx = connect(sb, operating_time_limit=120, max_workers=1)
        results = bx.call("crm.deal.get", [{"id": 1}] * 600)
        assert len(results) == 600 and all(r["ID"] == "1" for r in results)
        stats = sb.stats()
        assert stats["refused_429"] + stats["refused_429_commands"] <= 40, stats
        assert bx.stats()["operating"]["crm.deal.get"]["operating"] > 0  # its own figure
        bx.close()


def test_the_operating_limit_is_read_from_the_portal():
    """A portal whose limit is 120 s, not 480: 300 s of calls, one request at a time (a
    FakeClock runs requests one after another anyway). The first 429 shows where the limit
    lies; the client paces below it from then on, and every call comes back."""
    with portal(deals=5, plan="enterprise", operating_limit=120,
                cost=CostModel(per_command=0.25)) as sb:
        bx = connect(sb, requests_per_second=5, request_pool_size=250, max_workers=1)
        results = bx.call("crm.deal.get", [{"id": 1}] * 1_200)
        assert len(results) == 1_200 and all(r["ID"] == "1" for r in results)
        limit = bx.stats()["operating"]["crm.deal.get"]["limit"]
        assert 110 <= limit <= 130, limit
        refused = sb.stats()["refused_429_commands"] + sb.stats()["refused_429"]
        assert refused <= 100, refused  # about one batch at the first wall, none after
        assert sb.clock.now() > 1_200  # 300 s of work at 120 s per 10 minutes
        bx.close()


# -- the batch length ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["commands", "whole"])
def test_a_shorter_batch_length_is_learnt_not_raised(mode):
    with portal(deals=5_000, plan="x10", batch_length=20, batch_length_error=mode) as sb:
        bx = connect(sb, requests_per_second=20)
        rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
        assert ids_of(rows) == sorted(sb.store.ids("deal"))
        assert len(bx.call("crm.deal.add", adds(120, "limits-"))) == 120
        assert set(titles(sb, "limits-").values()) == {1} and len(titles(sb, "limits-")) == 120
        some = sorted(sb.store.ids("deal"))[:100]
        assert sorted(map(int, bx.get_by_ID("crm.deal.get", some))) == some
        assert bx.stats()["batches_too_long"] >= 1
        bx.close()


# -- the 60 s cut -----------------------------------------------------------------------------

def test_no_batch_of_ours_runs_into_the_cut():
    """Pages and adds of 2 s each: a batch of 50 would take 100 s. Batches are sized from
    the measured time instead (a third of the cut), and none is cut."""
    with portal(deals=3_000, plan="x10", cost=CostModel(per_command=2.0),
                operating_limit=100_000) as sb:
        spy = Spy(sb.transport())
        bx = Bitrix(sb.webhook, transport=spy, clock=sb.clock, verbose=False,
                    requests_per_second=20)
        rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
        assert ids_of(rows) == sorted(sb.store.ids("deal"))
        assert len(bx.call("crm.deal.add", adds(60, "cut-"))) == 60
        assert len(titles(sb, "cut-")) == 60 and set(titles(sb, "cut-").values()) == {1}
        assert sb.stats()["cut"] == 0
        assert max(len(commands) for commands in spy.batches) <= 10
        bx.close()


def test_a_cut_batch_of_reads_is_split_never_resent_whole():
    """A cold client sends the counted first pages of 50 ID ranges (the mirror's check for
    deletions) in one batch; at 3 s a page the portal cuts it at 60 s. It goes again as
    halves (then smaller), never as the same 50, and every page comes back."""
    with portal(deals=5_000, plan="x10", cost=CostModel(per_command=3.0),
                operating_limit=100_000) as sb:
        spy = Spy(sb.transport())
        bx = Bitrix(sb.webhook, transport=spy, clock=sb.clock, verbose=False,
                    requests_per_second=20)
        ranges = [{"filter": {">=ID": lo, "<ID": lo + 100}, "select": ["ID"]}
                  for lo in range(1, 5_001, 100)]
        pages = bx.first_pages("crm.deal.list", ranges)
        assert [page.total for page in pages] == [100] * 50
        assert sb.stats()["cut"] >= 1
        sent = [tuple(commands) for commands in spy.batches]
        assert len(sent[0]) == 50 and len(sent) == len(set(sent)), "sent whole again"
        assert all(len(commands) <= 25 for commands in sent[1:])
        bx.close()


def test_the_mirror_overlap_is_what_the_cut_justifies():
    """A change is stamped at most one request before it commits, and no request outlives
    the 60 s cut: the mirror reads changes from 65 s before its last run (it was 300 s)."""
    from bitrix_fast.mirror import DEFAULT_OVERLAP
    from bitrix_fast.pacing.room import CUT
    from bitrix_fast.protocol.limits import CHANGES_OVERLAP, CLOCK_SLACK, STAMP_GRAIN

    assert DEFAULT_OVERLAP == CHANGES_OVERLAP == CUT + STAMP_GRAIN + CLOCK_SLACK == 65.0
