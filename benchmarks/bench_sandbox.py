"""How fast does the sandbox serve rows? (It must never be the bottleneck of a benchmark.)

Starts ``python -m bitrix_fast.testing.sandbox`` in a subprocess (so client and server do not share
a GIL), reads the webhook from its first stdout line, then exports every deal with a
threaded ``requests`` client sending ``batch`` requests of 50 ID-range list commands
(``start=-1``, 50 rows each). Prints a markdown table; exits 1 below the floor.

    python benchmarks/bench_sandbox.py [--deals 200000] [--workers 8] [--wide] [--floor 20000]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List, Tuple

import requests
from requests.adapters import HTTPAdapter


def start_server(deals: int, plan: str) -> Tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bitrix_fast.sandbox", "--port", "0", "--deals", str(deals), "--plan", plan],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    webhook = proc.stdout.readline().strip()
    if not webhook.startswith("http"):
        proc.kill()
        raise SystemExit(f"sandbox did not start: {webhook!r}")
    return proc, webhook


NARROW = "&select[]=ID&select[]=TITLE&select[]=STAGE_ID&select[]=OPPORTUNITY"


def batch_payload(first_id: int, wide: bool, commands: int = 50, rows: int = 50) -> dict:
    cmd = {}
    for i in range(commands):
        low = first_id + i * rows
        cmd[f"c{i}"] = (
            f"crm.deal.list?start=-1&order[ID]=ASC&filter[>=ID]={low}&filter[<ID]={low + rows}"
            + ("" if wide else NARROW)
        )
    return {"halt": 0, "cmd": cmd}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--plan", default="x10")
    parser.add_argument("--floor", type=float, default=20_000, help="fail below this many rows/s")
    parser.add_argument("--wide", action="store_true", help="whole rows (every field) instead of 4 fields")
    args = parser.parse_args()

    seeding = time.perf_counter()
    proc, webhook = start_server(args.deals, args.plan)
    seeded = time.perf_counter() - seeding
    local = threading.local()
    latencies: List[float] = []
    counters = {"requests": 0, "refused": 0, "rows": 0}
    lock = threading.Lock()

    def session() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
            local.s.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0))
        return local.s

    def fetch(first_id: int) -> int:
        payload = batch_payload(first_id, args.wide)
        while True:
            began = time.perf_counter()
            reply = session().post(webhook + "batch", json=payload, timeout=60)
            elapsed = time.perf_counter() - began
            with lock:
                counters["requests"] += 1
            if reply.status_code == 503:  # the portal's bucket said no: wait and resend
                with lock:
                    counters["refused"] += 1
                time.sleep(0.05)
                continue
            reply.raise_for_status()
            results = reply.json()["result"]["result"]
            rows = sum(len(page) for page in (results.values() if isinstance(results, dict) else results))
            with lock:
                latencies.append(elapsed)
                counters["rows"] += rows
            return rows

    try:
        starts = range(1, args.deals + 1, 2500)
        began = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(fetch, starts))
        wall = time.perf_counter() - began
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    rate = counters["rows"] / wall
    print("| deals | fields | workers | plan | rows/s | requests (503) | median request | p95 request | wall | startup |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else latencies[0]
    print(
        f"| {args.deals:,} | {'all' if args.wide else 4} | {args.workers} | {args.plan} | {rate:,.0f} "
        f"| {counters['requests']} "
        f"({counters['refused']}) | {statistics.median(latencies) * 1000:.0f} ms | {p95 * 1000:.0f} ms "
        f"| {wall:.2f} s | {seeded:.1f} s |"
    )
    if counters["rows"] != args.deals:
        print(f"expected {args.deals} rows, got {counters['rows']}", file=sys.stderr)
        return 1
    return 0 if rate >= args.floor else 1


if __name__ == "__main__":
    sys.exit(main())
