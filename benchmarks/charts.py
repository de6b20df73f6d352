"""The documentation's benchmark data and figures, in one command.

    python benchmarks/charts.py              # full runs (about 40 minutes), then the figures
    python benchmarks/charts.py --quick      # a tenth of the rows, one run each (~5 minutes)
    python benchmarks/charts.py --draw-only  # redraw the figures from the saved data

It runs ``bench_export.py``, ``bench_latency.py``, ``bench_write.py`` and ``bench_limits.py``
(each exactly as by hand, with ``--json``), then one export at the standard plan's real limits for the
rows-over-time figure, and writes into ``docs/benchmarks/``:

* ``data/*.json`` -- every number, with the machine and the date; the benchmarks page renders
  its tables from these files and README's table must match them (tests/test_docs_bench.py);
* ``figures/*.svg`` -- the charts the page shows, each stating its machine and date.

Needs the ``bench`` extra (fast_bitrix24 and matplotlib): ``pip install -e '.[bench]'``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import _charts

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "benchmarks"
#: the scripts whose tables the benchmarks page shows, by data file name
SCRIPTS = {"export": "bench_export.py", "latency": "bench_latency.py", "write": "bench_write.py",
           "limits": "bench_limits.py"}
#: the rows-over-time export: the standard plan's real limits, a table past the first burst
TIMELINE_ROWS, TIMELINE_BURST, TIMELINE_RATE = 200_000, 50, 2.0


def machine() -> str:
    """What the numbers were measured on, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2 ** 30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()}, "
            f"Python {platform.python_version()}")


def meta(quick: bool) -> Dict[str, Any]:
    return {"date": dt.date.today().isoformat(), "machine": machine(), "quick": quick,
            "repeats": 1 if quick else 3}


def run_script(name: str, data: Path, quick: bool) -> None:
    """One benchmark script as a user runs it; its tables still print as they come."""
    target = data / f"{name}.json"
    command = [sys.executable, str(HERE / SCRIPTS[name]), "--json", str(target)]
    subprocess.run(command + (["--quick"] if quick else []), check=True)
    stamped = json.loads(target.read_text())
    stamped["meta"] = meta(quick)
    write_json(target, stamped)


def run_timeline(data: Path, quick: bool) -> None:
    """Both clients export the same table from a portal at the standard plan's limits."""
    from _harness import Scenario, available_libs, run_once

    scenario = Scenario("standard plan export", TIMELINE_ROWS)
    runs = {lib: run_once(scenario, lib, plan="standard", rate=TIMELINE_RATE,
                          burst=TIMELINE_BURST)
            for lib in available_libs(scenario.libs)}
    write_json(data / "timeline.json",
               {"scenario": scenario.name, "rows": scenario.deals, "runs": runs,
                "burst": TIMELINE_BURST, "rate": TIMELINE_RATE,
                "meta": dict(meta(quick), repeats=1, quick=False)})


def write_json(path: Path, value: Any) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(value, indent=1, default=str) + "\n")
    os.replace(part, path)


def write_verdicts(results: Dict[str, Dict[str, Dict[str, Any]]]) -> None:
    """bench_write's reports carry counts, not a verdict: the same rule as its table."""
    for by_lib in results.values():
        for report in by_lib.values():
            lost = max(0, report["items"] - report["created"] - (report.get("in_doubt") or 0)
                       - (report.get("failed") or 0))
            problems = [f"{report['duplicates']:,} duplicates"] if report["duplicates"] else []
            if lost:
                problems.append(f"{lost:,} lost")
            report["lost"] = lost
            report["correct"] = not problems
            report["problem"] = ", ".join(problems)


def draw(out: Path) -> List[Path]:
    """Every figure from the data files present; returns the files written."""
    data, figures = out / "data", out / "figures"
    written: List[Path] = []

    def load(name: str) -> Optional[Dict[str, Any]]:
        path = data / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    export = load("export")
    if export:
        target = figures / "export-compare.svg"
        _charts.comparison(export["results"], str(target), meta=export["meta"],
                           title="Exports, x10 plan (50 requests at once, then 20/s): "
                                 "bitrix_fast and fast_bitrix24")
        written.append(target)
    latency = load("latency")
    if latency:
        target = figures / "latency-compare.svg"
        joined = {**latency["x10"], **latency["enterprise"]}
        _charts.comparison(joined, str(target), meta=latency["meta"],
                           title="Slow portals: every batch takes seconds")
        written.append(target)
    limits = load("limits")
    if limits:
        target = figures / "limits-compare.svg"
        _charts.comparison(limits["results"], str(target), meta=limits["meta"],
                           title="Big tables on an Enterprise plan (250 at once, then 5/s) "
                                 "and the limits of 2026")
        written.append(target)
    write = load("write")
    if write:
        write_verdicts(write["results"])
        target = figures / "write-compare.svg"
        _charts.comparison(write["results"], str(target), meta=write["meta"],
                           title="Bulk adds, x10 plan (counts summed over the runs)")
        written.append(target)
    line = load("timeline")
    if line:
        target = figures / "export-timeline.svg"
        _charts.timeline(line["runs"], str(target), meta=line["meta"], burst=line["burst"],
                         rate=line["rate"],
                         title=f"Rows over time: one export of {line['rows']:,} deals, "
                               f"standard plan ({line['burst']} requests at once, then "
                               f"{line['rate']:g}/s), light server cost")
        written.append(target)
    return written


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the rows, one run per client")
    parser.add_argument("--draw-only", action="store_true",
                        help="redraw the figures from the data already saved")
    parser.add_argument("--only", help="comma-separated: export,latency,write,limits,timeline")
    parser.add_argument("--out", type=Path, default=DOCS, help="default: docs/benchmarks")
    args = parser.parse_args(argv)
    wanted = args.only.split(",") if args.only else [*SCRIPTS, "timeline"]
    data = args.out / "data"
    data.mkdir(parents=True, exist_ok=True)
    if not args.draw_only:
        for name in wanted:
            print(f"== {name}", file=sys.stderr, flush=True)
            if name == "timeline":
                run_timeline(data, args.quick)
            else:
                run_script(name, data, args.quick)
    for path in draw(args.out):
        print(f"figure written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
