"""A client wired to a sandbox portal without a socket: the test aid most tests want."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..client import Bitrix

if TYPE_CHECKING:
    from .sandbox.portal import Sandbox


def connect(portal: "Sandbox", **options: Any) -> Bitrix:
    """A :class:`~bitrix_fast.Bitrix` for ``portal`` (running, in memory or over HTTP) that
    talks to it in this process, on the portal's clock: with a
    :class:`~bitrix_fast.testing.clock.FakeClock` nothing sleeps, and minutes of rate
    limits and operating budgets pass in milliseconds. ``options`` are ``Bitrix``'s own
    keywords (``verbose`` defaults to False here)."""
    options.setdefault("verbose", False)
    return Bitrix(portal.webhook, transport=portal.transport(), clock=portal.clock, **options)
