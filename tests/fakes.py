"""Test doubles shared by the test modules.

``FakeClock`` now ships with the library (:mod:`bitrix_fast.testing.clock`), so users' own
tests can drive an in-memory sandbox portal with it; this name is kept for our tests.
"""
from __future__ import annotations

from bitrix_fast.testing.clock import FakeClock

__all__ = ["FakeClock"]
