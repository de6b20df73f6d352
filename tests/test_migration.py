"""Migrating from fast_bitrix24 is changing one import: the same script, run both ways."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bitrix_fast.testing.sandbox import Sandbox

SCRIPT = Path(__file__).parent / "data" / "fast_bitrix24_script.py"


def run_script(source, webhook, tmp_path, name):
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    env = {**os.environ, "BITRIX_WEBHOOK": webhook}
    done = subprocess.run([sys.executable, str(path)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_fast_bitrix24_script_runs_after_changing_its_import(tmp_path):
    pytest.importorskip("fast_bitrix24")
    source = SCRIPT.read_text(encoding="utf-8")
    migrated = source.replace("from fast_bitrix24 import Bitrix", "from bitrix_fast import Bitrix")
    changed = [(a, b) for a, b in zip(source.splitlines(), migrated.splitlines()) if a != b]
    assert changed == [("from fast_bitrix24 import Bitrix", "from bitrix_fast import Bitrix")]
    outputs = []
    for name, text in (("peer.py", source), ("ours.py", migrated)):
        with Sandbox(deals=3_000, leads=120, plan="x10", seed=11) as sb:
            outputs.append(run_script(text, sb.webhook, tmp_path, name))
    peer, ours = outputs
    assert ours == peer
    assert ours["open_deals"] > 0 and ours["updated"] == [True] * 5
    assert all(title.startswith("checked ") for title in ours["after"])
