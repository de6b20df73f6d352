"""What each reply says about time, handed to the parts that pace by it.

A reply's ``time`` block (a batch: each command's ``result_time``) gives the server time of
each call (``duration``) and the method's running total (``operating``, with
``operating_reset_at``). :class:`Meter` reads them once per reply and tells

* the :class:`~.room.BatchRoom` how long one command of each method takes (batch sizing
  inside the 60 s cut),
* the :class:`~.billing.BilledTime` what a call of each method bills (the budget's view of
  requests in flight),
* the :class:`~.protocols.Budget` the portal's figure for each method -- each command of a
  batch under its own method, as the portal bills them, and the batch itself only on a
  portal that bills batches whole (it answered a whole batch with 429 once).

Where a reply has no ``time`` (fast_bitrix24 #269) or no ``operating`` (self-hosted portals,
b24jssdk #459), the client's own measurement stands in: the request's time shared among its
commands, spent against the method's own ledger (:meth:`Budget.spend`). Sans-I/O.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..protocol.limits import PAGE_ROWS
from ..protocol.methods import list_facts, rows_of
from .billing import BilledTime
from .protocols import Budget
from .room import BatchRoom

logger = logging.getLogger("bitrix_fast")


def counted(params: Mapping[str, Any]) -> bool:
    """Whether a call counts its rows: a list page without ``start=-1`` (any call that is
    not a list counts as counted; only its method matters then)."""
    start = params.get("start")
    try:
        return start is None or int(start) >= 0
    except (TypeError, ValueError):
        return True


def command_of(text: str) -> Tuple[str, bool]:
    """The method and countedness of a batch command string ``method?query``."""
    method, _, query = text.partition("?")
    return method.lower(), "start=-1" not in query


class Meter:
    """Reads the time of every reply (see the module docstring). Thread-safe (its parts are)."""

    def __init__(self, room: BatchRoom, billed: BilledTime, budget: Budget) -> None:
        self.room = room
        self._billed = billed
        self._budget = budget
        #: the portal bills ``batch`` itself (a whole batch was answered 429)
        self.batch_billed = False

    def reply(self, method: str, params: Mapping[str, Any], body: Any, elapsed: float) -> None:
        """A reply to ``method`` with ``params`` came back after ``elapsed`` seconds."""
        if not isinstance(body, Mapping):
            return
        envelope_time = _time_of(body)
        if method != "batch":
            seconds = _duration(envelope_time, elapsed)
            self._one(method, counted(params), seconds, envelope_time, in_batch=False)
            return
        groups = body.get("result")
        groups = groups if isinstance(groups, Mapping) else {}
        times = _group(groups.get("result_time"))
        results = _group(groups.get("result"))
        # Only commands that ran and answered say what a command costs (a refused one
        # costs nothing); without times, the request's time is theirs to share.
        commands = [c for c in _commands(params) if c[0] in results]
        share = elapsed / len(commands) if commands else elapsed
        latest: Dict[str, Mapping[str, Any]] = {}  # each method's last figure in the batch
        for label, name, is_counted in commands:
            block = times.get(label)
            block = block if isinstance(block, Mapping) else None
            seconds = _duration(block, share)
            per_page = _per_page(rows_of(results[label], list_facts(name)), seconds,
                                 is_counted)
            if per_page is not None:
                self.room.observe(name, is_counted, per_page)
            self._billed.observe(name, seconds, in_batch=True)
            if block is not None and block.get("operating") is not None:
                latest[name] = block  # a running total: the last one says it all
            else:
                self._budget.spend(name, seconds)
        for name, block in latest.items():
            self._portal(name, block)
        if self.batch_billed and envelope_time is not None:
            self._portal("batch", envelope_time)
            self._billed.observe("batch", envelope_time.get("duration"))

    def limit_hit(self, method: str) -> None:
        """The portal answered 429 for ``method``: a 429 for ``batch`` itself shows the
        portal bills batches whole."""
        if method.lower() == "batch":
            self.batch_billed = True

    def _one(self, method: str, is_counted: bool, seconds: float,
             block: Optional[Mapping[str, Any]], *, in_batch: bool) -> None:
        self.room.observe(method, is_counted, seconds)
        self._billed.observe(method, seconds, in_batch=in_batch)
        if block is not None and block.get("operating") is not None:
            self._portal(method, block)
        else:
            self._budget.spend(method, seconds)

    def _portal(self, method: str, block: Mapping[str, Any]) -> None:
        try:
            self._budget.observe(method, float(block["operating"]),
                                 _float(block.get("operating_reset_at")),
                                 _float(block.get("finish", block.get("start"))))
        except (TypeError, ValueError, KeyError):
            logger.debug("%s: unreadable time block ignored", method)


def _time_of(body: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    block = body.get("time")
    return block if isinstance(block, Mapping) else None


def _duration(block: Optional[Mapping[str, Any]], fallback: float) -> float:
    """The server's ``duration``, else the client's own measurement."""
    if block is not None:
        try:
            return max(0.0, float(block["duration"]))
        except (TypeError, ValueError, KeyError):
            pass
    return max(0.0, fallback)


def _commands(params: Mapping[str, Any]) -> List[Tuple[str, str, bool]]:
    cmd = params.get("cmd")
    if not isinstance(cmd, Mapping):
        return []
    return [(str(label), *command_of(text)) for label, text in cmd.items()
            if isinstance(text, str)]


def _per_page(rows: Optional[List[Any]], seconds: float, is_counted: bool) -> Optional[float]:
    """What a command's time says of a full page's, for the batch room: an uncounted list
    page (``rows``; None: not a page of rows) with fewer rows than a page took less than a
    full one would (a page costs the portal per row it reads), so it is scaled up to a page;
    an empty one says nothing. Counted pages (their COUNT dominates) and other results count
    as they are."""
    if is_counted or rows is None or len(rows) >= PAGE_ROWS:
        return seconds
    return seconds * PAGE_ROWS / len(rows) if rows else None


def _group(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return {str(key): item for key, item in value.items()}
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    return {}


def _float(value: Any) -> Optional[float]:
    return None if value is None else float(value)
