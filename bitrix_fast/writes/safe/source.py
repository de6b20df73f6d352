"""A bulk call whose writes in doubt are resent or settled instead of left to the caller.

:class:`SafeWrites` is a :class:`~bitrix_fast.run.work.Source` around a
:class:`~bitrix_fast.writes.bulk.BulkSource`: the bulk source packs and sends the items, and
every item it reports ``IN_DOUBT`` is taken over here, by its treatment (:mod:`.table`):

* ``resend`` / ``delete``: sent again (at most :data:`~.table.MAX_RESENDS` times); a delete
  that finds nothing on a resend counts as deleted;
* ``settle`` (an add with a key): read back by its key with the other adds in doubt, and
  resent only when absent twice (:mod:`.settle`); its result is the record's ID;
* anything else: reported in doubt, as before.

Everything goes through the one scheduler: read-backs are read-only work of this same
source, batched (up to 50 lookups per request, 50 keys each) and sent once a batch is full
or the bulk source has nothing more to send, so settling costs a request or two, not one per
batch in doubt. When nothing is left but adds waiting for the portal's request cut,
:meth:`SafeWrites.next_work` waits for it on the call's stop context -- bounded by the
deadline, ended by a halt, on the injected clock -- before handing out the confirming read.
An item is reported once, when its fate is final; after a stop, items still being settled
are reported in doubt.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from ...clock import Clock
from ...errors import BitrixError, Stopped
from ...protocol.batch import Command, CommandResult
from ...run.engine import may_have_executed
from ...run.stop import Stop
from ...run.work import Work
from ..bulk import BulkSource, Outcome, Status
from .keys import KeySpec
from .lookup import Query
from .readback import ReadBack
from .settle import Doubt
from .table import MAX_RESENDS, Treatment, is_not_found, treatment

__all__ = ["SafeWrites"]

logger = logging.getLogger("bitrix_fast")

#: Sends of one keyed add at most (the first and up to four after confirmed absences).
MAX_SENDS = 5


class SafeWrites:
    """The items of one bulk call, with doubts resolved (see the module docstring).

    ``spec``: the key of a keyed add (None: no key). ``unwrap`` shapes a result for the
    caller (a keyed add's result is its ID, unshaped). ``settle_wait``: seconds after an
    add was sent before its absence can be trusted. ``batchable`` says whether a batch
    command can carry an item's parameters. With ``keep`` every outcome is kept in
    :attr:`outcomes`. ``busy_elsewhere`` says another source of the same run has work in
    flight (an upsert's updates): waiting for the cut is left until it has none."""

    def __init__(self, inner: BulkSource, *, stop: Stop, clock: Clock, settle_wait: float,
                 batch_size: int, batchable: Callable[[Mapping[str, Any]], bool],
                 spec: Optional[KeySpec] = None,
                 unwrap: Callable[[Any], Any] = lambda result: result,
                 keep: bool = False,
                 busy_elsewhere: Callable[[], bool] = lambda: False) -> None:
        self._inner = inner
        self.method = inner.method
        self.total = inner.total
        self._stop = stop
        self._clock = clock
        self._batch_size = batch_size
        self._batchable = batchable
        self._spec = spec
        self._unwrap = unwrap
        self._readback = (ReadBack(spec, inner.method, settle_wait=settle_wait,
                                   max_sends=MAX_SENDS) if spec is not None else None)
        self._resends: Deque[Tuple[int, Mapping[str, Any]]] = deque()
        #: items sent again after a doubt: the error that hid their fate, sends so far
        self._doubted: Dict[int, Tuple[BaseException, int]] = {}
        self._inner_out: Dict[int, Work] = {}
        self._own: Dict[int, Tuple[str, Any]] = {}   # id(work) -> ("read", queries) / ("resend", items)
        self._sent_at: Dict[int, float] = {}
        self._ready: List[Outcome] = []
        self._busy_elsewhere = busy_elsewhere
        self.outcomes: Optional[List[Outcome]] = [] if keep else None
        self.delivered = 0
        stop.progress = lambda: f"{self.delivered:,} items answered"

    # -- what BulkCall reads ------------------------------------------------------------

    @property
    def raise_at_end(self) -> Optional[BaseException]:
        return self._inner.raise_at_end

    @raise_at_end.setter
    def raise_at_end(self, error: Optional[BaseException]) -> None:
        self._inner.raise_at_end = error

    # -- the Source protocol -------------------------------------------------------------

    @property
    def done(self) -> bool:
        return (self._inner.done and not self._inner_out and not self._own
                and not self._resends and not self._ready
                and (self._readback is None or self._readback.idle))

    @property
    def busy(self) -> bool:
        """Some of this call's work is in flight."""
        return bool(self._inner_out or self._own)

    def owns(self, work: Work) -> bool:
        """Whether ``work`` was handed out by this source."""
        return id(work) in self._inner_out or id(work) in self._own

    def next_work(self) -> Optional[Work]:
        if self._stop.halted:
            return None
        self._admit_due()
        work = self._own_work(full_only=True)
        if work is not None:
            return work
        work = self._inner.next_work()
        if work is not None:
            self._inner_out[id(work)] = work
            return work
        work = self._own_work(full_only=False)
        if work is not None or self.busy or self._busy_elsewhere():
            return work
        # Nothing in flight and nothing to send: only adds waiting for the cut are left.
        readback = self._readback
        while readback is not None and readback.waiting_for_cut and work is None:
            due = readback.next_due()
            try:
                self._stop.sleep(max(0.001, (due or 0.0) - self._clock.now()))
            except Stopped as error:
                # The deadline (or a halt, or a cancel) came first: what waits stays in doubt.
                self._stop.halt(error)
                return None
            self._admit_due()
            work = self._own_work(full_only=False)
        return work

    def mark(self) -> Any:
        return None

    def ready(self) -> List[Outcome]:
        out = self._route_all(self._inner.ready(), None)
        out.extend(self._ready)
        self._ready = []
        return self._keep(out)

    def before_send(self, work: Work) -> None:
        if id(work) in self._inner_out:
            self._inner.before_send(work)
        if not work.read_only:
            # Each attempt of a write is recorded: the last one is what may have run.
            self._sent_at[id(work)] = self._clock.now()

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Outcome]:
        own = self._own.pop(id(work), None)
        if own is None:
            self._inner_out.pop(id(work), None)
            return self._done(work, self._route_all(self._inner.feed(work, results), work))
        kind, payload = own
        if kind == "read":
            return self._done(work, self._read(payload, results))
        out = [self._resent(index, params, results[n] if n < len(results) else None, work)
               for n, (index, params) in enumerate(payload)]
        return self._done(work, [o for o in out if o is not None])

    def failed(self, work: Work, error: BaseException) -> List[Outcome]:
        own = self._own.pop(id(work), None)
        if own is None:
            self._inner_out.pop(id(work), None)
            return self._done(work, self._route_all(self._inner.failed(work, error), work))
        kind, payload = own
        if kind == "read":
            return self._done(work, self._unsettled(payload))
        out: List[Outcome] = []
        for index, params in payload:
            if isinstance(error, Stopped) or may_have_executed(error):
                out.extend(self._route(Outcome(index, Status.IN_DOUBT, error=error), params,
                                       work))
            else:
                self._doubted.pop(index, None)
                out.append(Outcome(index, Status.ERROR, error=error))
        return self._done(work, out)

    def lost(self, work: Work, error: BaseException) -> List[Outcome]:
        own = self._own.pop(id(work), None)
        if own is None:
            self._inner_out.pop(id(work), None)
            return self._done(work, self._route_all(self._inner.lost(work, error), work))
        kind, payload = own
        if kind == "read":
            return self._done(work, self._unsettled(payload))
        return self._done(work, [self._final_doubt(index, error) for index, _ in payload])

    def leftovers(self, reason: BaseException) -> List[Outcome]:
        out = self._route_all(self._inner.leftovers(reason), None)
        out.extend(self._pending_doubts(reason))
        out.extend(self._ready)
        self._ready = []
        return self._keep(out)

    def unresolved(self, reason: BaseException) -> List[Outcome]:
        """After a stop that left the run early: every item handed out and not answered, and
        every doubt still being settled, as in doubt (or not sent, if it never left)."""
        out = self._route_all(self._inner.unresolved(reason), None)
        for kind, payload in self._own.values():
            if kind == "read":
                out.extend(self._unsettled(payload))
            else:
                out.extend(self._final_doubt(index, reason) for index, _ in payload)
        self._own.clear()
        self._inner_out.clear()
        out.extend(self._pending_doubts(reason))
        return self._keep(out)

    # -- routing the bulk source's outcomes -------------------------------------------------

    def _route_all(self, outcomes: List[Outcome], work: Optional[Work]) -> List[Outcome]:
        params = {} if work is None else _params_by_index(work)
        out: List[Outcome] = []
        for outcome in outcomes:
            out.extend(self._route(outcome, params.get(outcome.index), work))
        return out

    def _route(self, outcome: Outcome, params: Optional[Mapping[str, Any]],
               work: Optional[Work]) -> List[Outcome]:
        """What the caller gets for one outcome now (nothing while it is being settled)."""
        index = outcome.index
        if outcome.status is Status.RESULT:
            self._doubted.pop(index, None)
            return [self._result(index, outcome.result)]
        if outcome.status is not Status.IN_DOUBT:
            if index in self._doubted and outcome.status is Status.NOT_SENT:
                return [self._final_doubt(index, outcome.error)]
            self._doubted.pop(index, None)
            return [outcome]
        error = outcome.error or BitrixError(f"{self.method}: item {index}: fate unknown")
        how = (treatment(self.method, params, keyed=self._spec is not None)
               if params is not None and work is not None and self._stop.halted is False
               else Treatment.IN_DOUBT)
        earlier, sends = self._doubted.get(index, (error, 0))
        if params is not None and how in (Treatment.RESEND, Treatment.DELETE):
            if sends >= MAX_RESENDS:
                return [self._final_doubt(index, error)]
            self._doubted[index] = (earlier, sends + 1)
            self._resends.append((index, params))
            return []
        if params is not None and how is Treatment.SETTLE and self._spec is not None:
            spec = self._spec
            self._doubted.pop(index, None)
            assert self._readback is not None
            self._readback.doubt(Doubt(index, spec.scope(params), spec.value(params, ""),
                                       self._sent(work), error, sends=sends + 1,
                                       params=params))
            return []
        return [self._final_doubt(index, error)]

    def _result(self, index: int, raw: Any) -> Outcome:
        if self._spec is not None:
            ident = self._spec.record_id(raw)
            return Outcome(index, Status.RESULT, result=raw if ident is None else ident)
        return Outcome(index, Status.RESULT, result=self._unwrap(raw))

    def _final_doubt(self, index: int, error: Optional[BaseException]) -> Outcome:
        earlier, _ = self._doubted.pop(index, (error, 0))
        return Outcome(index, Status.IN_DOUBT, error=earlier or error)

    def _sent(self, work: Optional[Work]) -> float:
        sent = self._sent_at.get(id(work)) if work is not None else None
        return self._clock.now() if sent is None else sent

    # -- resends ------------------------------------------------------------------------------

    def _resent(self, index: int, params: Mapping[str, Any], result: Optional[CommandResult],
                work: Work) -> Optional[Outcome]:
        if result is not None and result.ok:
            self._doubted.pop(index, None)
            return self._result(index, result.result)
        if result is not None and result.error is not None and not result.in_doubt:
            if isinstance(result.error, Stopped) or not result.executed:
                return self._final_doubt(index, result.error)
            how = treatment(self.method, params, keyed=self._spec is not None)
            if how is Treatment.DELETE and is_not_found(result.error):
                # The first attempt ran: the record it deleted is not there any more.
                self._doubted.pop(index, None)
                return Outcome(index, Status.RESULT, result=self._unwrap(True))
            self._doubted.pop(index, None)
            return Outcome(index, Status.ERROR, error=result.error)
        error = result.error if result is not None else None
        routed = self._route(Outcome(index, Status.IN_DOUBT, error=error), params, work)
        return routed[0] if routed else None

    def _own_work(self, *, full_only: bool) -> Optional[Work]:
        """A read-back or resend batch: a full one at any time, a part of one only once
        nothing else of the call is in flight -- the doubts of the last batches then go
        together, in a request or two."""
        size = self._batch_size
        readback = self._readback
        full_only = full_only or self.busy
        if readback is not None and readback.waiting and (readback.waiting >= size
                                                          or not full_only):
            commands, queries = readback.commands(size)
            work = Work(commands, read_only=True)
            self._own[id(work)] = ("read", queries)
            return work
        if self._resends and (len(self._resends) >= size or not full_only):
            first = self._resends.popleft()
            items = [first]
            single = not self._batchable(first[1])
            while not single and self._resends and len(items) < size \
                    and self._batchable(self._resends[0][1]):
                items.append(self._resends.popleft())
            work = Work([Command(f"i{index}", self.method, params) for index, params in items],
                        single=single, read_only=False)
            self._own[id(work)] = ("resend", items)
            return work
        return None

    # -- settling -------------------------------------------------------------------------------

    def _admit_due(self) -> None:
        if self._readback is not None:
            self._readback.admit(self._clock.now())

    def _read(self, queries: List[Query], results: Sequence[CommandResult]) -> List[Outcome]:
        assert self._readback is not None
        out, absent = self._readback.answer(queries, results)
        for doubt in absent:  # certainly never ran: sent again
            self._doubted[doubt.index] = (doubt.error, doubt.sends)
            self._resends.append((doubt.index, doubt.params))
        return out

    def _unsettled(self, queries: List[Query]) -> List[Outcome]:
        """Read-backs that failed for good: their adds stay in doubt, with what hid them."""
        assert self._readback is not None
        return self._readback.fail(queries)

    def _pending_doubts(self, reason: BaseException) -> List[Outcome]:
        out = self._readback.drain() if self._readback is not None else []
        while self._resends:
            index, _ = self._resends.popleft()
            out.append(self._final_doubt(index, reason))
        return out

    def _done(self, work: Work, outcomes: List[Outcome]) -> List[Outcome]:
        """A work is resolved: its send time is forgotten, its outcomes kept."""
        self._sent_at.pop(id(work), None)
        return self._keep(outcomes)

    def _keep(self, outcomes: List[Outcome]) -> List[Outcome]:
        if self.outcomes is not None:
            self.outcomes.extend(outcomes)
        self.delivered += len(outcomes)
        return outcomes


def _params_by_index(work: Work) -> Dict[int, Mapping[str, Any]]:
    """The parameters of each item a work carries (labels ``i<index>``)."""
    out: Dict[int, Mapping[str, Any]] = {}
    for command in work.commands:
        if command.label.startswith("i") and command.label[1:].isdigit():
            out[int(command.label[1:])] = command.params
    return out
