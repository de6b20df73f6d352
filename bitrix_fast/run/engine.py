"""Send one call or one batch under every policy: concurrency gate, operating budget, token
bucket, retries that never duplicate a write, single-flight token refresh, adaptive throttling.

The engine is handed its parts by the factory (:mod:`bitrix_fast.factory`), each through a
typed contract, and holds no reference to the client. Every wait it makes -- the budget, a
slot, a token, a backoff -- consults the call's stop context (:mod:`.stop`), and the stop
context is asked once more right before a request goes on the wire. It is safe to call from
many threads at once.
"""
from __future__ import annotations

import logging
import random as _random
import threading
from dataclasses import dataclass
from typing import (Any, Callable, Dict, Hashable, Iterable, List, Mapping, Optional, Protocol,
                    Sequence, Set)

from ..clock import Clock
from ..errors import (ApiError, AuthError, BadResponse, BatchCut, BitrixError, LimiterError,
                      OperationTimeLimit, RateLimited, RetryExhausted, Stopped,
                      TransportError, is_refusal, too_long, with_method)
from ..net.credentials import Credentials
from ..net.sender import Reply
from ..pacing.billing import BilledTime
from ..pacing.gate import ConcurrencyGate
from ..pacing.inflight import InFlight
from ..pacing.meter import Meter, counted
from ..pacing.protocols import Budget, RateLimiter
from ..pacing.room import TARGET, BatchRoom
from ..pacing.throttle import AdaptiveThrottle
from ..protocol import batch as batchlib
from ..protocol.batch import Command, CommandResult
from ..protocol.redaction import redact
from .retry import Retry, RetryBudget, not_executed
from .stop import CHECK_EVERY, Stop

logger = logging.getLogger("bitrix_fast")

_REFRESH_CODES = {"EXPIRED_TOKEN", "INVALID_TOKEN"}
#: How many times one request may trade an expired token for a new one before giving up.
_MAX_REFRESHES = 3


class Stats:
    """Thread-safe counters of what the engine did, for ``Bitrix.stats()``."""

    _FIELDS = ("requests", "commands", "retries", "refreshes", "refused_503", "refused_429",
               "limiter_wait", "budget_wait", "backoff_wait", "in_doubt", "failed",
               "batches_cut", "batches_too_long")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Dict[str, float] = {name: 0 for name in self._FIELDS}

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def snapshot(self) -> Dict[str, float]:
        with self._lock:
            return dict(self._values)


class Sends(Protocol):
    """What the engine needs from the HTTP side (:class:`bitrix_fast.net.sender.Sender`)."""

    def send(self, method: str, params: Mapping[str, Any], *,
             read_timeout: Optional[float] = None,
             headers: Optional[Mapping[str, str]] = None, v3: bool = False) -> Reply: ...


@dataclass(frozen=True)
class Pacing:
    """The parts that decide how fast requests go, as the factory built them."""

    limiter: RateLimiter
    budget: Budget
    throttle: AdaptiveThrottle
    gate: ConcurrencyGate
    inflight: InFlight
    billed: BilledTime
    #: slow a method down before its budget runs out and wait out its 429s (False: raise)
    respect_budget: bool = True
    #: reads every reply's time for the batch room, the billed time and the budget (None:
    #: one of its own, on a room of its own)
    meter: Optional[Meter] = None


class Engine:
    """Sends requests under every policy (see the module docstring)."""

    def __init__(self, sender: Sends, credentials: Credentials, pacing: Pacing, *,
                 retry: Retry, retry_budget: RetryBudget, clock: Clock,
                 random: Callable[[], float] = _random.random,
                 stats: Optional[Stats] = None) -> None:
        self._sender = sender
        self._credentials = credentials
        self._limiter = pacing.limiter
        self._budget = pacing.budget
        self._throttle = pacing.throttle
        self._gate = pacing.gate
        self._inflight = pacing.inflight
        self._billed = pacing.billed
        self._meter = pacing.meter or Meter(BatchRoom(), pacing.billed, pacing.budget)
        self._room = self._meter.room
        self._respect_budget = pacing.respect_budget
        self._retry = retry
        self._retry_budget = retry_budget
        self._clock = clock
        self._random = random
        self.stats = stats or Stats()
        self._cap: Optional[int] = None
        self._cap_lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any], *, read_only: bool, stop: Stop,
             budget_methods: Iterable[str] = (),
             before_send: Optional[Callable[[], None]] = None,
             headers: Optional[Mapping[str, str]] = None, v3: bool = False) -> Any:
        """One request with retries; returns the parsed envelope. Every wait is bounded by
        ``stop``, and nothing is sent once it says stop. ``before_send`` (default: ask
        ``stop``) runs right before each attempt goes on the wire, after every wait: it may
        raise, and then nothing is sent. ``headers`` go with every attempt (a REST 3.0
        write's Idempotency-Key is the same on each); ``v3`` calls REST 3.0."""
        retry = self._retry
        refreshes = 0
        methods = tuple(budget_methods) or (method,)
        send_check = before_send or stop.before_send
        # A write whose earlier attempt may have run stays in doubt when a later attempt is
        # stopped before it goes out: the error that hid its fate is what is raised then.
        doubt: Optional[BitrixError] = None
        while True:
            began = self._clock.now()
            try:
                stop.before_send()
                return self._attempt(method, params, methods, send_check, stop,
                                     headers=headers, v3=v3)
            except Stopped:
                if doubt is not None:
                    raise doubt from None
                raise
            except AuthError as error:
                if self._renewable(error) and refreshes < _MAX_REFRESHES:
                    refreshes += 1
                    self.stats.add("refreshes")
                    # Single-flight: only the token this request sent is replaced; if another
                    # thread has refreshed already, its token is simply used.
                    self._credentials.refresh(self._credentials.last_sent())
                    continue
                raise
            except BitrixError as error:
                if _was_cut(method, params, error):
                    # A batch the portal cut at 60 s (or a proxy gave up on) is never sent
                    # whole again: the caller splits it (see batch()).
                    cut = _as_cut(error)
                    cut.seconds = self._clock.now() - began
                    raise cut from None
                if not read_only and may_have_executed(error):
                    doubt = error
                self._account(method, error)
                try:
                    retry = self._advance(retry, method, error, read_only, stop)
                except Stopped:
                    if doubt is not None:
                        raise doubt from None
                    raise

    def batch(self, commands: Sequence[Command], *, read_only: bool, stop: Stop,
              resend: bool = True,
              before_send: Optional[Callable[[], None]] = None) -> List[CommandResult]:
        """Run commands in one ``batch`` request; resend only the commands refused or (for
        reads) failed transiently -- unless ``resend`` is off (commands that refer to each
        other's results cannot travel alone: a read batch is then sent again whole). Every
        command comes back, in order, as a CommandResult: succeeded, failed (``error``), or
        of unknown fate (``in_doubt``).

        A 200 reply that does not answer for a command (its label missing, or a ``result``
        that is null, a list or garbage) leaves that command in doubt: a read is resent, a
        write never is (unless the Retry says ``resend_writes``) and comes back
        ``in_doubt``; the other commands' results are kept. A write that was in doubt once
        stays in doubt whatever happens to it later. A stop before an attempt goes out
        leaves its commands with the Stopped error, in doubt only if an earlier attempt
        may have run them."""
        final: Dict[str, CommandResult] = {}
        queue = list(commands)
        retry = self._retry
        in_doubt: Set[str] = set()  # labels of writes that may have run in an earlier attempt
        # Commands that refer to each other travel together; others go in batches the room
        # allows (inside the 60 s cut, within the portal's batch length), halved after a cut.
        most = len(queue) if not resend else self._fits(queue)

        def hide(text: str) -> str:
            return redact(text, self._credentials.secrets)

        while queue:
            pending, queue = queue[:most], queue[most:]
            methods = ("batch",) + tuple(sorted({c.method for c in pending}))
            try:
                envelope = self.call("batch", batchlib.pack(pending), read_only=read_only,
                                     stop=stop, budget_methods=methods,
                                     before_send=before_send)
            except BitrixError as error:
                smaller = self._smaller(pending, error, read_only=read_only, resend=resend)
                if smaller:
                    most = smaller
                    queue = pending + queue
                    continue
                may_have_run = not read_only and may_have_executed(error)
                if may_have_run and queue and not isinstance(error, Stopped):
                    # Writes whose reply was lost are in doubt; the batches after them have
                    # not left, so they go as they would in a request of their own (after a
                    # backoff, within the retry budget) instead of failing unsent.
                    for command in pending:
                        final[command.label] = CommandResult(
                            command.label, command.method, error=with_method(error,
                                                                             command.method),
                            in_doubt=True, executed=True)
                        self.stats.add("in_doubt")
                    try:
                        retry = self._advance(retry, "batch", _NotExecuted(), read_only, stop)
                        continue
                    except BitrixError as stopped:
                        error, pending = stopped, []
                called = {command.method for command in pending + queue}
                if len(called) == 1:
                    error = with_method(error, called.pop())
                sent = {command.label for command in pending}
                # What was not sent yet fails the same way (it would not fare better).
                for command in pending + queue:
                    doubt = (may_have_run and command.label in sent) or command.label in in_doubt
                    final[command.label] = CommandResult(command.label, command.method,
                                                         error=error, in_doubt=doubt,
                                                         executed=doubt)
                    self.stats.add("in_doubt" if doubt else "failed")
                break
            outcomes = batchlib.unpack(envelope.get("result") if isinstance(envelope, dict)
                                       else None, pending, hide=hide)
            ran = next((i for i, o in enumerate(outcomes) if o.error is not None
                        and too_long(o.error)), None)
            if ran is not None:
                # The portal runs fewer commands than this batch held: those past its
                # length did not run, and the next batches are that long.
                self.stats.add("batches_too_long")
                self._room.too_long(ran)
                most = max(1, min(most, ran))
            self.stats.add("commands", len(pending))
            unanswered = next((o.error for o in outcomes if o.in_doubt), None)
            if not resend and read_only and unanswered is not None:
                # Chained reads cannot be resent one by one: the whole batch goes again.
                try:
                    retry = self._advance(retry, "batch", unanswered, read_only, stop)
                    queue = pending + queue
                    continue
                except BitrixError:
                    pass  # out of retries: the outcomes below carry the error
            again: List[Command] = []
            first_error: Optional[BitrixError] = None
            for command, outcome in zip(pending, outcomes):
                if outcome.error is not None and not outcome.in_doubt:
                    try:
                        self._account(command.method, outcome.error)
                    except BitrixError:
                        pass  # waiting is disallowed: the refusal stays this command's result
                if outcome.in_doubt and not read_only:
                    in_doubt.add(command.label)
                if outcome.ok or not resend or not self._should_resend(outcome, read_only):
                    if not outcome.ok and read_only and outcome.in_doubt:
                        # A read that did not come back is simply not read.
                        outcome = CommandResult(command.label, command.method,
                                                error=outcome.error)
                    final[command.label] = outcome
                    if outcome.in_doubt:
                        self.stats.add("in_doubt")
                    elif not outcome.ok and resend:
                        self.stats.add("failed")
                    continue
                again.append(command)
                if not (outcome.error is not None and too_long(outcome.error)):
                    first_error = first_error or outcome.error  # past the length: not run
            if again:
                try:
                    retry = self._advance(retry, "batch", first_error or _NotExecuted(),
                                          read_only, stop)
                except BitrixError as error:
                    for command in again:
                        doubt = command.label in in_doubt
                        final[command.label] = CommandResult(command.label, command.method,
                                                             error=error, executed=doubt,
                                                             in_doubt=doubt)
                        self.stats.add("in_doubt" if doubt else "failed")
                    again = []
            queue = again + queue
        return [final[command.label] for command in commands]

    def _renewable(self, error: AuthError) -> bool:
        """An expired or unknown OAuth token, which a refresh may cure."""
        return self._credentials.refreshable and error.code.upper() in _REFRESH_CODES

    def _fits(self, commands: Sequence[Command]) -> int:
        """How many of ``commands`` (in order) one batch may hold: within the portal's batch
        length, and expected to take under a third of the 60 s cut."""
        most = min(len(commands), self._room.longest)
        keys = [(c.method, counted(c.params)) for c in commands[:most]]
        while most > 1 and self._room.expected(keys[:most]) > TARGET:
            most -= 1
        return max(1, most)

    def _smaller(self, pending: Sequence[Command], error: BitrixError, *, read_only: bool,
                 resend: bool) -> int:
        """After a batch failed as a whole: how many commands the next, smaller batch holds
        (0: do not split). A batch too long for the portal ran nothing, so it is split,
        reads and writes alike; a cut batch (60 s, or a 504) may have run, so only reads
        are, down to one command -- never resent whole."""
        keys = [(c.method, counted(c.params)) for c in pending]
        if isinstance(error, BatchCut):
            self.stats.add("batches_cut")
            if error.seconds:
                self._room.cut(keys, error.seconds)
            if read_only and resend and len(pending) > 1:
                return len(pending) // 2
            return 0
        if too_long(error):
            self.stats.add("batches_too_long")
            self._room.too_long(max(1, len(pending) // 2))
            return len(pending) // 2 if resend and len(pending) > 1 else 0
        return 0

    def cap_concurrency(self, limit: Optional[int]) -> Optional[int]:
        """Set (or with None lift) a hard cap on requests in flight; returns the previous cap."""
        with self._cap_lock:
            previous, self._cap = self._cap, limit
        self._apply_throttle()
        return previous

    def snapshot(self) -> Dict[str, Any]:
        """What ``Bitrix.stats()`` shows."""
        out: Dict[str, Any] = dict(self.stats.snapshot())
        out["rate"] = self._limiter.rate
        out["concurrency"] = self._gate.limit
        out["in_flight"] = self._gate.in_flight
        out["in_flight_peak"] = self._gate.peak
        out["in_flight_limit"] = self._inflight.snapshot()
        out["throttle"] = self._throttle.snapshot()
        out["retry_budget"] = self._retry_budget.snapshot()
        out["operating"] = self._budget.snapshot()
        return out

    # -- one attempt ------------------------------------------------------------------------

    def _attempt(self, method: str, params: Mapping[str, Any], methods: Sequence[str],
                 before_send: Callable[[], None], stop: Stop, *,
                 headers: Optional[Mapping[str, str]] = None, v3: bool = False) -> Any:
        if self._respect_budget:
            self._wait_for_budget(methods, stop)
        kind = _kind(method, params, methods)
        # The budget sees this request's expected server time while it is in flight, so
        # fifty requests of a method near its wall are not all sent on an old figure.
        expected = self._billed.expected(method, params, methods)
        for name, seconds in expected.items():
            self._budget.begin(name, seconds)
        try:
            with self._gate.slot(lambda: self._soft_limit(kind), check=stop.before_send):
                waited = self._limiter.acquire(check=stop.before_send)
                if waited:
                    self.stats.add("limiter_wait", waited)
                before_send()  # the deadline, a cancel or a halt while this request waited
                self.stats.add("requests")
                try:
                    if v3:  # REST 3.0: its address, its error shape, its headers
                        reply = self._sender.send(method, params,
                                                  read_timeout=stop.remaining(),
                                                  headers=headers, v3=True)
                    else:
                        reply = self._sender.send(method, params,
                                                  read_timeout=stop.remaining())
                except AuthError as error:
                    if not self._renewable(error):
                        # Refused credentials refuse every other request of the call too:
                        # stop it before this slot is let go, so no request waiting for a
                        # slot or a token leaves after the refusal came back.
                        stop.halt(error, grace=stop.own_grace)
                    raise
        finally:
            for name, seconds in expected.items():
                self._budget.end(name, seconds)
        self._inflight.observe(kind, reply.elapsed)
        body = reply.body
        self._meter.reply(method, params, body, reply.elapsed)
        self._throttle.on_success()
        self._retry_budget.on_success()
        self._apply_throttle()
        if logger.isEnabledFor(logging.DEBUG):
            cmd = params.get("cmd") if method == "batch" else None
            commands = len(cmd) if isinstance(cmd, (Mapping, list)) else 1
            logger.debug("%s commands=%d status=%d %.3fs %d bytes waited=%.3fs", method,
                         commands, reply.status, reply.elapsed, reply.size, waited)
        return body

    def _wait_for_budget(self, methods: Sequence[str], stop: Stop) -> None:
        while True:
            delay = max(self._budget.delay(m) for m in methods)
            if delay <= 0:
                return
            step = max(0.001, stop.bound(min(delay, CHECK_EVERY)))
            logger.info("pausing %.1fs: operating budget of %s", delay, ", ".join(methods))
            self.stats.add("budget_wait", step)
            stop.sleep(step)

    def _soft_limit(self, kind: Hashable) -> int:
        """Requests of ``kind`` that may be in flight now (see :mod:`.inflight`)."""
        return self._inflight.limit(kind, self._limiter.rate, self._limiter.free_tokens)

    # -- failures ---------------------------------------------------------------------------

    def _account(self, method: str, error: BitrixError) -> None:
        """Tell the limiter and the budget what a refusal says about the portal's state."""
        if isinstance(error, RateLimited):
            self.stats.add("refused_503")
            self._limiter.on_refused()
        elif isinstance(error, OperationTimeLimit):
            self.stats.add("refused_429")
            self._meter.limit_hit(method)
            if not self._respect_budget:
                raise error
            self._budget.on_limit_hit(method)
        elif _is_overload(error):
            self._throttle.on_overload()
            self._apply_throttle()

    def _advance(self, retry: Retry, method: str, error: BitrixError, read_only: bool,
                 stop: Stop) -> Retry:
        """The Retry for the next attempt after ``error`` (having slept its backoff), or raise."""
        if isinstance(error, LimiterError) or not retry.should_retry(error, read_only=read_only):
            raise error
        if not self._retry_budget.acquire(error):
            raise RetryExhausted(method, len(retry.history) + 1, error) from error
        retry = retry.increment(method, error)
        self.stats.add("retries")
        delay = stop.bound(retry.backoff(self._random))
        if delay > 0:
            self.stats.add("backoff_wait", delay)
            stop.sleep(delay)  # in slices: a deadline, a cancel or a halt ends the wait
        logger.info("%s: retrying after %s", method, error)
        return retry

    def _should_resend(self, outcome: CommandResult, read_only: bool) -> bool:
        error = outcome.error
        if not outcome.executed and error is None:
            return True  # halt stopped the batch before this command ran
        if outcome.in_doubt and error is not None:
            return self._retry.should_retry(error, read_only=read_only)  # no answer for it
        if not isinstance(error, ApiError):
            return False
        if too_long(error):
            return True  # past the portal's batch length: it did not run
        if is_refusal(error):
            return self._respect_budget or not isinstance(error, OperationTimeLimit)
        return self._retry.should_retry(error, read_only=read_only)

    def _apply_throttle(self) -> None:
        concurrency = self._throttle.concurrency
        cap = self._cap
        limit = concurrency if cap is None else min(cap, concurrency)
        if self._gate.limit != limit:
            self._gate.limit = limit
        rate = self._throttle.rate
        if self._limiter.rate != rate:
            self._limiter.rate = rate


class _NotExecuted(BitrixError):
    """A command the server skipped (halt) and that we are about to send again."""

    executed_maybe = False


def may_have_executed(error: BaseException) -> bool:
    """False only when ``error`` proves the server did not run the request."""
    if isinstance(error, RetryExhausted):
        return may_have_executed(error.last_error)
    if not_executed(error):
        return False
    if isinstance(error, ApiError):
        # A client error is answered before anything runs; a 5xx may come from anywhere in
        # the server's pipeline.
        return (error.status or 0) >= 500
    return True


def as_result(command: Command, envelope: Any) -> CommandResult:
    """A single call's envelope as the result of ``command``."""
    body = envelope if isinstance(envelope, dict) else {"result": envelope}
    return CommandResult(command.label, command.method, result=body.get("result"),
                         total=_int_or_none(body.get("total")),
                         next=_int_or_none(body.get("next")),
                         time=body.get("time") if isinstance(body.get("time"), dict) else None,
                         envelope=envelope)


def _int_or_none(value: Any) -> Optional[int]:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _kind(method: str, params: Mapping[str, Any], methods: Sequence[str]) -> Hashable:
    """What a request's time per request is measured under: the methods it calls and the
    size class of its batch (1, 2-3, 4-7, ... 32-63 commands): a one-item batch answers in
    one command's time, a full one in fifty's."""
    if method != "batch":
        return tuple(methods), 0
    cmd = params.get("cmd")
    return tuple(methods), (len(cmd) if isinstance(cmd, Mapping) else 1).bit_length()


def _is_overload(error: BaseException) -> bool:
    if isinstance(error, TransportError):
        return True
    return isinstance(error, ApiError) and (error.status or 0) >= 500 and not is_refusal(error)


def _was_cut(method: str, params: Mapping[str, Any], error: BitrixError) -> bool:
    """A batch of several commands that did not finish: the portal cut it at 60 s, or the
    proxy in front of it gave up on it (504). (One command alone is retried as any call.)"""
    cmd = params.get("cmd") if method == "batch" else None
    if not isinstance(cmd, Mapping) or len(cmd) < 2:
        return False
    return isinstance(error, BatchCut) or (isinstance(error, BadResponse) and
                                           error.status == 504)


def _as_cut(error: BitrixError) -> BatchCut:
    if isinstance(error, BatchCut):
        return error
    if isinstance(error, TransportError):
        return BatchCut(f"the batch was cut: {error.message}", method=error.method,
                        status=error.status, snippet=error.snippet)
    return BatchCut(f"the batch was cut: {error}", method="batch")
