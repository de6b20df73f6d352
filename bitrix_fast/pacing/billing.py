"""What a request is expected to add to each method's operating budget, learned from replies.

The portal bills a call's server time to its method when it ran longer than 0.1 s (the
``operating`` figure). A reply's ``time.duration`` (each command's ``result_time`` in a batch)
says what a call of that method costs, so the figure for work still in flight can be
estimated: commands of each method times their running mean of billed seconds -- kept apart
for a method called on its own and inside a batch (a listing's counted first page may bill
seconds of COUNT, while its ``start=-1`` pages in batches bill nothing). Sans-I/O.
"""
from __future__ import annotations

import threading
from typing import Any, Counter, Dict, Mapping, Sequence, Tuple

#: Calls this short or shorter are not billed (rest ``LoadLimiter::minimalFixTime``).
BILLED_FROM = 0.1
#: Weight of the newest reply in the running mean.
ALPHA = 0.3


class BilledTime:
    """Running mean of billed server seconds per call, per method. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mean: Dict[Tuple[str, bool], float] = {}

    def observe(self, method: str, duration: Any, *, in_batch: bool = False) -> None:
        """A call of ``method`` (a command of a batch: ``in_batch``) ran ``duration``
        seconds on the server."""
        try:
            seconds = float(duration)
        except (TypeError, ValueError):
            return
        billed = seconds if seconds > BILLED_FROM else 0.0
        key = (method.lower(), in_batch)
        with self._lock:
            mean = self._mean.get(key)
            self._mean[key] = billed if mean is None else (1 - ALPHA) * mean + ALPHA * billed

    def expected(self, method: str, params: Mapping[str, Any],
                 budget_methods: Sequence[str]) -> Dict[str, float]:
        """Seconds a request is expected to bill to each method it touches: for a batch, the
        batch itself (where the portal bills batches whole) and its commands (where each
        command is billed to its own method)."""
        calls: Counter[Tuple[str, bool]] = Counter()
        if method == "batch":
            calls[("batch", False)] = 1
            cmd = params.get("cmd")
            for command in (cmd.values() if isinstance(cmd, Mapping) else ()):
                if isinstance(command, str):
                    calls[(command.split("?", 1)[0].lower(), True)] += 1
        else:
            calls[(method.lower(), False)] = 1
        out: Dict[str, float] = {}
        with self._lock:
            for (name, in_batch), count in calls.items():
                mean = self._mean.get((name, in_batch))
                if mean and name in {m.lower() for m in budget_methods}:
                    out[name] = out.get(name, 0.0) + mean * count
        return out
