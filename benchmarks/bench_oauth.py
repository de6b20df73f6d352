"""An OAuth application on several portals, called by several processes while its access
tokens keep expiring: does every call succeed, with one refresh per expiry and no
``invalid_grant``, whichever token store the processes share?

Starts ``--portals`` sandbox portals of one application (their OAuth server rotates refresh
tokens and refuses a spent one with ``invalid_grant``; access tokens live ``--ttl``
seconds), installs the application on each through its ONAPPINSTALL post, then for each
store runs ``--processes`` worker processes for ``--seconds``: every worker has one client
per portal and calls ``crm.deal.get`` on each, from one thread per portal, as fast as the
portal's bucket lets it (the bucket shared by the processes through the state files).
Stores: ``file`` (one JSON file), ``sql`` (SQLite, and PostgreSQL
when ``--postgres URL`` is given) and ``redis`` (``--redis URL``, else a private
``redis-server``). Prints a markdown table per store: calls, failed calls, refreshes per
portal, expiries per portal (the run's length over a token's usable life: it is renewed a
tenth of its life early), ``expired_token`` refusals and ``invalid_grant``.

    python benchmarks/bench_oauth.py [--processes 4] [--portals 2] [--seconds 60] [--ttl 5]
                                     [--stores file,sql,redis] [--redis URL] [--postgres URL]
                                     [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from typing import Any, Dict, List, Optional

HERE = os.path.abspath(__file__)
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))


def make_store(spec: str) -> Any:
    from bitrix_fast.tokens import FileTokenStore, RedisTokenStore, SQLTokenStore

    kind, _, where = spec.partition(":")
    if kind == "file":
        return FileTokenStore(where)
    if kind == "redis":
        url, _, prefix = where.rpartition("#")
        return RedisTokenStore(url, prefix=prefix)
    return SQLTokenStore(where)


# -- a worker process ---------------------------------------------------------------------------

def worker(options: Dict[str, Any]) -> None:
    from bitrix_fast import BitrixError, OAuthApp

    app = OAuthApp(options["client_id"], options["client_secret"],
                   store=make_store(options["store"]), token_url=options["token_url"])
    clients = {m: app.client(m, verbose=False, requests_per_second=options["rate"],
                             request_pool_size=options["burst"])
               for m in options["members"]}
    calls: Counter = Counter()
    failures: Counter = Counter()
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + options["seconds"]

    def run(member: str) -> None:
        bx = clients[member]
        pick = random.Random(member).choice
        ids = options["ids"][member]
        while time.monotonic() < deadline:
            try:
                bx.call("crm.deal.get", {"id": pick(ids)})
                calls[member] += 1
            except BitrixError as error:
                failures[f"{type(error).__name__}: {str(error)[:120]}"] += 1

    threads = [threading.Thread(target=run, args=(m,)) for m in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = sum(bx.stats()["refreshes"] for bx in clients.values())
    for bx in clients.values():
        bx.close()
    print(json.dumps({"calls": dict(calls), "failures": dict(failures),
                      "refreshes": app.refreshes, "expired_refusals": refused}), flush=True)


# -- the driver -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis() -> "tuple[subprocess.Popen, str, str]":
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("no redis-server on PATH: give --redis URL")
    port, folder = free_port(), tempfile.mkdtemp(prefix="bench-oauth-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", folder],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0", folder


def run_store(name: str, spec: str, cloud: Any, args: argparse.Namespace) -> Dict[str, Any]:
    from bitrix_fast import OAuthApp

    app = OAuthApp(cloud.client_id, cloud.client_secret, store=make_store(spec),
                   token_url=cloud.token_url)
    for portal in cloud.portals:
        app.receive(portal.install_post())  # installed (again): fresh tokens in this store
    app.close()
    before = cloud.stats()["oauth"]
    options = {"client_id": cloud.client_id, "client_secret": cloud.client_secret,
               "token_url": cloud.token_url, "store": spec, "seconds": args.seconds,
               "members": [p.member_id for p in cloud.portals],
               "rate": cloud.portals[0].plan.rate, "burst": int(cloud.portals[0].plan.burst),
               "ids": {p.member_id: sorted(p.store.ids("deal")) for p in cloud.portals}}
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(HERE)))
    # The options hold the client secret: a private file, not the command line (ps shows it).
    fd, path = tempfile.mkstemp(prefix="bench-oauth-worker-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(options, out)
    procs = [subprocess.Popen([sys.executable, HERE, "--worker", path],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(args.processes)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    started = time.monotonic()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=args.seconds + 120)
        results.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = time.monotonic() - started
    os.unlink(path)
    after = cloud.stats()["oauth"]
    refreshes = {p.member_id: after["by_portal"].get(p.member_id, 0)
                 - before["by_portal"].get(p.member_id, 0) for p in cloud.portals}
    calls = sum(sum(r["calls"].values()) for r in results)
    failures: Counter = Counter()
    for r in results:
        failures.update(r["failures"])
    return {"store": name, "seconds": round(elapsed, 1), "calls": calls,
            "failed": sum(failures.values()), "failures": dict(failures),
            "refreshes": refreshes,
            # A token is renewed a tenth of its life before it ends (at most a minute):
            # the tokens the run went through, one refresh each.
            "expiries": round(args.seconds / (args.ttl - min(60.0, args.ttl / 10)), 1),
            "expired_refusals": sum(r["expired_refusals"] for r in results),
            "invalid_grant": after["invalid_grant"] - before["invalid_grant"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--portals", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ttl", type=float, default=5.0)
    parser.add_argument("--plan", default="x10")
    parser.add_argument("--stores", default="file,sql,redis")
    parser.add_argument("--redis", default=None)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.worker:
        with open(args.worker, encoding="utf-8") as options:
            worker(json.load(options))
        return
    os.environ.setdefault("BITRIX_FAST_STATE_DIR", tempfile.mkdtemp(prefix="bench-oauth-state-"))
    from bitrix_fast.testing.sandbox import AppPortals

    folder = tempfile.mkdtemp(prefix="bench-oauth-")
    redis_proc: Optional[subprocess.Popen] = None
    redis_url = args.redis
    results: List[Dict[str, Any]] = []
    try:
        with AppPortals(args.portals, deals=500, plan=args.plan, token_ttl=args.ttl) as cloud:
            for name in args.stores.split(","):
                specs = []
                if name == "file":
                    specs.append(("file", f"file:{folder}/tokens.json"))
                elif name == "sql":
                    specs.append(("sqlite", f"sql:sqlite:///{folder}/tokens.sqlite"))
                    if args.postgres:
                        specs.append(("postgresql", f"sql:{args.postgres}"))
                elif name == "redis":
                    if redis_url is None:
                        redis_proc, redis_url, _ = start_redis()
                    specs.append(("redis", f"redis:{redis_url}#bench:{uuid.uuid4().hex[:8]}"))
                for label, spec in specs:
                    kind, _, where = spec.partition(":")
                    store_spec = f"{kind}:{where}" if kind != "sql" else f"sql:{where}"
                    result = run_store(label, store_spec, cloud, args)
                    results.append(result)
                    print(f"{label}: {json.dumps(result)}", file=sys.stderr, flush=True)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait()
    print(f"\n{args.processes} processes x {args.portals} portals x {args.seconds:g} s, "
          f"access tokens living {args.ttl:g} s, plan {args.plan}\n")
    print("| store | calls | failed | refreshes per portal | expiries per portal | "
          "expired_token refusals | invalid_grant |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        per_portal = ", ".join(str(n) for n in r["refreshes"].values())
        print(f"| {r['store']} | {r['calls']:,} | {r['failed']} | {per_portal} | "
              f"{r['expiries']:g} | {r['expired_refusals']} | {r['invalid_grant']} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"processes": args.processes, "portals": args.portals,
                       "seconds": args.seconds, "ttl": args.ttl, "results": results}, out,
                      indent=2)


if __name__ == "__main__":
    main()
