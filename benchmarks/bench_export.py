"""Exports: bitrix_fast side by side with fast_bitrix24, against the sandbox portal.

    python benchmarks/bench_export.py            # full sizes (~10 minutes)
    python benchmarks/bench_export.py --quick    # a tenth of the rows, one run each (~1 minute)
    python benchmarks/bench_export.py --plot export.png --json results.json

Both clients are told the portal's limits (x10 plan: 50 requests burst, 20 requests/s) and
export the same rows from identically seeded portals. Each scenario runs each client three
times (once with --quick); the table shows the run with the median time. "vs floor" compares
with the least time the portal allows for that many requests, (requests - burst) / rate;
"correct?" means every expected row arrived exactly once (under churn: every row that existed
throughout the export).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Dict, List

from _harness import Scenario, markdown_table, plot, run_scenario, scenario_arguments

from bitrix_fast.cli.files import write_atomically

BURST, RATE = 50, 20.0  # the x10 plan


def scenarios(scale: float) -> List[Scenario]:
    def n(rows: int) -> int:
        return max(1_000, int(rows * scale))

    return [
        Scenario("contiguous, light", n(300_000)),
        Scenario("sparse IDs", n(200_000), id_gaps="sparse"),
        Scenario("clustered IDs", n(200_000), id_gaps="clustered"),
        Scenario("filter keeps 75%", n(100_000), id_gaps="sparse",
                 params={"select": ["ID", "TITLE"], "filter": {"CATEGORY_ID": 0}},
                 sql_filter="CATEGORY_ID = 0"),
        Scenario("heavy cost", n(300_000), cost="heavy"),
        Scenario("churn 200+200/s", n(150_000), churn=400),
        # Issue 17: a filter or select on a multiple field joins it, and pages come back
        # short and overlapping; the same table on a clean portal is the yardstick.
        Scenario("30k rows, clean portal", n(30_000)),
        Scenario("30k rows, joined pages (every 7th row twice)", n(30_000),
                 quirks="joined_pages"),
        Scenario("iter_all, 1M rows", n(1_000_000), cost="none", job="iterate",
                 libs=("bitrix_fast",)),
    ]


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, one run each")
    scenario_arguments(parser)
    parser.add_argument("--plot", metavar="FILE.png", help="draw rows received over time")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    chosen = [s for s in scenarios(0.1 if args.quick else 1.0)
              if not args.only or args.only in s.name]
    results: Dict[str, Dict] = {}
    for scenario in chosen:
        results[f"{scenario.name} ({scenario.deals:,})"] = run_scenario(
            scenario, repeats=repeats, plan="x10", rate=RATE, burst=BURST)
    title = (f"bitrix_fast vs fast_bitrix24, sandbox portal, x10 plan ({BURST} burst, "
             f"{RATE:.0f} req/s), {dt.date.today().isoformat()}")
    print(f"\n{title}\n")
    print(markdown_table(results, burst=BURST, rate=RATE))
    extra = {name: {lib: {"first_row_s": r.get("first_row"), "peak_rss_mb": r.get("peak_rss_mb")}
                    for lib, r in by_lib.items()} for name, by_lib in results.items()}
    print("\nfirst row after (s) / peak client RSS (MB):")
    for name, by_lib in extra.items():
        cells = ", ".join(f"{lib} {v['first_row_s'] or 0:.3f} s / {v['peak_rss_mb']:.0f} MB"
                          for lib, v in by_lib.items())
        print(f"  {name}: {cells}")
    if args.plot:
        plot(results, args.plot, title)
        print(f"\nplot written to {args.plot}")
    if args.json:  # through a .part file: an interrupted run keeps the previous results
        write_atomically(args.json, json.dumps({"title": title, "results": results},
                                               indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
