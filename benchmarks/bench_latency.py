"""Fast on a real portal: bitrix_fast side by side with fast_bitrix24 where every request
takes seconds, as on real portals (issue 16).

    python benchmarks/bench_latency.py            # 3 runs per client and scenario
    python benchmarks/bench_latency.py --quick    # one run, a tenth of the export

A batch on a real portal is not instant: a list page costs the server ~15 ms on a small
table and ~0.1 s on a big one, an add 30-100 ms (sandbox/cost.py has the sources), so a
batch of 50 takes from under a second to over ten, and reaching the portal's rate takes
``rate x time per request`` requests in flight. The x10 plan (50 burst, 20 requests/s) with
the ``x10-latency`` preset (a batch of 50 list pages or gets 1.5 s, of 50 adds 2.5 s) makes
the same demand on a client as a standard portal with 15 s batches; the Enterprise row is a
real Enterprise plan (250 burst, 5 requests/s) with ``real-big`` (a 50-page batch ~4.9 s).

"vs floor" compares with the least time the portal allows: the burst at once, then the
rate, plus one request's time.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Dict, List

from _harness import Scenario, markdown_table, run_scenario, scenario_arguments

BURST, RATE = 50, 20.0  # the x10 plan


def scenarios(scale: float) -> List[Scenario]:
    def n(rows: int) -> int:
        return max(1_000, int(rows * scale))

    export = {"select": ["ID", "TITLE"]}
    return [
        Scenario("export, 1.5 s batches", n(300_000), cost="x10-latency", params=export,
                 latency=1.5),
        Scenario("5,000 adds, 2.5 s batches", 0, cost="x10-latency", job="add",
                 items=5_000, latency=2.5),
        Scenario("get_by_ID 4,000, 1.5 s batches", 4_000, cost="x10-latency", job="get",
                 items=4_000, latency=1.5),
    ]


def enterprise(scale: float) -> List[Scenario]:
    return [Scenario("Enterprise: export, 4.9 s batches", max(1_000, int(300_000 * scale)),
                     cost="real-big", plan="enterprise", params={"select": ["ID", "TITLE"]},
                     latency=4.9)]


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run, a tenth of the export")
    scenario_arguments(parser)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    scale = 0.1 if args.quick else 1.0
    results: Dict[str, Dict] = {}
    for scenario in scenarios(scale):
        if args.only and args.only not in scenario.name:
            continue
        results[scenario.name] = run_scenario(scenario, repeats=repeats, plan="x10",
                                              rate=RATE, burst=BURST)
    big: Dict[str, Dict] = {}
    for scenario in enterprise(scale):
        if args.only and args.only not in scenario.name:
            continue
        big[scenario.name] = run_scenario(scenario, repeats=repeats, plan="enterprise",
                                          rate=5.0, burst=250)
    today = dt.date.today().isoformat()
    print(f"\nbitrix_fast vs fast_bitrix24 on slow portals, sandbox, {today}\n")
    if results:
        print(f"x10 plan ({BURST} burst, {RATE:.0f} req/s), cost x10-latency:\n")
        print(markdown_table(results, burst=BURST, rate=RATE))
    if big:
        print("\nEnterprise plan (250 burst, 5 req/s), cost real-big:\n")
        print(markdown_table(big, burst=250, rate=5.0))
    if args.json:
        with open(args.json + ".part", "w") as handle:
            json.dump({"x10": results, "enterprise": big}, handle, indent=1, default=str)
        import os
        os.replace(args.json + ".part", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
