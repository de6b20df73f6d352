"""Shared helpers for the sandbox's protocol tests (portals come from the pytest plugin)."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
import requests


@pytest.fixture
def http() -> requests.Session:
    """A keep-alive session, as real clients use."""
    with requests.Session() as session:
        yield session


class Recorder:
    """Wraps a store and remembers the params each method received."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: List[Any] = []

    def knows(self, method: str) -> bool:
        return self.store.knows(method)

    def call(self, method: str, params: Dict[str, Any], ctx: Any) -> Any:
        self.calls.append((method, params, ctx))
        return self.store.call(method, params, ctx)


@pytest.fixture
def recording_portal(bitrix_sandbox_factory):
    """A portal whose store records what each method was called with."""
    from bitrix_fast.testing.sandbox.store import Store

    store = Store()
    store.seed(deals=60, users=2)
    recorder = Recorder(store)
    portal = bitrix_sandbox_factory(store=recorder)
    portal.recorder = recorder
    yield portal
    portal.close()
    store.close()
