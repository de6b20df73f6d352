"""The contract between the sandbox's data layer and its request layer.

The data layer (``store``, ``handlers``) executes one REST method against SQLite and returns
an :class:`Outcome`, or raises :class:`ApiFault`. It knows nothing of HTTP, limits, costs or
batches. The request layer (``dispatch``, ``batch``, ``limits``, ``cost``) turns outcomes into
envelopes, charges the cost model from the counters below, and bills the operating budget.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .quirks import NO_QUIRKS, Quirks


@dataclass
class Outcome:
    """What one method call produced, plus the work it made the database do.

    ``next`` and ``total`` are ``None`` when the method must not report them (they are lifted
    to the top level of the envelope, or to ``result_next`` / ``result_total`` in a batch).
    """

    result: Any
    next: Optional[int] = None
    total: Optional[int] = None
    #: rows returned to the caller
    rows: int = 0
    #: rows a COUNT had to visit (0 when ``start=-1`` skipped the count)
    counted: int = 0
    #: rows an OFFSET scan had to skip past
    skipped: int = 0
    #: rows written (add / update / delete)
    written: int = 0


class ApiFault(Exception):
    """A method refused the call; becomes ``{"error": code, "error_description": ...}``."""

    def __init__(
        self,
        code: str,
        description: str,
        status: int = 400,
        extra: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(f"{code} ({status}) {description}")
        self.code = code
        self.description = description
        self.status = status
        self.extra = dict(extra or {})

    def body(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"error": self.code, "error_description": self.description}
        out.update(self.extra)
        return out


@dataclass
class CallContext:
    """Who is calling and which fidelity switches apply to this portal."""

    user_id: int = 1
    #: classic (CDBResult) lists answer a ``start`` past the end with page 1 again
    classic_out_of_range_page1: bool = True
    #: what ``total`` looks like with ``start=-1``: "auto" (0 on classic lists, absent on
    #: engine lists), "omit" or "zero"
    minus1_total: str = "auto"
    #: the misbehaviours of real portals this one imitates (see :mod:`.quirks`)
    quirks: Quirks = NO_QUIRKS
    extra: Dict[str, Any] = field(default_factory=dict)
    #: the portal's Unix time when the call started (``server.time`` reports it); the
    #: dispatcher sets it from the portal's clock, a context made elsewhere reads the system's
    now: float = field(default_factory=time.time)
