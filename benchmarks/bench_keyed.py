"""Writes safe to repeat: keyed adds and upserts under faults after execution, bitrix_fast
side by side with fast_bitrix24, against the sandbox portal.

    python benchmarks/bench_keyed.py              # 30,000 items, as the issue asks
    python benchmarks/bench_keyed.py --quick      # 3,000 items

1. **Keyed adds**: ``crm.deal.add`` of N items, each with its own ``ORIGIN_ID``, on a portal
   that drops 3% of connections and answers 3% with a proxy's 504 -- both *after* the add
   ran. bitrix_fast calls with ``key="ORIGIN_ID"``; fast_bitrix24 has no keys and calls
   plainly. A clean run of bitrix_fast gives the requests to compare with.
2. **Upsert, run again**: the same N records pushed again with a tenth of them retitled, on
   a portal that already holds them, under the same faults (and once clean, for the
   requests). bitrix_fast: ``upsert("crm.deal", records, key="ORIGIN_ID")``; fast_bitrix24:
   the loop its users write -- ``get_all`` of every record with an ORIGIN_ID, compare, then
   ``call`` the updates and the adds.

Counted on the portal: records per ORIGIN_ID (duplicates: records beyond the first),
records missing, titles wrong; requests as the portal counted them (refused ones too).
x10 plan: 50 at once, 20 requests/s; light cost. Each client runs in its own process.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _client import records  # noqa: E402
from _harness import available_libs  # noqa: E402

from bitrix_fast.testing.sandbox import Sandbox  # noqa: E402

CLIENT = HERE / "_client.py"
BURST, RATE = 50, 20.0
FAULTS = "drop=0.03,504=0.03"


def run(lib: str, job: str, items: int, *, faults: Optional[str], seed: int,
        preload: int = 0, changed_every: int = 0, timeout: float = 1800) -> Dict[str, Any]:
    """One client, one fresh portal (holding ``preload`` records first); what it counted."""
    with Sandbox(plan="x10", cost="light", faults=faults, seed=seed) as portal:
        if preload:
            _preload(portal, preload)
        portal.reset_stats()
        spec = {"lib": lib, "job": job, "webhook": portal.webhook, "rate": RATE,
                "burst": BURST, "items": items, "changed_every": changed_every}
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(CLIENT), json.dumps(spec)],
                              capture_output=True, text=True, timeout=timeout)
        wall = time.monotonic() - started
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        report = json.loads(lines[-1]) if lines else {
            "seconds": wall, "error": f"client crashed: {done.stderr.strip()[-300:]}"}
        stats = portal.stats()
        report["requests"] = stats["requests"]
        report["refused_503"] = stats["refused_503"]
        report["faults"] = sum(stats["faults"].values())
        report.update(_portal_counts(portal, items, changed_every))
    return report


def _preload(portal: Sandbox, count: int) -> None:
    """The records of the first push, written straight into the portal's store."""
    with portal.store.locked() as db:
        db.executemany('INSERT INTO deal ("TITLE", "ORIGIN_ID", "STAGE_ID", "OPENED") '
                       'VALUES (?, ?, \'NEW\', \'Y\')',
                       [(r["TITLE"], r["ORIGIN_ID"]) for r in records(count)])


def _portal_counts(portal: Sandbox, items: int, changed_every: int) -> Dict[str, int]:
    wanted = {r["ORIGIN_ID"]: r["TITLE"] for r in records(items, changed_every)}
    held: Dict[str, List[str]] = {}
    with portal.store.locked() as db:
        for origin, title in db.execute('SELECT "ORIGIN_ID", "TITLE" FROM deal '
                                        'WHERE "ORIGIN_ID" IS NOT NULL'):
            held.setdefault(origin, []).append(title)
    return {"duplicates": sum(len(t) - 1 for t in held.values()),
            "missing": sum(1 for key in wanted if key not in held),
            "wrong": sum(1 for key, title in wanted.items()
                         if key in held and held[key][-1] != title)}


def table(rows: List[Dict[str, Any]]) -> str:
    head = ("| scenario | client | seconds | requests | vs clean | faults | duplicates | "
            "missing | wrong title | in doubt | result |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        r = row["report"]
        clean = row.get("clean")
        ratio = f"{r['requests'] / clean:.3f}x" if clean else "-"
        if r.get("error"):
            verdict = r["error"].split(":")[0]
        elif "added" in r:
            verdict = f"{r['added']} added, {r['updated']} updated, {r['unchanged']} unchanged"
        else:
            verdict = f"{r.get('ok', 0):,} created"
        lines.append(f"| {row['scenario']} | {row['lib']} | {r['seconds']:.1f} | "
                     f"{r['requests']} | {ratio} | {r['faults']} | {r['duplicates']} | "
                     f"{r['missing']} | {r['wrong']} | {r.get('in_doubt', 0)} | {verdict} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3,000 items instead of 30,000")
    parser.add_argument("--items", type=int, default=None, help="items per run")
    parser.add_argument("--seed", type=int, default=7, help="the portals' fault seed")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = parser.parse_args(argv)
    count = args.items or (3_000 if args.quick else 30_000)
    libs = available_libs(("bitrix_fast", "fast_bitrix24"))
    rows: List[Dict[str, Any]] = []

    def step(scenario: str, lib: str, job: str, faults: Optional[str], **kw: Any
             ) -> Dict[str, Any]:
        report = run(lib, job, count, faults=faults, seed=args.seed, **kw)
        print(f"  {scenario:<34} {lib:<14} {report['seconds']:7.1f} s, "
              f"{report['requests']} requests, {report['faults']} faults, "
              f"{report['duplicates']} duplicates", file=sys.stderr)
        rows.append({"scenario": scenario, "lib": lib, "report": report})
        return report

    name = f"{count:,} keyed adds"
    clean = step(f"{name}, clean", "bitrix_fast", "keyed_add", None)["requests"]
    for lib in libs:
        step(f"{name}, 3% drops + 3% 504s", lib, "keyed_add", FAULTS)
        rows[-1]["clean"] = clean
    name = f"upsert of {count:,}, a tenth changed"
    clean = step(f"{name}, clean", "bitrix_fast", "upsert", None, preload=count,
                 changed_every=10)["requests"]
    for lib in libs:
        step(f"{name}, 3% drops + 3% 504s", lib, "upsert", FAULTS, preload=count,
             changed_every=10)
        rows[-1]["clean"] = clean
    print("\nWrites safe to repeat, sandbox portal, x10 plan (50 at once, 20 requests/s)\n")
    print(table(rows))
    if args.json:
        from bitrix_fast.cli.files import write_atomically

        write_atomically(args.json, json.dumps({"items": count, "rows": rows}, indent=1,
                                               default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
