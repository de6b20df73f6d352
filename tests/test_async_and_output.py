"""BitrixAsync, the sync client inside a running event loop, progress bars and log lines;
against an in-memory portal on a fake clock."""
import asyncio
import logging
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import pytest

from bitrix_fast import BitrixAsync
from bitrix_fast.run.progress import make_progress
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox
from portals_a import memory_portal


@pytest.fixture(scope="module")
def portal() -> Iterator[Sandbox]:
    with memory_portal(deals=3_000, tasks=120, plan="x10") as sb:
        yield sb


def test_bitrix_async_methods_are_coroutines(portal: Sandbox) -> None:
    async def main() -> Tuple[Any, ...]:
        async with BitrixAsync(portal.webhook, verbose=False, requests_per_second=20,
                               transport=portal.transport(), clock=portal.clock) as bx:
            deals = await bx.get_all("crm.deal.list", {"select": ["ID"]})
            tasks = [t async for t in bx.iter_all("tasks.task.list", {"select": ["ID"]})]
            first = await bx.call("crm.deal.get", {"id": deals[0]["ID"]})
            by_id = await bx.get_by_ID("crm.deal.get", [deals[1]["ID"], deals[2]["ID"]])
            batch = await bx.call_batch({"halt": 0, "cmd": {"t": "server.time"}})
            return deals, tasks, first, by_id, batch

    deals, tasks, first, by_id, batch = asyncio.run(main())
    assert len(deals) == 3_000 and len(tasks) == 120
    assert first["ID"] == deals[0]["ID"] and list(by_id) == [deals[1]["ID"], deals[2]["ID"]]
    assert list(batch) == ["t"] and batch["t"].startswith("20")  # server.time: an ISO date


def test_the_sync_client_returns_results_inside_a_running_loop(portal: Sandbox) -> None:
    """In Jupyter or an async view a loop is running: the sync client still just returns."""
    async def main() -> List[Dict[str, Any]]:
        asyncio.get_running_loop()  # a loop is running here
        with connect(portal, requests_per_second=20) as bx:
            return bx.get_all("crm.deal.list", {"select": ["ID"]})

    rows = asyncio.run(main())
    assert isinstance(rows, list) and len(rows) == 3_000


def test_progress_is_silent_off_a_terminal_and_drawn_when_asked(
        capsys: pytest.CaptureFixture[str]) -> None:
    with make_progress(None, True, "crm.deal.list") as bar:  # stderr is not a TTY here
        bar.update(10, 100)
    assert capsys.readouterr().err == ""
    with make_progress(True, True, "crm.deal.list", total=100) as bar:
        bar.update(40, 100)
    assert "crm.deal.list" in capsys.readouterr().err


def test_progress_accepts_a_custom_bar() -> None:
    seen: List[Union[str, Tuple[float, Optional[float]]]] = []

    class Bar:
        total: Optional[float] = None

        def update(self, n: float) -> None:
            seen.append((n, self.total))

        def close(self) -> None:
            seen.append("closed")

    with make_progress(lambda description, total: Bar(), True, "x") as bar:
        bar.update(5, 20)
    assert seen == [(5, 20), "closed"]


def test_each_request_gets_a_debug_line_without_secrets(
        portal: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    code = portal.webhook.rstrip("/").rsplit("/", 1)[1]
    with caplog.at_level(logging.DEBUG, logger="bitrix_fast"):
        with connect(portal, requests_per_second=20) as bx:
            bx.get_all("crm.deal.list", {"select": ["ID"]})
            requests = bx.stats()["requests"]
    lines = [r.getMessage() for r in caplog.records if r.name == "bitrix_fast"
             and "commands=" in r.getMessage()]
    assert len(lines) == requests
    assert all(" status=200 " in line and " bytes " in line for line in lines)
    assert lines[0].startswith("batch commands=2 ")  # the first page and the top page
    assert any(line.startswith("batch commands=30 ") for line in lines)
    assert code not in caplog.text
