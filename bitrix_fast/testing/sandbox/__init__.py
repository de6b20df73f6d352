"""A local Bitrix24-compatible portal for tests and benchmarks.

``Sandbox`` (see :mod:`.portal`) serves webhooks, OAuth, ``batch``, paging, the leaky
bucket, the operating budget, a server-cost model with realistic latencies, a cap on the
requests executing at once, real portals' list misbehaviours (:mod:`.quirks`) and
injected faults, over real HTTP on 127.0.0.1 or, with ``http=False``, in this process only
(through :class:`~bitrix_fast.testing.memory.MemoryTransport`, on an injected clock). Also
available as ``bitrix-fast sandbox`` / ``python -m bitrix_fast.sandbox`` and as the
fixtures of the opt-in pytest plugin (:mod:`bitrix_fast.testing.pytest_plugin`).

The package imports nothing heavy until ``Sandbox`` is first touched.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Sandbox", "CostModel", "AppPortals"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from .portal import Sandbox

        return Sandbox
    if name == "AppPortals":
        from .apps import AppPortals

        return AppPortals
    if name == "CostModel":
        from .cost import CostModel

        return CostModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
