"""The mirror: what a first run and later runs cost, against the sandbox portal.

    python benchmarks/bench_mirror.py            # full sizes (~15 minutes)
    python benchmarks/bench_mirror.py --quick    # a tenth of the rows

Two parts:

* **BI mirror, 300,000 deals** with 450,000 product rows and the dictionaries (``sync
  crm.deal.list --select *,UF_* --product-rows``), against an export of the same deals by
  ``iter_all`` (product rows have no export of their own: ``crm.item.productrow.list`` needs
  an owner, so the alternative is one command per deal, 6,000 requests for 300,000 deals,
  and the old ``crm.productrow.list`` pages by offset); then later runs: nothing changed,
  and 100 deals changed with their product rows, 100 added, 100 deleted.
* **Memory at 1,000,000 deals** (the narrow select of the old benchmark, and the BI select
  ``*,UF_*``), first run and later runs.

The portal (x10 plan: 50 requests burst, 20 requests/s, light server cost) lives in this
process; every client run is a separate process, so the two never share a GIL and the peak
RSS is the client's own. After each run the SQLite tables are compared with the portal's
rows, ID by ID (and the product rows row by row).
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
from typing import Any, Dict, List, Optional

from _client import peak_rss_mb  # the benchmarks folder is on sys.path when run

from bitrix_fast.testing.sandbox import Sandbox

NARROW = ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "DATE_MODIFY"]
WIDE = ["*", "UF_*"]
BURST, RATE = 50, 20.0


def child(spec: Dict[str, Any]) -> None:
    """In the client process: run the job, print one JSON line about it."""
    from bitrix_fast import Bitrix

    started = time.monotonic()
    with Bitrix(spec["webhook"], verbose=False, request_pool_size=BURST,
                requests_per_second=RATE) as bx:
        if spec["job"] == "export":
            rows = sum(1 for _ in bx.iter_all("crm.deal.list", {"select": spec["select"]}))
            report: Dict[str, Any] = {"rows": rows, "requests": bx.stats()["requests"]}
        else:
            from bitrix_fast.mirror import sync

            result = sync(bx, "crm.deal.list", spec["db"], select=spec["select"],
                          product_rows=spec.get("product_rows", False),
                          dictionaries=spec.get("dictionaries", True))
            report = {"rows": result.rows, "requests": result.requests, "added": result.added,
                      "changed": result.changed, "deleted": result.deleted,
                      "mode": result.mode, "unparsed": result.unparsed}
            if result.product_rows is not None:
                p = result.product_rows
                report["product_rows"] = [p.rows, p.added, p.changed, p.deleted]
    report["seconds"] = time.monotonic() - started
    report["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(report))


def run_child(spec: Dict[str, Any]) -> Dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"client run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_as_portal(sb: Sandbox, db: str, product_rows: bool = False) -> bool:
    with sb.store.locked() as con:
        portal = dict(con.execute('SELECT "ID", "TITLE" FROM deal'))
        rows = {r[0]: r[1:] for r in con.execute(
            """SELECT "ID", "OWNER_ID", "PRODUCT_ID" FROM productrow WHERE "OWNER_TYPE" = 'D'""")
            if r[1] in portal} if product_rows else None
    with sqlite3.connect(db) as con:
        mirror = dict(con.execute("SELECT id, title FROM crm_deal"))
        mine = {r[0]: r[1:] for r in con.execute(
            "SELECT id, owner_id, product_id FROM crm_deal_productrow")} if product_rows else None
    return portal == mirror and rows == mine


def change(sb: Sandbox, added: int, changed: int, deleted: int, *, clustered: bool,
           seed: int, product_rows: bool = False) -> None:
    rnd = random.Random(seed)
    ids = sorted(sb.store.ids("deal"))
    if clustered:  # a batch removed together: consecutive IDs
        first = rnd.randrange(len(ids) - deleted)
        gone = ids[first:first + deleted]
    else:
        gone = rnd.sample(ids, deleted)
    kept = sorted(set(ids) - set(gone))
    for i in rnd.sample(kept, changed):
        if product_rows:  # one product row more: the portal recalculates the deal
            sb.store.insert("productrow", {"OWNER_TYPE": "D", "OWNER_ID": i, "PRODUCT_ID": 7,
                                           "PRODUCT_NAME": "Added", "PRICE": 10, "QUANTITY": 1})
        sb.store.update("deal", i, {"TITLE": f"changed {i}"})
    for i in gone:
        sb.store.delete("deal", i)
    for n in range(added):
        sb.store.insert("deal", {"TITLE": f"added {n}"})


def row(name: str, r: Dict[str, Any], budget: str = "", correct: Any = "") -> str:
    first = "mode" not in r or r.get("mode") == "first"
    per = r["rows"] / max(1, r["requests"]) if first else None
    pr = r.get("product_rows")
    counts = f"{r.get('added', '-')}/{r.get('changed', '-')}/{r.get('deleted', '-')}"
    if pr:
        counts += f" (+{pr[1]}/{pr[2]}/{pr[3]} product rows of {pr[0]:,})"
    cells = [name, f"{r['requests']}", budget, f"{per:,.0f}" if per else "-",
             f"{r['seconds']:.1f}", f"{r['rows'] / r['seconds']:,.0f}" if per else "-",
             f"{r['peak_rss_mb']:.0f}", counts,
             "yes" if correct is True else ("NO" if correct is False else "-")]
    return "| " + " | ".join(cells) + " |"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    parser.add_argument("--part", choices=("bi", "memory", "all"), default="all")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    scale = 0.1 if args.quick else 1.0
    lines = ["| run | requests | target | rows/request | seconds | rows/s | peak RSS MB | "
             "added/changed/deleted | tables = portal? |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]

    def say(line: str) -> None:
        lines.append(line)
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("bi", "all"):
            n = int(300_000 * scale)
            with Sandbox(deals=n, productrows=n * 3 // 2, users=50, plan="x10", cost="light",
                         seed=7) as sb:
                r = run_child({"job": "export", "webhook": sb.webhook, "select": WIDE})
                say(row(f"{n:,} deals, every field: export alone (iter_all)", r))
                db = os.path.join(tmp, "bi.sqlite")
                spec = {"job": "sync", "webhook": sb.webhook, "db": db, "select": WIDE,
                        "product_rows": True}
                r = run_child(spec)
                say(row(f"{n:,} deals: first sync with product rows and dictionaries", r, "",
                        same_as_portal(sb, db, True)))
                for k, (name, counts, budget) in enumerate((
                        ("nothing changed", (0, 0, 0), ""),
                        ("100 changed with their product rows, 100 added, 100 deleted",
                         (100, 100, 100), ""))):
                    change(sb, *counts, clustered=False, seed=k, product_rows=True)
                    sb.reset_stats()
                    r = run_child(spec)
                    say(row(f"{n:,} deals, later run: {name}", r, budget,
                            same_as_portal(sb, db, True)))
        if args.part in ("memory", "all"):
            size = int(1_000_000 * scale)
            started = time.monotonic()
            with Sandbox(deals=size, users=50, plan="x10", cost="light", seed=7) as sb:
                print(f"  seeded {size:,} rows in {time.monotonic() - started:.0f} s",
                      file=sys.stderr)
                for label, select in (("narrow select", NARROW), ("select *,UF_*", WIDE)):
                    db = os.path.join(tmp, f"later-{len(select)}.sqlite")
                    spec = {"job": "sync", "webhook": sb.webhook, "db": db, "select": select}
                    first = run_child(spec)
                    say(row(f"{size:,} deals, {label}: first run", first, "<= 100 MB",
                            same_as_portal(sb, db)))
                for k, (name, counts, clustered, budget) in enumerate((
                        ("nothing changed", (0, 0, 0), False, ""),
                        ("100 added, 100 changed, 100 deleted together", (100, 100, 100),
                         True, ""))):
                    change(sb, *counts, clustered=clustered, seed=k)
                    sb.reset_stats()
                    r = run_child(spec)
                    say(row(f"{size:,} deals, select *,UF_*, later run: {name}", r, budget,
                            same_as_portal(sb, db)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
