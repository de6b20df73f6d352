"""Several real processes share one application's tokens on two HTTP sandbox portals whose
access tokens live 1 s: every call succeeds, nobody meets invalid_grant, and each portal is
refreshed once per expiry, not once per expiry and process. The full scenario (4
processes, 60 s, every store) is benchmarks/bench_oauth.py; its short run is marked slow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bitrix_fast import OAuthApp
from bitrix_fast.testing.sandbox import AppPortals
from bitrix_fast.tokens import FileTokenStore

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import json, sys, time
from bitrix_fast import BitrixError, OAuthApp
from bitrix_fast.tokens import FileTokenStore
o = json.load(open(sys.argv[1]))
app = OAuthApp(o["client_id"], o["client_secret"], store=FileTokenStore(o["store"]),
               token_url=o["token_url"])
clients = [app.client(m, verbose=False, requests_per_second=20) for m in o["members"]]
ok, failed = 0, []
deadline = time.time() + o["seconds"]
while time.time() < deadline:
    for bx in clients:
        try:
            bx.call("server.time")
            ok += 1
        except BitrixError as error:
            failed.append(str(error))
        time.sleep(0.05)
print(json.dumps({"ok": ok, "failed": failed}))
"""


def test_three_processes_share_one_token_file(tmp_path, monkeypatch):
    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", str(tmp_path / "state"))
    seconds, ttl = 1.5, 1.0
    with AppPortals(2, plan="x10", token_ttl=ttl) as cloud:
        store = str(tmp_path / "tokens.json")
        app = OAuthApp(cloud.client_id, cloud.client_secret, store=FileTokenStore(store),
                       token_url=cloud.token_url)
        for portal in cloud.portals:
            app.save(portal.issue_tokens())
        options = tmp_path / "options.json"
        options.write_text(json.dumps({
            "client_id": cloud.client_id, "client_secret": cloud.client_secret,
            "token_url": cloud.token_url, "store": store, "seconds": seconds,
            "members": [p.member_id for p in cloud.portals]}))
        started = time.monotonic()
        workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(options)],
                                    stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
                                    env=dict(os.environ))
                   for _ in range(3)]
        results = [json.loads(w.communicate(timeout=120)[0]) for w in workers]
        elapsed = time.monotonic() - started
        stats = cloud.stats()["oauth"]
    assert all(r["failed"] == [] and r["ok"] > 0 for r in results), results
    assert stats["invalid_grant"] == 0
    # Tokens were renewed at most once per 0.9 s of the run, per portal (not 3 times that).
    for portal, refreshes in stats["by_portal"].items():
        assert 2 <= refreshes <= elapsed / 0.9 + 1, (portal, refreshes, elapsed)


@pytest.mark.slow
def test_the_benchmark_for_every_store(tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_oauth.py"),
                           "--seconds", "10", "--ttl", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    for store in json.loads(out.read_text())["results"]:
        assert store["failed"] == 0 and store["invalid_grant"] == 0, store
        for refreshes in store["refreshes"].values():
            assert store["expiries"] - 1 <= refreshes <= store["expiries"] + 2, store
