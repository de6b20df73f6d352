"""One benchmark client run, in its own process (no GIL shared with the portal or the other
client; peak RSS is this client's alone). Prints one JSON line with what it measured.

    python benchmarks/_client.py SPEC_JSON

SPEC: {"lib": "bitrix_fast" | "fast_bitrix24",
       "job": "export" | "iterate" | "add" | "get" | "keyed_add" | "upsert",
       "webhook": ..., "method": ..., "params": {...}, "rate": 20, "burst": 50,
       "ids_out": path (export/iterate: the IDs received, as text), "items": N (add),
       "changed_every": N (upsert: every Nth record's title changes)}

keyed_add: crm.deal.add of items each holding its own ORIGIN_ID -- bitrix_fast with
``key="ORIGIN_ID"``, fast_bitrix24 as a plain ``call`` (it has no keys). upsert: the records
pushed again -- bitrix_fast's ``upsert``; fast_bitrix24 the way its users write it: every
record with an ORIGIN_ID read by ``get_all``, compared, then ``call`` for the updates and adds.
"""
from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from typing import Any, Dict, List, Tuple


class Timeline:
    """(seconds since start, rows so far), sampled as rows arrive."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.points: List[Tuple[float, int]] = [(0.0, 0)]
        self.count = 0
        self.first = None

    def start(self) -> None:
        """The clock starts once the client is built: imports and setup are not measured."""
        self.started = time.monotonic()

    def add(self, n: int) -> None:
        if n <= 0:
            return
        now = time.monotonic() - self.started
        if self.first is None:
            self.first = now
        self.count += n
        if now - self.points[-1][0] >= 0.02:
            self.points.append((round(now, 3), self.count))


def run_bitrix_fast(spec: Dict[str, Any], timeline: Timeline) -> Dict[str, Any]:
    from bitrix_fast import Bitrix

    class Bar:  # progress=callable: the library reports each batch of rows here
        total = None

        def update(self, n: int) -> None:
            timeline.add(n)

        def close(self) -> None:
            pass

    with Bitrix(spec["webhook"], requests_per_second=spec["rate"],
                request_pool_size=spec["burst"], progress=lambda *a: Bar()) as bx:
        timeline.start()
        if spec["job"] == "iterate":
            # Streamed to disk as they come: the measured RSS is the library's, not a list's.
            count = 0
            with open(spec["ids_out"], "w") as out:
                for row in bx.iter_all(spec["method"], spec["params"]):
                    out.write(row["ID"] + "\n")
                    count += 1
            return {"ids": None, "count": count, "retries": bx.stats()["retries"]}
        elif spec["job"] == "export":
            ids = [int(row["ID"]) for row in bx.get_all(spec["method"], spec["params"])]
        elif spec["job"] == "get":
            return _get(spec, bx.get_by_ID, timeline)
        elif spec["job"] == "keyed_add":
            return _add(spec, lambda items: bx.call("crm.deal.add", items, key="ORIGIN_ID"),
                        timeline, keyed=True)
        elif spec["job"] == "upsert":
            return _upsert_bitrix_fast(spec, bx, timeline)
        else:
            return _add(spec, lambda items: bx.call("crm.deal.add", items), timeline)
        stats = bx.stats()
    return {"ids": ids, "retries": stats["retries"]}


def run_fast_bitrix24(spec: Dict[str, Any], timeline: Timeline) -> Dict[str, Any]:
    import fast_bitrix24.mult_request as mult
    from fast_bitrix24 import Bitrix

    class Bar:  # fast_bitrix24 draws tqdm bars: record their updates instead
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            timeline.add(kwargs.get("initial", 0) or 0)

        def __enter__(self) -> "Bar":
            return self

        def __exit__(self, *exc: Any) -> None:
            pass

        def update(self, n: int = 1) -> None:
            timeline.add(n)

        def close(self) -> None:
            pass

    mult.tqdm = Bar
    bx = Bitrix(spec["webhook"], verbose=True, requests_per_second=spec["rate"],
                request_pool_size=spec["burst"])
    timeline.start()
    if spec["job"] == "add":
        return _add(spec, lambda items: list(bx.call("crm.deal.add", items)), timeline)
    if spec["job"] == "keyed_add":
        return _add(spec, lambda items: list(bx.call("crm.deal.add", items)), timeline,
                    keyed=True)
    if spec["job"] == "upsert":
        return _upsert_by_hand(spec, bx, timeline)
    if spec["job"] == "get":
        return _get(spec, bx.get_by_ID, timeline)
    rows = bx.get_all(spec["method"], spec["params"])
    timeline.count = max(timeline.count, len(rows))
    return {"ids": [int(row["ID"]) for row in rows], "retries": None}


def _get(spec: Dict[str, Any], get_by_id: Any, timeline: Timeline) -> Dict[str, Any]:
    """``get_by_ID`` of deals 1..items: the IDs whose record came back."""
    answer = get_by_id("crm.deal.get", list(range(1, spec["items"] + 1)))
    ids = [int(key) for key, value in answer.items()
           if isinstance(value, dict) and str(value.get("ID")) == str(key)]
    timeline.add(len(ids))
    return {"ids": ids}


def records(count: int, changed_every: int = 0) -> List[Dict[str, Any]]:
    """The records an upsert pushes: ORIGIN_ID ext-<i>; every ``changed_every``-th retitled."""
    return [{"ORIGIN_ID": f"ext-{i}",
             "TITLE": f"bench-{i}" + ("-v2" if changed_every and i % changed_every == 0
                                      else "")} for i in range(count)]


def _upsert_bitrix_fast(spec: Dict[str, Any], bx: Any, timeline: Timeline) -> Dict[str, Any]:
    items = records(spec["items"], spec.get("changed_every", 0))
    try:
        done = bx.upsert("crm.deal", items, key="ORIGIN_ID")
    except Exception as error:  # the failure is the measurement
        return {"ids": [], "ok": len(getattr(error, "results", {}) or {}),
                "in_doubt": len(getattr(error, "in_doubt", {}) or {}),
                "failed": len(getattr(error, "errors", {}) or {}),
                "error": f"{type(error).__name__}: {str(error)[:160]}"}
    timeline.add(len(items))
    return {"ids": [], "ok": len(items), "added": done.added, "updated": done.updated,
            "unchanged": done.unchanged}


def _upsert_by_hand(spec: Dict[str, Any], bx: Any, timeline: Timeline) -> Dict[str, Any]:
    items = records(spec["items"], spec.get("changed_every", 0))
    try:
        rows = bx.get_all("crm.deal.list", {"select": ["ID", "ORIGIN_ID", "TITLE"],
                                            "filter": {"!ORIGIN_ID": ""}})
        found = {row["ORIGIN_ID"]: row for row in rows}
        updates = [{"ID": found[item["ORIGIN_ID"]]["ID"], "fields": item} for item in items
                   if item["ORIGIN_ID"] in found
                   and found[item["ORIGIN_ID"]]["TITLE"] != item["TITLE"]]
        adds = [{"fields": item} for item in items if item["ORIGIN_ID"] not in found]
        if updates:
            list(bx.call("crm.deal.update", updates))
        if adds:
            list(bx.call("crm.deal.add", adds))
    except Exception as error:
        return {"ids": [], "ok": 0, "error": f"{type(error).__name__}: {str(error)[:160]}"}
    timeline.add(len(items))
    return {"ids": [], "ok": len(items), "added": len(adds), "updated": len(updates),
            "unchanged": len(items) - len(adds) - len(updates)}


def _add(spec: Dict[str, Any], call: Any, timeline: Timeline, keyed: bool = False
         ) -> Dict[str, Any]:
    items = [{"fields": {"TITLE": f"bench-{i}", **({"ORIGIN_ID": f"ext-{i}"} if keyed else {})}}
             for i in range(spec["items"])]
    try:
        results = call(items)
        ok, doubt, failed = len(results), 0, 0
    except Exception as error:  # both libraries' failures are the measurement here
        # Only what the client reports item by item counts; the rest is unknown to the user.
        ok = len(getattr(error, "results", {}) or {})
        doubt = len(getattr(error, "in_doubt", {}) or {})
        failed = len(getattr(error, "errors", {}) or {})
        return {"ids": [], "ok": ok, "in_doubt": doubt, "failed": failed,
                "error": f"{type(error).__name__}: {str(error)[:160]}"}
    timeline.add(ok)
    return {"ids": [], "ok": ok, "in_doubt": doubt, "failed": failed}


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM belongs to the address space, so it starts afresh at
    exec; ru_maxrss would still hold the high-water mark of the parent we were forked from
    (here, a benchmark hosting a million-row portal)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    spec = json.loads(sys.argv[1])
    timeline = Timeline()
    out: Dict[str, Any] = {"lib": spec["lib"]}
    try:
        runner = run_bitrix_fast if spec["lib"] == "bitrix_fast" else run_fast_bitrix24
        result = runner(spec, timeline)
    except Exception as error:  # a client that dies is a result, not a crash of the bench
        result = {"ids": [], "error": f"{type(error).__name__}: {str(error)[:200]}"}
        traceback.print_exc(file=sys.stderr)
    out["seconds"] = time.monotonic() - timeline.started
    ids = result.pop("ids")
    if ids is not None and spec.get("ids_out"):
        with open(spec["ids_out"], "w") as handle:
            handle.write("\n".join(map(str, ids)))
    rows = result.pop("count", None)
    out.update(result)
    out["rows"] = len(ids) if ids is not None else rows
    out["first_row"] = timeline.first
    out["timeline"] = timeline.points + [(round(out["seconds"], 3), max(out["rows"], timeline.count))]
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
