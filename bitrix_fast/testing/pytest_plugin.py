"""pytest fixtures serving a local Bitrix24 portal. Opt-in: enable the plugin with
``pytest -p bitrix_fast.testing.pytest_plugin``, ``addopts = -p bitrix_fast.testing.pytest_plugin``
in your pytest configuration, or ``pytest_plugins = ["bitrix_fast.testing.pytest_plugin"]``
in your top-level ``conftest.py``. Installing bitrix_fast does not load it into anyone's
test runs.

Two kinds of portal, each with a fixture and a factory:

- ``bitrix_portal`` / ``bitrix_portal_factory``: in memory (no socket) on its own
  :class:`~bitrix_fast.testing.clock.FakeClock` (no real sleep): reach it through
  ``portal.transport()`` on ``portal.clock``. The fast choice for most tests.
- ``bitrix_sandbox`` / ``bitrix_sandbox_factory``: served over HTTP on 127.0.0.1 on the
  real clock: reach it at ``portal.webhook`` with any HTTP client.

::

    def test_export(bitrix_portal):                   # 120 deals, standard plan
        bx = Bitrix(bitrix_portal.webhook, transport=bitrix_portal.transport(),
                    clock=bitrix_portal.clock)
        rows = my_export(bx)
        assert {int(r["ID"]) for r in rows} == bitrix_portal.store.ids("deal")

    @pytest.mark.bitrix_sandbox(deals=5000, plan="x10", cost="light")
    def test_big(bitrix_sandbox): ...

    def test_two_portals(bitrix_sandbox_factory):
        a = bitrix_sandbox_factory(deals=10)
        b = bitrix_sandbox_factory(plan="enterprise", faults="500=0.1")

Marker (``@pytest.mark.bitrix_portal(...)``, ``@pytest.mark.bitrix_sandbox(...)``) and
factory keywords are :class:`bitrix_fast.testing.sandbox.Sandbox` arguments, applied on top
of :data:`DEFAULTS`; ``clock=`` gives an in-memory portal a clock of your own (share one
between portals). Each portal is function-scoped: fresh data, limits and stats.

The plugin imports nothing but pytest until a fixture is used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List

import pytest

if TYPE_CHECKING:
    from bitrix_fast.testing.sandbox.portal import Sandbox

__all__ = ["DEFAULTS", "bitrix_sandbox", "bitrix_sandbox_factory", "bitrix_portal",
           "bitrix_portal_factory"]

#: what the fixtures seed unless a marker or the factory's caller says otherwise
DEFAULTS: Dict[str, Any] = {
    "deals": 120,
    "leads": 30,
    "contacts": 30,
    "companies": 10,
    "tasks": 20,
    "users": 5,
    "plan": "standard",
}

Factory = Callable[..., "Sandbox"]


def pytest_configure(config: pytest.Config) -> None:
    for name, kind in (("bitrix_sandbox", "an HTTP"), ("bitrix_portal", "an in-memory")):
        config.addinivalue_line(
            "markers",
            f"{name}(**options): Sandbox keyword arguments for {kind} portal from the {name} "
            "fixture (e.g. deals=5000, plan='x10', cost='light', faults='500=0.05', "
            "quirks='joined_pages')",
        )


def _portals(**fixed: Any) -> Iterator[Factory]:
    """A factory of started portals with ``fixed`` keywords; closes them all at the end."""
    from bitrix_fast.testing.clock import FakeClock
    from bitrix_fast.testing.sandbox.portal import Sandbox

    started: List[Sandbox] = []

    def factory(**options: Any) -> Sandbox:
        settings = {**DEFAULTS, **options, **fixed}
        if not settings.get("http", True) and settings.get("clock") is None:
            settings["clock"] = FakeClock()
        portal = Sandbox(**settings)
        portal.start()
        started.append(portal)
        return portal

    try:
        yield factory
    finally:
        for portal in reversed(started):
            portal.close()


def _marked(request: pytest.FixtureRequest, name: str) -> Dict[str, Any]:
    marker = request.node.get_closest_marker(name)
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError(f"@pytest.mark.{name} takes keyword arguments only")
    return dict(marker.kwargs)


@pytest.fixture
def bitrix_sandbox_factory() -> Iterator[Factory]:
    """Start HTTP portals on demand; every one is closed when the test ends."""
    yield from _portals()


@pytest.fixture
def bitrix_sandbox(request: pytest.FixtureRequest, bitrix_sandbox_factory: Factory) -> "Sandbox":
    """An HTTP portal, configured by ``@pytest.mark.bitrix_sandbox(...)`` if present."""
    return bitrix_sandbox_factory(**_marked(request, "bitrix_sandbox"))


@pytest.fixture
def bitrix_portal_factory() -> Iterator[Factory]:
    """Start in-memory portals on demand, each on a FakeClock of its own unless given
    ``clock=``; every one is closed when the test ends."""
    yield from _portals(http=False)


@pytest.fixture
def bitrix_portal(request: pytest.FixtureRequest, bitrix_portal_factory: Factory) -> "Sandbox":
    """An in-memory portal on a FakeClock, configured by ``@pytest.mark.bitrix_portal(...)``
    if present."""
    return bitrix_portal_factory(**_marked(request, "bitrix_portal"))
