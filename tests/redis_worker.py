"""Processes for the multi-process Redis tests: ``run_workers()`` starts them, and run as a
script this module is one of them (pytest does not collect it).

    python redis_worker.py tokens REDIS_URL KEY RATE BURST N [HEADROOM]
    python redis_worker.py export REDIS_URL KEY RATE BURST WEBHOOK [HEADROOM]

A worker builds its limiter (and client), prints ``ready``, waits for a line on stdin so
that every process starts at once, does its work, then prints one JSON line: ``tokens`` ->
the ``time.time()`` of each grant, read right after ``acquire()`` returns; ``export`` -> the
exported deal IDs and the client's stats.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import List


def run_workers(*args: str, processes: int = 4, timeout: float = 120.0) -> List[dict]:
    """Start ``processes`` workers, let them all go at once, return their JSON reports."""
    argv = [sys.executable, os.path.abspath(__file__), *args]
    procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(processes)]
    try:
        for proc in procs:  # everyone has imported, connected and is waiting
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=timeout)
            assert proc.returncode == 0
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def main(argv: list) -> None:
    mode, url, key, rate, burst = argv[:5]
    from bitrix_fast.pacing.shared import RedisLimiter

    limiter = RedisLimiter(url, rate=float(rate), burst=int(burst), key=key, timeout=2.0,
                           headroom=int(argv[6]) if len(argv) > 6 else None)
    if mode == "tokens":
        count = int(argv[5])
        print("ready", flush=True)
        sys.stdin.readline()
        grants = []
        for _ in range(count):
            limiter.acquire()
            grants.append(time.time())
        print(json.dumps({"grants": grants}), flush=True)
    elif mode == "export":
        from bitrix_fast import Bitrix

        with Bitrix(argv[5], limiter=limiter, verbose=False) as bx:
            print("ready", flush=True)
            sys.stdin.readline()
            start = time.monotonic()
            rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
            seconds = time.monotonic() - start
            stats = bx.stats()
        print(json.dumps({"ids": [int(row["ID"]) for row in rows], "seconds": seconds,
                          "retries": stats["retries"], "refused_503": stats["refused_503"],
                          "requests": stats["requests"]}), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
