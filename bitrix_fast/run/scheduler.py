"""The one scheduler: every kind of work -- list pages, bulk calls, get_by_ID, the async
client's sends -- runs through :meth:`Scheduler.run`.

It owns parallelism, back-pressure and stopping, and no policy: every request it starts goes
through the engine, which applies the limits. A source never has more than ``look_ahead``
replies' worth of outputs at a time: requests in flight and deliveries the caller has not yet
given back (taken and not yet come back for the next) count alike, so memory does not grow
with the table or the input, and a slow caller (a database writer) holds the wire back
instead of piling up decoded replies.

Stopping, one way for every source (see :mod:`.stop`):

* a halt (``stop()``, an auth error, Ctrl+C) sends nothing more; replies already on the wire
  are used for the stop's grace, after which what is still out is ``lost`` (a read: simply
  not read; a write: in doubt) and work that never started is ``failed`` with a Stopped
  error; then the source's ``leftovers`` (a bulk call's unread input) come out;
* a passed deadline or a cancel halts with no grace, and raises at the end;
* Ctrl+C that lands while the caller waits halts with ``interrupt_grace`` and raises
  ``KeyboardInterrupt`` at the end, once everything is accounted for; a second Ctrl+C raises
  at once. The source is driven on a thread of its own, so Ctrl+C never lands in the middle
  of its bookkeeping; all threads are daemons (:mod:`.pool`): nothing keeps the process
  alive after.

Sending nothing new and not waiting for a whole batch are reconciled here: a halt stops every
request still waiting for a slot or a token (the engine asks the stop context right before the
wire), and the grace is the only wait -- for replies already paid for, which a resume would
otherwise read again.
"""
from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from functools import partial
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional, Protocol, Sequence,
                    Tuple, TypeVar)

from ..errors import AuthError, Cancelled, DeadlineExceeded, Stopped
from ..protocol.batch import CommandResult
from ..protocol.batch import Command
from .engine import as_result
from .pool import WorkerPool
from .stop import CHECK_EVERY, Stop
from .work import Delivery, Source, Work

logger = logging.getLogger("bitrix_fast")

T = TypeVar("T")

#: Called with (outputs just produced, the source's expected total).
Progress = Callable[[int, Optional[int]], None]


class Requests(Protocol):
    """What the scheduler needs from the engine (:class:`.engine.Engine`)."""

    def call(self, method: str, params: Mapping[str, Any], *, read_only: bool, stop: Stop,
             before_send: Optional[Callable[[], None]] = None,
             headers: Optional[Mapping[str, str]] = None, v3: bool = False) -> Any: ...

    def batch(self, commands: Sequence[Command], *, read_only: bool, stop: Stop,
              resend: bool = True,
              before_send: Optional[Callable[[], None]] = None) -> List[CommandResult]: ...


class Scheduler:
    """Runs sources' work on the worker pool through the engine. Thread-safe: several calls
    may run at once (each with its own stop context), sharing the pool and the limits."""

    def __init__(self, engine: Requests, pool: WorkerPool) -> None:
        self._engine = engine
        self._pool = pool

    @property
    def workers(self) -> int:
        return self._pool.max_workers

    def run(self, source: Source[T], stop: Stop, *, look_ahead: Optional[int] = None,
            interrupt_grace: float = 0.0, stop_grace: float = 0.0,
            progress: Optional[Progress] = None) -> Iterator[Delivery[T]]:
        """Yield the source's outputs as replies arrive, a :class:`Delivery` per reply
        (never empty; see the module docstring).

        The source is driven on a thread of its own; the caller's thread only waits for
        deliveries. So a Ctrl+C -- which Python raises in the main thread, wherever it is --
        never lands in the middle of the bookkeeping: it lands in that wait (the run then
        halts with ``interrupt_grace`` and raises ``KeyboardInterrupt`` once every output
        is delivered) or in the caller's own code. A cancel, and credentials the portal
        refuses, give replies on the wire ``stop_grace``; a passed deadline gives them
        nothing."""
        stop.own_grace = stop_grace
        deliveries: "queue.Queue[Tuple[str, Any]]" = queue.Queue(maxsize=1)
        abandoned = threading.Event()
        handed = _Handed()
        driver = threading.Thread(
            target=self._drive, name=f"bitrix_fast-{stop.method}", daemon=True,
            args=(source, stop, look_ahead or self._pool.max_workers, stop_grace, deliveries,
                  abandoned, handed))
        driver.start()
        interrupted = False
        try:
            while True:
                try:
                    kind, payload = deliveries.get(timeout=CHECK_EVERY)
                except queue.Empty:
                    continue
                except KeyboardInterrupt:
                    if interrupted:
                        raise  # the second Ctrl+C: at once
                    interrupted = True
                    stop.halt(KeyboardInterrupt(), grace=interrupt_grace)
                    continue
                if kind == "end":
                    break
                if kind == "error":
                    raise payload
                if progress is not None:
                    progress(len(payload.items), source.total)
                yield payload
                handed.back()  # the caller came back for more: done with that delivery
        finally:
            # However the run ends -- done, an error, the generator closed -- nothing more is
            # sent: requests waiting for a slot or a token give up, queued ones are cancelled.
            abandoned.set()
            if not stop.halted:
                stop.halt()
            # The driver notices within one wait; once it is gone the source is the caller's
            # to read (a bulk call's record after a Ctrl+C that landed outside the wait).
            driver.join(timeout=2 * CHECK_EVERY)
        reason = stop.reason
        if isinstance(reason, KeyboardInterrupt):
            raise KeyboardInterrupt
        if isinstance(reason, (DeadlineExceeded, Cancelled)):
            raise reason

    def _drive(self, source: Source[T], stop: Stop, limit: int, stop_grace: float,
               deliveries: "queue.Queue[Tuple[str, Any]]", abandoned: threading.Event,
               handed: "_Handed") -> None:
        """The driver thread: hand out work, collect replies, deliver outputs (put blocks
        while the caller has not taken the last delivery: that is the back-pressure)."""
        in_flight: Dict["Future[Sequence[CommandResult]]", Work] = {}
        wakes: List[float] = []  # when a source asked to be asked again (monotonic seconds)

        def deliver(items: List[T], mark: Any = None) -> bool:
            if not items:
                return True
            handed.out()  # counted before the caller can take it and come back
            while not abandoned.is_set():
                try:
                    deliveries.put(("outputs", Delivery(items, mark)), timeout=CHECK_EVERY)
                    return True
                except queue.Full:
                    continue
            return False  # the run is over: nothing reads the count any more

        def top_up(holding: int = 0) -> None:
            while len(in_flight) + handed.count + holding < limit and not stop.halted:
                work = source.next_work()
                if work is None:
                    return
                try:
                    future = self._pool.submit(self._send, work, stop, source)
                except RuntimeError as error:  # the client was closed under us
                    stop.halt(error)
                    in_flight[_failed_future(stop.stopped_error())] = work
                    return
                # Credentials the portal refuses stop the whole call as the reply lands, on
                # the worker thread: every other request would be refused too, and the
                # driver may still be busy with earlier replies, each of which would
                # otherwise top up the wire.
                future.add_done_callback(partial(_halt_if_refused, stop, stop_grace))
                in_flight[future] = work
                if work.wake_after is not None:
                    heapq.heappush(wakes, time.monotonic() + work.wake_after)

        try:
            while not abandoned.is_set():
                handed.rearm()
                top_up()
                ready = source.ready()
                if not deliver(ready):
                    return
                if in_flight and source.done and all(w.optional for w in in_flight.values()):
                    # Replies nobody waits for (a listing's count, once every row is proven
                    # read): the run ends without them, and closing does not wait for them.
                    for future in in_flight:
                        if not future.cancel():
                            self._pool.detach(future)
                    in_flight.clear()
                    break
                if not in_flight:
                    if stop.halted or source.done:
                        break
                    if ready:
                        continue  # the source had outputs to give before more work
                    if handed.count:  # every slot is rows the caller still holds
                        handed.wait(CHECK_EVERY)
                        continue
                    raise RuntimeError(f"{stop.method}: the work stalled: nothing in flight "
                                       f"and nothing to send")
                if stop.halted and stop.grace_left() <= 0:
                    for future, work in list(in_flight.items()):
                        # A reply that has landed is used, whenever its grace ran out.
                        if future.done():
                            outputs = _outcome(source, work, future, stop)
                        elif future.cancel():
                            outputs = source.failed(work, stop.stopped_error())
                        else:
                            outputs = source.lost(work, _still_running(stop))
                        del in_flight[future]
                        if not deliver(outputs):
                            return
                    break
                timeout = CHECK_EVERY if not stop.halted else min(CHECK_EVERY,
                                                                  stop.grace_left())
                now = time.monotonic()
                while wakes and wakes[0] <= now:
                    heapq.heappop(wakes)
                if wakes:
                    timeout = min(timeout, wakes[0] - now)
                waited: List["Future[Any]"] = [*in_flight, handed.woken()]
                finished, _ = wait(waited, timeout=timeout, return_when=FIRST_COMPLETED)
                if not stop.halted and stop.expired:
                    try:
                        stop.raise_if_expired()
                    except DeadlineExceeded as error:
                        stop.halt(error)  # no wait outlasts the deadline
                    except Cancelled as error:
                        stop.halt(error, grace=stop_grace)
                for future in [f for f in in_flight if f in finished]:  # submission order
                    work = in_flight.pop(future)
                    mark = source.mark()
                    outputs = _outcome(source, work, future, stop)
                    # What this reply made possible goes out before its outputs are handed
                    # over: the caller's time then overlaps with the next requests.
                    top_up(holding=1)
                    if not deliver(outputs, mark):
                        return
            if stop.halted and not abandoned.is_set():
                if not deliver(source.leftovers(stop.stopped_error())):
                    return
            _put_until(deliveries, ("end", None), abandoned)
        except BaseException as error:  # handed to the caller's thread, raised there
            stop.halt(error if isinstance(error, Exception) else None)
            _put_until(deliveries, ("error", error), abandoned)
        finally:
            for future in in_flight:
                future.cancel()

    def _send(self, work: Work, stop: Stop, source: Source[T]) -> Sequence[CommandResult]:
        def before_send() -> None:
            stop.before_send()
            # The source records the work as leaving, then the stop is asked once more: a
            # halt in between leaves it recorded though it stays home (in doubt, never lost).
            source.before_send(work)
            stop.before_send()

        if work.single:
            (command,) = work.commands
            if work.v3:  # REST 3.0: its address, its error shape, its Idempotency-Key
                envelope = self._engine.call(command.method, command.params,
                                             read_only=work.read_only, stop=stop,
                                             before_send=before_send,
                                             headers=command.headers, v3=True)
            else:
                envelope = self._engine.call(command.method, command.params,
                                             read_only=work.read_only, stop=stop,
                                             before_send=before_send)
            return [as_result(command, envelope)]
        return self._engine.batch(work.commands, read_only=work.read_only,
                                  resend=not work.chained, stop=stop,
                                  before_send=before_send)


class _Handed:
    """Deliveries put for the caller and not yet given back. They hold a reply's outputs as
    much as a request in flight does, so both count against ``look_ahead``. The driver waits
    on :meth:`woken` beside its requests: a delivery given back makes room at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._wake: "Future[None]" = Future()

    @property
    def count(self) -> int:
        return self._count

    def out(self) -> None:
        with self._lock:
            self._count += 1

    def back(self) -> None:
        with self._lock:
            self._count -= 1
            if not self._wake.done():
                self._wake.set_result(None)

    def rearm(self) -> None:
        """Forget deliveries given back so far (the driver is about to read the count
        afresh): only one given back after this wakes it."""
        with self._lock:
            if self._wake.done():
                self._wake = Future()

    def woken(self) -> "Future[None]":
        """A future done once a delivery is given back after the last :meth:`rearm`."""
        with self._lock:
            return self._wake

    def wait(self, timeout: float) -> None:
        wait([self.woken()], timeout=timeout)


def _outcome(source: Source[T], work: Work, future: "Future[Sequence[CommandResult]]",
             stop: Stop) -> List[T]:
    if future.cancelled():
        return source.failed(work, stop.stopped_error())
    error = future.exception()
    if error is not None:
        return source.failed(work, error)
    return source.feed(work, future.result())


def _halt_if_refused(stop: Stop, grace: float,
                     future: "Future[Sequence[CommandResult]]") -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is None:
        error = next((r.error for r in future.result() if isinstance(r.error, AuthError)),
                     None)
    if isinstance(error, AuthError):
        stop.halt(error, grace=grace)


def _still_running(stop: Stop) -> Stopped:
    return Stopped(f"{stop.method}: still on the wire when the call stopped waiting for it; "
                   f"it may have been executed")


def _put_until(deliveries: "queue.Queue[Tuple[str, Any]]", item: Tuple[str, Any],
               abandoned: threading.Event) -> None:
    while not abandoned.is_set():
        try:
            deliveries.put(item, timeout=CHECK_EVERY)
            return
        except queue.Full:
            continue


def _failed_future(error: BaseException) -> "Future[Sequence[CommandResult]]":
    future: "Future[Sequence[CommandResult]]" = Future()
    future.set_exception(error)
    return future
