"""Several processes exporting one portal: a TokenBucket each, or one shared RedisLimiter?

Starts one sandbox portal (``bitrix-fast sandbox --port 0 --plan x10 --deals N``, the first
stdout line is its webhook) and, unless ``--redis`` is given, a private ``redis-server``.
Then runs the same export twice: ``--processes`` processes each ``get_all`` every deal,
first each with its own in-process TokenBucket, then all through one RedisLimiter. Prints a
markdown table: seconds, 503 refusals the portal counted, client retries, rows per process,
and whether every process got every row exactly once.

    python benchmarks/bench_redis.py [--deals 100000] [--processes 4] [--plan x10]
                                     [--redis redis://host:6379/0]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from typing import Iterator, List, Tuple

import requests

HERE = os.path.abspath(__file__)


# -- the worker: one exporting process ------------------------------------------------------

def worker(kind: str, webhook: str, rate: float, burst: int, redis_url: str, key: str) -> None:
    from bitrix_fast import Bitrix

    if kind == "redis":
        from bitrix_fast.pacing.shared import RedisLimiter

        options = {"limiter": RedisLimiter(redis_url, rate=rate, burst=burst, key=key)}
    else:
        options = {"requests_per_second": rate, "request_pool_size": burst}
    with Bitrix(webhook, verbose=False, **options) as bx:
        print("ready", flush=True)
        sys.stdin.readline()
        start = time.monotonic()
        rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
        seconds = time.monotonic() - start
        stats = bx.stats()
    ids = [int(row["ID"]) for row in rows]
    print(json.dumps({"ids": ids, "seconds": seconds, "retries": stats["retries"],
                      "refused_503": stats["refused_503"]}), flush=True)


# -- the driver -------------------------------------------------------------------------------

def start_sandbox(deals: int, plan: str) -> Tuple[subprocess.Popen, str]:
    command = shutil.which("bitrix-fast")
    argv = [command] if command else [sys.executable, "-m", "bitrix_fast.cli"]
    proc = subprocess.Popen(argv + ["sandbox", "--port", "0", "--plan", plan,
                                    "--deals", str(deals)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    webhook = proc.stdout.readline().strip()
    if not webhook.startswith("http"):
        proc.kill()
        raise SystemExit("the sandbox did not start")
    return proc, webhook


@contextmanager
def redis_server(url: str) -> Iterator[str]:
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: apt-get install -y redis-server, or pass --redis")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


def run(kind: str, processes: int, webhook: str, rate: float, burst: int, redis_url: str,
        key: str) -> Tuple[float, List[dict]]:
    argv = [sys.executable, HERE, "--worker", kind, webhook, repr(rate), str(burst), redis_url,
            key]
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(processes)]
    try:
        for proc in procs:
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit(f"a {kind} worker did not start")
        start = time.monotonic()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = [json.loads(proc.communicate(timeout=3600)[0].strip().splitlines()[-1])
                   for proc in procs]
        return time.monotonic() - start, reports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, webhook, rate, burst, redis_url, key = sys.argv[2:8]
        worker(kind, webhook, float(rate), int(burst), redis_url, key)
        return 0
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--plan", default="x10")
    parser.add_argument("--redis", default="", help="a Redis URL (default: start redis-server)")
    args = parser.parse_args()

    from bitrix_fast.testing.sandbox.limits import make_plan

    plan = make_plan(args.plan)
    sandbox, webhook = start_sandbox(args.deals, args.plan)
    base = webhook.split("/rest/", 1)[0]
    rows = []
    try:
        with redis_server(args.redis) as redis_url:
            for kind, label in (("local", "TokenBucket per process"),
                                ("redis", "one RedisLimiter")):
                # Start each run with the portal's bucket empty and its counters at zero.
                time.sleep(plan.burst / plan.rate + 0.5)
                requests.post(f"{base}/sandbox/stats/reset", timeout=10).raise_for_status()
                key = f"bench-{uuid.uuid4().hex[:8]}"
                seconds, reports = run(kind, args.processes, webhook, plan.rate,
                                       int(plan.burst), redis_url, key)
                stats = requests.get(f"{base}/sandbox/stats", timeout=10).json()
                everyone = set(reports[0]["ids"])
                correct = all(len(r["ids"]) == len(set(r["ids"])) == args.deals
                              and set(r["ids"]) == everyone for r in reports)
                rows.append((label, seconds, stats["refused_503"],
                             sum(r["retries"] for r in reports),
                             "/".join(str(len(r["ids"])) for r in reports),
                             "yes" if correct else "NO"))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    print(f"{args.processes} processes x {args.deals} deals, plan {args.plan} "
          f"(burst {plan.burst:g}, {plan.rate:g}/s)\n")
    print("| limiter | seconds | refusals (503) at the portal | client retries "
          "| rows per process | correct? |")
    print("|---|---:|---:|---:|---|---|")
    for label, seconds, refused, retries, per_process, correct in rows:
        print(f"| {label} | {seconds:.2f} | {refused} | {retries} | {per_process} | {correct} |")
    return 0 if all(row[-1] == "yes" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
