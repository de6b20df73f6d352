"""``bitrix-fast sync`` and the Django ``sync_deals`` example, against the sandbox."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bitrix_fast.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def ids_in(path, table="crm_deal"):
    with sqlite3.connect(path) as con:
        return {r[0] for r in con.execute(f'SELECT "ID" FROM "{table}"')}


@pytest.mark.bitrix_sandbox(deals=1200, plan="x10")
def test_sync_then_sync_again(bitrix_sandbox, tmp_path, capsys):
    db = tmp_path / "crm.sqlite"
    argv = ["sync", "crm.deal.list", "--webhook", bitrix_sandbox.webhook,
            "--db", f"sqlite:///{db}", "--select", "TITLE,STAGE_ID"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "crm.deal.list -> crm_deal: 1,200 added, 0 changed, 0 deleted" in err
    assert "first run" in err and bitrix_sandbox.credentials.webhook_code not in err
    assert ids_in(db) == bitrix_sandbox.store.ids("deal")
    bitrix_sandbox.store.delete("deal", 7)
    assert main(argv) == 0
    assert "0 added, 0 changed, 1 deleted" in capsys.readouterr().err
    assert 7 not in ids_in(db)


@pytest.mark.bitrix_sandbox(deals=300, plan="x10")
def test_filter_table_and_quiet(bitrix_sandbox, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BITRIX_WEBHOOK", bitrix_sandbox.webhook)
    db = str(tmp_path / "crm.sqlite")
    assert main(["sync", "crm.deal.list", "--db", db, "--filter", "CATEGORY_ID=0",
                 "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    # the same table with another filter: refused, nothing sent or written
    assert main(["sync", "crm.deal.list", "--db", db, "--filter", "CATEGORY_ID=1"]) == 2
    err = capsys.readouterr().err
    assert "mirrors crm.deal.list, filter" in err and "--table NAME" in err
    assert main(["sync", "crm.deal.list", "--db", db, "--filter", "CATEGORY_ID=1",
                 "--table", "deals_c1", "--quiet"]) == 0
    with bitrix_sandbox.store.locked() as con:
        want = {r[0] for r in con.execute('SELECT "ID" FROM deal WHERE "CATEGORY_ID" = 1')}
    assert ids_in(db, "deals_c1") == want


@pytest.mark.bitrix_sandbox(deals=10, plan="x10")
def test_failures_and_their_exit_codes(bitrix_sandbox, tmp_path, capsys):
    db = str(tmp_path / "crm.sqlite")
    bad = bitrix_sandbox.webhook.replace(bitrix_sandbox.credentials.webhook_code,
                                         "wrongcode12345")
    assert main(["sync", "crm.deal.list", "--webhook", bad, "--db", db]) == 3
    err = capsys.readouterr().err
    assert "INVALID_CREDENTIALS" in err and "wrongcode12345" not in err
    assert main(["sync", "crm.deal.list", "--webhook", bitrix_sandbox.webhook,
                 "--db", "mysql://x/y"]) == 2
    assert "only sqlite:/// and postgresql://" in capsys.readouterr().err
    assert main(["sync", "crm.deal.list", "--webhook", bitrix_sandbox.webhook,
                 "--db", db, "--params", "[1]"]) == 2
    # another run holds the database's write lock
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert main(["sync", "crm.deal.list", "--webhook", bitrix_sandbox.webhook,
                     "--db", db]) == 75
        assert "another sync is writing" in capsys.readouterr().err
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_ctrl_c_keeps_the_database_as_the_last_complete_run_left_it(bitrix_sandbox_factory,
                                                                     tmp_path):
    sb = bitrix_sandbox_factory(deals=30_000, plan="x10")
    db = str(tmp_path / "crm.sqlite")
    # one request per second: the first run takes ~13 s, so Ctrl+C finds it mid-way
    proc = subprocess.Popen(
        [sys.executable, "-m", "bitrix_fast.cli", "sync", "crm.deal.list", "--webhook",
         sb.webhook, "--db", db, "--requests-per-second", "1", "--request-pool-size", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while sb.stats()["requests"] < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert "crm_deal" not in tables  # the first run's rows were never committed


# -- the Django example ------------------------------------------------------------------------

@pytest.fixture
def django_project(monkeypatch):
    django = pytest.importorskip("django")
    from django.conf import settings

    monkeypatch.syspath_prepend(str(EXAMPLES / "django_app"))
    if not settings.configured:
        settings.configure(SECRET_KEY="test", INSTALLED_APPS=["deals"], DATABASES={},
                           BITRIX_WEBHOOK="")
        django.setup()
    return settings


@pytest.mark.bitrix_sandbox(deals=900, plan="x10")
def test_django_sync_deals_command(django_project, bitrix_sandbox, tmp_path, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    db = tmp_path / "crm.sqlite"
    monkeypatch.setattr(django_project, "BITRIX_WEBHOOK", bitrix_sandbox.webhook,
                        raising=False)
    monkeypatch.setattr(django_project, "BITRIX_MIRROR_DB", f"sqlite:///{db}", raising=False)
    out = StringIO()
    call_command("sync_deals", stdout=out)
    assert "900 added" in out.getvalue() and ids_in(db) == bitrix_sandbox.store.ids("deal")
    bitrix_sandbox.store.update("deal", 3, {"TITLE": "renamed"})
    out = StringIO()
    call_command("sync_deals", stdout=out)
    assert "0 added, 1 changed, 0 deleted" in out.getvalue()
    with sqlite3.connect(db) as con:
        assert con.execute('SELECT "TITLE" FROM crm_deal WHERE "ID" = 3').fetchone() == (
            "renamed",)


@pytest.mark.bitrix_sandbox(deals=150, quotes=20, smart_items=30, contacts=10, users=4,
                            productrows=200, plan="x10")
def test_django_sync_deals_all_crm(django_project, bitrix_sandbox, tmp_path, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    db = tmp_path / "crm.sqlite"
    monkeypatch.setattr(django_project, "BITRIX_WEBHOOK", bitrix_sandbox.webhook,
                        raising=False)
    monkeypatch.setattr(django_project, "BITRIX_MIRROR_DB", f"sqlite:///{db}", raising=False)
    out = StringIO()
    call_command("sync_deals", all_crm=True, stdout=out)
    text = out.getvalue()
    for line in ("crm.deal.list -> crm_deal: 150 added", "-> crm_item_1032: 30 added",
                 "-> crm_deal_productrow: 200 added", "dict_status:", "6 tables in step, 0 not"):
        assert line in text, text
    with sqlite3.connect(db) as con:
        won = con.execute("SELECT COUNT(*) FROM crm_deal d JOIN dict_status s ON "
                          "s.status_type = 'DEAL_STAGE' AND s.status_id = d.stage_id "
                          "WHERE s.semantics = 'S'").fetchone()[0]
    with bitrix_sandbox.store.locked() as con:
        assert won == con.execute("""SELECT COUNT(*) FROM deal WHERE "STAGE_ID" LIKE '%WON'"""
                                  ).fetchone()[0]
