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


# -- an OAuth application: the WSGI handler and the Django view ----------------------------------

FORM = "application/x-www-form-urlencoded"


def load_example(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wsgi_call(application, method, body=b"", content_type=FORM):
    from io import BytesIO
    from wsgiref.util import setup_testing_defaults

    environ = {"REQUEST_METHOD": method, "CONTENT_TYPE": content_type,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": BytesIO(body)}
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers):
        answer["status"] = status

    payload = b"".join(application(environ, start_response))
    return answer["status"], json.loads(payload)


def test_wsgi_example_installs_checks_and_uninstalls(tmp_path, monkeypatch):
    from bitrix_fast import OAuthApp
    from bitrix_fast.testing.clock import FakeClock
    from bitrix_fast.testing.sandbox import AppPortals
    from bitrix_fast.tokens import SQLTokenStore

    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", "off")
    wsgi_events = load_example("wsgi_events")
    seen = []
    with AppPortals(2, deals=20, http=False, clock=FakeClock()) as cloud:
        app = OAuthApp(cloud.client_id, cloud.client_secret,
                       store=SQLTokenStore(f"sqlite:///{tmp_path / 'tokens.sqlite'}"),
                       token_url=cloud.token_url, transport=cloud.transport(),
                       clock=cloud.clock)
        handler = wsgi_events.make_app(app, on_event=seen.append)
        for portal in cloud.portals:
            assert wsgi_call(handler, "POST", portal.install_post()) == \
                ("200 OK", {"event": "ONAPPINSTALL"})
        assert sorted(p.member_id for p in app.portals()) == \
            sorted(p.member_id for p in cloud.portals)
        with app.client(cloud.portals[1].member_id, verbose=False) as bx:
            assert len(bx.get_all("crm.deal.list")) == 20
        gone = cloud.portals[0]
        forged = gone.uninstall_post().replace(gone.credentials.application_token.encode(),
                                               b"0" * 32)
        assert wsgi_call(handler, "POST", forged)[0] == "403 Forbidden"
        assert wsgi_call(handler, "GET")[0] == "405 Method Not Allowed"
        assert wsgi_call(handler, "POST", gone.uninstall_post())[0] == "200 OK"
        assert [p.member_id for p in app.portals()] == [cloud.portals[1].member_id]
        assert [e.event for e in seen] == ["ONAPPINSTALL", "ONAPPINSTALL", "ONAPPUNINSTALL"]


def test_django_example_view_and_worker_command(django_project, tmp_path, monkeypatch):
    import sys
    from io import StringIO

    from django.core.management import call_command
    from django.test import Client, override_settings
    from django.urls import clear_url_caches

    from bitrix_fast.protocol.encoding import build_query
    from bitrix_fast.testing.sandbox import AppPortals

    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", "off")
    with AppPortals(2, deals=30, plan="x10") as cloud:  # over HTTP: the example's own transport
        options = dict(ROOT_URLCONF="project.urls", ALLOWED_HOSTS=["testserver"],
                       BITRIX_CLIENT_ID=cloud.client_id, BITRIX_CLIENT_SECRET=cloud.client_secret,
                       BITRIX_TOKEN_STORE=f"sqlite:///{tmp_path / 'tokens.sqlite'}",
                       BITRIX_TOKEN_URL=cloud.token_url)
        with override_settings(**options):
            from deals.bitrix_app import oauth_app

            oauth_app.cache_clear()
            sys.modules.pop("project.urls", None)
            clear_url_caches()
            try:
                client = Client()
                for portal in cloud.portals:
                    reply = client.post("/bitrix/events/", data=portal.install_post(),
                                        content_type=FORM)
                    assert reply.status_code == 200, reply.content
                    assert reply.json() == {"event": "ONAPPINSTALL",
                                            "member_id": portal.member_id}
                forged = build_query({"event": "ONAPPUNINSTALL", "auth": {
                    "member_id": cloud.portals[0].member_id, "application_token": "0" * 32}})
                refused = client.post("/bitrix/events/", data=forged, content_type=FORM)
                assert refused.status_code == 403
                assert client.get("/bitrix/events/").status_code == 405
                out = StringIO()
                call_command("portal_deals", stdout=out)
                lines = sorted(out.getvalue().splitlines())
                assert len(lines) == 2 and all(line.endswith("open deals") for line in lines)
            finally:
                oauth_app().close()
                oauth_app.cache_clear()
                sys.modules.pop("project.urls", None)
                clear_url_caches()
