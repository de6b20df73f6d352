"""Shared benchmark machinery: a fresh sandbox portal per run, each client in its own process,
correctness checked against the portal's own records, medians, a markdown table, a plot.

Every client run gets a freshly started portal seeded with the same seed: the same rows, an
empty leaky bucket and an unspent operating budget, so no client inherits another's debt.
The portal lives in this process (a background thread); the client runs in a subprocess, so
the two never share a GIL, and the client's peak RSS is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from bitrix_fast.testing.sandbox import Sandbox

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "_client.py"
LIBS = ("bitrix_fast", "fast_bitrix24")


@dataclass
class Scenario:
    name: str
    deals: int
    id_gaps: str = "uniform"
    cost: str = "light"
    churn: float = 0.0
    params: Dict[str, Any] = field(default_factory=lambda: {"select": ["ID", "TITLE"]})
    job: str = "export"  # export (get_all), iterate (iter_all), add (call)
    libs: tuple = LIBS
    sql_filter: Optional[str] = None  # the rows the params' filter keeps, as SQL
    faults: Optional[str] = None
    items: int = 0
    quirks: str = ""  # the sandbox's misbehaviours of real portals (README: sandbox quirks)
    plan: Optional[str] = None  # the sandbox plan, when not the benchmark's
    #: the portal's time per request (a batch), for the floor: burst at once, then the rate,
    #: plus one request's time
    latency: float = 0.0
    #: more of the sandbox's keywords (count_factor, operating_limit, time_fields, ...)
    sandbox: Dict[str, Any] = field(default_factory=dict)


def scenario_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every scenario benchmark takes: repeats, a subset, a JSON dump."""
    parser.add_argument("--repeats", type=int, default=None, help="runs per client (default 3)")
    parser.add_argument("--only", help="run only scenarios whose name contains this text")
    parser.add_argument("--json", metavar="FILE", help="write the full results as JSON")


def available_libs(wanted: tuple) -> tuple:
    try:
        import fast_bitrix24  # noqa: F401
    except ImportError:
        print("fast_bitrix24 is not installed (pip install -e '.[bench]'): running "
              "bitrix_fast alone", file=sys.stderr)
        return tuple(lib for lib in wanted if lib != "fast_bitrix24")
    return wanted


def run_once(scenario: Scenario, lib: str, *, plan: str, rate: float, burst: int,
             seed: int = 7, timeout: float = 900) -> Dict[str, Any]:
    """One client against one fresh portal; the client's report plus the portal's counts."""
    with Sandbox(deals=scenario.deals, id_gaps=scenario.id_gaps,
                 plan=scenario.plan or plan, cost=scenario.cost, faults=scenario.faults,
                 seed=seed, quirks=scenario.quirks, **scenario.sandbox) as sb:
        with tempfile.TemporaryDirectory() as tmp:
            ids_out = os.path.join(tmp, "ids.txt")
            spec = {"lib": lib, "job": scenario.job, "webhook": sb.webhook,
                    "method": "crm.deal.list", "params": scenario.params, "rate": rate,
                    "burst": burst, "ids_out": ids_out, "items": scenario.items}
            expected = _expected(sb, scenario)
            if scenario.churn:
                sb.start_churn(scenario.churn)
            started = time.monotonic()
            done = subprocess.run([sys.executable, str(CLIENT), json.dumps(spec)],
                                  capture_output=True, text=True, timeout=timeout)
            wall = time.monotonic() - started
            deleted = set(sb.churner.deleted_ids) if scenario.churn else set()
            if scenario.churn:
                sb.stop_churn()
            portal = sb.stats()
            report = _report(done, wall)
            received = _read_ids(ids_out)
            if scenario.job == "add":
                titles = _titles(sb)
                report["duplicates"] = sum(n - 1 for n in titles.values() if n > 1)
                report["created"] = len(titles)
    report.update(_counts(portal))
    if scenario.job != "add":
        report.update(_correctness(received, expected - deleted, report))
    else:
        report["correct"] = report["duplicates"] == 0 and not report.get("error") and \
            report.get("ok") == scenario.items
    return report


def run_scenario(scenario: Scenario, *, repeats: int, plan: str, rate: float, burst: int
                 ) -> Dict[str, Dict[str, Any]]:
    """Each available client ``repeats`` times; the run with the median time per client."""
    out: Dict[str, Dict[str, Any]] = {}
    for lib in available_libs(scenario.libs):
        runs = [run_once(scenario, lib, plan=plan, rate=rate, burst=burst, seed=7 + i)
                for i in range(repeats)]
        runs.sort(key=lambda run: run["seconds"])
        median = dict(runs[len(runs) // 2])
        median["all_seconds"] = [round(run["seconds"], 2) for run in runs]
        median["all_correct"] = all(run["correct"] for run in runs)
        median["max_503"] = max(run["refused_503"] for run in runs)
        median["max_429"] = max(run["refused_429"] for run in runs)
        median["floor"] = floor_seconds(median["requests"], burst, rate, scenario.latency)
        out[lib] = median
        print(f"  {scenario.name:<24} {lib:<14} {median['seconds']:7.2f} s "
              f"(runs {median['all_seconds']})", file=sys.stderr)
    return out


def floor_seconds(requests: int, burst: int, rate: float, latency: float = 0.0) -> float:
    """The least time ``requests`` can take on the portal: all beyond the burst at ``rate``,
    plus the time one request takes (the last one is answered only then)."""
    return max(0.0, (requests - burst) / rate) + latency


def markdown_table(results: Dict[str, Dict[str, Dict[str, Any]]], *, burst: int,
                   rate: float) -> str:
    head = ("| scenario | client | seconds (median) | rows/s | requests | rows/request | "
            "503 | 429 | correct? | vs floor | time vs fast_bitrix24 |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for name, by_lib in results.items():
        peer = by_lib.get("fast_bitrix24")
        for lib, r in by_lib.items():
            if r.get("error") and not r["rows"]:
                verdict = "died: " + r["error"].split(":")[0]
            else:
                verdict = "yes" if r["all_correct"] else f"no ({r.get('problem', '')})"
            floor = r.get("floor") or floor_seconds(r["requests"], burst, rate)
            vs_floor = f"{r['seconds'] / floor:.2f}x" if floor > 0 and r["correct"] else "-"
            ratio = "-"
            if lib == "bitrix_fast" and peer and peer["correct"] and r["correct"]:
                ratio = f"{r['seconds'] / peer['seconds']:.2f}"
            rows = r.get("rows") or r.get("ok") or 0
            lines.append(
                f"| {name} | {lib} | {r['seconds']:.2f} | {rows / r['seconds']:,.0f} | "
                f"{r['requests']} | {rows / max(1, r['requests']):,.0f} | {r['max_503']} | "
                f"{r['max_429']} | {verdict} | {vs_floor} | {ratio} |")
    return "\n".join(lines)


def plot(results: Dict[str, Dict[str, Dict[str, Any]]], path: str, title: str) -> None:
    """Rows received over time, one line per client, one panel per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    for ax, name in zip([a for row in axes for a in row], names):
        for lib, r in results[name].items():
            xs, ys = zip(*r["timeline"])
            style = "-" if lib == "bitrix_fast" else "--"
            label = lib + ("" if r["correct"] else " (failed)")
            ax.plot(xs, ys, style, label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("seconds")
        ax.set_ylabel("rows received")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in [a for row in axes for a in row][len(names):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    # Through a .part file: an interrupted run keeps the previous plot.
    part = f"{path}.part"
    fig.savefig(part, dpi=110, format=os.path.splitext(str(path))[1][1:] or "png")
    os.replace(part, path)


def _expected(sb: Sandbox, scenario: Scenario) -> set:
    if scenario.job == "add":
        return set()
    if scenario.job == "get":
        return set(range(1, scenario.items + 1)) & sb.store.ids("deal")
    if scenario.sql_filter is None:
        return sb.store.ids("deal")
    with sb.store.locked() as conn:
        return {row[0] for row in conn.execute(f"SELECT ID FROM deal WHERE {scenario.sql_filter}")}


def _titles(sb: Sandbox) -> Dict[str, int]:
    with sb.store.locked() as conn:
        return {title: n for title, n in conn.execute(
            "SELECT TITLE, COUNT(*) FROM deal WHERE TITLE LIKE 'bench-%' GROUP BY TITLE")}


def _report(done: subprocess.CompletedProcess, wall: float) -> Dict[str, Any]:
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"seconds": wall, "rows": 0, "timeline": [(0, 0)],
                "error": f"client crashed: {done.stderr.strip()[-300:]}"}
    return json.loads(lines[-1])


def _read_ids(path: str) -> List[int]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [int(x) for x in text.split()] if text else []


def _counts(portal: Dict[str, Any]) -> Dict[str, Any]:
    return {"requests": portal["requests"], "refused_503": portal["refused_503"],
            "refused_429": portal["refused_429"] + portal.get("refused_429_commands", 0),
            "portal_faults": sum(portal.get("faults", {}).values())}


def _correctness(received: List[int], expected: set, report: Dict[str, Any]) -> Dict[str, Any]:
    got = set(received)
    duplicates = len(received) - len(got)
    missing = len(expected - got)
    problems = []
    if report.get("error"):
        problems.append(report["error"].split(":")[0])
    if duplicates:
        problems.append(f"{duplicates} duplicates")
    if missing:
        problems.append(f"{missing} missing")
    return {"duplicates": duplicates, "missing": missing, "correct": not problems,
            "problem": ", ".join(problems)}
