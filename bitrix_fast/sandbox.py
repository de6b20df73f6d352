"""The sandbox portal under its first address, kept so that ``from bitrix_fast.sandbox import
Sandbox`` and ``python -m bitrix_fast.sandbox`` go on working; it lives in
:mod:`bitrix_fast.testing.sandbox`."""
from __future__ import annotations

from .testing.sandbox.cost import CostModel
from .testing.sandbox.portal import Sandbox

__all__ = ["CostModel", "Sandbox"]

if __name__ == "__main__":  # pragma: no cover - python -m bitrix_fast.sandbox
    import sys

    from .cli.sandbox import module_main

    sys.exit(module_main())
