"""Adds in doubt, read back by their keys: which lookups to send, and what each answer
decides (sans-I/O; the timing rules are :mod:`.settle`'s, the lookups :mod:`.lookup`'s).

:meth:`ReadBack.answer` turns a batch of lookup replies into outcomes for the adds that are
decided -- created (the result is the record's ID), a :class:`~bitrix_fast.errors.KeyConflict`,
or not created after every send -- and the adds to send again, certainly absent. A lookup
that fails for good, or contradicts itself (:class:`~bitrix_fast.errors.ListingError`),
leaves its adds in doubt, with the error that first hid their fate.
"""
from __future__ import annotations

import itertools
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...errors import BitrixError, KeyConflict, ListingError
from ...protocol.batch import Command, CommandResult
from ..bulk import Outcome, Status
from .keys import KeySpec
from .lookup import Lookup, Query
from .settle import Decision, Doubt, Settler

__all__ = ["ReadBack"]

logger = logging.getLogger("bitrix_fast")


class ReadBack:
    """The adds in doubt of one keyed call (see the module docstring)."""

    def __init__(self, spec: KeySpec, method: str, *, settle_wait: float,
                 max_sends: int) -> None:
        self.spec = spec
        self.method = method
        self._settler = Settler(settle_wait, max_sends=max_sends)
        self._lookup = Lookup(spec)
        self._labels = itertools.count()

    def doubt(self, doubt: Doubt) -> None:
        """An add is in doubt: read it back."""
        self._settler.doubt(doubt)

    def admit(self, now: float) -> None:
        """Ask for the adds whose read-back is due by ``now`` (at once, or past the cut)."""
        by_scope: Dict[Any, List[str]] = {}
        for doubt in self._settler.due(now):
            by_scope.setdefault(doubt.scope, []).append(doubt.key)
        for scope, keys in by_scope.items():
            self._lookup.ask(scope, keys)

    @property
    def waiting(self) -> int:
        """Lookups ready to be sent."""
        return self._lookup.waiting

    @property
    def idle(self) -> bool:
        """No add in doubt, nothing to send, nothing awaited."""
        return self._settler.empty and self._lookup.idle

    @property
    def waiting_for_cut(self) -> bool:
        return self._settler.waiting

    def next_due(self) -> Optional[float]:
        return self._settler.next_due()

    def commands(self, size: int) -> Tuple[List[Command], List[Query]]:
        """Up to ``size`` lookups as commands of one batch, and the queries they ask."""
        queries: List[Query] = []
        while len(queries) < size:
            query = self._lookup.next_query()
            if query is None:
                break
            queries.append(query)
        return ([self._lookup.command(q, f"q{next(self._labels)}") for q in queries],
                queries)

    def answer(self, queries: List[Query], results: Sequence[CommandResult]
               ) -> Tuple[List[Outcome], List[Doubt]]:
        """What the replies to ``queries`` decide: outcomes, and the adds to resend."""
        out: List[Outcome] = []
        resend: List[Doubt] = []
        for query, result in zip(queries, results):
            if not result.ok:
                out.extend(self.fail([query]))
                continue
            try:
                found = self._lookup.answer(query, result.result)
            except ListingError as error:
                logger.warning("%s: cannot settle adds in doubt: %s", self.method, error)
                out.extend(self.fail([query]))
                continue
            for scope, key, rows in found:
                outcome, again = self._decided(scope, key, rows)
                if outcome is not None:
                    out.append(outcome)
                if again is not None:
                    resend.append(again)
        return out, resend

    def fail(self, queries: List[Query]) -> List[Outcome]:
        """Lookups that failed for good: their adds stay in doubt."""
        out = []
        for query in queries:
            for scope, key in self._lookup.fail(query):
                doubt = self._settler.unread(scope, key)
                out.append(Outcome(doubt.index, Status.IN_DOUBT, error=doubt.error))
        return out

    def drain(self) -> List[Outcome]:
        """Every add not settled yet (the call stopped): in doubt."""
        return [Outcome(d.index, Status.IN_DOUBT, error=d.error)
                for d in self._settler.drain()]

    def _decided(self, scope: Any, key: str, rows: List[Dict[str, Any]]
                 ) -> Tuple[Optional[Outcome], Optional[Doubt]]:
        spec = self.spec
        ids = [int(row[spec.id_field]) for row in rows]
        decision, doubt = self._settler.decide(scope, key, ids)
        if decision is Decision.FOUND:
            return Outcome(doubt.index, Status.RESULT, result=ids[0]), None
        if decision is Decision.CONFLICT:
            return Outcome(doubt.index, Status.ERROR, error=KeyConflict(
                self.method, spec.field, key, ids, item=doubt.index)), None
        if decision is Decision.RESEND:
            return None, doubt
        if decision is Decision.GIVE_UP:
            return Outcome(doubt.index, Status.ERROR, error=BitrixError(
                f"{self.method}: item {doubt.index}: not created: sent {doubt.sends} times, "
                f"each time its fate was hidden ({doubt.error}), and each time it was "
                f"absent afterwards")), None
        return None, None  # WAIT: read again after the cut
