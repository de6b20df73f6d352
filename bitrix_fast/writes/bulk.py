"""Streaming bulk calls: one command per item, 50 per batch, batches in parallel, and one
:class:`Outcome` per item as each batch returns.

:class:`BulkCall` is what :meth:`Bitrix.iter_call <bitrix_fast.client.Bitrix.iter_call>`
returns. It reads its items lazily and keeps at most ``look_ahead`` batches submitted, so
memory does not grow with the input; every request goes through the engine's ``batch`` (limits,
retries, writes of unknown fate never resent). It owns no policy of its own beyond two rules:

* **Nothing sent disappears.** Every item the call read is reported exactly once: ``RESULT``,
  ``ERROR``, ``IN_DOUBT`` (its request may have run) or ``NOT_SENT`` (it provably never left
  this machine, so sending it again cannot duplicate it).
* **Stopping is safe.** After :meth:`BulkCall.stop`, :meth:`BulkCall.close`, Ctrl+C, an
  authentication error or a failing input iterator, nothing more is submitted; the requests
  already in flight are waited for (at most ``stop_wait`` seconds, after which what still
  runs is in doubt), their outcomes are delivered, and every item never sent -- those already
  read and the rest of the input -- comes out as ``NOT_SENT``. Only then does the iteration
  end, re-raising the interrupt (or the input's error) if there was one.

Ctrl+C: while the iteration is running in the main thread and SIGINT has Python's default
handler, a first Ctrl+C only asks the call to stop (so it never cuts the consumer's handling of
an outcome in half) and ``KeyboardInterrupt`` is raised once everything is reported; a second
Ctrl+C raises at once. This is what :func:`asyncio.run` does for its main task.

The first request goes out alone, carrying one item: if the portal refuses the credentials,
one item is refused rather than a whole burst of batches, and on a portal whose batches take
seconds the rest follows after one command's time, not a batch's.
"""
from __future__ import annotations

import enum
import logging
import signal
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from typing import (Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

from ..protocol.batch import CommandResult
from ..run.stop import Control
from ..errors import AuthError, BatchError, BitrixError, Cancelled, DeadlineExceeded, with_item

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


class Stopped(BitrixError):
    """The call was stopped (``stop()``, ``close()``, Ctrl+C) before this item's fate was
    known: it was never sent (NOT_SENT), or it was still running when waiting ended
    (IN_DOUBT). Raised by a batch that was about to be sent: nothing of it ran, and it is
    not tried again."""

    executed_maybe = False
    retryable = False


class _NotSent(Stopped):
    """Raised from the engine's ``before_send``: this batch never left the machine."""


class Interrupted(KeyboardInterrupt):
    """Ctrl+C ended ``call(method, [items])``: a ``KeyboardInterrupt`` that still carries
    everything known, as :class:`~bitrix_fast.errors.BatchError` would (``results``,
    ``errors``, ``in_doubt``, ``not_sent``, keyed by input position)."""

    def __init__(self, report: BatchError) -> None:
        self.report = report
        self.results = report.results
        self.errors = report.errors
        self.in_doubt = report.in_doubt
        self.not_sent = getattr(report, "not_sent", {})
        super().__init__(f"interrupted: {report}")


@dataclass(frozen=True)
class Chunk:
    """Items that travel together: one batch, or one item alone as a JSON call (``single``)
    because a batch command cannot carry its parameters."""

    indexes: Tuple[int, ...]
    items: Tuple[Mapping[str, Any], ...]
    single: bool = False


Run = Callable[[Chunk], Sequence[CommandResult]]

#: Seconds of one wait for replies before looking at the stop flag again.
_POLL = 0.5


class BulkCall(Iterator[Outcome]):
    """An iterator of :class:`Outcome`, one per item, in the order batches return (see the
    module docstring). Also a context manager: leaving the block closes the call.

    ``run`` sends one chunk through the engine and returns one CommandResult per item;
    ``check`` validates one item (raising TypeError / ValueError) and returns the parameters
    to send; ``batchable`` says whether a batch command can carry them; ``unwrap`` turns a
    raw result into the caller's (``{"item": {...}}`` -> ``{...}``); ``on_send`` is called in
    the worker thread with a chunk's indexes just before it is sent (a journal's write-ahead
    record; it must be thread-safe; if it raises, the chunk is not sent, the call stops and
    the error is raised at the end).
    """

    def __init__(
        self,
        method: str,
        items: Iterable[Any],
        run: Run,
        pool: Executor,
        *,
        read_only: bool,
        batch_size: int,
        look_ahead: int,
        stop_wait: float,
        check: Callable[[Any], Mapping[str, Any]],
        batchable: Callable[[Mapping[str, Any]], bool],
        unwrap: Callable[[Any], Any] = lambda result: result,
        progress: Optional[Callable[[], Any]] = None,
        on_send: Optional[Callable[[Tuple[int, ...]], None]] = None,
        clock: Callable[[], float] = time.monotonic,
        control: Optional[Control] = None,
    ) -> None:
        if look_ahead < 1:
            raise ValueError("look_ahead must be at least 1")
        self.method = method
        self._source = iter(items)
        self._run = run
        self._pool = pool
        self._read_only = read_only
        self._batch_size = batch_size
        self._look_ahead = look_ahead
        self._stop_wait = stop_wait
        self._check = check
        self._batchable = batchable
        self._unwrap = unwrap
        self._make_progress = progress
        self._progress: Any = None
        self._on_send = on_send
        self._clock = clock
        self._control = control
        self._delivered = 0
        if control is not None:
            control.progress = lambda: f"{self._delivered:,} items answered"

        self._next_index = 0
        self._input_done = False
        self._singles: Deque[Chunk] = deque()      # read, to be sent alone
        self._unsent: Deque[Chunk] = deque()       # read, never sent, not yet reported
        self._in_flight: Dict[Future, Chunk] = {}
        self._ready: Deque[Outcome] = deque()
        self._probing = True
        self._finished = False

        self._stopping = threading.Event()
        self._stop_reason: Optional[BaseException] = None
        self._stop_deadline: Optional[float] = None
        self._wakeup: Future = Future()
        self._interrupted = False
        self._raise_at_end: Optional[BaseException] = None
        self._previous_handler: Any = None
        self._handler_installed = False

    # -- public -----------------------------------------------------------------------------

    def stop(self, reason: Optional[BaseException] = None) -> None:
        """Send nothing more; the iteration goes on to deliver the outcomes of what is in
        flight and NOT_SENT for the rest, then ends. Safe from any thread or a signal handler."""
        if self._stop_reason is None:
            self._stop_reason = reason or Stopped(f"{self.method}: the call was stopped "
                                                  f"before this item was sent")
        self._stopping.set()
        if not self._wakeup.done():
            try:
                self._wakeup.set_result(None)
            except Exception:  # set by another thread in between: awake anyway
                pass

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    @property
    def buffered(self) -> int:
        """Outcomes ready to be yielded without waiting (0: the next one needs a reply)."""
        return len(self._ready)

    def close(self) -> None:
        """Stop, and wait (at most ``stop_wait`` seconds) for the requests in flight. Their
        outcomes, and NOT_SENT for the rest, can still be read by iterating."""
        self.stop()
        try:
            self._settle_stop()
            while self._in_flight:
                self._collect()
        finally:
            self._restore_handler()
            if self._progress is not None:
                self._progress.close()
                self._progress = None
            if self._ready:
                sent = sum(1 for o in self._ready if o.status is not Status.NOT_SENT)
                if sent:
                    logger.warning("%s: closed with %d sent items whose outcome was not read",
                                   self.method, sent)

    def __iter__(self) -> "BulkCall":
        return self

    def __next__(self) -> Outcome:
        self._install_handler()
        while True:
            if self._ready:
                self._delivered += 1
                return self._ready.popleft()
            if self._finished:
                self._end()
            try:
                self._advance()
            except KeyboardInterrupt:
                if self._interrupted or self._stopping.is_set():  # already stopping: the
                    self._restore_handler()                       # user insists
                    raise
                self._interrupted = True
                self.stop(Stopped(f"{self.method}: interrupted before this item was sent"))

    def __enter__(self) -> "BulkCall":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Abandoned without close(): send nothing more, and give SIGINT back.
        try:
            self._stopping.set()
            self._restore_handler()
        except Exception:
            pass

    # -- the loop ---------------------------------------------------------------------------

    def _advance(self) -> None:
        self._check_control()
        if self._stopping.is_set():
            self._settle_stop()
        else:
            self._submit()
            if self._ready:
                return
        if self._in_flight:
            self._collect()
        elif not self._stopping.is_set() or not self._report_unsent():
            # Nothing in flight and nothing left to send (the input is over), or nothing
            # left to report after a stop.
            self._finished = True

    def _submit(self) -> None:
        limit = 1 if self._probing else self._look_ahead
        while len(self._in_flight) < limit and not self._stopping.is_set():
            chunk = self._next_chunk()
            if chunk is None:
                return
            if self._stopping.is_set():  # stopped while the chunk was being read
                self._unsent.append(chunk)
                return
            try:
                future = self._pool.submit(self._task, chunk)
            except RuntimeError as error:  # the client was closed under us
                self._unsent.append(chunk)
                self.stop(error)
                return
            self._in_flight[future] = chunk
            if self._ready:
                return  # hand out bad items' errors before blocking on a reply

    def _task(self, chunk: Chunk) -> Optional[Sequence[CommandResult]]:
        # Runs in a worker thread. A chunk that starts after a stop is never sent.
        if self._stopping.is_set():
            return None
        try:
            return self._run(chunk, lambda: self._before_send(chunk))
        except _NotSent:
            return None

    def _before_send(self, chunk: Chunk) -> None:
        """Called by the engine right before the batch goes on the wire -- after the waits
        for a slot and a token, which may be long: a stop meanwhile sends nothing, and the
        journal records "sending" only for a request that really leaves."""
        if self._stopping.is_set():
            raise _NotSent(f"{self.method}: stopped before this batch was sent")
        if self._on_send is not None:
            try:
                self._on_send(chunk.indexes)
            except Exception as error:  # e.g. the journal's disk is full: send nothing
                if self._raise_at_end is None:
                    self._raise_at_end = error
                self.stop(error)
                raise _NotSent(f"{self.method}: not sent: {error}") from None
            if self._stopping.is_set():
                raise _NotSent(f"{self.method}: stopped before this batch was sent")

    def _collect(self) -> None:
        """Wait for a batch to return and turn it into outcomes (after a stop, at most until
        the stop's deadline)."""
        left = None
        if self._stop_deadline is not None:
            left = max(0.0, self._stop_deadline - self._clock())
        waiting: List[Future] = list(self._in_flight)
        if not self._stopping.is_set():
            waiting.append(self._wakeup)  # stop() ends the wait at once
        # Short waits in a loop: a stop() that lands while wait() installs its waiters
        # would otherwise go unnoticed until a reply arrives.
        done, _ = wait(waiting, timeout=_POLL if left is None else min(_POLL, left),
                       return_when=FIRST_COMPLETED)
        finished = [future for future in self._in_flight if future in done]
        if not finished:
            if left is not None and self._clock() >= self._stop_deadline:  # type: ignore
                self._give_up_waiting()
            return
        for future in finished:  # in submission order
            chunk = self._in_flight[future]
            outcomes = self._outcomes(future, chunk)
            # Outcomes first, then forget the future: an interrupt in between can only
            # repeat an outcome, never lose one.
            self._ready.extend(outcomes)
            self._in_flight.pop(future, None)
            self._probing = False
            if self._progress is not None:
                self._progress.update(len(chunk.indexes))

    def _give_up_waiting(self) -> None:
        """The stop's wait is over: what has not started is not sent, what runs is in doubt."""
        for future, chunk in list(self._in_flight.items()):
            if future.cancel():
                self._unsent.append(chunk)
            else:
                error = Stopped(f"{self.method}: still running {self._stop_wait:g} s after "
                                f"the call was stopped; it may have been executed")
                status = Status.ERROR if self._read_only else Status.IN_DOUBT
                self._ready.extend(Outcome(i, status, error=error) for i in chunk.indexes)
            self._in_flight.pop(future, None)

    def _check_control(self) -> None:
        """The call's deadline passed, or its async task was cancelled: stop, and raise that
        once every outcome is out."""
        if self._control is None or self._stopping.is_set():
            return
        try:
            self._control.check()
        except (DeadlineExceeded, Cancelled) as error:
            if self._raise_at_end is None:
                self._raise_at_end = error
            self.stop(error)

    def _settle_stop(self) -> None:
        """Once per stop: start the bounded wait and take back what has not started."""
        if self._stop_deadline is not None:
            return
        wait = self._stop_wait
        if isinstance(self._stop_reason, DeadlineExceeded):
            wait = 0.0  # no wait outlasts the deadline: what still runs is in doubt
        self._stop_deadline = self._clock() + wait
        for future, chunk in list(self._in_flight.items()):
            if future.cancel():
                self._unsent.append(chunk)
                self._in_flight.pop(future, None)

    def _outcomes(self, future: Future, chunk: Chunk) -> List[Outcome]:
        error = future.exception() if not future.cancelled() else None
        if future.cancelled() or (error is None and future.result() is None):
            return self._not_sent(chunk.indexes)
        if error is not None:
            # Not a failure the engine reports per command: we cannot tell what ran.
            self.stop(error)
            status = Status.ERROR if self._read_only else Status.IN_DOUBT
            return [Outcome(i, status, error=error) for i in chunk.indexes]
        results = list(future.result())
        out = []
        for position, index in enumerate(chunk.indexes):
            result = results[position] if position < len(results) else None
            out.append(self._outcome(index, result))
            if result is not None and isinstance(result.error, AuthError):
                # The credentials are refused: every other item would be refused too.
                self.stop(result.error)
        return out

    def _outcome(self, index: int, result: Optional[CommandResult]) -> Outcome:
        if result is None:
            error: BaseException = BitrixError(f"{self.method}: item {index}: no result "
                                               f"came back")
            status = Status.ERROR if self._read_only else Status.IN_DOUBT
            return Outcome(index, status, error=error)
        if result.ok:
            return Outcome(index, Status.RESULT, result=self._unwrap(result.result))
        if result.in_doubt:
            return Outcome(index, Status.IN_DOUBT, error=_named(result.error, index, self.method))
        if result.error is None:  # skipped by the server and not resent
            return Outcome(index, Status.NOT_SENT, error=self._stop_reason)
        if isinstance(result.error, (Stopped, DeadlineExceeded, Cancelled)):
            # stopped right before it would have been sent: it never left this machine
            return Outcome(index, Status.NOT_SENT, error=self._stop_reason or result.error)
        return Outcome(index, Status.ERROR, error=_named(result.error, index, self.method))

    def _not_sent(self, indexes: Iterable[int]) -> List[Outcome]:
        reason = self._stop_reason
        return [Outcome(i, Status.NOT_SENT, error=reason) for i in indexes]

    def _report_unsent(self) -> bool:
        """Queue NOT_SENT for the next unsent item(s); False when there are none left."""
        if self._unsent:
            self._ready.extend(self._not_sent(self._unsent.popleft().indexes))
            return True
        if self._singles:
            self._ready.extend(self._not_sent(self._singles.popleft().indexes))
            return True
        pulled = self._pull()
        if pulled is None:
            return False
        self._ready.extend(self._not_sent([pulled[0]]))
        return True

    def _end(self) -> None:
        self._restore_handler()
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        if self._interrupted:
            self._interrupted = False  # raised once
            raise KeyboardInterrupt
        error, self._raise_at_end = self._raise_at_end, None
        if error is not None:
            raise error
        raise StopIteration

    # -- reading the input --------------------------------------------------------------------

    def _next_chunk(self) -> Optional[Chunk]:
        indexes: List[int] = []
        params: List[Mapping[str, Any]] = []
        # The first request goes alone and carries one item: it proves the credentials
        # (a wrong webhook costs one request, not a burst) in the time of one command,
        # not of a whole batch -- which on a real portal takes seconds.
        size = 1 if self._probing and not self._in_flight else self._batch_size
        while (len(params) < size and not self._singles
               and len(self._ready) < self._batch_size and not self._stopping.is_set()):
            pulled = self._pull()
            if pulled is None:
                break
            index, item = pulled
            try:
                checked = self._check(item)
            except (TypeError, ValueError) as error:
                self._ready.append(Outcome(index, Status.ERROR,
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
        if self._progress is None and self._make_progress is not None:
            self._progress = self._make_progress()
            self._make_progress = None
        try:
            item = next(self._source)
        except StopIteration:
            self._input_done = True
            return None
        except Exception as error:  # the caller's iterator failed: stop, report, re-raise
            self._input_done = True
            self._raise_at_end = error
            self.stop(Stopped(f"{self.method}: the items could not be read on: {error}"))
            return None
        index = self._next_index
        self._next_index += 1
        return index, item

    # -- Ctrl+C ---------------------------------------------------------------------------------

    def _install_handler(self) -> None:
        if self._handler_installed or self._finished:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return  # someone else decides what Ctrl+C means
        self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        self._handler_installed = True

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._interrupted:
            self._restore_handler()
            raise KeyboardInterrupt
        self._interrupted = True
        self.stop(Stopped(f"{self.method}: interrupted before this item was sent"))

    def _restore_handler(self) -> None:
        if not self._handler_installed:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) == self._on_sigint:
            signal.signal(signal.SIGINT, self._previous_handler)
        self._handler_installed = False


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
