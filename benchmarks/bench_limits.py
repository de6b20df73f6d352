"""Big tables on Enterprise portals and the portal limits of 2026 (issue 25): bitrix_fast side
by side with fast_bitrix24, in one run, against the sandbox portal.

    python benchmarks/bench_limits.py            # 3 runs per client and scenario (~40 min)
    python benchmarks/bench_limits.py --quick    # one run each, a tenth of the rows
    python benchmarks/bench_limits.py --json docs/benchmarks/data/limits.json

Every scenario is a real Enterprise plan (250 burst, 5 requests/s) exporting deals:

* ``real-big``: a portal with millions of rows -- a page of 50 costs 97 ms, a batch of 50
  pages 4.9 s, and a COUNT 20.9 us a row (6.3 s over 300,000 rows);
* ``real-wide``: many fields -- 300 ms a page, 15 s a batch, a cheap COUNT (50,000 rows:
  a bigger table is bound by the method's 480 s budget per 10 minutes, not by the start);
* the same two with every COUNT twice as slow (``count_factor=2``), and ``real-big`` with a
  free COUNT: the time must barely move;
* a portal whose operating limit is 120 s, not 480;
* a portal whose replies carry no ``time`` block (fast_bitrix24 #269).

"vs floor" compares with the least time the portal allows: the burst at once, then the rate,
plus one batch's time.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Dict, List

from _harness import Scenario, markdown_table, run_scenario, scenario_arguments

from bitrix_fast.cli.files import write_atomically

BURST, RATE = 250, 5.0  # Enterprise
EXPORT = {"select": ["ID", "TITLE"]}


def scenarios(scale: float) -> List[Scenario]:
    def n(rows: int) -> int:
        return max(1_000, int(rows * scale))

    big = dict(cost="real-big", plan="enterprise", params=EXPORT, latency=4.9)
    wide = dict(cost="real-wide", plan="enterprise", params=EXPORT, latency=15.0)
    return [
        Scenario("real-big, 300k", n(300_000), **big),
        Scenario("real-big, 300k, COUNT free", n(300_000), **big,
                 sandbox={"count_factor": 0.0}),
        Scenario("real-big, 300k, COUNT twice as slow", n(300_000), **big,
                 sandbox={"count_factor": 2.0}),
        # 50k rows of real-wide cost 300 s of the 480 s budget a method has in 10 minutes:
        # a table much bigger is bound by the budget, not by the start.
        Scenario("real-wide, 50k", n(50_000), **wide),
        Scenario("real-wide, 50k, COUNT twice as slow", n(50_000), **wide,
                 sandbox={"count_factor": 2.0}),
        Scenario("real-big, 100k, operating limit 120 s", n(100_000), **big,
                 sandbox={"operating_limit": 120}),
        Scenario("real-big, 300k, replies without time", n(300_000), **big,
                 sandbox={"time_fields": "none"}),
    ]


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run each, a tenth of the rows")
    scenario_arguments(parser)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    results: Dict[str, Dict] = {}
    for scenario in scenarios(0.1 if args.quick else 1.0):
        if args.only and args.only not in scenario.name:
            continue
        results[scenario.name] = run_scenario(scenario, repeats=repeats, plan="enterprise",
                                              rate=RATE, burst=BURST)
    title = (f"bitrix_fast vs fast_bitrix24, Enterprise plan ({BURST} burst, {RATE:.0f} "
             f"req/s), sandbox portal, {dt.date.today().isoformat()}")
    print(f"\n{title}\n")
    print(markdown_table(results, burst=BURST, rate=RATE))
    if args.json:  # through a .part file: an interrupted run keeps the previous results
        write_atomically(args.json, json.dumps({"title": title, "results": results},
                                               indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
