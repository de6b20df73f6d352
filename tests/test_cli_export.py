"""``bitrix-fast export``: what lands in the file and how it resumes, run in this process
against an in-memory sandbox portal (the CLI's own code, no socket); the real process -- its
stdout, stderr, exit code and a kill -9 -- against the sandbox portal over loopback."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bitrix_fast.cli import main
from bitrix_fast.cli.common import UsageError
from bitrix_fast.cli.filters import parse_filter, parse_filters
from bitrix_fast.cli.resume import scan
from bitrix_fast.listing import IdSet
from bitrix_fast.protocol.methods import list_facts
from portals_b import Holding, serve_clients_from

DEALS = list_facts("crm.deal.list")


def jsonl_ids(path):
    with open(path, encoding="utf-8") as handle:
        return [int(json.loads(line)["ID"]) for line in handle]


def csv_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def cli(*argv):
    """Run the command line as a separate process (real stdout, stderr and exit code)."""
    return subprocess.run([sys.executable, "-m", "bitrix_fast.cli", *argv],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def portal(bitrix_portal, monkeypatch):
    """An in-memory portal (``@pytest.mark.bitrix_portal(...)``) that every client the CLI
    builds in this process reaches."""
    serve_clients_from(monkeypatch, bitrix_portal)
    return bitrix_portal


# -- what lands in the file ---------------------------------------------------------------

@pytest.mark.bitrix_portal(deals=3000, plan="x10")
def test_jsonl_has_every_row_once(portal, tmp_path, capsys):
    out = tmp_path / "deals.jsonl"
    assert main(["export", "crm.deal.list", "--webhook", portal.webhook,
                 "-o", str(out)]) == 0
    ids = jsonl_ids(out)
    assert len(ids) == len(set(ids)) == 3000
    assert set(ids) == portal.store.ids("deal")
    err = capsys.readouterr().err
    assert "3,000 rows" in err and portal.credentials.webhook_code not in err


@pytest.mark.bitrix_portal(deals=500, plan="x10")
def test_webhook_from_the_environment_and_rows_to_stdout(portal, monkeypatch, capsys):
    monkeypatch.setenv("BITRIX_WEBHOOK", portal.webhook)
    assert main(["export", "crm.deal.list", "--select", "TITLE", "--quiet"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert {int(r["ID"]) for r in rows} == portal.store.ids("deal")
    assert set(rows[0]) == {"ID", "TITLE"}  # the ID is added to --select
    assert captured.err == ""  # --quiet


@pytest.mark.bitrix_portal(deals=800, plan="x10")
def test_csv_header_from_select(portal, tmp_path):
    out = tmp_path / "deals.csv"
    assert main(["export", "crm.deal.list", "--webhook", portal.webhook, "--quiet",
                 "--select", "TITLE,STAGE_ID,OPPORTUNITY", "-o", str(out)]) == 0
    header, *rows = csv_rows(out)
    assert header == ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "_extra"]
    assert {int(r[0]) for r in rows} == portal.store.ids("deal") and len(rows) == 800
    assert all(r[4] == "" for r in rows)  # nothing outside the header


@pytest.mark.bitrix_portal(users=6, plan="x10")
def test_csv_header_from_first_row_and_nested_values_as_json(portal, tmp_path):
    out = tmp_path / "users.csv"
    assert main(["export", "user.get", "--webhook", portal.webhook, "--quiet",
                 "--format", "csv", "-o", str(out)]) == 0
    header, *rows = csv_rows(out)
    assert header[0] == "ID" and header[-1] == "_extra" and "UF_DEPARTMENT" in header
    by_name = [dict(zip(header, row)) for row in rows]
    assert len(by_name) == 6
    for row in by_name:
        assert isinstance(json.loads(row["UF_DEPARTMENT"]), list)  # a list, JSON-encoded
        assert row["ACTIVE"] in ("true", "false")


@pytest.mark.bitrix_portal(deals=2000, plan="x10")
def test_filters_with_operators(portal, tmp_path):
    out = tmp_path / "some.jsonl"
    assert main(["export", "crm.deal.list", "--webhook", portal.webhook, "--quiet",
                 "--select", "STAGE_ID", "--filter", "@STAGE_ID=WON,LOSE",
                 "--filter", ">ID=100", "--filter", "<=ID=1500", "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    with portal.store.locked() as db:
        expected = {row[0] for row in db.execute(
            """SELECT "ID" FROM "deal" WHERE "STAGE_ID" IN ('WON', 'LOSE')
               AND "ID" > 100 AND "ID" <= 1500""")}
    assert rows and {int(r["ID"]) for r in rows} == expected
    assert all(r["STAGE_ID"] in ("WON", "LOSE") and 100 < int(r["ID"]) <= 1500 for r in rows)


@pytest.mark.parametrize("text, entry", [
    ("STAGE_ID=WON", {"STAGE_ID": "WON"}),
    (">=DATE_CREATE=2024-01-01", {">=DATE_CREATE": "2024-01-01"}),
    ("=STAGE_ID=WON", {"=STAGE_ID": "WON"}),
    ("!=STAGE_ID=WON", {"!=STAGE_ID": "WON"}),
    ("TITLE=a=b,c", {"TITLE": "a=b,c"}),
    ("COMMENTS=", {"COMMENTS": ""}),
    ("%TITLE=rack", {"%TITLE": "rack"}),
    ("@STAGE_ID=NEW, WON", {"@STAGE_ID": ["NEW", "WON"]}),
    ("!@ID=1,2,3", {"!@ID": ["1", "2", "3"]}),
    ("><OPPORTUNITY=100,200", {"><OPPORTUNITY": ["100", "200"]}),
    ("ufCrm_1700000001=x", {"ufCrm_1700000001": "x"}),
])
def test_filter_syntax(text, entry):
    assert parse_filter(text) == entry


@pytest.mark.parametrize("text", ["STAGE_ID", "=WON", "=>ID=5", "@ID=", "@ID=1,,2",
                                  "><ID=1", "TITLE WON"])
def test_bad_filter_syntax(text):
    with pytest.raises(UsageError):
        parse_filter(text)


def test_the_same_filter_key_twice_is_refused():
    with pytest.raises(UsageError, match="twice"):
        parse_filters(["STAGE_ID=WON", "STAGE_ID=LOSE"])


# -- resume ---------------------------------------------------------------------------------

@pytest.fixture
def held_portal(bitrix_sandbox_factory):
    """An HTTP portal of 6,000 deals that serves ``crm.deal.list`` for 52 commands -- the
    first request (the counted first page and the top page) and the first batch of the
    middle, about 2,000 rows -- then holds the rest: an export caught in the middle,
    whatever the machine's speed."""
    from bitrix_fast.testing.sandbox.store import Store

    store = Store()
    store.seed(deals=6000, id_gaps="sparse")
    holding = Holding(store, "crm.deal.list", serve=52)
    yield bitrix_sandbox_factory(store=holding, plan="x10")
    holding.release()
    store.close()


def _wait_for_lines(proc, path, rows, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(path) and path.read_bytes().count(b"\n") >= rows:
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"{path} did not reach {rows} lines (exit {proc.wait()})")


def test_resume_after_a_kill(held_portal, tmp_path):
    out = tmp_path / "deals.jsonl"
    holding = held_portal.store
    # One request at a time: the pages before the hold are all served and written.
    proc = subprocess.Popen(
        [sys.executable, "-m", "bitrix_fast.cli", "export", "crm.deal.list", "--quiet",
         "--webhook", held_portal.webhook, "-o", str(out), "--request-pool-size", "1", "--requests-per-second", "20"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = tmp_path / "deals.jsonl.part"
    _wait_for_lines(proc, part, 2000)
    assert holding.held.wait(10), "the export was not waiting on the portal"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists(), "a killed export must not appear under the output's name"
    written = [int(json.loads(line)["ID"]) for line in part.read_bytes().splitlines(keepends=True)
               if line.endswith(b"\n")]
    every = holding.store.ids("deal")
    assert 2000 <= len(written) < len(every)
    # The file already has IDs beyond a hole (pages of several ranges, and the last ID), so
    # resuming after the largest ID would lose rows. This is the case resume must get right.
    assert {i for i in every if i < max(written)} - set(written)

    holding.release()
    assert main(["export", "crm.deal.list", "--webhook", held_portal.webhook, "--quiet",
                 "-o", str(out), "--resume"]) == 0
    ids = jsonl_ids(out)
    assert len(ids) == len(set(ids)), "a row was written twice"
    assert set(ids) == every, "a row is missing"
    assert not part.exists()


@pytest.mark.bitrix_portal(deals=1200, plan="x10")
def test_resume_fills_holes_left_by_out_of_order_writes(portal, tmp_path):
    # iter_all yields ranges in parallel, so a killed file can hold 1-300 and 900-1000 but
    # nothing in between; a ">max ID" resume would lose 301-899 for ever.
    out = tmp_path / "deals.jsonl"
    assert main(["export", "crm.deal.list", "--webhook", portal.webhook, "--quiet",
                 "-o", str(out)]) == 0
    keep = [line for line in out.read_text(encoding="utf-8").splitlines(keepends=True)
            if int(json.loads(line)["ID"]) <= 300 or 900 <= int(json.loads(line)["ID"]) <= 1000]
    part = tmp_path / "deals.jsonl.part"  # what an interrupted run leaves
    part.write_text("".join(keep[::-1]), encoding="utf-8")  # and in reverse order, too
    assert main(["export", "crm.deal.list", "--webhook", portal.webhook, "--quiet",
                 "-o", str(out), "--resume"]) == 0
    ids = jsonl_ids(out)
    assert len(ids) == len(set(ids)) == 1200 and set(ids) == portal.store.ids("deal")
    assert not part.exists()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.bitrix_portal(deals=600, plan="x10")
def test_resume_drops_a_cut_off_last_line(portal, tmp_path, fmt, capsys):
    out = tmp_path / f"deals.{fmt}"
    args = ["export", "crm.deal.list", "--webhook", portal.webhook, "-o", str(out),
            "--select", "TITLE,STAGE_ID"]
    assert main(args + ["--quiet"]) == 0
    data = out.read_bytes()
    lines = data.splitlines(keepends=True)
    part = tmp_path / f"deals.{fmt}.part"  # 399 rows (csv: + header) and a stub
    part.write_bytes(b"".join(lines[:400]) + lines[400][:9])
    assert main(args + ["--resume"]) == 0
    assert "cut-off" in capsys.readouterr().err
    if fmt == "jsonl":
        ids = jsonl_ids(out)
    else:
        header, *rows = csv_rows(out)
        assert header == ["ID", "TITLE", "STAGE_ID", "_extra"]
        assert all(len(r) == 4 for r in rows)
        ids = [int(r[0]) for r in rows]
    assert len(ids) == len(set(ids)) == 600 and set(ids) == portal.store.ids("deal")


def test_scan_csv_record_cut_inside_a_quoted_multiline_cell(tmp_path):
    path = tmp_path / "x.csv"
    complete = 'ID,TITLE,_extra\n1,"two\nlines",\n2,plain,\n'
    path.write_bytes((complete + '3,"cut\ninside').encode())
    found = scan(str(path), "csv", DEALS)
    assert found.size == len(complete.encode()) and found.rows == 2
    assert 1 in found.ids and 2 in found.ids and 3 not in found.ids
    assert found.columns == ["ID", "TITLE", "_extra"]


def test_scan_refuses_a_file_that_is_not_an_export(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"ID": "1"}\nnot json\n{"ID": "2"}\n')
    with pytest.raises(UsageError, match="line 2"):
        scan(str(path), "jsonl", DEALS)
    path.write_text('{"TITLE": "no id"}\n')
    with pytest.raises(UsageError, match="ID"):
        scan(str(path), "jsonl", DEALS)


def test_id_set():
    ids = IdSet()
    for value in (0, 7, 8, 1_000_000, 1 << 40, -3, 7):
        ids.add(value)
    assert len(ids) == 6
    assert all(v in ids for v in (0, 7, 8, 1_000_000, 1 << 40, -3))
    assert 9 not in ids and 999_999 not in ids and (1 << 40) + 1 not in ids and "7" not in ids


# -- failures and exit codes --------------------------------------------------------------

@pytest.mark.bitrix_sandbox(deals=50, plan="x10")
def test_bad_webhook_exits_3_with_one_line_and_no_secret(bitrix_sandbox):
    secret = "wrongcode12345"
    bad = bitrix_sandbox.webhook.replace(bitrix_sandbox.credentials.webhook_code, secret)
    done = cli("export", "crm.deal.list", "--webhook", bad)
    assert done.returncode == 3 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "crm.deal.list" in lines[0] and "INVALID_CREDENTIALS" in lines[0]
    assert secret not in done.stderr


def test_unreachable_portal_exits_3():
    done = cli("export", "crm.deal.list", "--webhook", "http://127.0.0.1:9/rest/1/secretcode1/",
               "--retries", "0")
    assert done.returncode == 3
    assert len(done.stderr.splitlines()) == 1 and "crm.deal.list" in done.stderr
    assert "secretcode1" not in done.stderr


@pytest.mark.parametrize("argv", [
    ["export"],                                             # no METHOD
    ["export", "crm.deal.list", "--format", "xml"],
    ["export", "crm.deal.list", "--requests-per-second", "0"],
    ["export", "crm.deal.list", "--plan", "free"],
])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2


@pytest.mark.parametrize("argv, message", [
    (["--filter", "STAGE_ID"], "--filter"),
    (["--params", "[1]"], "--params"),
    (["--params", '{"start": 50}'], "start"),
    (["--resume"], "--resume"),                      # resume needs a file
    (["--webhook", "not-a-webhook", "-o", "{tmp}/x.jsonl"], "webhook"),
    (["-o", "{tmp}/missing-dir/x.jsonl"], "cannot write"),
])
def test_own_checks_exit_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BITRIX_WEBHOOK", "http://127.0.0.1:9/rest/1/secretcode1/")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["export", "crm.deal.list", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1 and "secretcode1" not in err


def test_missing_webhook_exits_2(monkeypatch, capsys):
    monkeypatch.delenv("BITRIX_WEBHOOK", raising=False)
    assert main(["export", "crm.deal.list"]) == 2
    assert "BITRIX_WEBHOOK" in capsys.readouterr().err


def test_unreadable_resume_file_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BITRIX_WEBHOOK", "http://127.0.0.1:9/rest/1/secretcode1/")
    out = tmp_path / "deals.jsonl"
    (tmp_path / "deals.jsonl.part").write_text('{"ID": "1"}\ngarbage\n')
    assert main(["export", "crm.deal.list", "-o", str(out), "--resume"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["export", "crm.deal.list", "-o", str(tmp_path), "--resume"]) == 2
