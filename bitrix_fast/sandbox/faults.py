"""Seeded, probabilistic faults for ``/rest/`` requests that got past the leaky bucket.

Kinds, and what a client can learn from each:

- ``500``: HTTP 500 ``{"error": "INTERNAL_SERVER_ERROR", ...}`` *before* executing, so
  resending is safe;
- ``502``: an nginx-style HTML "502 Bad Gateway" page *before* executing (not JSON: the
  client's envelope parser must cope);
- ``drop``: the request IS executed (writes happen), then the connection is closed without
  any reply; this is what turns blind retries of writes into duplicates;
- ``slow``: executed, then the reply is held back ``slow_seconds`` (read timeouts).

A spec is ``"500=0.05,502=0.03,drop=0.01,slow=0.02"`` or the same as a dict. At most one
fault is drawn per request, from one seeded ``random.Random`` behind a lock, so a given
seed and request order give the same faults.
"""
from __future__ import annotations

import random
import threading
from typing import Dict, Mapping, Optional, Union

__all__ = ["KINDS", "FaultPlan", "parse_faults", "BAD_GATEWAY_HTML", "INTERNAL_ERROR_BODY"]

KINDS = ("500", "502", "drop", "slow")

BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

INTERNAL_ERROR_BODY = {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}


def parse_faults(spec: Union[str, Mapping[str, float], None]) -> Dict[str, float]:
    """``"500=0.05,drop=0.01"`` or a mapping -> validated ``{kind: probability}``."""
    if not spec:
        return {}
    if isinstance(spec, str):
        items = {}
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            kind, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault {part!r} needs a probability, e.g. {part}=0.05")
            items[kind.strip()] = value.strip()
    else:
        items = dict(spec)
    out: Dict[str, float] = {}
    for kind, value in items.items():
        kind = str(kind).lower()
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}: use {', '.join(KINDS)}")
        try:
            probability = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"fault {kind}: {value!r} is not a probability") from None
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"fault {kind}: probability {probability} is outside [0, 1]")
        out[kind] = probability
    if sum(out.values()) > 1.0 + 1e-9:
        raise ValueError("fault probabilities add up to more than 1")
    return out


class FaultPlan:
    """Draws at most one fault kind per request."""

    def __init__(
        self,
        spec: Union[str, Mapping[str, float], None] = None,
        *,
        seed: int = 0,
        slow_seconds: float = 2.0,
        rng: Optional[random.Random] = None,
    ) -> None:
        self.probabilities = parse_faults(spec)
        self.slow_seconds = float(slow_seconds)
        self._rng = rng if rng is not None else random.Random(seed)
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return any(self.probabilities.values())

    def draw(self) -> Optional[str]:
        if not self:
            return None
        with self._lock:
            roll = self._rng.random()
        edge = 0.0
        for kind in KINDS:
            edge += self.probabilities.get(kind, 0.0)
            if roll < edge:
                return kind
        return None
