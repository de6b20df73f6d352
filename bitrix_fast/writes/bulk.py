"""Bulk calls: one command per item, 50 per batch, batches in parallel, and one
:class:`Outcome` per item.

:class:`BulkSource` is the sans-I/O part the scheduler drives: it reads the items lazily,
checks each, packs them into batches, and turns what became of each request into outcomes.
:class:`BulkCall` is what :meth:`Bitrix.iter_call <bitrix_fast.Bitrix.iter_call>` returns: the
outcomes as an iterator, with ``stop()`` and ``close()``. Two rules, whatever happens:

* **Nothing sent disappears.** Every item the call read is reported exactly once: ``RESULT``,
  ``ERROR``, ``IN_DOUBT`` (its request may have run) or ``NOT_SENT`` (it provably never left
  this machine, so sending it again cannot duplicate it).
* **Stopping is safe.** After ``stop()``, ``close()``, an authentication error, a failing
  ``on_send`` hook or a failing input iterator, nothing more is sent; the requests already in
  flight are waited for (at most ``stop_wait`` seconds, after which what still runs is in
  doubt), their outcomes are delivered, and every item never sent -- those already read and the
  rest of the input -- comes out as ``NOT_SENT``.

Ctrl+C: the library installs no signal handler. A Ctrl+C that lands while the call waits for
replies stops it like ``stop()`` with a short grace, then ``KeyboardInterrupt`` is raised once
everything is reported; ``call(method, items)`` raises :class:`Interrupted`, a
``KeyboardInterrupt`` carrying every item's fate. A program that wants the first Ctrl+C to
only *ask* for a stop (as ``bitrix-fast call`` does) installs its own handler calling
``stop()``.

The first request goes out alone, carrying one item: if the portal refuses the credentials,
one item is refused rather than a whole burst of batches, and on a portal whose batches take
seconds the rest follows after one command's time, not a batch's.
"""
from __future__ import annotations

import enum
import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import (Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional,
                    Protocol, Sequence, Set, Sized, Tuple)

from ..errors import AuthError, BatchError, BitrixError, Stopped, with_item
from ..protocol.batch import Command, CommandResult
from ..run.engine import may_have_executed
from ..run.stop import Stop
from ..run.work import Delivery, Work

logger = logging.getLogger("bitrix_fast")


class Status(str, enum.Enum):
    """What became of one item."""

    #: the portal ran it; ``Outcome.result`` holds its result
    RESULT = "result"
    #: the portal refused it (or it kept failing); ``Outcome.error`` says why
    ERROR = "error"
    #: its request may or may not have run; check before sending it again
    IN_DOUBT = "in_doubt"
    #: it never left this machine (the call stopped first); safe to send again
    NOT_SENT = "not_sent"


@dataclass(frozen=True)
class Outcome:
    """One item's fate: ``index`` is its position in the input (from 0); ``status`` says which
    of ``result`` (for RESULT) or ``error`` (ERROR: the error; IN_DOUBT: what hid the fate;
    NOT_SENT: why the call stopped) applies."""

    index: int
    status: Status
    result: Any = None
    error: Optional[BaseException] = None

    @property
    def ok(self) -> bool:
        return self.status is Status.RESULT


class Interrupted(KeyboardInterrupt):
    """Ctrl+C ended ``call(method, [items])``: a ``KeyboardInterrupt`` that still carries
    everything known, as :class:`~bitrix_fast.errors.BatchError` would (``results``,
    ``errors``, ``in_doubt``, ``not_sent``, keyed by input position)."""

    def __init__(self, report: BatchError) -> None:
        self.report = report
        self.results = report.results
        self.errors = report.errors
        self.in_doubt = report.in_doubt
        self.not_sent = report.not_sent
        super().__init__(f"interrupted: {report}")


@dataclass(frozen=True)
class Chunk:
    """Items that travel together: one batch, or one item alone as a JSON call (``single``)
    because a batch command cannot carry its parameters."""

    indexes: Tuple[int, ...]
    items: Tuple[Mapping[str, Any], ...]
    single: bool = False


class BulkSource:
    """The items of one bulk call, as work for the scheduler (see the module docstring).

    ``check`` validates one item (raising TypeError / ValueError) and returns the parameters to
    send; ``batchable`` says whether a batch command can carry them; ``unwrap`` turns a raw
    result into the caller's; ``on_send`` is called on the worker thread with a chunk's
    indexes right before it is sent (a journal's write-ahead record; if it raises, the chunk is
    not sent, the call stops and the error is raised at the end); ``stop_wait`` is the grace
    the call's own stops (an auth error, a failing hook or input) give replies on the wire.
    With ``keep``, every outcome is also kept in :attr:`outcomes` (for ``call(items)``).
    """

    def __init__(self, method: str, items: Iterable[Any], stop: Stop, *, read_only: bool,
                 batch_size: int, check: Callable[[Any], Mapping[str, Any]],
                 batchable: Callable[[Mapping[str, Any]], bool],
                 unwrap: Callable[[Any], Any] = lambda result: result,
                 on_send: Optional[Callable[[Tuple[int, ...]], None]] = None,
                 stop_wait: float = 0.0, keep: bool = False) -> None:
        self.method = method
        self._items: Iterator[Any] = iter(items)
        self.total: Optional[int] = len(items) if isinstance(items, Sized) else None
        self._stop = stop
        self._read_only = read_only
        self._batch_size = batch_size
        self._check = check
        self._batchable = batchable
        self._unwrap = unwrap
        self._on_send = on_send
        self._stop_wait = stop_wait
        self._next_index = 0
        self._input_done = False
        self._singles: Deque[Chunk] = deque()
        self._bad: List[Outcome] = []
        self._chunks: Dict[int, Chunk] = {}      # id(work) -> its chunk, until resolved
        self._sent: Set[int] = set()             # id(work) of chunks that went on the wire
        self._lock = threading.Lock()
        self._probing = True
        self._probe_out = False
        #: an error to raise once every outcome is out (a failed hook or input)
        self.raise_at_end: Optional[BaseException] = None
        self.outcomes: Optional[List[Outcome]] = [] if keep else None
        self.delivered = 0
        stop.progress = lambda: f"{self.delivered:,} items answered"

    # -- the Source protocol -------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._input_done and not self._singles and not self._chunks

    def next_work(self) -> Optional[Work]:
        if self._probing and self._probe_out:
            return None  # the first request goes alone: wait for it
        chunk = self._next_chunk(1 if self._probing else self._batch_size)
        if chunk is None:
            return None
        # Labelled by the item's position: a reply names the item, not its place in a batch.
        work = Work(commands=[Command(f"i{index}", self.method, params)
                              for index, params in zip(chunk.indexes, chunk.items)],
                    single=chunk.single, read_only=self._read_only)
        self._chunks[id(work)] = chunk
        if self._probing:
            self._probe_out = True
        return work

    def mark(self) -> Any:
        return None

    def ready(self) -> List[Outcome]:
        bad, self._bad = self._bad, []
        return self._keep(bad)

    def before_send(self, work: Work) -> None:
        chunk = self._chunks[id(work)]
        if self._on_send is not None:
            try:
                self._on_send(chunk.indexes)
            except Exception as error:  # e.g. the journal's disk is full: send nothing
                if self.raise_at_end is None:
                    self.raise_at_end = error
                self._stop.halt(error, grace=self._stop_wait)
                raise Stopped(f"{self.method}: not sent: {error}") from None
        with self._lock:
            self._sent.add(id(work))

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Outcome]:
        chunk = self._resolve(work)
        self._probing = False
        out = []
        for position, index in enumerate(chunk.indexes):
            result = results[position] if position < len(results) else None
            out.append(self._outcome(index, result))
            if result is not None and isinstance(result.error, AuthError):
                # The credentials are refused: every other item would be refused too.
                self._stop.halt(result.error, grace=self._stop_wait)
        return self._keep(out)

    def failed(self, work: Work, error: BaseException) -> List[Outcome]:
        chunk = self._resolve(work)
        self._probing = False
        if isinstance(error, Stopped):
            return self._keep([Outcome(i, Status.NOT_SENT, error=self._why(error))
                               for i in chunk.indexes])
        if not chunk.single:
            # Not a failure the engine reports per command: we cannot tell what ran.
            self._stop.halt(error, grace=self._stop_wait)
        if isinstance(error, AuthError):
            self._stop.halt(error, grace=self._stop_wait)
        doubt = not self._read_only and may_have_executed(error)
        status = Status.IN_DOUBT if doubt else Status.ERROR
        return self._keep([Outcome(i, status, error=_named(error, i, self.method))
                           for i in chunk.indexes])

    def lost(self, work: Work, error: BaseException) -> List[Outcome]:
        """Still running when waiting ended. If it never got as far as the wire, the halted
        stop keeps it home for good: not sent. Else its fate is unknown."""
        with self._lock:
            on_wire = id(work) in self._sent
        chunk = self._resolve(work)
        if not on_wire:
            why = self._why(self._stop.stopped_error())
            return self._keep([Outcome(i, Status.NOT_SENT, error=why) for i in chunk.indexes])
        status = Status.ERROR if self._read_only else Status.IN_DOUBT
        return self._keep([Outcome(i, status, error=error) for i in chunk.indexes])

    def leftovers(self, reason: BaseException) -> List[Outcome]:
        indexes: List[int] = []
        while self._singles:
            indexes.extend(self._singles.popleft().indexes)
        while self._pull() is not None:
            indexes.append(self._next_index - 1)
        out = self.ready()
        why = self._why(reason)
        out.extend(self._keep([Outcome(i, Status.NOT_SENT, error=why) for i in indexes]))
        return out

    # -- what is known at any moment (for call(items) after a Ctrl+C) ------------------------

    def unresolved(self, reason: BaseException) -> List[Outcome]:
        """Outcomes for the work handed out and not yet resolved: in doubt if it went on the
        wire (and writes), not sent if it never did."""
        out: List[Outcome] = []
        with self._lock:
            pending = list(self._chunks.items())
            sent = set(self._sent)
        for key, chunk in pending:
            on_wire = key in sent
            status = (Status.NOT_SENT if not on_wire else
                      Status.ERROR if self._read_only else Status.IN_DOUBT)
            out.extend(Outcome(i, status, error=reason) for i in chunk.indexes)
        self._chunks.clear()
        return self._keep(out)

    # -- inside ---------------------------------------------------------------------------

    def _why(self, stopped: BaseException) -> BaseException:
        """What a NOT_SENT item carries: why the call stopped -- the error that stopped it
        (an AuthError, say) when there is one, else the Stopped that kept it home."""
        reason = self._stop.reason
        if isinstance(reason, Exception) and not isinstance(reason, Stopped):
            return reason
        return stopped

    def _keep(self, outcomes: List[Outcome]) -> List[Outcome]:
        if self.outcomes is not None:
            self.outcomes.extend(outcomes)
        self.delivered += len(outcomes)
        return outcomes

    def _resolve(self, work: Work) -> Chunk:
        with self._lock:
            self._sent.discard(id(work))
        return self._chunks.pop(id(work))

    def _outcome(self, index: int, result: Optional[CommandResult]) -> Outcome:
        if result is None:
            error: BaseException = BitrixError(f"{self.method}: item {index}: no result "
                                               f"came back")
            return Outcome(index, Status.ERROR if self._read_only else Status.IN_DOUBT,
                           error=error)
        if result.ok:
            return Outcome(index, Status.RESULT, result=self._unwrap(result.result))
        if result.in_doubt:
            return Outcome(index, Status.IN_DOUBT, error=_named(result.error, index,
                                                                self.method))
        if result.error is None:  # skipped by the server and not resent
            return Outcome(index, Status.NOT_SENT, error=self._why(self._stop.stopped_error()))
        if isinstance(result.error, Stopped):
            return Outcome(index, Status.NOT_SENT, error=self._why(result.error))
        return Outcome(index, Status.ERROR, error=_named(result.error, index, self.method))

    def _next_chunk(self, size: int) -> Optional[Chunk]:
        indexes: List[int] = []
        params: List[Mapping[str, Any]] = []
        while (len(params) < size and not self._singles
               and len(self._bad) < self._batch_size and not self._stop.halted):
            pulled = self._pull()
            if pulled is None:
                break
            index, item = pulled
            try:
                checked = self._check(item)
            except (TypeError, ValueError) as error:
                self._bad.append(Outcome(index, Status.ERROR,
                                         error=_bad_item(error, index, self.method)))
                continue
            if self._batchable(checked):
                indexes.append(index)
                params.append(checked)
            else:
                self._singles.append(Chunk((index,), (checked,), single=True))
        if params:
            return Chunk(tuple(indexes), tuple(params))
        if self._singles:
            return self._singles.popleft()
        return None

    def _pull(self) -> Optional[Tuple[int, Any]]:
        if self._input_done:
            return None
        try:
            item = next(self._items)
        except StopIteration:
            self._input_done = True
            return None
        except Exception as error:  # the caller's iterator failed: stop, report, re-raise
            self._input_done = True
            if self.raise_at_end is None:
                self.raise_at_end = error
            self._stop.halt(Stopped(f"{self.method}: the items could not be read on: "
                                    f"{error}"), grace=self._stop_wait)
            return None
        index = self._next_index
        self._next_index += 1
        return index, item


class Reporting(Protocol):
    """What a :class:`BulkCall` reads of its source: a :class:`BulkSource`, or a source
    around one (:mod:`bitrix_fast.writes.safe`)."""

    method: str
    raise_at_end: Optional[BaseException]


class BulkCall(Iterator[Outcome]):
    """An iterator of :class:`Outcome`, one per item, in the order batches return (see the
    module docstring). Also a context manager: leaving the block closes the call; leaving it
    by Ctrl+C gives replies on the wire ``INTERRUPT_GRACE`` seconds, not ``stop_wait``."""

    #: Seconds replies on the wire get after a Ctrl+C: the process ends within half a second.
    INTERRUPT_GRACE = 0.2

    def __init__(self, source: Reporting, chunks: Iterator[Delivery[Outcome]], stop: Stop, *,
                 stop_wait: float, on_end: Callable[[], None] = lambda: None) -> None:
        self.method = source.method
        self._source = source
        self._chunks = chunks
        self._stop = stop
        self._stop_wait = stop_wait
        self._on_end = on_end
        self._ready: Deque[Outcome] = deque()
        self._finished = False

    def stop(self, reason: Optional[BaseException] = None) -> None:
        """Send nothing more; the iteration goes on to deliver the outcomes of what is in
        flight (for at most ``stop_wait`` seconds) and NOT_SENT for the rest, then ends. Safe
        from any thread or a signal handler."""
        self._stop.halt(reason or Stopped(f"{self.method}: the call was stopped before this "
                                          f"item was sent"), grace=self._stop_wait)

    @property
    def stopped(self) -> bool:
        return self._stop.halted

    @property
    def buffered(self) -> int:
        """Outcomes ready to be yielded without waiting (0: the next one needs a reply)."""
        return len(self._ready)

    def close(self, grace: Optional[float] = None) -> None:
        """Stop, and wait (at most ``stop_wait`` seconds, or ``grace``) for the requests in
        flight. Their outcomes, and NOT_SENT for the rest, can still be read by iterating."""
        if not self._stop.halted:
            self._stop.halt(Stopped(f"{self.method}: the call was closed before this item "
                                    f"was sent"),
                            grace=self._stop_wait if grace is None else grace)
        elif grace is not None:
            self._stop.halt(None, grace=grace)
        try:
            for chunk in self._chunks:
                self._ready.extend(chunk.items)
        except KeyboardInterrupt:
            pass  # closing because of Ctrl+C: what is known is in _ready
        except BaseException:
            pass  # raised again by iterating, if anyone does
        finally:
            self._end()
        sent = sum(1 for o in self._ready if o.status is not Status.NOT_SENT)
        if sent:
            logger.warning("%s: closed with %d sent items whose outcome was not read",
                           self.method, sent)

    def __iter__(self) -> "BulkCall":
        return self

    def __next__(self) -> Outcome:
        while not self._ready:
            if self._finished:
                raise StopIteration
            try:
                self._ready.extend(next(self._chunks).items)
            except StopIteration:
                self._end()
                error, self._source.raise_at_end = self._source.raise_at_end, None
                if error is not None:
                    raise error from None
                raise
            except BaseException:
                self._end()
                raise
        return self._ready.popleft()

    def __enter__(self) -> "BulkCall":
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        interrupted = kind is not None and issubclass(kind, KeyboardInterrupt)
        self.close(grace=self.INTERRUPT_GRACE if interrupted else None)

    def __del__(self) -> None:
        # Abandoned without close(): send nothing more.
        try:
            self._stop.halt()
        except Exception:
            pass

    def _end(self) -> None:
        if not self._finished:
            self._finished = True
            self._on_end()


def _named(error: Optional[BaseException], index: int, method: str) -> BaseException:
    if error is None:
        return BitrixError(f"{method}: item {index}: no result came back")
    return with_item(error, index) if isinstance(error, BitrixError) else error


def _bad_item(error: Exception, index: int, method: str) -> Exception:
    text = str(error)
    if text.startswith(f"{method}: "):
        text = text[len(method) + 2:]
    return type(error)(f"{method}: item {index}: {text}")


def report(method: str, outcomes: Iterable[Outcome]) -> Tuple[Dict[int, Any], BatchError]:
    """Sort outcomes into ``{index: result}`` and a BatchError holding everything else (whose
    mappings are empty when all succeeded), each in input order."""
    results: Dict[int, Any] = {}
    errors: Dict[int, Any] = {}
    in_doubt: Dict[int, Any] = {}
    not_sent: Dict[int, Optional[BaseException]] = {}
    for outcome in outcomes:
        if outcome.status is Status.RESULT:
            results[outcome.index] = outcome.result
        elif outcome.status is Status.ERROR:
            errors[outcome.index] = outcome.error
        elif outcome.status is Status.IN_DOUBT:
            in_doubt[outcome.index] = outcome.error
        else:
            not_sent[outcome.index] = outcome.error
    ordered = dict(sorted(results.items()))
    return ordered, BatchError(method, results=ordered, errors=dict(sorted(errors.items())),
                               in_doubt=dict(sorted(in_doubt.items())),
                               not_sent=dict(sorted(not_sent.items())))
