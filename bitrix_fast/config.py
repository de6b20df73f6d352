"""The client's configuration: one frozen value, built and checked once from the keywords
``Bitrix`` takes (fast_bitrix24's, plus ours).
"""
from __future__ import annotations

from typing import Tuple, Union

from .net.transport import DEFAULT_TIMEOUT

#: What ``timeout=`` accepts: seconds for both, a (connect, read) pair, or None (defaults).
TimeoutSpec = Union[float, Tuple[float, float], None]


def timeout_pair(value: TimeoutSpec) -> Tuple[float, float]:
    """``timeout=`` as (connect, read) seconds."""
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("timeout must be positive")
        return (float(value), float(value))
    if (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                    for v in value)):
        return (float(value[0]), float(value[1]))
    raise TypeError("timeout must be seconds or a (connect, read) tuple of seconds")
