"""Sources for plain calls: one call (``call(method, {params})``, ``call_batch``, ``raw``),
and the counted first pages of many parameter sets (``first_pages``).

They go through the scheduler like everything else, so one call stops the way a listing
does: a Ctrl+C or a deadline ends the wait at once and nothing more is sent.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple

from ..errors import BitrixError
from ..protocol.batch import Command, CommandResult
from .work import Work


class OneCall:
    """One request: the only command of one Work, sent as its own JSON call."""

    total: Optional[int] = 1

    def __init__(self, method: str, params: Mapping[str, Any], *, read_only: bool) -> None:
        self._work: Optional[Work] = Work([Command("c0000", method, params)], single=True,
                                          read_only=read_only)
        self._answered = False

    @property
    def done(self) -> bool:
        return self._answered

    def next_work(self) -> Optional[Work]:
        work, self._work = self._work, None
        return work

    def mark(self) -> Any:
        return None

    def ready(self) -> List[CommandResult]:
        return []

    def before_send(self, work: Work) -> None:
        pass

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[CommandResult]:
        self._answered = True
        return list(results)

    def failed(self, work: Work, error: BaseException) -> List[CommandResult]:
        self._answered = True
        raise error

    def lost(self, work: Work, error: BaseException) -> List[CommandResult]:
        # Only after a halt (Ctrl+C, a deadline): the scheduler raises its reason.
        self._answered = True
        return []

    def leftovers(self, reason: BaseException) -> List[CommandResult]:
        return []


class FirstPages:
    """The first page of one list method for each parameter set: counted commands, 50 per
    batch, batches in parallel. Outputs are ``(position, result)``; any failed command raises."""

    def __init__(self, method: str, params_list: Sequence[Mapping[str, Any]], *,
                 batch_size: int) -> None:
        self._method = method
        self._chunks = [list(range(start, min(start + batch_size, len(params_list))))
                        for start in range(0, len(params_list), batch_size)]
        self._params = params_list
        self._next = 0
        self._answered = 0
        self.total: Optional[int] = len(params_list)

    @property
    def done(self) -> bool:
        return self._answered == len(self._chunks)

    def next_work(self) -> Optional[Work]:
        if self._next == len(self._chunks):
            return None
        chunk = self._chunks[self._next]
        self._next += 1
        return Work([Command(f"c{n:04d}", self._method, {**self._params[i], "start": 0})
                     for n, i in enumerate(chunk)], read_only=True, tags=list(chunk))

    def mark(self) -> Any:
        return None

    def ready(self) -> List[Tuple[int, CommandResult]]:
        return []

    def before_send(self, work: Work) -> None:
        pass

    def feed(self, work: Work, results: Sequence[CommandResult]
             ) -> List[Tuple[int, CommandResult]]:
        self._answered += 1
        for result in results:
            if not result.ok:
                raise result.error or BitrixError(f"{self._method}: a page was not read")
        return list(zip(work.tags, results))

    def failed(self, work: Work, error: BaseException) -> List[Tuple[int, CommandResult]]:
        raise error

    def lost(self, work: Work, error: BaseException) -> List[Tuple[int, CommandResult]]:
        return []  # only after a halt: the scheduler raises its reason

    def leftovers(self, reason: BaseException) -> List[Tuple[int, CommandResult]]:
        return []
