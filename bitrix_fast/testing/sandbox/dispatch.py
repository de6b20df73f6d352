"""From a parsed ``/rest/`` request to a reply: the order of checks and the per-call path.

Order, as on a cloud portal (bitrix-rest-semantics.md §5.2, limits.md):

1. leaky bucket -> 503 ``QUERY_LIMIT_EXCEEDED`` (the request is not executed);
2. injected faults that answer before executing (``500``, ``502``) or never (``hang``,
   ``redirect``: the router answers 301, the carrier holds the connection);
3. unknown method -> 404 ``ERROR_METHOD_NOT_FOUND`` (before authentication);
4. authentication -> 401 (see :mod:`.auth`);
5. operating budget of (credential, method) -> 429 ``OPERATION_TIME_LIMIT``;
6. the method itself (the store), then the cost model's delay, then billing and ``time``;
7. injected faults that spoil the answer of a request that ran: ``504`` (an HTML page
   instead), ``partial`` / ``nullresult`` (a batch reply missing labels / with a null
   ``result``); ``drop`` and ``slow`` are carried out by whoever holds the connection
   (the HTTP server, or an in-memory transport; see :mod:`.routing`).

Batch commands take steps 3, 5 and 6 one by one (:meth:`Dispatcher.call`).

REST 3.0 requests (``/rest/api/``, :mod:`.v3`) take the same steps against the v3 methods;
a write carrying an ``Idempotency-Key`` is checked against the keys seen before step 6
(:mod:`.idempotency`: a repeat gets the stored reply with ``Idempotent-Replayed: true``,
another body 422, an invalid key 400) and its key is recorded after the method ran. The
faults of step 7 apply to them as to any request.

What is billed is the server time the cost model assigns to a call (the delay the sandbox
sleeps on its clock), not the sandbox's own SQLite time: that depends on the test machine and
on threads queueing for the database, and would make budgets and 429s flaky. On the system
clock that own time is part of the modelled time, not added to it: a call answers after
its modelled time, or after the sandbox's own work if that took longer (a benchmark's busy
machine would otherwise slow the portal down for every client). ``duration``
and ``processing`` report the time that passed on the portal's clock, sleep included (on a
FakeClock: exactly the modelled cost); a command of a batch, which sleeps with the batch,
reports its modelled cost or its own work, whichever is longer. Billing of a batch is a
switch: ``"own"`` (docs and source: each command is billed to its own method,
``batch`` is never billed) or ``"batch"`` (b24jssdk PR #539: the whole batch is billed to
method ``batch``, refused as a whole when that is over budget, and every command's
``result_time.operating`` shows the batch's running total while sub-methods read 0).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional, Protocol, Tuple

import time

from ...clock import SYSTEM_CLOCK, Clock, SystemClock
from .auth import Credentials, Identity
from . import replies
from .batch import MAX_LENGTH, run_batch
from .cost import CostModel
from .idempotency import INVALID, REUSED, IdempotencyStore, valid_key
from .faults import (BAD_GATEWAY_HTML, BATCH_ONLY, GATEWAY_TIMEOUT_HTML, INTERNAL_ERROR_BODY, FaultPlan,
    batch_labels, leave_out)
from .limits import LeakyBucket, OperatingLedger
from .outcome import ApiFault, CallContext, Outcome
from .quirks import NO_QUIRKS, Quirks
from .stats import Stats
from .v3 import V3Fault, V3Methods, not_found_v3
from .wire import JSON_TYPE
from .workers import WorkerPool

__all__ = ["RestRequest", "Reply", "Options", "Dispatcher", "MethodStore", "time_block"]


class MethodStore(Protocol):
    """What the dispatcher needs of a store: which methods it serves, and running one."""

    def knows(self, method: str) -> bool: ...

    def call(self, method: str, params: Dict[str, Any], ctx: CallContext) -> Outcome: ...


# Fresh instances each time: a shared exception object raised from many threads would
# carry (and keep alive) whichever traceback was attached last.
def too_many() -> ApiFault:
    return ApiFault("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)


def blocked() -> ApiFault:
    return ApiFault("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429)


def not_found() -> ApiFault:
    return ApiFault("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)


@dataclass
class RestRequest:
    """One ``/rest/`` call as the router parsed it."""

    method: str  # lower-cased, without .json/.xml; "" when the path names no method
    params: Dict[str, Any]
    webhook: Optional[Tuple[str, str]] = None  # (user id, code) on the webhook route
    token: Optional[str] = None  # OAuth route: header, else ``auth``, else ``access_token``
    #: the REST 3.0 route (``/rest/api/...``)
    v3: bool = False
    #: the ``Idempotency-Key`` header as sent (None: absent); only REST 3.0 reads it
    idempotency_key: Optional[str] = None


@dataclass
class Reply:
    status: int
    body: Any  # a JSON-able value, or bytes together with a non-JSON content_type
    content_type: str = JSON_TYPE
    #: "drop" / "slow": carried out after executing; "hang" / "redirect": answered instead
    #: (never / 301), nothing was executed (see :mod:`.routing`)
    fault: Optional[str] = None
    #: modelled server seconds this request slept (its cost): an in-memory transport
    #: compares it with the client's read timeout, as a socket would
    took: float = 0.0
    #: headers besides the usual ones (``Idempotent-Replayed``)
    headers: Tuple[Tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Options:
    batch_billing: str = "own"
    classic_out_of_range_page1: bool = True
    minus1_total: str = "auto"
    quirks: Quirks = NO_QUIRKS
    #: which ``time`` fields replies carry, the 60 s cut, the batch length (see :mod:`.replies`)
    time_fields: str = "full"
    cut: Optional[float] = None
    batch_length: int = MAX_LENGTH
    batch_length_error: str = "commands"

    def __post_init__(self) -> None:
        if self.batch_billing not in ("own", "batch"):
            raise ValueError("batch_billing must be 'own' or 'batch'")
        replies.check(self.time_fields, self.cut, self.batch_length, self.batch_length_error)


def _iso(moment: float) -> str:
    return _iso_second(int(moment))


# Two per command, and astimezone() looks the local zone up every time; the text only has
# whole seconds, so one lookup per second serves them all.
@functools.lru_cache(maxsize=8)
def _iso_second(second: int) -> str:
    return datetime.fromtimestamp(second).astimezone().isoformat(timespec="seconds")


def time_block(started: float, finished: float, processing: float, operating: float,
               reset_at: int) -> Dict[str, Any]:
    """The ``time`` object (api-reference/data-types.md#time); ``start`` is an int as in 2026."""
    return {
        "start": int(started),
        "finish": finished,
        "duration": finished - started,
        "processing": processing,
        "date_start": _iso(started),
        "date_finish": _iso(finished),
        "operating_reset_at": reset_at,
        "operating": operating,
    }


def _error(fault: ApiFault) -> Reply:
    return Reply(fault.status, fault.body())


class Dispatcher:
    """Runs REST requests against the store under the portal's limits. Thread-safe."""

    def __init__(
        self,
        store: MethodStore,
        credentials: Credentials,
        bucket: LeakyBucket,
        ledger: OperatingLedger,
        cost: CostModel,
        faults: FaultPlan,
        stats: Stats,
        options: Options = Options(),
        *,
        clock: Clock = SYSTEM_CLOCK,
        workers: Optional[WorkerPool] = None,
        v3: Optional[V3Methods] = None,
        idempotency: Optional[IdempotencyStore] = None,
    ) -> None:
        self.store = store
        self.credentials = credentials
        self.bucket = bucket
        self.ledger = ledger
        self.cost = cost
        self.faults = faults
        self.stats = stats
        self.options = options
        self._clock = clock
        self.workers = workers if workers is not None else WorkerPool(None, stats)
        self.v3 = v3 if v3 is not None else V3Methods(store)
        self.idempotency = idempotency if idempotency is not None else IdempotencyStore(
            clock=clock)

    # -- one HTTP request ------------------------------------------------------------------
    def handle(self, request: RestRequest) -> Reply:
        self.stats.enter()
        try:
            return self._handle(request)
        finally:
            self.stats.leave()

    def _handle(self, request: RestRequest) -> Reply:
        accepted, at = self.bucket.try_acquire()
        self.stats.request(accepted, at)
        if not accepted:
            refusal = too_many()
            self.stats.error(refusal.code)
            return _error(refusal)
        fault = self.faults.draw()
        if fault in BATCH_ONLY and request.method != "batch":
            fault = None  # nothing to spoil: a single call's reply has no labels
        if fault:
            self.stats.fault(fault)
        if fault == "500":
            return Reply(500, dict(INTERNAL_ERROR_BODY))
        if fault == "502":
            return Reply(502, BAD_GATEWAY_HTML, "text/html")
        if fault in ("hang", "redirect"):
            return Reply(0, b"", "text/html", fault=fault)
        reply = self._execute(request)
        if fault == "504":
            # ... after the method ran
            return Reply(504, GATEWAY_TIMEOUT_HTML, "text/html", took=reply.took)
        if fault in BATCH_ONLY:
            if reply.status == 200 and isinstance(reply.body, dict):
                groups = reply.body.get("result")
                if fault == "nullresult":
                    reply.body["result"] = None
                elif isinstance(groups, dict):
                    reply.body["result"] = leave_out(groups, batch_labels(request.params))
            return reply
        reply.fault = fault
        return reply

    def _execute(self, request: RestRequest) -> Reply:
        with self.workers:  # a PHP worker, held while the method runs and its time is slept
            return self._run(request)

    def _run(self, request: RestRequest) -> Reply:
        method = request.method
        try:
            if request.v3:
                self.stats.bump("v3_requests")
                if not (method and self.v3.knows(method)):
                    raise not_found_v3()
            elif not self._knows(method):
                raise not_found()
            if request.webhook is not None:
                identity = self.credentials.check_webhook(*request.webhook)
            else:
                identity = self.credentials.check_token(request.token)
        except ApiFault as fault:
            self.stats.error(fault.code)
            return _error(fault)
        if request.v3:
            return self._v3(identity, request)
        if method == "batch":
            reply = self._batch(identity, request.params)
        else:
            entry, status, slept = self.call(identity, method, request.params)
            reply = Reply(status, entry, took=slept)
            cut = self.options.cut
            if cut is not None and slept > cut:
                reply = self._cut(slept)
        replies.shape_time(reply.body, self.options.time_fields)
        return reply

    def _cut(self, took: float) -> Reply:
        """What a request past the cut gets: the proxy's 504, at the cut."""
        self.stats.bump("cut")
        return Reply(504, GATEWAY_TIMEOUT_HTML, "text/html",
                     took=min(took, self.options.cut or took))

    def _v3(self, identity: Identity, request: RestRequest) -> Reply:
        """A REST 3.0 call; a write with an ``Idempotency-Key`` goes through the key store."""
        method, params, key = request.method, request.params, request.idempotency_key
        keyed = key is not None and self.v3.writes(method)
        scope = (identity.kind, identity.entity, identity.user_id, method)
        if key is not None and keyed:
            if not valid_key(key):
                return self._refuse(V3Fault(INVALID, "The Idempotency-Key header is invalid",
                                            400))
            stored, differs = self.idempotency.find(scope, key, params)
            if stored is not None and differs:
                return self._refuse(V3Fault(
                    REUSED, "The Idempotency-Key was already used with another request body",
                    422))
            if stored is not None:
                self.stats.bump("idempotent_replays")
                return Reply(stored.status, stored.body,
                             headers=(("Idempotent-Replayed", "true"),))
        entry, status, slept = self.call(identity, method, params, store=self.v3)
        if key is not None and keyed and status == 200:
            self.idempotency.record(scope, key, params, status, entry)
        return Reply(status, entry, took=slept)

    def _refuse(self, fault: ApiFault) -> Reply:
        self.stats.error(fault.code)
        return _error(fault)

    def _knows(self, method: str) -> bool:
        return method == "batch" or (bool(method) and self.store.knows(method))

    # -- one method call ---------------------------------------------------------------------
    def call(
        self,
        identity: Identity,
        method: str,
        params: Dict[str, Any],
        *,
        in_batch: bool = False,
        shared: Optional[Tuple[float, int]] = None,
        at: Optional[float] = None,
        store: Optional[MethodStore] = None,
    ) -> Tuple[Dict[str, Any], int, float]:
        """Run one method (a single call or a batch command).

        Returns (entry, HTTP status, billable seconds).
        ``shared`` is the batch's (operating, reset_at) under ``batch`` billing: the
        command is then neither checked nor billed on its own method. A batch command does
        not sleep its modelled cost itself: it is checked and billed at ``at``, its modelled
        start, and the batch sleeps once for all its commands (see :meth:`_batch`).
        ``store`` runs the method instead of the portal's store (the REST 3.0 methods).
        """
        started = self._clock.wall() if at is None else at
        key = (identity.kind, identity.entity, method)
        billed = shared is None
        try:
            if billed and self.ledger.blocked(key, started):
                raise blocked()
            context = CallContext(
                user_id=identity.user_id,
                classic_out_of_range_page1=self.options.classic_out_of_range_page1,
                minus1_total=self.options.minus1_total,
                quirks=self.options.quirks,
                extra={"auth_type": identity.kind},
                now=started,
            )
            begun = self._clock.now()
            worked = time.perf_counter()
            outcome = (self.store if store is None else store).call(method, params, context)
        except ApiFault as fault:
            if not in_batch:
                self.stats.error(fault.code)
            return fault.body(), fault.status, 0.0
        delay = self.cost.delay(outcome)
        # modelled server time, at most until the cut (a batch sleeps once for its commands)
        slept = 0.0 if in_batch else self._until_cut(delay)
        if slept > 0:
            self._clock.sleep(self._left(slept, worked))  # outside every lock
        if in_batch:
            # A command of a batch sleeps with the batch, once: its time is its modelled
            # cost, or its own work where that took longer -- as a call's own time is. (Their
            # sum reported 97 ms pages as 0.1 s and more under load, so a client took them for
            # billed calls that the ledger, billing the model, never billed.)
            processing = max(delay, self._passed(begun, 0.0))
        else:
            processing = self._passed(begun, slept)
        if billed:
            self.ledger.record(key, started, delay)
            operating, reset_at = self.ledger.snapshot(key, started)
        else:
            operating, reset_at = shared  # type: ignore[misc]
        entry: Dict[str, Any] = {"result": outcome.result}
        if outcome.next is not None:
            entry["next"] = outcome.next
        if outcome.total is not None:
            entry["total"] = outcome.total
        entry["time"] = time_block(started, started + processing, processing, operating, reset_at)
        self.stats.command(method, outcome)
        return entry, 200, delay

    def _until_cut(self, seconds: float) -> float:
        """Modelled seconds a request runs: ``seconds``, or until the cut if that is sooner."""
        cut = self.options.cut
        return seconds if cut is None else min(seconds, cut)

    def _passed(self, begun: float, modelled: float) -> float:
        """The portal time a call took: on the system clock what passed since ``begun``;
        on any other clock the modelled time alone -- there, other threads' sleeps add to
        the clock while this call runs (see FakeClock), and a reply must not report them
        as its own time (the client sizes its batches from it)."""
        if isinstance(self._clock, SystemClock):
            return self._clock.now() - begun
        return modelled

    def _left(self, modelled: float, worked: float) -> float:
        """What is left to sleep of ``modelled`` seconds once the sandbox's own work since
        ``worked`` (a ``perf_counter`` reading) is done: on the system clock that work is part
        of the server's time; on any other clock it takes no time at all."""
        if not isinstance(self._clock, SystemClock):
            return modelled
        return max(0.0, modelled - (time.perf_counter() - worked))

    # -- batch ---------------------------------------------------------------------------------
    def _batch(self, identity: Identity, params: Dict[str, Any]) -> Reply:
        started = self._clock.wall()
        begun = self._clock.now()
        worked = time.perf_counter()
        batch_key = (identity.kind, identity.entity, "batch")
        shared: Optional[Tuple[float, int]] = None
        if self.options.batch_billing == "batch":
            if self.ledger.blocked(batch_key, started):
                fault = blocked()
                self.stats.error(fault.code)
                return _error(fault)
            shared = self.ledger.snapshot(batch_key, started)
        seen: List[Tuple[float, int]] = []
        billable = [0.0]
        options = self.options
        if (options.batch_length_error == "whole" and
                replies.command_count(params) > options.batch_length):
            self.stats.error("ERROR_BATCH_LENGTH_EXCEEDED")
            return Reply(400, replies.too_long_body())
        cut = options.cut
        unstarted = [0]  # commands the cut came before

        def execute(method: str, sub_params: Dict[str, Any]) -> Dict[str, Any]:
            name = method.lower()
            if cut is not None and billable[0] >= cut:
                unstarted[0] += 1
                return {"error": "CUT", "error_description": "never started: the request was cut"}
            if not self._knows(name):
                return not_found().body()
            # On the modelled clock: each command starts when the ones before it would have
            # finished on the portal.
            at = self._clock.wall() + billable[0]
            entry, _, cost = self.call(identity, name, sub_params, in_batch=True, shared=shared,
                                       at=at)
            billable[0] += cost
            if "time" in entry:
                seen.append((entry["time"]["operating"], entry["time"]["operating_reset_at"]))
            return entry

        result = run_batch(params, execute, max_length=options.batch_length)
        ran = self._until_cut(billable[0])
        if ran > 0:
            # One sleep for the whole batch: fifty short sleeps per request cost the server
            # as much CPU in thread wake-ups as the queries themselves.
            self._clock.sleep(self._left(ran, worked))
        if cut is not None and (billable[0] > cut or unstarted[0]):
            return self._cut(billable[0])
        errors = result["result_error"]
        for error in errors.values() if isinstance(errors, dict) else errors:
            self.stats.error(str(error.get("error", "")), in_batch=True)
        processing = self._passed(begun, ran)
        if shared is not None:
            self.ledger.record(batch_key, started, billable[0])
            operating, reset_at = self.ledger.snapshot(batch_key, started)
        elif seen:
            # `batch` itself is not billed; report the most loaded method it touched
            operating = max(o for o, _ in seen)
            reset_at = min(r for _, r in seen)
        else:
            operating, reset_at = 0, int(started + self.ledger.window)
        body = {"result": result,
                "time": time_block(started, started + processing, processing, operating, reset_at)}
        return Reply(200, body, took=billable[0])
