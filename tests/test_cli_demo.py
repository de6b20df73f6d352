"""``bitrix-fast demo`` end to end, with a small table."""
from __future__ import annotations

import subprocess
import sys


def test_demo_prints_its_table_and_checks_every_row():
    done = subprocess.run([sys.executable, "-m", "bitrix_fast.cli", "demo", "--rows", "5000"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for label in ("rows exported       5,000", "requests ", "rows per request ",
                  "refused             0 x 503", "fastest possible "):
        assert label in out, out
    assert "all 5,000 rows, each once" in out
    assert "/rest/" not in out  # no webhook printed


def test_the_ceiling_for_the_default_200k_rows():
    from bitrix_fast.cli.demo import _table

    served = {"requests": 81, "refused_503": 1, "refused_429": 0, "refused_429_commands": 0,
              "commands": 4000}
    table = "\n".join(_table(200_000, 50, 2.0, 200_000, 16.0, served))
    assert "200,000 in 16.0 s = 12,500 rows/s" in table
    assert "81 (80 accepted" in table and "1 x 503" in table
    assert "80 requests in 15.0 s (= (80 - 50 burst) / 2 req/s); this run took 1.07x" in table
