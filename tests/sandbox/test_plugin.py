"""The ``bitrix_sandbox`` pytest fixtures, exercised in a separate pytest run (pytester)."""
from __future__ import annotations

import subprocess
import sys

pytest_plugins = ["pytester"]


def test_fixture_marker_and_factory(pytester):
    pytester.makepyfile(
        """
        import pytest
        import requests

        def test_default(bitrix_sandbox):
            body = requests.get(bitrix_sandbox.webhook + "crm.deal.list").json()
            assert body["total"] == 120
            assert bitrix_sandbox.plan.burst == 50 and bitrix_sandbox.plan.rate == 2

        @pytest.mark.bitrix_sandbox(deals=7, plan="x10")
        def test_marker(bitrix_sandbox):
            assert requests.get(bitrix_sandbox.webhook + "crm.deal.list").json()["total"] == 7
            assert bitrix_sandbox.plan.rate == 20
            assert bitrix_sandbox.store.ids("deal") == set(range(1, 8))

        def test_factory(bitrix_sandbox_factory):
            a = bitrix_sandbox_factory(deals=2)
            b = bitrix_sandbox_factory(deals=3, plan="enterprise")
            assert a.port != b.port
            assert requests.get(b.webhook + "crm.deal.list").json()["total"] == 3
            assert b.plan.burst == 250

        def test_each_test_gets_a_fresh_portal(bitrix_sandbox):
            assert bitrix_sandbox.stats()["requests"] == 0
            requests.post(bitrix_sandbox.webhook + "crm.deal.add", json={"fields": {"TITLE": "x"}})
            assert bitrix_sandbox.store.count("deal") == 121

        def test_again_fresh(bitrix_sandbox):
            assert bitrix_sandbox.store.count("deal") == 120

        @pytest.mark.bitrix_sandbox(5)
        def test_positional_marker_is_an_error(bitrix_sandbox):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*keyword arguments only*"])


def test_marker_is_registered(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.bitrix_sandbox(**options)*"])


def test_importing_the_plugin_is_cheap():
    code = (
        "import sys; import bitrix_fast.testing.pytest_plugin; "
        "heavy = [m for m in ('http.server', 'sqlite3', 'bitrix_fast.testing.sandbox.portal', 'bitrix_fast.testing.sandbox.store', "
        "'bitrix_fast.testing.sandbox.server') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
