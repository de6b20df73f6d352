"""``bitrix-fast sandbox`` options for quirks, latencies, workers and the rows of older methods."""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys

import requests

from bitrix_fast.cli import sandbox as sandbox_cli


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bitrix-fast")
    sandbox_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["sandbox", *argv])


def test_parser_flags():
    args = parse("--quirks", "joined_pages,no_total", "--joined-every", "5", "--workers", "8",
                 "--cost", "x10-latency", "--productrows", "10", "--elapseditems", "20",
                 "--commentitems", "30")
    assert (args.quirks, args.joined_every, args.workers, args.cost) == (
        "joined_pages,no_total", 5, 8, "x10-latency")
    assert (args.productrows, args.elapseditems, args.commentitems) == (10, 20, 30)
    defaults = parse()
    assert (defaults.quirks, defaults.joined_every, defaults.workers) == (None, 7, None)
    for preset in ("real-small", "real-big-x10", "real-wide"):
        assert parse("--cost", preset).cost == preset


def test_an_unknown_quirk_fails_before_listening():
    proc = subprocess.run([sys.executable, "-m", "bitrix_fast.sandbox", "--port", "0",
                           "--quirks", "joined_pages,teapot"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "teapot" in proc.stderr and "ignored_filters" in proc.stderr


def test_the_served_portal_has_the_quirks_and_rows_asked_for():
    proc = subprocess.Popen(
        [sys.executable, "-m", "bitrix_fast.sandbox", "--port", "0", "--deals", "120",
         "--productrows", "70", "--quirks", "joined_pages", "--workers", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        webhook = proc.stdout.readline().strip()
        deals = requests.get(webhook + "crm.deal.list", params={"select[]": "ID"}, timeout=10).json()
        assert deals["total"] == 137 and len(deals["result"]) == 44
        rows = requests.get(webhook + "crm.productrow.list", timeout=10).json()
        assert rows["total"] == 70
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "quirks=joined_pages" in err
