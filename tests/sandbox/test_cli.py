"""``bitrix-fast sandbox`` / ``python -m bitrix_fast.sandbox`` as a parent process sees them."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

from bitrix_fast.cli import sandbox as sandbox_cli


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("entry", [["-m", "bitrix_fast.sandbox"], ["-m", "bitrix_fast.cli", "sandbox"]])
def test_first_line_is_the_webhook_and_sigterm_exits_cleanly(entry):
    proc = _start(*entry, "--port", "0", "--deals", "30", "--plan", "x10", "--seed", "3")
    try:
        webhook = proc.stdout.readline().strip()
        assert webhook.startswith("http://127.0.0.1:") and webhook.endswith("/") and "/rest/1/" in webhook
        reply = requests.get(webhook + "crm.deal.list", params={"select[]": "ID"}, timeout=10)
        assert reply.status_code == 200 and reply.json()["total"] == 30
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert out == ""  # nothing but the first line ever goes to stdout
    code = webhook.rstrip("/").rsplit("/", 1)[-1]
    assert code not in err  # secrets are printed once, on the first line only


def test_sigint_exits_cleanly():
    proc = _start("-m", "bitrix_fast.sandbox", "--port", "0")
    try:
        assert proc.stdout.readline().startswith("http://")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def test_bad_arguments_fail_before_listening():
    proc = _start("-m", "bitrix_fast.sandbox", "--port", "0", "--faults", "teapot=1")
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 2 and out == "" and "teapot" in err


def test_parser_flags():
    import argparse

    parser = argparse.ArgumentParser(prog="bitrix-fast")
    sandbox_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "sandbox", "--host", "127.0.0.1", "--port", "0", "--deals", "5", "--leads", "1", "--contacts", "2",
        "--companies", "3", "--tasks", "4", "--users", "6", "--id-gaps", "sparse", "--plan", "enterprise",
        "--cost", "light", "--faults", "500=0.1", "--churn", "2.5", "--token-ttl", "10", "--db", "x.db",
        "--seed", "9", "--batch-billing", "batch",
    ])
    assert (args.deals, args.users, args.id_gaps, args.plan, args.cost, args.faults) == (
        5, 6, "sparse", "enterprise", "light", "500=0.1")
    assert (args.churn, args.token_ttl, args.db, args.seed, args.batch_billing) == (2.5, 10.0, "x.db", 9, "batch")
    assert callable(args.run)
