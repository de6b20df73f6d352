"""``export --resume`` reads only what is missing (issue 15): the interrupted run records the
ID intervals it has on disk in full, and the resume skips them."""
import json
import os
import signal
import subprocess
import sys
import time

from bitrix_fast.cli import main
from bitrix_fast.cli import checkpoint
from bitrix_fast.testing.sandbox import CostModel, Sandbox

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


def test_an_interrupted_export_plus_its_resume_costs_at_most_a_quarter_more(tmp_path):
    out = tmp_path / "deals.jsonl"
    part = str(out) + ".part"
    cost = CostModel(per_command=0.004)  # a batch of 50 pages takes 0.2 s
    with Sandbox(deals=150_000, id_gaps="sparse", plan="x10", cost=cost) as sb:
        expected = sorted(sb.store.ids("deal"))
        argv = ["export", "crm.deal.list", "--select", "ID,TITLE", "-o", str(out),
                "--webhook", sb.webhook, *FLAGS]
        assert main(argv) == 0
        one_run = sb.stats()["requests"]
        os.unlink(out)

        sb.reset_stats()
        proc = subprocess.Popen([sys.executable, "-m", "bitrix_fast.cli", *argv],
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while lines_in(part) < 40_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        interrupted = sb.stats()["requests"]
        assert not out.exists() and os.path.exists(checkpoint.path_of(part))
        assert 0 < lines_in(part) < len(expected)

        sb.reset_stats()
        assert main([*argv, "--resume"]) == 0
        resumed = sb.stats()["requests"]
    assert ids_in(out) and sorted(ids_in(out)) == expected  # every row, once
    assert not os.path.exists(part) and not os.path.exists(checkpoint.path_of(part))
    assert interrupted + resumed <= 1.25 * one_run, (interrupted, resumed, one_run)


def test_a_record_of_another_call_is_not_used(tmp_path):
    part = str(tmp_path / "x.jsonl.part")
    checkpoint.save(part, "crm.deal.list", {"select": ["ID"]}, [(1, 5_000)])
    assert checkpoint.load(part, "crm.deal.list", {"select": ["ID"]}) == [(1, 5_000)]
    assert checkpoint.load(part, "crm.deal.list", {"select": ["ID", "TITLE"]}) == []
    assert checkpoint.load(part, "crm.lead.list", {"select": ["ID"]}) == []
    with open(checkpoint.path_of(part), "w") as handle:
        handle.write("{not json")
    assert checkpoint.load(part, "crm.deal.list", {"select": ["ID"]}) == []
