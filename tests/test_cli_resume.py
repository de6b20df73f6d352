"""``export --resume`` reads only what is missing (issue 15): the interrupted run records the
ID intervals it has on disk in full, and the resume skips them.

The interrupted run is the real ``bitrix-fast`` process over loopback, stopped by a real
SIGINT; the uninterrupted run and the resume run the CLI in this process against an
in-memory portal serving the same store (the same rows, the same request counts), so only
the part that is about a process pays for sockets."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bitrix_fast.cli import checkpoint, main
from bitrix_fast.testing.sandbox import CostModel
from bitrix_fast.testing.sandbox.store import Store
from portals_b import serve_clients_from

FLAGS = ["--request-pool-size", "50", "--requests-per-second", "20", "--quiet"]


def ids_in(path):
    with open(path, encoding="utf-8") as handle:
        return [int(json.loads(line)["ID"]) for line in handle if line.strip()]


def lines_in(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n")
    except OSError:
        return 0


@pytest.mark.parametrize("deals, stop_at, bound", [
    pytest.param(60_000, 10_000, 1.25, id="60k"),
    # the figure, on the size the README names
    pytest.param(150_000, 40_000, 1.1, id="150k", marks=pytest.mark.slow),
])
def test_an_interrupted_export_plus_its_resume_costs_at_most_a_quarter_more(
        tmp_path, monkeypatch, bitrix_portal_factory, bitrix_sandbox_factory,
        deals, stop_at, bound):
    out = tmp_path / "deals.jsonl"
    part = str(out) + ".part"
    store = Store()
    store.seed(deals=deals, id_gaps="sparse")
    cost = CostModel(per_command=0.004)  # a batch of 50 pages takes 0.2 s
    try:
        memory = bitrix_portal_factory(store=store, plan="x10", cost=cost)
        serve_clients_from(monkeypatch, memory)
        expected = sorted(store.ids("deal"))

        def argv(portal):
            return ["export", "crm.deal.list", "--select", "ID,TITLE", "-o", str(out),
                    "--webhook", portal.webhook, *FLAGS]

        assert main(argv(memory)) == 0
        one_run = memory.stats()["requests"]
        assert sorted(ids_in(out)) == expected
        os.unlink(out)

        served = bitrix_sandbox_factory(store=store, plan="x10", cost=cost)
        proc = subprocess.Popen([sys.executable, "-m", "bitrix_fast.cli", *argv(served)],
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while lines_in(part) < stop_at and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130, proc.stderr.read()
        interrupted = served.stats()["requests"]
        assert not out.exists() and os.path.exists(checkpoint.path_of(part))
        assert stop_at <= lines_in(part) < len(expected)

        memory.reset_stats()
        assert main([*argv(memory), "--resume"]) == 0
        resumed = memory.stats()["requests"]
    finally:
        store.close()  # the portals only borrow it (the factories close them after)
    assert sorted(ids_in(out)) == expected  # every row, once
    assert not os.path.exists(part) and not os.path.exists(checkpoint.path_of(part))
    assert interrupted + resumed <= bound * one_run, (interrupted, resumed, one_run)


def test_a_record_of_another_call_is_not_used(tmp_path):
    part = str(tmp_path / "x.jsonl.part")
    checkpoint.save(part, "crm.deal.list", {"select": ["ID"]}, [(1, 5_000)])
    assert checkpoint.load(part, "crm.deal.list", {"select": ["ID"]}) == [(1, 5_000)]
    assert checkpoint.load(part, "crm.deal.list", {"select": ["ID", "TITLE"]}) == []
    assert checkpoint.load(part, "crm.lead.list", {"select": ["ID"]}) == []
    with open(checkpoint.path_of(part), "w") as handle:
        handle.write("{not json")
    assert checkpoint.load(part, "crm.deal.list", {"select": ["ID"]}) == []
