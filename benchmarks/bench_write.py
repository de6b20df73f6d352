"""Bulk writes: bitrix_fast side by side with fast_bitrix24, against the sandbox portal.

    python benchmarks/bench_write.py            # 10,000 adds clean, 3,000 with faults, 3 runs
    python benchmarks/bench_write.py --quick    # a tenth of the items, one run each

Each client adds the same items (``crm.deal.add``, x10 plan: 50 burst, 20 requests/s; each
add costs the portal 1 ms, "light") to an identically seeded portal. Counts are totals over all runs (3, or 1 with --quick), on the same fault seeds for both
clients; seconds is the median run. "duplicates" counts items the portal holds more than once; "in doubt" counts items the client reported as possibly
executed (never resent); "lost" counts items neither created nor reported. A correct client
creates every item exactly once, or reports exactly which items it could not confirm.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List

from _harness import Scenario, available_libs, run_once

BURST, RATE = 50, 20.0


def scenarios(scale: float) -> List[Scenario]:
    def n(items: int) -> int:
        return max(300, int(items * scale))

    return [
        Scenario("adds, clean portal", 0, job="add", items=n(10_000)),
        Scenario("adds, 3% dropped after executing", 0, job="add", items=n(3_000),
                 faults="drop=0.03"),
        Scenario("adds, 5% HTTP 500", 0, job="add", items=n(3_000), faults="500=0.05"),
    ]


def table(results: Dict[str, Dict[str, Dict]]) -> str:
    lines = ["| scenario | client | seconds (median) | items/s | requests | 503 | created | "
             "duplicates | in doubt | lost | correct? |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, by_lib in results.items():
        for lib, r in by_lib.items():
            # "created" counts distinct items; items in doubt may or may not be among them.
            lost = max(0, r["items"] - r["created"] - r.get("in_doubt", 0) - r.get("failed", 0))
            correct = r["duplicates"] == 0 and lost == 0
            verdict = "yes" if correct else "no"
            if r.get("error") and not r.get("in_doubt"):
                verdict += f" ({r['error'].split(':')[0]})"
            per_run = r["created"] / r["runs"]
            lines.append(
                f"| {name} | {lib} | {r['seconds']:.2f} | {per_run / r['seconds']:,.0f} | "
                f"{r['requests']} | {r['refused_503']} | {r['created']:,} | {r['duplicates']} | "
                f"{r.get('in_doubt', 0)} | {lost} | {verdict} |")
    return "\n".join(lines)


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the items, one run")
    parser.add_argument("--repeats", type=int, default=None, help="runs per client (default 3)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON (charts.py)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    results: Dict[str, Dict] = {}
    for scenario in scenarios(0.1 if args.quick else 1.0):
        name = f"{scenario.name} ({scenario.items:,} x {repeats})"
        results[name] = {}
        for lib in available_libs(scenario.libs):
            # Run i uses seed 7 + i for every client: both face the same faults. Faults are
            # rare events, so counts are summed over all runs (a median run may have none).
            runs = [run_once(scenario, lib, plan="x10", rate=RATE, burst=BURST, seed=7 + i)
                    for i in range(repeats)]
            times = sorted(run["seconds"] for run in runs)
            total = {key: sum(run.get(key) or 0 for run in runs)
                     for key in ("created", "duplicates", "in_doubt", "failed", "requests",
                                 "portal_faults", "refused_503")}
            errors = [run["error"] for run in runs if run.get("error")]
            results[name][lib] = dict(total, seconds=times[len(times) // 2],
                                      items=scenario.items * repeats,
                                      error=errors[0] if errors else None, runs=repeats)
            print(f"  {name:<44} {lib:<14} {times[len(times) // 2]:6.2f} s "
                  f"(faults injected: {total['portal_faults']})", file=sys.stderr)
    print("\nbitrix_fast vs fast_bitrix24, bulk adds, sandbox portal, x10 plan\n")
    print(table(results))
    if args.json:  # through a .part file: an interrupted run keeps the previous results
        from bitrix_fast.cli.files import write_atomically

        write_atomically(args.json, json.dumps({"results": results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
