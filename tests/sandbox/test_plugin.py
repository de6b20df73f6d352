"""The pytest plugin's fixtures, exercised in separate pytest runs (pytester)."""
from __future__ import annotations

import configparser
import pathlib
import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

#: How a user enables the plugin.
PLUGIN = ("-p", "bitrix_fast.testing.pytest_plugin")
#: Blocks the entry point an older editable install of this package registered.
STALE = ("-p", "no:bitrix_fast")


@pytest.fixture
def alone(monkeypatch):
    """Runs with no installed plugin but the ones named: ours is what they test, and
    hypothesis's would import itself afresh in every in-process run (over a second)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_fixture_marker_and_factory(pytester, alone):
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
    result = pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=5, errors=1)
    result.stdout.fnmatch_lines(["*keyword arguments only*"])


def test_in_memory_portals_on_a_fake_clock(pytester, alone):
    pytester.makepyfile(
        """
        import json
        import pytest
        from bitrix_fast.net.transport import HttpRequest
        from bitrix_fast.testing.clock import FakeClock

        def get(portal, method):
            reply = portal.transport().exchange(HttpRequest("GET", portal.webhook + method))
            return reply.status, json.loads(reply.content)

        def test_default(bitrix_portal):
            assert isinstance(bitrix_portal.clock, FakeClock) and not bitrix_portal.http
            assert get(bitrix_portal, "crm.deal.list")[1]["total"] == 120

        @pytest.mark.bitrix_portal(deals=7, plan="x10")
        def test_marker(bitrix_portal):
            assert get(bitrix_portal, "crm.deal.list")[1]["total"] == 7
            assert bitrix_portal.plan.rate == 20

        def test_factory_and_a_shared_clock(bitrix_portal_factory):
            clock = FakeClock()
            a = bitrix_portal_factory(deals=2, clock=clock, http=True)  # http is not up to you
            b = bitrix_portal_factory(deals=3, clock=clock, cost="x10-latency")
            assert not a.http and a.clock is b.clock is clock and a.webhook != b.webhook
            assert get(b, "crm.deal.list")[1]["total"] == 3
            assert clock.now() == pytest.approx(0.03)

        def test_each_portal_has_its_own_clock(bitrix_portal_factory):
            assert bitrix_portal_factory().clock is not bitrix_portal_factory().clock
        """
    )
    result = pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=4)


def test_the_plugin_is_opt_in(pytester):
    # Every installed plugin loads, and ours is not among them: its markers are missing ...
    result = pytester.runpytest(*STALE, "--markers")
    assert "bitrix_portal" not in result.stdout.str()
    assert "bitrix_sandbox" not in result.stdout.str()
    # ... because installing the package registers it nowhere
    setup = configparser.ConfigParser()
    setup.read(pathlib.Path(__file__).parents[2] / "setup.cfg")
    assert "pytest11" not in setup["options.entry_points"]


def test_marker_is_registered(pytester, alone):
    result = pytester.runpytest(*PLUGIN, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.bitrix_sandbox(**options)*",
                                 "@pytest.mark.bitrix_portal(**options)*"])


def test_importing_the_plugin_is_cheap():
    code = (
        "import sys; import bitrix_fast.testing.pytest_plugin; "
        "heavy = [m for m in ('http.server', 'sqlite3', 'bitrix_fast.testing.sandbox', "
        "'bitrix_fast.testing.memory') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
