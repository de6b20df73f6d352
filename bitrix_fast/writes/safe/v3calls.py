"""REST 3.0 calls, one request per item, each write under its own ``Idempotency-Key``.

:class:`V3Calls` is a source for the scheduler. Every item of a write method gets a key
(:func:`bitrix_fast.protocol.v3.new_key`, or the caller's) that goes with every attempt of
it: the engine's retries of a refused request and this source's resends alike. A write in
doubt (a dropped connection, a 504) is sent again under the same key -- but only once the
portal's request cut has passed since it was sent, because the portal records a key after
the method ran, and two requests with one key that overlap may both run. A resent write
that ran before is answered with the stored reply (``Idempotent-Replayed: true``), which
is reported as the item's result: it *is* the original result. Reads carry no key and are
retried by the engine like any read.

The first request goes alone, as in a bulk call: a wrong webhook costs one refused item.
"""
from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ...clock import Clock
from ...errors import AuthError, BitrixError, Stopped, with_item
from ...protocol import v3 as rest_v3
from ...protocol.batch import Command, CommandResult
from ...protocol.params import Params
from ...run.engine import may_have_executed
from ...run.stop import Stop
from ...run.work import Work
from ..bulk import Outcome, Status
from .table import MAX_RESENDS

__all__ = ["V3Calls", "items"]


class V3Calls:
    """The items of one REST 3.0 call (see the module docstring). ``keys``: one per item
    (None: new ones); ``unwrap`` shapes a result for the caller."""

    def __init__(self, method: str, items: Sequence[Mapping[str, Any]], *, stop: Stop,
                 clock: Clock, settle_wait: float, keys: Optional[Sequence[str]] = None,
                 unwrap: Callable[[Any], Any] = lambda result: result,
                 keep: bool = False) -> None:
        self.method = method
        self._items = list(items)
        self.total: Optional[int] = len(self._items)
        self._read_only = rest_v3.is_read_only(method)
        if keys is not None and len(keys) != len(self._items):
            raise ValueError(f"{method}: {len(keys)} keys for {len(self._items)} items")
        self._keys: List[Optional[str]] = (
            [None] * len(self._items) if self._read_only else
            [rest_v3.check_key(k) for k in keys] if keys is not None else
            [rest_v3.new_key() for _ in self._items])
        self._stop = stop
        self._clock = clock
        self._settle_wait = float(settle_wait)
        self._unwrap = unwrap
        self._next = 0
        self._probe_out = False
        self._probed = False
        self._out: Dict[int, int] = {}            # id(work) -> item
        self._on_wire: Dict[int, float] = {}      # id(work) -> when it was last sent
        self._waiting: List[Tuple[float, int, int]] = []   # (due, order, item)
        self._doubts: Dict[int, Tuple[BaseException, int]] = {}   # item -> (error, resends)
        self._order = itertools.count()
        self.outcomes: Optional[List[Outcome]] = [] if keep else None
        self.delivered = 0
        self.raise_at_end: Optional[BaseException] = None
        stop.progress = lambda: f"{self.delivered:,} items answered"

    # -- the Source protocol -------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._next >= len(self._items) and not self._out and not self._waiting

    def next_work(self) -> Optional[Work]:
        if self._stop.halted or (self._probe_out and not self._probed):
            return None
        if self._waiting and self._waiting[0][0] <= self._clock.now():
            return self._work(heapq.heappop(self._waiting)[2])
        if self._next < len(self._items):
            self._next += 1
            self._probe_out = True
            return self._work(self._next - 1)
        if self._out or not self._waiting:
            return None
        # Only writes waiting for the cut are left: wait for the first on the call's stop.
        try:
            self._stop.sleep(max(0.001, self._waiting[0][0] - self._clock.now()))
        except Stopped as error:
            self._stop.halt(error)
            return None
        return self._work(heapq.heappop(self._waiting)[2])

    def mark(self) -> Any:
        return None

    def ready(self) -> List[Outcome]:
        return []

    def before_send(self, work: Work) -> None:
        self._on_wire[id(work)] = self._clock.now()

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Outcome]:
        index, sent = self._resolve(work)
        result = results[0] if results else None
        if result is not None and result.ok:
            self._doubts.pop(index, None)
            return self._keep([Outcome(index, Status.RESULT,
                                       result=self._unwrap(result.result))])
        error: BaseException = (result.error if result is not None and result.error
                                else BitrixError(f"{self.method}: item {index}: no result"))
        return self._keep([self._failure(index, error, sent)])

    def failed(self, work: Work, error: BaseException) -> List[Outcome]:
        index, sent = self._resolve(work)
        return self._keep([self._failure(index, error, sent)])

    def lost(self, work: Work, error: BaseException) -> List[Outcome]:
        index, sent = self._resolve(work)
        if sent is None:
            return self._keep([self._not_sent(index, self._stop.stopped_error())])
        return self._keep([self._doubt_for_good(index, error)])

    def leftovers(self, reason: BaseException) -> List[Outcome]:
        out = [self._not_sent(i, reason) for i in range(self._next, len(self._items))]
        self._next = len(self._items)
        out.extend(self._doubt_for_good(index, reason) for _, _, index in self._waiting)
        self._waiting = []
        return self._keep(out)

    def unresolved(self, reason: BaseException) -> List[Outcome]:
        """After a stop that left the run early: what was handed out and not answered."""
        out = []
        for key, index in list(self._out.items()):
            sent = self._on_wire.pop(key, None)
            out.append(self._not_sent(index, reason) if sent is None
                       else self._doubt_for_good(index, reason))
        self._out.clear()
        return self._keep(out)

    # -- inside ---------------------------------------------------------------------------

    def _work(self, index: int) -> Work:
        key = self._keys[index]
        headers = {rest_v3.KEY_HEADER: key} if key is not None else {}
        work = Work([Command(f"i{index}", self.method, self._items[index], headers)],
                    single=True, read_only=self._read_only, v3=True)
        self._out[id(work)] = index
        return work

    def _resolve(self, work: Work) -> Tuple[int, Optional[float]]:
        self._probed = True
        return self._out.pop(id(work)), self._on_wire.pop(id(work), None)

    def _failure(self, index: int, error: BaseException, sent: Optional[float]
                 ) -> Outcome:
        if isinstance(error, AuthError):
            self._stop.halt(error)
        if isinstance(error, Stopped) or sent is None:
            return self._not_sent(index, error)
        if self._read_only or not may_have_executed(error):
            self._doubts.pop(index, None)
            named = with_item(error, index) if isinstance(error, BitrixError) else error
            return Outcome(index, Status.ERROR, error=named)
        first, resends = self._doubts.get(index, (error, 0))
        if resends >= MAX_RESENDS or self._stop.halted:
            return self._doubt_for_good(index, error)
        # Resent under the same key once nothing of the first request can still run.
        self._doubts[index] = (first, resends + 1)
        heapq.heappush(self._waiting, (sent + self._settle_wait, next(self._order), index))
        return _PENDING

    def _not_sent(self, index: int, error: BaseException) -> Outcome:
        if index in self._doubts:  # an earlier attempt may have run
            return self._doubt_for_good(index, error)
        return Outcome(index, Status.NOT_SENT, error=error)

    def _doubt_for_good(self, index: int, error: BaseException) -> Outcome:
        first, _ = self._doubts.pop(index, (error, 0))
        return Outcome(index, Status.IN_DOUBT, error=first)

    def _keep(self, outcomes: List[Outcome]) -> List[Outcome]:
        kept = [o for o in outcomes if o is not _PENDING]
        if self.outcomes is not None:
            self.outcomes.extend(kept)
        self.delivered += len(kept)
        return kept


def items(method: str, given: Union[Mapping[str, Any], Sequence[Mapping[str, Any]], None],
          keys: Union[str, Sequence[str], None]
          ) -> Tuple[bool, List[Dict[str, Any]], Optional[List[str]]]:
    """``call_v3``'s arguments: (one item was given, every item's parameters checked, the
    caller's keys as a list or None)."""
    one = given is None or isinstance(given, Mapping)
    listed: List[Mapping[str, Any]]
    if given is None:
        listed = [{}]
    elif isinstance(given, Mapping):
        listed = [given]
    elif isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise TypeError(f"{method}: items must be a dict or a list of dicts")
    else:
        listed = list(given)
    if isinstance(keys, str):
        if not one:
            raise TypeError(f"{method}: keys must be a list, one key per item")
        keys = [keys]
    return one, [Params(method, item).raw for item in listed], \
        None if keys is None else list(keys)


#: A write in doubt that waits to be sent again: no outcome yet.
_PENDING = Outcome(-1, Status.IN_DOUBT)
