"""``Bitrix``: the public client, a drop-in for fast_bitrix24's sync ``Bitrix``.

It builds every part once (credentials, transport, limiter, budget, retry policy, throttle,
thread pool) and hands each its collaborators; nothing below receives the client.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple,
                    Optional, Sequence, Sized, Tuple, Union)
from urllib.parse import urlsplit

import requests

from .net import credentials as auth
from .pacing import bucket_level as bucket_state
from .writes import bulk
from . import compat
from .protocol import methods
from .protocol.batch import MAX_COMMANDS, Command, CommandResult, unpack
from .writes.bulk import BulkCall, Chunk, Interrupted, Outcome
from .clock import SystemClock
from .protocol.encoding import can_encode
from .run.engine import Engine, may_have_executed
from .run.stop import Control, Halted
from .errors import AuthError, BatchError, BitrixError, Cancelled, DeadlineExceeded
from .run.scheduler import drive, map_ordered
from .pacing.inflight import InFlight
from .pacing.bucket import OperatingBudget, TokenBucket
from .protocol.params import check_list_params, check_method, check_params
from .listing import Listing, rows_of
from .run.work import Work
from .run.progress import ProgressSetting, make_progress
from .run.retry import Retry, RetryBudget
from .pacing.throttle import AdaptiveThrottle, ConcurrencyGate
from .protocol.redaction import redact
from .net.sender import Sender
from .net.transport import DEFAULT_TIMEOUT, RequestsTransport
from .config import TimeoutSpec, timeout_pair

logger = logging.getLogger("bitrix_fast")


class Page(NamedTuple):
    """One page of a list method: its rows and the server's ``total`` and ``next`` claims."""

    rows: List[Any]
    total: Optional[int]
    next: Optional[int]


class Rows(Iterator[Dict[str, Any]]):
    """The rows of one ``iter_all`` listing, as they arrive (see :meth:`Bitrix.iter_all`)."""

    def __init__(self, rows: Iterator[Any], listing: Listing, control: Control) -> None:
        self._rows = rows
        self._listing = listing
        self._control = control
        self._published: List[Tuple[int, int]] = []
        self._finished = False

    def __iter__(self) -> "Rows":
        return self

    def __next__(self) -> Dict[str, Any]:
        try:
            row: Dict[str, Any] = next(self._rows)
        except StopIteration:
            self._finished = True
            raise
        return row

    @property
    def total(self) -> Optional[int]:
        """The server's ``total`` (a claim, for progress), None while unknown."""
        return self._listing.total

    def covered(self) -> List[Tuple[int, int]]:
        """ID intervals ``[lo, hi)`` all of whose rows this iterator has handed out."""
        if self._finished:
            return self._listing.covered()
        return self._listing.handed_out()

    def stop(self, grace: float = 0.3) -> None:
        """Send nothing more: the iteration goes on with the rows of replies already received
        and of those landing within ``grace`` seconds, then ends. ``covered()`` then says what
        of the listing is complete (an export interrupted this way loses the least)."""
        self._control.halt(grace)

    def close(self) -> None:
        """Stop the listing: nothing more is sent; what is in flight is dropped."""
        self._rows.close()  # type: ignore[attr-defined]


class Bitrix:
    """A client for one portal.

    The positional parameters and their defaults are fast_bitrix24's, so migrating is changing
    the import. ``webhook`` is the incoming-webhook URL, or with ``token_func`` the portal's
    REST endpoint (``https://<portal>/rest/``). ``request_pool_size`` / ``requests_per_second``
    are the portal's bucket (50 / 2 standard, 250 / 5 Enterprise); ``operating_time_limit`` its
    per-method budget of server seconds per 10 minutes; ``respect_velocity_policy`` slows a
    method before that budget runs out and waits out its 429s (off: a 429 raises). ``client``
    is a ``requests.Session`` of yours (its other adapters are left alone); ``ssl`` is False to
    skip certificate checks or a CA-bundle path for self-hosted portals.

    Keyword-only: ``max_workers`` (a cap on requests in flight and threads; by default
    ``request_pool_size``, and fewer are in flight whenever the portal's rate times its time
    per request needs fewer), ``timeout`` (seconds or ``(connect, read)``),
    ``retry`` (a :class:`~bitrix_fast.run.retry.Retry`, or a number of retries), ``limiter`` (any
    object with ``acquire()``, ``on_refused()``, ``rate``, ``burst`` -- e.g. a shared
    ``RedisLimiter``; if it also has ``budget(limit)``, the operating budget comes from
    there), ``progress`` (None: a bar when ``verbose`` and stderr is a terminal),
    ``deadline`` (seconds: the longest any one call may take, unless the call passes its own
    ``deadline=``; then it raises :class:`~bitrix_fast.errors.DeadlineExceeded`, having sent
    nothing more, saying how far it got).
    """

    def __init__(
        self,
        webhook: str,
        token_func: Any = None,
        verbose: bool = True,
        respect_velocity_policy: bool = True,
        request_pool_size: int = 50,
        requests_per_second: float = 2.0,
        batch_size: int = 50,
        operating_time_limit: float = 480,
        client: Optional[requests.Session] = None,
        ssl: Union[bool, str] = True,
        *,
        max_workers: Optional[int] = None,
        timeout: TimeoutSpec = DEFAULT_TIMEOUT,
        retry: Union[Retry, int, bool, None] = None,
        limiter: Any = None,
        progress: ProgressSetting = None,
        deadline: Optional[float] = None,
    ) -> None:
        _check_constructor(request_pool_size, requests_per_second, batch_size,
                           operating_time_limit, client, ssl, max_workers)
        Control.start("Bitrix", deadline, time.monotonic)  # checks it
        self._deadline = deadline
        self.verbose = bool(verbose)
        self.batch_size = batch_size
        self._progress = progress
        self._credentials = auth.credentials(webhook, token_func)
        # As many requests in flight as the portal admits at once (its burst: 50, 250 on
        # Enterprise): threads waiting on sockets are cheap, and on a portal whose batches
        # take seconds, rate x time per request is what reaches its rate (see inflight.py).
        # The engine's in-flight limit keeps fewer in flight whenever that is enough.
        workers = max_workers or request_pool_size
        self._workers = workers
        clock = SystemClock()
        credentials = self._credentials
        self._transport = Sender(
            credentials,
            RequestsTransport(credentials.base_url, session=client, pool_size=workers,
                              verify=ssl, hide=lambda text: redact(text, credentials.secrets)),
            clock=clock, timeout=timeout_pair(timeout))
        self._limiter = limiter if limiter is not None else _portal_bucket(
            requests_per_second, request_pool_size, clock,
            urlsplit(self._credentials.base_url).netloc)
        # A shared limiter (RedisLimiter) shares the operating budget too.
        shared_budget = getattr(self._limiter, "budget", None)
        budget = (shared_budget(float(operating_time_limit)) if callable(shared_budget)
                  else OperatingBudget(limit=float(operating_time_limit), clock=clock,
                                       margin=_budget_margin(operating_time_limit)))
        self._engine = Engine(
            self._transport, self._credentials,
            limiter=self._limiter,
            budget=budget,
            retry=Retry.from_value(retry),
            retry_budget=RetryBudget(),
            throttle=AdaptiveThrottle(self._limiter.rate, workers, clock=clock),
            gate=ConcurrencyGate(workers),
            inflight=InFlight(workers),
            clock=clock,
            respect_budget=respect_velocity_policy,
        )
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pool_lock = threading.Lock()
        self._closed = False

    # -- reading lists --------------------------------------------------------------------

    def get_all(self, method: str, params: Optional[Mapping[str, Any]] = None, *,
                deadline: Optional[float] = None) -> List[Dict[str, Any]]:
        """Every row of a list method, each once, sorted by ID (unless the call sets its own
        order) -- or an error that says what could not be read (see README: how a list is
        proven complete). A method that answers with a dict instead of rows gets that dict
        back (a one-key dict unwrapped, as fast_bitrix24 does). Warns as fast_bitrix24 warns:
        a method that is not a list, ``select: ["*"]`` with no filter, None in a filter."""
        method = check_method(method)
        control = self._control(method, deadline)
        compat.warn_get_all(method, params)
        plan = self._plan(method, params)
        rows = list(self._iterate(method, plan, read_ahead=None, control=control))
        if plan.result_dict is not None:
            return compat.unwrap(method, plan.result_dict)
        return plan.finish(rows)

    def iter_all(self, method: str, params: Optional[Mapping[str, Any]] = None,
                 *, read_ahead: Optional[int] = None,
                 skip: Iterable[Tuple[int, int]] = (),
                 deadline: Optional[float] = None) -> "Rows":
        """Every row of a list method, yielded as replies arrive, each ID once, in no
        particular order. At most ``read_ahead`` requests' worth of rows are held at a time
        (by default as many as may be in flight: ``request_pool_size``, ~2,500 rows each),
        so memory stays flat however big the table is.

        The iterator's ``covered()`` lists the ID intervals ``[lo, hi)`` whose every row it
        has handed out so far; pass them back as ``skip`` to read only the rest (an
        interrupted export's resume). ``close()`` stops it and cancels what is not sent."""
        if read_ahead is not None and (isinstance(read_ahead, bool) or
                                       not isinstance(read_ahead, int) or read_ahead < 1):
            raise ValueError(f"iter_all(): read_ahead must be an int >= 1, got {read_ahead!r}")
        method = check_method(method)
        control = self._control(method, deadline)
        plan = self._plan(method, params, skip=_intervals(skip))
        return Rows(self._iterate(method, plan, read_ahead=read_ahead, control=control), plan,
                    control)

    def get_by_ID(self, method: str, ID_list: Iterable[Any], ID_field_name: str = "ID",
                  params: Optional[Mapping[str, Any]] = None, *,
                  deadline: Optional[float] = None) -> Any:
        """``method`` called once per ID, batched and in parallel: ``{ID: result}`` with the
        IDs as str keys (as the batch reply prints them: ``5`` -> ``"5"``), in ``ID_list``'s
        order, results as the portal gave them. For a single ID, its result alone (a
        one-element list as its element), as fast_bitrix24 returns it. A failure raises
        :class:`BatchError` keyed the same way."""
        method = check_method(method)
        control = self._control(method, deadline)
        base = check_params(params, method)
        if not isinstance(ID_field_name, str) or not ID_field_name.strip():
            raise TypeError("ID_field_name must be a non-empty str")
        if isinstance(ID_list, (str, bytes, Mapping)) or not isinstance(ID_list, Iterable):
            raise TypeError("ID_list must be an iterable of IDs")
        field = ID_field_name.strip()
        if field in base:
            raise ValueError(f"get_by_ID(): params must not contain {field!r}; it comes "
                             f"from ID_list")
        compat.warn_none_in_filter(method, params)
        # IDs that print alike (5 and "5") are one command, as they are one key of the answer.
        labelled: Dict[str, Any] = {}
        for ID in ID_list:
            labelled.setdefault(compat.id_label(ID), ID)
        labels = list(labelled)
        try:
            results = self._bulk(method, [{field: ID, **base} for ID in labelled.values()],
                                 control)
        except (BatchError, DeadlineExceeded, Cancelled) as error:
            report = error if isinstance(error, BatchError) else getattr(error, "partial", None)
            if isinstance(error, BatchError):
                _raise_if_refused_as_a_whole(error)
            if report is not None:
                for name in ("results", "errors", "in_doubt", "not_sent"):
                    setattr(report, name, {labels[i]: value
                                           for i, value in getattr(report, name).items()})
            raise
        return compat.by_id({labels[index]: results[index] for index in range(len(labels))})

    def first_pages(self, method: str, params_list: Sequence[Mapping[str, Any]], *,
                    deadline: Optional[float] = None) -> List["Page"]:
        """The first page (up to 50 rows) of ``method`` for each parameter set, with the
        server's ``total`` and ``next`` for it: one counted command each, 50 commands per
        request, requests in parallel; results in input order.

        A building block for counting: ``{"filter": {">=ID": 1, "<ID": 5001}, "select":
        ["ID"]}`` asks how many rows an ID range holds. Counts are the server's claims
        (a COUNT over joins can exceed the rows); any failed command raises its error."""
        method = check_method(method)
        control = self._control(method, deadline)
        if isinstance(params_list, (str, bytes, Mapping)) or not isinstance(params_list,
                                                                            Sequence):
            raise TypeError("first_pages(): params_list must be a list of parameter dicts")
        prepared = []
        for params in params_list:
            checked = check_list_params(params, method)
            prepared.append({**checked, "start": 0})
        chunks = [list(range(start, min(start + self.batch_size, len(prepared))))
                  for start in range(0, len(prepared), self.batch_size)]

        def run(chunk: List[int]) -> List[CommandResult]:
            commands = [Command(f"c{n:04d}", method, prepared[i]) for n, i in enumerate(chunk)]
            return self._engine.batch(commands, read_only=True, control=control)

        facts = methods.list_facts(method)
        pages: List[Page] = []
        for outcomes in map_ordered(run, chunks, self._pool_(), check=_check(control)):
            for outcome in outcomes:
                if not outcome.ok:
                    raise outcome.error or BitrixError(f"{method}: a page was not read")
                rows = rows_of(outcome.result, facts)
                pages.append(Page(rows if rows is not None else [], outcome.total,
                                  outcome.next))
        return pages

    # -- calling methods ------------------------------------------------------------------

    def call(self, method: str, items: Union[Mapping[str, Any], Sequence[Mapping[str, Any]],
                                             None] = None, raw: bool = False, *,
             deadline: Optional[float] = None) -> Any:
        """Call ``method``, with fast_bitrix24's result shapes:

        * one dict: called once; returns its result (a one-key result such as
          ``{"item": {...}}`` unwrapped);
        * a list of dicts: once per item, batched 50 per request, batches in parallel;
          returns a tuple of results in input order, or -- when the results are wrapped or
          lists -- a list of the unwrapped values, flattened into one list of rows when each
          is a list (a list method, which also warns: ``get_all`` reads every page);
        * ``raw=True``: one unbatched JSON call with ``items`` as the body, returning the
          server's whole envelope (``"batch"`` included).

        Failures raise :class:`BatchError` holding every result that succeeded, every error,
        and every item whose fate is unknown."""
        if raw:
            return self._raw(method, items, deadline)
        method = check_method(method)
        control = self._control(method, deadline)
        compat.warn_call(method)
        if items is None or isinstance(items, Mapping):
            params = check_params(items, method)
            envelope = self._engine.call(method, params, read_only=methods.is_read_only(method),
                                         control=control)
            return compat.call_one(method, envelope.get("result") if isinstance(envelope, dict)
                                   else envelope)
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise TypeError("items must be a dict or a list of dicts")
        prepared = [check_params(item, method) for item in items]
        try:
            results = self._bulk(method, prepared, control)
        except (BatchError, DeadlineExceeded, Cancelled) as error:
            report = error if isinstance(error, BatchError) else getattr(error, "partial", None)
            if isinstance(error, BatchError):
                _raise_if_refused_as_a_whole(error)
            if report is not None:
                report.results = {i: compat.unwrap(method, r) for i, r in report.results.items()}
            raise
        return compat.call_many(method, [results[index] for index in range(len(prepared))])

    def _raw(self, method: str, items: Any, deadline: Optional[float] = None) -> Any:
        name = methods.normalize(method)
        control = self._control(name, deadline)
        params = {} if items is None else items
        if not isinstance(params, (Mapping, list)):
            raise TypeError("call(raw=True) sends items as the JSON body: a dict or a list")
        read_only = (_batch_reads_only(params) if name == "batch"
                     else methods.is_read_only(name))
        return self._engine.call(name, params, read_only=read_only, control=control)

    def iter_call(self, method: str, items: Iterable[Mapping[str, Any]], *,
                  look_ahead: Optional[int] = None,
                  stop_wait: Optional[float] = None,
                  on_send: Optional[Callable[[Tuple[int, ...]], None]] = None,
                  deadline: Optional[float] = None) -> BulkCall:
        """Call ``method`` once per item of ``items`` (any iterable of parameter dicts, read
        lazily), 50 items per batch request, batches in parallel; yield one
        :class:`~bitrix_fast.writes.bulk.Outcome` per item as each batch returns (not in input
        order): its input ``index`` and a ``status`` -- ``RESULT`` (``.result``), ``ERROR``
        (``.error``), ``IN_DOUBT`` (the request may have run: check before resending) or
        ``NOT_SENT`` (never sent: safe to send again).

        At most ``look_ahead`` batches (default: twice the worker threads) are submitted at a
        time, so memory stays flat however long the input. An authentication error stops the
        call: nothing more is sent and every item not sent comes out ``NOT_SENT``. So do
        ``stop()``, ``close()`` and Ctrl+C, after waiting for the requests in flight (at most
        ``stop_wait`` seconds, by default the request timeout; what still runs is then in
        doubt); Ctrl+C is re-raised once every item is reported. See :mod:`bitrix_fast.writes.bulk`.

        ``on_send(indexes)``, if given, is called in a worker thread just before each batch
        is sent, with its items' indexes: where a journal records "about to be sent", so that
        even a ``kill -9`` leaves a record of what may have run. It must be thread-safe; if
        it raises, that batch is not sent, the call stops and the error is raised at the end.

        ::

            with bx.iter_call("crm.deal.add", ({"fields": row} for row in rows)) as outcomes:
                for outcome in outcomes:
                    journal.write(outcome.index, outcome.status, outcome.result or outcome.error)

        Results are unwrapped as ``call`` unwraps them (``{"item": {...}}`` -> ``{...}``).
        """
        return self._iter_call(method, items, look_ahead=look_ahead, stop_wait=stop_wait,
                               on_send=on_send, unwrap=True,
                               control=self._control(method, deadline))

    def _iter_call(self, method: str, items: Iterable[Mapping[str, Any]], *,
                   look_ahead: Optional[int], stop_wait: Optional[float],
                   on_send: Optional[Callable[[Tuple[int, ...]], None]],
                   unwrap: bool, control: Optional[Control]) -> BulkCall:
        method = check_method(method)
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise TypeError(f"{method}: items must be an iterable of parameter dicts")
        if look_ahead is None:
            look_ahead = 2 * self._workers
        if not isinstance(look_ahead, int) or isinstance(look_ahead, bool) or look_ahead < 1:
            raise ValueError(f"{method}: look_ahead must be an int >= 1, got {look_ahead!r}")
        if stop_wait is None:
            stop_wait = sum(self._transport.timeout)
        if not isinstance(stop_wait, (int, float)) or isinstance(stop_wait, bool) or stop_wait < 0:
            raise ValueError(f"{method}: stop_wait must be seconds >= 0, got {stop_wait!r}")
        read_only = methods.is_read_only(method)
        total = len(items) if isinstance(items, Sized) else None

        def run(chunk: Chunk, before_send: Callable[[], None]) -> List[CommandResult]:
            if chunk.single:
                return [self._single(method, dict(chunk.items[0]), read_only, before_send,
                                     control)]
            commands = [Command(f"c{n:04d}", method, params)
                        for n, params in enumerate(chunk.items)]
            return self._engine.batch(commands, read_only=read_only, before_send=before_send,
                                      control=control)

        return BulkCall(
            method, items, run, self._pool_(),
            read_only=read_only, batch_size=self.batch_size, look_ahead=look_ahead,
            stop_wait=float(stop_wait),
            check=lambda item: check_params(item, method),
            batchable=can_encode,
            # _bulk hands results on exactly as the portal gave them: call() and get_by_ID()
            # shape them by what was asked (compat), which unwrapping here would spoil.
            unwrap=(lambda result: compat.unwrap(method, result)) if unwrap else (lambda r: r),
            progress=lambda: make_progress(self._progress, self.verbose, method, total=total,
                                           unit="items", burst=getattr(self._limiter, "burst", 50)),
            on_send=on_send,
            control=control,
        )

    def call_batch(self, params: Mapping[str, Any], *,
                   deadline: Optional[float] = None) -> Any:
        """Run one ``batch`` of your own: ``{"halt": 0, "cmd": {label: "method?query"}}``.
        Returns the reply's results as the portal gave them: ``{label: result}``, or a list
        when ``cmd`` is a list. ``$result[...]`` references are passed through as written.
        Any failed command raises :class:`BatchError` with the others' results."""
        if not isinstance(params, Mapping):
            raise TypeError("call_batch() takes {'halt': 0, 'cmd': {label: 'method?query'}}")
        cmd = _batch_commands(params)
        if not cmd:
            raise ValueError("call_batch(): 'cmd' must be a non-empty dict of commands")
        if len(cmd) > MAX_COMMANDS:
            raise ValueError(f"call_batch(): at most {MAX_COMMANDS} commands per batch "
                             f"(the server refuses the rest), got {len(cmd)}")
        for label, command in cmd.items():
            if not isinstance(command, str):
                raise TypeError(f"call_batch(): command {label!r} must be a 'method?query' str")
        read_only = _batch_reads_only(params)
        envelope = self._engine.call("batch", dict(params), read_only=read_only,
                                     control=self._control("batch", deadline))
        halt = {str(k).lower(): v for k, v in params.items()}.get("halt")
        # A reply without a command's result (labels missing, a null or garbled result)
        # loses nothing and claims nothing: the command is in doubt; with halt=1, the
        # commands after the failed one were simply not run.
        outcomes = unpack(envelope.get("result") if isinstance(envelope, dict) else None,
                          [Command(str(label), _method_of(cmd, label)) for label in cmd],
                          halt=halt not in (None, False, 0, "0", ""),
                          hide=lambda text: redact(text, self._credentials.secrets))
        results = {o.label: o.result for o in outcomes if o.ok}
        doubt = {o.label for o in outcomes if o.in_doubt and not read_only}
        errors = {o.label: o.error for o in outcomes
                  if o.error is not None and o.label not in doubt}
        in_doubt = {o.label: o.error for o in outcomes if o.label in doubt}
        if errors or in_doubt:
            raise BatchError("batch", results=results, errors=errors, in_doubt=in_doubt)
        if _batch_listed(params):  # a list of commands gets a list back, as the portal sends
            return [results[label] for label in cmd]
        return results

    def list_and_get(self, method_branch: str, ID_field_name: str = "ID", *,
                     deadline: Optional[float] = None) -> Any:
        """fast_bitrix24's ``list_and_get``: every ID via ``<branch>.list``, then
        ``<branch>.get`` for each, answered as :meth:`get_by_ID` answers. Deprecated there and
        here (a DeprecationWarning): ``get_all`` with a ``select`` reads 50 times more rows
        per request. Raises ValueError when the list's rows have no ``ID_field_name``."""
        compat.warn_list_and_get()
        branch = check_method(method_branch)
        if re.search(r"\.(list|get)$", branch):
            raise ValueError(f"list_and_get(): {method_branch!r} must be a branch such as "
                             f"'crm.lead', without '.list' or '.get'")
        control = self._control(branch, deadline)
        rows = self.get_all(f"{branch}.list", {"select": [ID_field_name]},
                            deadline=control.remaining())
        try:
            ids = [row[ID_field_name] for row in rows]
        except (TypeError, KeyError):
            raise ValueError(f"list_and_get(): the rows of {branch}.list have no "
                             f"{ID_field_name!r} field; it cannot be used with this branch "
                             f"(pass ID_field_name?)") from None
        return self.get_by_ID(f"{branch}.get", ids, ID_field_name,
                              deadline=control.remaining())

    # -- control --------------------------------------------------------------------------

    @contextmanager
    def slow(self, max_concurrent_requests: int = 1) -> Iterator[bool]:
        """Cap the requests in flight for the duration of the block."""
        if (not isinstance(max_concurrent_requests, int) or isinstance(max_concurrent_requests, bool)
                or max_concurrent_requests < 1):
            raise ValueError("max_concurrent_requests must be an int >= 1")
        previous = self._engine.cap_concurrency(max_concurrent_requests)
        try:
            yield True
        finally:
            self._engine.cap_concurrency(previous)

    def stats(self) -> Dict[str, Any]:
        """What the client did so far and the limits it runs at now: requests, commands,
        retries, token refreshes, refusals seen (503, 429), seconds waited on the bucket, the
        budget and backoff, the effective rate and concurrency, per-method operating time."""
        return self._engine.snapshot()

    def close(self) -> None:
        """Stop the worker threads and close the HTTP session (if it is ours)."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._transport.close()

    def __enter__(self) -> "Bitrix":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Bitrix {self._credentials.display}>"

    # -- internals --------------------------------------------------------------------------

    def _pool_(self) -> ThreadPoolExecutor:
        if self._closed:
            raise RuntimeError("this Bitrix client is closed")
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="bitrix_fast")
            return self._pool

    def _plan(self, method: str, params: Optional[Mapping[str, Any]], *,
              skip: Sequence[Tuple[int, int]] = ()) -> Listing:
        checked = check_list_params(params, method)
        return Listing(method, checked, methods.list_facts(method), batch_size=self.batch_size,
                       single=not can_encode(checked), skip=skip)

    def _control(self, method: str, deadline: Optional[float]) -> Control:
        """This call's deadline (its own, else the client's) and cancel signal."""
        return Control.start(method, self._deadline if deadline is None else deadline,
                             time.monotonic)

    def _iterate(self, method: str, plan: Listing, *, read_ahead: Optional[int],
                 control: Control) -> Iterator[Any]:
        in_flight = self._workers if read_ahead is None else min(read_ahead, self._workers)
        handed = [0]
        control.progress = lambda: (f"{handed[0]:,} rows" +
                                    (f" of ~{plan.total:,}" if plan.total else ""))

        def run(work: Work) -> List[CommandResult]:
            return self._run(work, control)

        check = _check(control)
        with make_progress(self._progress, self.verbose, method) as bar:
            for row in drive(plan, run, self._pool_(), max_in_flight=in_flight,
                             on_rows=bar.update,
                             check=None if check is None else partial(control.check,
                                                                       halts=False),
                             halted=lambda: (control.grace_until if control.halted.is_set()
                                             else None),
                             is_halt=lambda error: isinstance(error, Halted)):
                handed[0] += 1
                yield row

    def _run(self, work: Work, control: Optional[Control] = None) -> List[CommandResult]:
        if work.single:
            (command,) = work.commands
            envelope = self._engine.call(command.method, dict(command.params), read_only=True,
                                         control=control)
            return [_as_result(command, envelope)]
        return self._engine.batch(work.commands, resend=not work.chained, read_only=all(
            methods.is_read_only(c.method) for c in work.commands), control=control)

    def _bulk(self, method: str, items: List[Dict[str, Any]],
              control: Optional[Control] = None) -> Dict[int, Any]:
        """Run one command per item; {position: unwrapped result}, or BatchError holding every
        result, error, item in doubt and item not sent. Ctrl+C raises
        :class:`~bitrix_fast.writes.bulk.Interrupted` (a KeyboardInterrupt) holding the same; a
        passed deadline raises DeadlineExceeded, a cancel Cancelled, with it as ``partial``."""
        outcomes: List[Outcome] = []
        try:
            for outcome in self._iter_call(method, items, look_ahead=None, stop_wait=None,
                                           on_send=None, unwrap=False, control=control):
                outcomes.append(outcome)
        except KeyboardInterrupt:
            raise Interrupted(bulk.report(method, outcomes)[1]) from None
        except (DeadlineExceeded, Cancelled) as stopped:
            report = bulk.report(method, outcomes)[1]
            if isinstance(stopped, DeadlineExceeded):
                raise DeadlineExceeded(method, stopped.seconds, stopped.progress,
                                       partial=report) from None
            cancelled = Cancelled(str(stopped))
            cancelled.partial = report  # type: ignore[attr-defined]
            raise cancelled from None
        results, error = bulk.report(method, outcomes)
        if error.errors or error.in_doubt or error.not_sent:
            raise error
        return results

    def _single(self, method: str, params: Dict[str, Any], read_only: bool,
                before_send: Optional[Callable[[], None]] = None,
                control: Optional[Control] = None) -> CommandResult:
        """One item as its own JSON call, its failure recorded rather than raised."""
        command = Command("c0000", method, params)
        try:
            envelope = self._engine.call(method, params, read_only=read_only,
                                         before_send=before_send, control=control)
        except BitrixError as error:
            doubt = not read_only and may_have_executed(error)
            return CommandResult(command.label, method, error=error, in_doubt=doubt,
                                 executed=doubt)
        return _as_result(command, envelope)


#: Tokens of the portal's burst left unused. Requests arrive a little later or earlier than
#: their tokens were granted (threads, the GIL, the network); a portal running at its limit
#: refuses the one that arrives early. Two tokens absorb 1 s of jitter at 2 req/s and 0.1 s at
#: 20 req/s (measured on the sandbox: 2 refusals in 6 stress runs without, none with).
HEADROOM = 2


def _portal_bucket(rate: float, burst: int, clock: Any, portal: str) -> TokenBucket:
    """The bucket of ``portal`` (host:port), its level shared with every other client of
    that portal on this machine (see :mod:`.bucket_state`)."""
    state = bucket_state.state_for(portal)
    if burst > HEADROOM:
        return TokenBucket(rate=rate, burst=burst, clock=clock, headroom=HEADROOM, state=state)
    # A burst too small to spare a token: pace 2% under the rate instead.
    return TokenBucket(rate=rate * 0.98, burst=burst, clock=clock, state=state)


def _budget_margin(limit: float) -> float:
    """Seconds short of the operating limit at which a method waits for the reset: 5 s of
    480 (b24jssdk's figure, for replies already in flight), a tenth of smaller budgets."""
    return min(5.0, limit / 10)


def _check(control: Optional[Control]) -> Optional[Callable[[], None]]:
    """``control.check`` when the call can stop early (a deadline, a cancel signal)."""
    if control is None or (control.until is None and control.cancel is None):
        return None
    return control.check


def _intervals(skip: Iterable[Tuple[int, int]]) -> List[Tuple[int, int]]:
    out = []
    for pair in skip:
        try:
            lo, hi = (int(value) for value in pair)
        except (TypeError, ValueError):
            raise TypeError("skip must be (lo, hi) pairs of integer IDs") from None
        out.append((lo, hi))
    return out


def _as_result(command: Command, envelope: Any) -> CommandResult:
    body = envelope if isinstance(envelope, dict) else {"result": envelope}
    return CommandResult(command.label, command.method, result=body.get("result"),
                         total=body.get("total"), next=body.get("next"), time=body.get("time"))


def _raise_if_refused_as_a_whole(error: BatchError) -> None:
    """A bulk call the portal refused for its credentials (a wrong webhook, a dead token)
    raises that AuthError, as a single call does: nothing ran, so there is nothing for a
    BatchError to keep, and ``except AuthError`` works the same for both."""
    failures = list(error.errors.values())
    if failures and not error.results and not error.in_doubt \
            and all(isinstance(failure, AuthError) for failure in failures):
        raise failures[0] from error


def _batch_commands(params: Mapping[str, Any]) -> Dict[str, Any]:
    """``cmd`` of a batch's parameters (any case) as ``{label: command}``; {} if missing."""
    cmd = {str(k).lower(): v for k, v in params.items()}.get("cmd")
    if isinstance(cmd, (list, tuple)):
        return {str(index): value for index, value in enumerate(cmd)}
    return dict(cmd) if isinstance(cmd, Mapping) else {}


def _batch_listed(params: Mapping[str, Any]) -> bool:
    """True when a batch's ``cmd`` is a list (its reply's results are then a list too)."""
    return isinstance({str(k).lower(): v for k, v in params.items()}.get("cmd"), (list, tuple))


def _batch_reads_only(params: Any) -> bool:
    """True when every command of a batch only reads, so resending it is harmless."""
    if not isinstance(params, Mapping):
        return False
    commands = _batch_commands(params).values()
    try:
        return bool(commands) and all(
            isinstance(c, str) and methods.is_read_only(methods.normalize(c.split("?", 1)[0]))
            for c in commands)
    except (TypeError, ValueError):
        return False


def _method_of(cmd: Mapping[str, Any], label: Any) -> str:
    command = cmd.get(str(label), "")
    return command.split("?", 1)[0] if isinstance(command, str) else ""


def _check_constructor(pool: Any, rps: Any, batch_size: Any, limit: Any, client: Any,
                       ssl: Any, max_workers: Any) -> None:
    def positive_int(name: str, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")

    positive_int("request_pool_size", pool)
    if not isinstance(rps, (int, float)) or isinstance(rps, bool) or rps <= 0:
        raise ValueError(f"requests_per_second must be a number > 0, got {rps!r}")
    positive_int("batch_size", batch_size)
    if batch_size > MAX_COMMANDS:
        raise ValueError(f"batch_size must be at most {MAX_COMMANDS}, got {batch_size}")
    if not isinstance(limit, (int, float)) or isinstance(limit, bool) or limit <= 0:
        raise ValueError(f"operating_time_limit must be a number > 0, got {limit!r}")
    if client is not None and not isinstance(client, requests.Session):
        raise TypeError("client must be a requests.Session (bitrix_fast does not use aiohttp)")
    if not isinstance(ssl, (bool, str)):
        raise TypeError("ssl must be True, False, or the path of a CA bundle")
    if max_workers is not None:
        positive_int("max_workers", max_workers)
