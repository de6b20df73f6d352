"""Stopping on a slow portal: how long Ctrl+C takes to end a process, whether anything is
sent after it, and what an interrupted export plus its resume costs (issue 22, item 8).

    python benchmarks/bench_stop.py            # 3 runs of each
    python benchmarks/bench_stop.py --quick    # one run of each

The portal is the sandbox over HTTP with the x10 plan (50 burst, 20 requests/s) and the
``x10-latency`` cost preset: a batch of 50 list pages takes 1.5 s, a batch of 50 adds 2.5 s,
so some thirty to fifty requests are in flight when Ctrl+C comes -- the situation in which
the in-flight change made stopping slow. Each client is a separate process that gets a real
SIGINT. "sent after" counts requests that reached the portal more than 50 ms after the
signal (a request already leaving the machine may land just after it).

fast_bitrix24 runs the same scripts where it has the same call (``get_all``, ``call``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any, Dict, List, Optional

from bitrix_fast.testing.sandbox import Sandbox

PLAN, COST = "x10", "x10-latency"
FLAGS = ["--request-pool-size", "50", "--requests-per-second", "20", "--quiet"]

SCRIPTS = {
    ("bitrix_fast", "get_all"): """
        import sys
        from bitrix_fast import Bitrix
        bx = Bitrix(sys.argv[1], request_pool_size=50, requests_per_second=20.0, verbose=False)
        print("started", flush=True)
        bx.get_all("crm.deal.list", {"select": ["ID", "TITLE"]})
        """,
    ("fast_bitrix24", "get_all"): """
        import sys
        from fast_bitrix24 import Bitrix
        bx = Bitrix(sys.argv[1], request_pool_size=50, requests_per_second=20.0, verbose=False)
        print("started", flush=True)
        bx.get_all("crm.deal.list", {"select": ["ID", "TITLE"]})
        """,
    ("bitrix_fast", "call"): """
        import sys
        from bitrix_fast import Bitrix, Interrupted
        bx = Bitrix(sys.argv[1], request_pool_size=50, requests_per_second=20.0, verbose=False)
        items = [{"fields": {"TITLE": f"deal {i}"}} for i in range(20000)]
        print("started", flush=True)
        try:
            bx.call("crm.deal.add", items)
        except Interrupted as stopped:
            known = (len(stopped.results) + len(stopped.errors) + len(stopped.in_doubt)
                     + len(stopped.not_sent))
            print(f"record {known} {len(stopped.in_doubt)}", flush=True)
            raise
        """,
    ("fast_bitrix24", "call"): """
        import sys
        from fast_bitrix24 import Bitrix
        bx = Bitrix(sys.argv[1], request_pool_size=50, requests_per_second=20.0, verbose=False)
        items = [{"fields": {"TITLE": f"deal {i}"}} for i in range(20000)]
        print("started", flush=True)
        bx.call("crm.deal.add", items)
        """,
}


def interrupt_script(lib: str, job: str, deals: int, after: float) -> Dict[str, Any]:
    """One client process, SIGINT ``after`` s into its run; seconds to exit, requests after."""
    with Sandbox(deals=deals, plan=PLAN, cost=COST, seed=7) as sb:
        code = textwrap.dedent(SCRIPTS[(lib, job)])
        proc = subprocess.Popen([sys.executable, "-c", code, sb.webhook],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_default_sigint)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "started":
            raise RuntimeError(f"{lib} did not start: {proc.communicate()[1][-500:]}")
        sb.reset_stats()
        started = time.monotonic()
        time.sleep(after)
        at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        ended = time.monotonic()
        arrivals = sb.timeline()
        mark = at - started + 0.05
        record = next((line.split() for line in out.splitlines()
                       if line.startswith("record")), None)
        return {"exit_s": ended - at, "requests": len(arrivals),
                "sent_after": sum(1 for t in arrivals if t > mark),
                "record": None if record is None else int(record[1]),
                "in_doubt": None if record is None else int(record[2])}


def export_and_resume(deals: int, after_rows: int) -> Dict[str, Any]:
    """One export run whole, then one interrupted after ``after_rows`` rows and resumed."""
    with Sandbox(deals=deals, id_gaps="sparse", plan=PLAN, cost=COST, seed=7) as sb, \
            tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "deals.jsonl")
        part = out + ".part"
        argv = [sys.executable, "-m", "bitrix_fast.cli", "export", "crm.deal.list",
                "--select", "ID,TITLE", "-o", out, "--webhook", sb.webhook, *FLAGS]
        sb.reset_stats()
        one = time.monotonic()
        subprocess.run(argv, check=True, timeout=600)
        one_run_s = time.monotonic() - one
        one_run = sb.stats()["requests"]
        os.unlink(out)

        sb.reset_stats()
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_default_sigint)
        while _lines(part) < after_rows and proc.poll() is None:
            time.sleep(0.02)
        at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
        exit_s = time.monotonic() - at
        interrupted = sb.stats()["requests"]
        sb.reset_stats()
        subprocess.run([*argv, "--resume"], check=True, timeout=600)
        resumed = sb.stats()["requests"]
        rows = _lines(out)
        return {"exit_code": code, "exit_s": exit_s, "one_run": one_run,
                "one_run_s": one_run_s, "interrupted": interrupted, "resumed": resumed,
                "ratio": (interrupted + resumed) / one_run, "rows_ok": rows == deals}


def _default_sigint() -> None:
    """In the child: Ctrl+C does what it does in a terminal. A benchmark started in the
    background (``nohup ... &``) runs with SIGINT ignored, and its children would inherit
    that and never see the signal this benchmark sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _lines(path: str) -> int:
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n")
    except OSError:
        return 0


def _median(values: List[float]) -> float:
    return statistics.median(values)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of each")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    libs = ["bitrix_fast"]
    try:
        import fast_bitrix24  # noqa: F401
        libs.append("fast_bitrix24")
    except ImportError:
        print("fast_bitrix24 is not installed: bitrix_fast alone", file=sys.stderr)
    results: Dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                                          f"Python {platform.python_version()}",
                               "date": dt.date.today().isoformat(), "scripts": {},
                               "export": []}
    print(f"# Stopping on a slow portal ({PLAN}, {COST}) -- {results['date']}, "
          f"{results['machine']}\n")
    print("| script | client | Ctrl+C to exit (median) | requests sent after | "
          "every item on record |")
    print("|---|---|---|---|---|")
    for job, deals in (("get_all", 300_000), ("call", 0)):
        for lib in libs:
            runs = [interrupt_script(lib, job, deals, after=3.0) for _ in range(repeats)]
            results["scripts"][f"{job}/{lib}"] = runs
            exit_s = _median([r["exit_s"] for r in runs])
            after = max(r["sent_after"] for r in runs)
            if job == "call" and lib == "bitrix_fast":
                record = ("yes" if all(r["record"] == 20_000 for r in runs) else "NO") + \
                    f" ({_median([r['in_doubt'] for r in runs]):.0f} in doubt)"
            elif job == "call":
                record = "no record"
            else:
                record = "-"
            print(f"| {job} | {lib} | {exit_s:.2f} s | {after} | {record} |")
    runs = [export_and_resume(150_000, 40_000) for _ in range(repeats)]
    results["export"] = runs
    print("\n| bitrix-fast export, 150k rows | median |")
    print("|---|---|")
    print(f"| Ctrl+C to exit 130 | {_median([r['exit_s'] for r in runs]):.2f} s |")
    print(f"| one run | {_median([r['one_run'] for r in runs]):.0f} requests, "
          f"{_median([r['one_run_s'] for r in runs]):.1f} s |")
    print(f"| interrupted + --resume | {_median([r['interrupted'] for r in runs]):.0f} + "
          f"{_median([r['resumed'] for r in runs]):.0f} requests |")
    print(f"| ratio to one run | {_median([r['ratio'] for r in runs]):.3f}x "
          f"(max {max(r['ratio'] for r in runs):.3f}x) |")
    print(f"| every row once after the resume | "
          f"{'yes' if all(r['rows_ok'] and r['exit_code'] == 130 for r in runs) else 'NO'} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
