"""pytest fixtures serving a local Bitrix24 portal (registered through the ``pytest11`` entry point).

::

    def test_export(bitrix_sandbox):                  # 120 deals, standard plan
        rows = my_export(bitrix_sandbox.webhook)
        assert {int(r["ID"]) for r in rows} == bitrix_sandbox.store.ids("deal")

    @pytest.mark.bitrix_sandbox(deals=5000, plan="x10", cost="light")
    def test_big(bitrix_sandbox): ...

    def test_two_portals(bitrix_sandbox_factory):
        a = bitrix_sandbox_factory(deals=10)
        b = bitrix_sandbox_factory(plan="enterprise", faults="500=0.1")

Marker and factory keywords are :class:`bitrix_fast.testing.sandbox.Sandbox` arguments, applied on
top of :data:`DEFAULTS`. Each portal is function-scoped: fresh data, limits and stats.

This module is imported in every pytest run of every project that installs bitrix_fast,
so it imports nothing but pytest at module level.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

#: what the ``bitrix_sandbox`` fixture seeds unless a marker says otherwise
DEFAULTS = {
    "deals": 120,
    "leads": 30,
    "contacts": 30,
    "companies": 10,
    "tasks": 20,
    "users": 5,
    "plan": "standard",
}


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "bitrix_sandbox(**options): Sandbox keyword arguments for the bitrix_sandbox fixture "
        "(e.g. deals=5000, plan='x10', cost='light', faults='500=0.05', quirks='joined_pages')",
    )


@pytest.fixture
def bitrix_sandbox_factory() -> Iterator[Callable[..., Any]]:
    """Start portals on demand; every one is closed when the test ends."""
    from bitrix_fast.testing.sandbox.portal import Sandbox

    started: List[Any] = []

    def factory(**options: Any) -> Any:
        portal = Sandbox(**{**DEFAULTS, **options})
        portal.start()
        started.append(portal)
        return portal

    try:
        yield factory
    finally:
        for portal in reversed(started):
            portal.close()


@pytest.fixture
def bitrix_sandbox(request: Any, bitrix_sandbox_factory: Callable[..., Any]) -> Any:
    """A running portal, configured by ``@pytest.mark.bitrix_sandbox(...)`` if present."""
    marker = request.node.get_closest_marker("bitrix_sandbox")
    if marker is not None and marker.args:
        raise pytest.UsageError("@pytest.mark.bitrix_sandbox takes keyword arguments only")
    return bitrix_sandbox_factory(**(marker.kwargs if marker is not None else {}))
