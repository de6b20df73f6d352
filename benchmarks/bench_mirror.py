"""The mirror: what a first run and later runs cost, against the sandbox portal.

    python benchmarks/bench_mirror.py            # full sizes (~5 minutes)
    python benchmarks/bench_mirror.py --quick    # a tenth of the rows

The portal (x10 plan: 50 requests burst, 20 requests/s, light server cost) lives in this
process; every client run is a separate process (``bitrix-fast sync`` itself, or a plain
``iter_all`` for "export alone"), so the two never share a GIL and the peak RSS is the
client's own. Between runs the portal is changed behind the client's back; after each run
the SQLite table is compared with the portal's rows, ID by ID and title by title.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from _client import peak_rss_mb  # the benchmarks folder is on sys.path when run

from bitrix_fast.testing.sandbox import Sandbox

SELECT = "TITLE,STAGE_ID,OPPORTUNITY,DATE_MODIFY"
BURST, RATE = 50, 20.0


def child(spec: Dict[str, Any]) -> None:
    """In the client process: run the job, print one JSON line about it."""
    started = time.monotonic()
    if spec["job"] == "export":
        from bitrix_fast import Bitrix

        with Bitrix(spec["webhook"], verbose=False, request_pool_size=BURST,
                    requests_per_second=RATE) as bx:
            rows = sum(1 for _ in bx.iter_all("crm.deal.list",
                                              {"select": ["ID"] + SELECT.split(",")}))
            requests = bx.stats()["requests"]
        report = {"rows": rows, "requests": requests}
    else:
        from bitrix_fast import Bitrix
        from bitrix_fast.mirror import sync

        with Bitrix(spec["webhook"], verbose=False, request_pool_size=BURST,
                    requests_per_second=RATE) as bx:
            result = sync(bx, "crm.deal.list", spec["db"], select=["ID"] + SELECT.split(","))
        report = {"rows": result.rows, "requests": result.requests, "added": result.added,
                  "changed": result.changed, "deleted": result.deleted, "mode": result.mode}
    report["seconds"] = time.monotonic() - started
    report["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(report))


def run_child(spec: Dict[str, Any]) -> Dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"client run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_as_portal(sb: Sandbox, db: str) -> bool:
    with sb.store.locked() as con:
        portal = dict(con.execute('SELECT "ID", "TITLE" FROM deal'))
    with sqlite3.connect(db) as con:
        mirror = dict(con.execute('SELECT "ID", "TITLE" FROM crm_deal'))
    return portal == mirror


def change(sb: Sandbox, added: int, changed: int, deleted: int, *, clustered: bool,
           seed: int) -> None:
    rnd = random.Random(seed)
    ids = sorted(sb.store.ids("deal"))
    if clustered:  # a batch removed together: consecutive IDs
        first = rnd.randrange(len(ids) - deleted)
        gone = ids[first:first + deleted]
    else:
        gone = rnd.sample(ids, deleted)
    kept = sorted(set(ids) - set(gone))
    for i in rnd.sample(kept, changed):
        sb.store.update("deal", i, {"TITLE": f"changed {i}"})
    for i in gone:
        sb.store.delete("deal", i)
    for n in range(added):
        sb.store.insert("deal", {"TITLE": f"added {n}"})


def row(name: str, r: Dict[str, Any], budget: str = "", correct: Any = "") -> str:
    per = r["rows"] / max(1, r["requests"]) if "mode" not in r or r.get("mode") == "first" \
        else None
    cells = [name, f"{r['requests']}", budget, f"{per:,.0f}" if per else "-",
             f"{r['seconds']:.1f}", f"{r['rows'] / r['seconds']:,.0f}" if per else "-",
             f"{r['peak_rss_mb']:.0f}",
             f"{r.get('added', '-')}/{r.get('changed', '-')}/{r.get('deleted', '-')}",
             "yes" if correct is True else ("NO" if correct is False else "-")]
    return "| " + " | ".join(cells) + " |"


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    scale = 0.1 if args.quick else 1.0
    lines = ["| run | requests | budget | rows/request | seconds | rows/s | peak RSS MB | "
             "added/changed/deleted | table = portal? |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]

    def say(line: str) -> None:
        lines.append(line)
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        n = int(300_000 * scale)
        for job in ("export", "sync"):
            with Sandbox(deals=n, plan="x10", cost="light", seed=7) as sb:
                db = os.path.join(tmp, f"first-{job}.sqlite")
                r = run_child({"job": job, "webhook": sb.webhook, "db": db})
                name = (f"first run, {n:,} rows: export alone (iter_all)" if job == "export"
                        else f"first run, {n:,} rows: sync into SQLite")
                say(row(name, r, "", same_as_portal(sb, db) if job == "sync" else ""))

        for size, plans in ((int(1_000_000 * scale), [
                ("nothing changed", (0, 0, 0), False, 5),
                ("100 added, 100 changed, 100 deleted at random", (100, 100, 100), False, 12),
                ("100 added, 100 changed, 100 deleted together", (100, 100, 100), True, 12)]),
                            (int(20_000 * scale) if scale < 1 else 20_000, [
                ("nothing changed", (0, 0, 0), False, 3),
                ("50 added, 50 changed, 30 deleted at random", (50, 50, 30), False, 10)])):
            started = time.monotonic()
            with Sandbox(deals=size, plan="x10", cost="light", seed=7) as sb:
                print(f"  seeded {size:,} rows in {time.monotonic() - started:.0f} s",
                      file=sys.stderr)
                db = os.path.join(tmp, f"later-{size}.sqlite")
                first = run_child({"job": "sync", "webhook": sb.webhook, "db": db})
                say(row(f"first run, {size:,} rows", first, "", same_as_portal(sb, db)))
                for k, (name, counts, clustered, budget) in enumerate(plans):
                    change(sb, *counts, clustered=clustered, seed=k)
                    sb.reset_stats()
                    r = run_child({"job": "sync", "webhook": sb.webhook, "db": db})
                    say(row(f"later run, {size:,} rows: {name}", r, f"<= {budget}",
                            same_as_portal(sb, db)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
