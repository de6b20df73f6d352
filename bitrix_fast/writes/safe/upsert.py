"""Upsert: find each item's record by its key, update it if it differs, add it if it is not
there -- so a cron job that pushes the same records every night can be run again.

:class:`UpsertSource` is one source for the scheduler, in two phases:

1. **Look up** every key (:class:`~.lookup.Lookup`: 50 keys per command, 50 commands per
   request), reading the fields the items set. Then each item is decided: no record -> add;
   one record -> unchanged when it already holds every field of the item (:mod:`.compare`),
   else update it; several records -> a :class:`~bitrix_fast.errors.KeyConflict`, and
   nothing is written for that item.
2. **Write**: the adds as keyed adds (settled when in doubt, :mod:`.source`), the updates
   as updates (resent when in doubt: they set absolute values), side by side.

Each item comes out once, as an :class:`~bitrix_fast.writes.bulk.Outcome` keyed by its
position: ``RESULT`` with ``{"id": ..., "action": "added" | "updated" | "unchanged"}``, or
``ERROR`` / ``IN_DOUBT`` / ``NOT_SENT`` as for any bulk call (an item whose lookup failed
was never written: not sent); :mod:`.result` sums them up. :func:`checked` holds an upsert's
arguments to these rules before anything is sent.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ...clock import Clock
from ...errors import KeyConflict, ListingError, Stopped
from ...protocol import methods
from ...protocol.batch import CommandResult
from ...protocol.params import find_key
from ...run.stop import Stop
from ...run.work import Work
from ..bulk import BulkSource, Outcome, Status
from .compare import unchanged
from .keys import KeySpec, Scope
from .lookup import Lookup, Query
from .result import ADDED, UNCHANGED, UPDATED, renumbered
from .source import SafeWrites

__all__ = ["UpsertSource", "checked"]


class UpsertSource:
    """An upsert's work (see the module docstring). ``items`` are field dicts, each holding
    ``spec.field``; ``params`` go with every add and update (``{"entityTypeId": 1036}`` for
    ``crm.item``) and place the records; ``check`` validates one add's or update's
    parameters; ``on_send`` gets the item positions of each write batch before it leaves."""

    def __init__(self, spec: KeySpec, items: Sequence[Mapping[str, Any]],
                 params: Mapping[str, Any], *, stop: Stop, clock: Clock, settle_wait: float,
                 batch_size: int, check: Callable[[str, Any], Mapping[str, Any]],
                 batchable: Callable[[Mapping[str, Any]], bool],
                 on_send: Optional[Callable[[Tuple[int, ...]], None]] = None,
                 stop_wait: float = 0.0, keep: bool = False) -> None:
        self.method = f"{spec.family}.upsert"
        self._spec = spec
        self._items = list(items)
        self._params = dict(params)
        self.total: Optional[int] = len(self._items)
        self._stop = stop
        self._clock = clock
        self._settle_wait = settle_wait
        self._batch_size = batch_size
        self._check = check
        self._batchable = batchable
        self._on_send = on_send
        self._stop_wait = stop_wait
        keys = spec.values(spec.add, [{**self._params, "fields": item} for item in self._items])
        self._scope: Scope = spec.scope(self._params)
        self._index = {key: position for position, key in enumerate(keys)}
        select = sorted({name for item in self._items for name in item})
        self._lookup = Lookup(spec, select)
        self._lookup.ask(self._scope, keys)
        self._reads: Dict[int, List[Query]] = {}
        self._adds: List[int] = []
        self._updates: List[Tuple[int, int]] = []   # (item position, record ID)
        self._undecided: Set[int] = set(range(len(self._items)))
        self._writes: List[Tuple[SafeWrites, Callable[[int, Any], Outcome]]] = []
        self._started = False
        self._raise: Optional[BaseException] = None
        self.outcomes: Optional[List[Outcome]] = [] if keep else None
        self.delivered = 0
        stop.progress = lambda: f"{self.delivered:,} items answered"

    # -- what BulkCall reads ------------------------------------------------------------

    @property
    def raise_at_end(self) -> Optional[BaseException]:
        for writes, _ in self._writes:
            if writes.raise_at_end is not None:
                return writes.raise_at_end
        return None

    @raise_at_end.setter
    def raise_at_end(self, error: Optional[BaseException]) -> None:
        for writes, _ in self._writes:
            writes.raise_at_end = error

    # -- the Source protocol -------------------------------------------------------------

    @property
    def done(self) -> bool:
        return (self._lookup.idle and not self._reads and self._started
                and all(writes.done for writes, _ in self._writes))

    def next_work(self) -> Optional[Work]:
        if self._stop.halted:
            return None
        if not self._lookup.idle or self._reads:
            return self._read_work()
        if not self._started:
            self._start_writes()
        for writes, _ in self._writes:
            work = writes.next_work()
            if work is not None:
                return work
        return None

    def mark(self) -> Any:
        return None

    def ready(self) -> List[Outcome]:
        out: List[Outcome] = []
        for writes, renumber in self._writes:
            out.extend(renumber(o.index, o) for o in writes.ready())
        return self._keep(out)

    def before_send(self, work: Work) -> None:
        for writes, _ in self._writes:
            if writes.owns(work):
                writes.before_send(work)

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Outcome]:
        queries = self._reads.pop(id(work), None)
        if queries is not None:
            return self._keep(self._looked_up(queries, results))
        return self._delegate(work, lambda w: w.feed(work, results))

    def failed(self, work: Work, error: BaseException) -> List[Outcome]:
        queries = self._reads.pop(id(work), None)
        if queries is not None:
            return self._keep(self._not_looked_up(queries, error))
        return self._delegate(work, lambda w: w.failed(work, error))

    def lost(self, work: Work, error: BaseException) -> List[Outcome]:
        queries = self._reads.pop(id(work), None)
        if queries is not None:
            return self._keep(self._not_looked_up(queries, error))
        return self._delegate(work, lambda w: w.lost(work, error))

    def leftovers(self, reason: BaseException) -> List[Outcome]:
        out: List[Outcome] = []
        for writes, renumber in self._writes:
            out.extend(renumber(o.index, o) for o in writes.leftovers(reason))
        out.extend(self._never_written(reason))
        return self._keep(out)

    def unresolved(self, reason: BaseException) -> List[Outcome]:
        """After a stop that left the run early: what was handed out and not answered."""
        out: List[Outcome] = []
        for queries in self._reads.values():
            out.extend(self._not_looked_up(queries, reason))
        self._reads.clear()
        for writes, renumber in self._writes:
            out.extend(renumber(o.index, o) for o in writes.unresolved(reason))
        return self._keep(out)

    # -- phase 1: look up ---------------------------------------------------------------

    def _read_work(self) -> Optional[Work]:
        queries: List[Query] = []
        while len(queries) < self._batch_size:
            query = self._lookup.next_query()
            if query is None:
                break
            queries.append(query)
        if not queries:
            return None
        work = Work([self._lookup.command(q, f"q{n}") for n, q in enumerate(queries)],
                    read_only=True)
        self._reads[id(work)] = queries
        return work

    def _looked_up(self, queries: List[Query], results: Sequence[CommandResult]
                   ) -> List[Outcome]:
        out: List[Outcome] = []
        for query, result in zip(queries, results):
            if not result.ok:
                out.extend(self._not_looked_up([query], result.error))
                continue
            try:
                found = self._lookup.answer(query, result.result)
            except ListingError as error:
                out.extend(self._not_looked_up([query], error))
                continue
            for _, key, rows in found:
                outcome = self._decide(self._index[key], key, rows)
                if outcome is not None:
                    out.append(outcome)
        return out

    def _not_looked_up(self, queries: List[Query], error: Optional[BaseException]
                       ) -> List[Outcome]:
        """Lookups that failed for good: their items were never written."""
        out = []
        for query in queries:
            for _, key in self._lookup.fail(query):
                index = self._index[key]
                self._undecided.discard(index)
                out.append(Outcome(index, Status.NOT_SENT, error=error))
        return out

    def _decide(self, index: int, key: str, rows: List[Dict[str, Any]]) -> Optional[Outcome]:
        self._undecided.discard(index)
        spec = self._spec
        if not rows:
            self._adds.append(index)
            return None
        ids = [int(row[spec.id_field]) for row in rows]
        if len(rows) > 1:
            return Outcome(index, Status.ERROR,
                           error=KeyConflict(self.method, spec.field, key, ids, item=index))
        if unchanged(self._items[index], rows[0]):
            return Outcome(index, Status.RESULT, result={"id": ids[0], "action": UNCHANGED})
        self._updates.append((index, ids[0]))
        return None

    def _never_written(self, reason: BaseException) -> List[Outcome]:
        """Items still undecided (or decided but their writes never started) after a stop."""
        waiting = set(self._undecided)
        if not self._started:
            waiting.update(self._adds)
            waiting.update(index for index, _ in self._updates)
            self._adds, self._updates = [], []
        self._undecided.clear()
        why = reason if isinstance(reason, Stopped) else self._stop.stopped_error()
        return [Outcome(index, Status.NOT_SENT, error=why) for index in sorted(waiting)]

    # -- phase 2: write -----------------------------------------------------------------

    def _start_writes(self) -> None:
        self._started = True
        spec, params = self._spec, self._params
        adds = [{**params, "fields": self._items[index]} for index in self._adds]
        updates = [{**params, "id": ident, "fields": self._items[index]}
                   for index, ident in self._updates]
        add_positions = list(self._adds)
        update_positions = [index for index, _ in self._updates]
        update_ids = [ident for _, ident in self._updates]
        writes_updates = self._writes_for(spec.update, updates, update_positions, None,
                                          lambda: False)
        writes_adds = self._writes_for(spec.add, adds, add_positions, spec,
                                       lambda: writes_updates.busy)

        def added(j: int, outcome: Outcome) -> Outcome:
            return renumbered(outcome, add_positions[j], self.method, ADDED, outcome.result)

        def updated(j: int, outcome: Outcome) -> Outcome:
            return renumbered(outcome, update_positions[j], self.method, UPDATED,
                              update_ids[j])

        self._writes = [(writes_updates, updated), (writes_adds, added)]

    def _writes_for(self, method: str, items: List[Dict[str, Any]], positions: List[int],
                    spec: Optional[KeySpec], busy_elsewhere: Callable[[], bool]
                    ) -> SafeWrites:
        on_send = self._on_send

        def sending(indexes: Tuple[int, ...]) -> None:
            if on_send is not None:
                on_send(tuple(positions[j] for j in indexes))

        inner = BulkSource(method, items, self._stop, read_only=False,
                           batch_size=self._batch_size,
                           check=lambda item: self._check(method, item),
                           batchable=self._batchable, on_send=sending,
                           stop_wait=self._stop_wait)
        writes = SafeWrites(inner, stop=self._stop, clock=self._clock,
                            settle_wait=self._settle_wait, batch_size=self._batch_size,
                            batchable=self._batchable, spec=spec,
                            busy_elsewhere=busy_elsewhere)
        self._stop.progress = lambda: f"{self.delivered:,} items answered"
        return writes

    def _delegate(self, work: Work, step: Callable[[SafeWrites], List[Outcome]]
                  ) -> List[Outcome]:
        for writes, renumber in self._writes:
            if writes.owns(work):
                return self._keep([renumber(o.index, o) for o in step(writes)])
        return []

    def _keep(self, outcomes: List[Outcome]) -> List[Outcome]:
        if self.outcomes is not None:
            self.outcomes.extend(outcomes)
        self.delivered += len(outcomes)
        return outcomes




def checked(entity: Any, items: Any, key: Any, params: Optional[Mapping[str, Any]]
            ) -> Tuple[KeySpec, Dict[str, Any]]:
    """An upsert's key and base parameters, its arguments checked (TypeError / ValueError)
    before anything is sent; each item's key is checked when the source is built."""
    if not isinstance(entity, str):
        raise TypeError(f"upsert(): entity must be a method family such as 'crm.deal', "
                        f"not {type(entity).__name__}")
    family = methods.normalize(entity)
    spec = KeySpec.of(family, key)
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"{family}.upsert: params must be a dict")
    base = dict(params or {})
    if find_key(base, "fields") is not None or find_key(base, "id") is not None:
        raise ValueError(f"{family}.upsert: params must not hold 'fields' or 'id': they "
                         f"come from each item")
    if family == "crm.item" and find_key(base, "entityTypeId") is None:
        raise ValueError("crm.item.upsert: params must hold the entityTypeId")
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise TypeError(f"{family}.upsert: items must be a list of field dicts")
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise TypeError(f"{family}.upsert: item {index} must be a dict of fields")
    return spec, base
