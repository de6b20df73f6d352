"""Seeded, probabilistic faults for ``/rest/`` requests that got past the leaky bucket.

Kinds, what each does to the request, and what a client can learn from it:

- ``500``: HTTP 500 ``{"error": "INTERNAL_SERVER_ERROR", ...}`` *before* executing, so
  resending is safe;
- ``502``: an nginx-style HTML "502 Bad Gateway" page *before* executing (not JSON: the
  client's envelope parser must cope);
- ``drop``: the request IS executed (writes happen), then the connection is closed without
  any reply; this is what turns blind retries of writes into duplicates;
- ``slow``: executed, then the reply is held back ``slow_seconds`` (read timeouts);
- ``hang``: the request is read and never answered, and NOT executed (a portal whose PHP
  workers are all stuck): the connection is held open, silent, until the client gives up
  and closes it or the sandbox shuts down (closing never waits for it). The client cannot
  tell this from a request that ran, so a write is in doubt;
- ``504``: the request IS executed (writes happen), then an nginx-style HTML "504 Gateway
  Time-out" page comes back, as when a proxy stops waiting for a slow backend;
- ``redirect``: a ``301 Moved Permanently`` to the same path on ``https://`` (the
  ``Location`` therefore holds the webhook code), NOT executed, as a portal that only
  serves https answers an ``http://`` webhook;
- ``partial``: for a ``batch`` only: every command is executed, then the 200 reply leaves
  out every other command's label (the 2nd, 4th, ...; the only one of a one-command batch)
  from every group -- ``result``, ``result_error``, ``result_time``, ...;
- ``nullresult``: for a ``batch`` only: every command is executed, then the reply's
  ``result`` is ``null``.

``partial`` and ``nullresult`` drawn for a request that is not a batch do nothing (and are
not counted). A spec is ``"500=0.05,502=0.03,drop=0.01,slow=0.02"`` or the same as a dict.
At most one fault is drawn per request, from one seeded ``random.Random`` behind a lock, so
a given seed and request order give the same faults; new kinds come after the old ones in
:data:`KINDS`, so a spec of old kinds draws as it always did.
"""
from __future__ import annotations

import random
import threading
from typing import Any, Dict, List, Mapping, Optional, Union

__all__ = ["KINDS", "FaultPlan", "parse_faults", "BAD_GATEWAY_HTML", "GATEWAY_TIMEOUT_HTML",
           "MOVED_HTML", "INTERNAL_ERROR_BODY", "batch_labels", "leave_out"]

KINDS = ("500", "502", "drop", "slow", "hang", "504", "redirect", "partial", "nullresult")
#: Kinds that change a batch's reply, and do nothing to other requests.
BATCH_ONLY = ("partial", "nullresult")

BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

GATEWAY_TIMEOUT_HTML = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

MOVED_HTML = (
    b"<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n"
    b"<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

INTERNAL_ERROR_BODY = {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}


def batch_labels(params: Mapping[str, Any]) -> List[str]:
    """The command ids of a batch request, in order (``cmd`` found case-insensitively)."""
    cmd = {str(key).upper(): value for key, value in params.items()}.get("CMD")
    if isinstance(cmd, dict):
        return [str(key) for key in cmd]
    if isinstance(cmd, list):
        return [str(position) for position in range(len(cmd))]
    return []


def leave_out(result: Dict[str, Any], labels: List[str]) -> Dict[str, Any]:
    """A batch ``result`` (the groups) without the labels ``partial`` drops: every other
    one from the second on, or the only one. Groups keep PHP's encoding: a list when the
    ids left are ``0..n-1``, else an object, ``[]`` when empty."""
    dropped = set(labels[1::2] if len(labels) > 1 else labels)
    out: Dict[str, Any] = {}
    for name, group in result.items():
        if isinstance(group, list):
            group = {str(position): value for position, value in enumerate(group)}
        if isinstance(group, dict):
            kept = {key: value for key, value in group.items() if key not in dropped}
            ordered = all(key == str(position) for position, key in enumerate(kept))
            group = list(kept.values()) if ordered else kept
        out[name] = group
    return out


def parse_faults(spec: Union[str, Mapping[str, float], None]) -> Dict[str, float]:
    """``"500=0.05,drop=0.01"`` or a mapping -> validated ``{kind: probability}``."""
    if not spec:
        return {}
    if isinstance(spec, str):
        items: Dict[str, Any] = {}
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            kind, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault {part!r} needs a probability, e.g. {part}=0.05")
            items[kind.strip()] = value.strip()
    else:
        items = {str(kind): value for kind, value in spec.items()}
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
