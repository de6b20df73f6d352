"""Migrating from fast_bitrix24 is changing one import: the same script, run both ways."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bitrix_fast.testing.sandbox import Sandbox

SCRIPT = Path(__file__).parent / "data" / "fast_bitrix24_script.py"


def start_script(source, webhook, tmp_path, name):
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    env = {**os.environ, "BITRIX_WEBHOOK": webhook}
    return subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result_of(proc):
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out)


def test_a_fast_bitrix24_script_runs_after_changing_its_import(tmp_path):
    pytest.importorskip("fast_bitrix24")
    source = SCRIPT.read_text(encoding="utf-8")
    migrated = source.replace("from fast_bitrix24 import Bitrix", "from bitrix_fast import Bitrix")
    changed = [(a, b) for a, b in zip(source.splitlines(), migrated.splitlines()) if a != b]
    assert changed == [("from fast_bitrix24 import Bitrix", "from bitrix_fast import Bitrix")]
    # Both scripts at once, each on its own identically seeded portal.
    with Sandbox(deals=3_000, leads=120, plan="x10", seed=11) as theirs, \
            Sandbox(deals=3_000, leads=120, plan="x10", seed=11) as mine:
        runs = [start_script(source, theirs.webhook, tmp_path, "peer.py"),
                start_script(migrated, mine.webhook, tmp_path, "ours.py")]
        peer, ours = [result_of(proc) for proc in runs]
    assert ours == peer
    assert ours["open_deals"] > 0 and ours["updated"] == [True] * 5
    assert all(title.startswith("checked ") for title in ours["after"])
