"""A local Bitrix24-compatible portal for tests and benchmarks.

``Sandbox`` (see :mod:`.portal`) serves webhooks, OAuth, ``batch``, paging, the leaky
bucket, the operating budget, a server-cost model with realistic latencies, a cap on the
requests executing at once, real portals' list misbehaviours (:mod:`.quirks`) and
injected faults over real HTTP on 127.0.0.1. Also available as ``bitrix-fast sandbox`` / ``python -m bitrix_fast.testing.sandbox``
and as the ``bitrix_sandbox`` pytest fixture.

The package imports nothing heavy until ``Sandbox`` is first touched, because the pytest
plugin that lives here is loaded in every test run of every project that installs us.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Sandbox", "CostModel"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from .portal import Sandbox

        return Sandbox
    if name == "CostModel":
        from .cost import CostModel

        return CostModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
