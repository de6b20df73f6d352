"""The examples run, against the sandbox portal: the cron script as cron would run it, the
Django management command through ``call_command``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def ids_in(path):
    with open(path, encoding="utf-8") as handle:
        return [int(json.loads(line)["ID"]) for line in handle]


def run_cron(webhook, out):
    env = {**os.environ, "BITRIX_WEBHOOK": webhook}
    return subprocess.run([sys.executable, str(EXAMPLES / "cron_export.py"), str(out)],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.bitrix_sandbox(deals=1500, plan="x10")
def test_cron_script_exports_every_deal(bitrix_sandbox, tmp_path):
    out = tmp_path / "deals.jsonl"
    done = run_cron(bitrix_sandbox.webhook, out)
    assert done.returncode == 0, done.stderr
    ids = ids_in(out)
    assert len(ids) == len(set(ids)) and set(ids) == bitrix_sandbox.store.ids("deal")
    assert "1500 deals written" in done.stderr and done.stdout == ""
    assert not (tmp_path / "deals.jsonl.part").exists()


@pytest.mark.bitrix_sandbox(deals=10, plan="x10")
def test_cron_script_fails_loudly_without_leaking_the_webhook(bitrix_sandbox, tmp_path):
    bad = bitrix_sandbox.webhook.replace(bitrix_sandbox.credentials.webhook_code, "wrongcode12345")
    done = run_cron(bad, tmp_path / "deals.jsonl")
    assert done.returncode != 0
    assert "INVALID_CREDENTIALS" in done.stderr and "wrongcode12345" not in done.stderr
    assert not (tmp_path / "deals.jsonl").exists()


@pytest.mark.bitrix_sandbox(deals=10, plan="x10")
def test_a_failed_cron_run_leaves_yesterdays_file(bitrix_sandbox, tmp_path):
    out = tmp_path / "deals.jsonl"
    out.write_bytes(b'{"ID": "1"}\n')
    bad = bitrix_sandbox.webhook.replace(bitrix_sandbox.credentials.webhook_code, "wrongcode12345")
    assert run_cron(bad, out).returncode != 0
    assert out.read_bytes() == b'{"ID": "1"}\n'


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


@pytest.mark.bitrix_sandbox(deals=1200, plan="x10")
def test_django_export_deals_command(django_project, bitrix_sandbox, tmp_path, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    monkeypatch.setattr(django_project, "BITRIX_WEBHOOK", bitrix_sandbox.webhook)
    out = tmp_path / "deals.jsonl"
    stdout = StringIO()
    call_command("export_deals", output=str(out), stdout=stdout)
    ids = ids_in(out)
    assert len(ids) == len(set(ids)) and set(ids) == bitrix_sandbox.store.ids("deal")
    assert "1200 deals written" in stdout.getvalue()


@pytest.mark.bitrix_sandbox(deals=10, plan="x10")
def test_a_failed_django_export_leaves_the_old_file(django_project, bitrix_sandbox, tmp_path,
                                                    monkeypatch):
    from django.core.management import CommandError, call_command

    bad = bitrix_sandbox.webhook.replace(bitrix_sandbox.credentials.webhook_code, "wrongcode12345")
    monkeypatch.setattr(django_project, "BITRIX_WEBHOOK", bad)
    out = tmp_path / "deals.jsonl"
    out.write_bytes(b'{"ID": "1"}\n')
    with pytest.raises(CommandError, match="INVALID_CREDENTIALS"):
        call_command("export_deals", output=str(out))
    assert out.read_bytes() == b'{"ID": "1"}\n'


def test_django_command_without_a_webhook_is_a_command_error(django_project, monkeypatch):
    from django.core.management import CommandError, call_command

    monkeypatch.setattr(django_project, "BITRIX_WEBHOOK", "")
    with pytest.raises(CommandError, match="BITRIX_WEBHOOK"):
        call_command("export_deals")
