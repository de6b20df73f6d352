"""``Bitrix``: the public client, a drop-in for fast_bitrix24's sync ``Bitrix``.

It checks its keywords into one :class:`~bitrix_fast.config.ClientConfig`, has the factory
(:mod:`bitrix_fast.factory`) build every part once, and turns each public call into a source
of work for the one scheduler (:mod:`bitrix_fast.run.scheduler`): a listing, a bulk call,
one call. Nothing below receives the client.
"""
from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from typing import (Any, Callable, Dict, Generator, Iterable, Iterator, List, Mapping,
                    NamedTuple, Optional, Sequence, Tuple, Union)

import requests

from . import compat
from .clock import Clock
from .config import SETTLE_WAIT, ClientConfig, TimeoutSpec
from .errors import AuthError, BatchError, BitrixError, Cancelled, DeadlineExceeded, Stopped
from .factory import Parts, build
from .listing import Listing, rows_of
from .listing.v3 import V3Listing
from .listing.v3 import prepare as prepare_v3_listing
from .net.credentials import Credentials
from .net.transport import DEFAULT_TIMEOUT, Transport
from .net.v3 import v3_url
from .protocol import methods
from .protocol.batch import MAX_COMMANDS, Command, CommandResult, missing, unpack
from .protocol.encoding import can_encode
from .protocol.params import Params, check_method, find_key
from .protocol.redaction import redact
from .run.calls import FirstPages, OneCall
from .run.progress import ProgressSetting, make_progress
from .run.retry import Retry
from .run.stop import Stop
from .run.work import Delivery
from .typed import RowTyper, load_fields
from .writes import bulk
from .writes.bulk import BulkCall, BulkSource, Interrupted, Outcome, Status
from .writes.safe.keys import KeySpec
from .writes.safe.source import SafeWrites
from .writes.safe.result import UpsertResult, summary
from .writes.safe.upsert import UpsertSource, checked
from .writes.safe.v3calls import V3Calls
from .writes.safe.v3calls import items as v3_items

logger = logging.getLogger("bitrix_fast")


class Page(NamedTuple):
    """One page of a list method: its rows and the server's ``total`` and ``next`` claims."""

    rows: List[Any]
    total: Optional[int]
    next: Optional[int]


class Rows(Iterator[Dict[str, Any]]):
    """The rows of one ``iter_all`` listing, as they arrive (see :meth:`Bitrix.iter_all`)."""

    def __init__(self, deliveries: Generator[Delivery[Dict[str, Any]], None, None],
                 listing: Listing, stop: Stop, typer: Optional[RowTyper] = None) -> None:
        self._deliveries = deliveries
        self._typer = typer
        self._listing = listing
        self._stop = stop
        self._rows: Iterator[Dict[str, Any]] = iter(())
        #: the intervals whose every row has been handed out (see covered())
        self._published: List[Tuple[int, int]] = []
        self._finished = False

    def __iter__(self) -> "Rows":
        return self

    def __next__(self) -> Dict[str, Any]:
        while True:
            for row in self._rows:
                return row if self._typer is None else self._typer.row(row)
            try:
                delivery = next(self._deliveries)
            except StopIteration:
                self._finished = True
                raise
            # Taking the first row of a reply means every row of the ones before it was
            # taken: what was proven before that reply is now handed out in full.
            self._published = delivery.mark or []
            self._rows = iter(delivery.items)

    @property
    def total(self) -> Optional[int]:
        """The server's ``total`` (a claim, for progress), None while unknown."""
        return self._listing.total

    @property
    def unparsed(self) -> int:
        """With ``typed=True``: values so far that did not parse as their type (kept as
        the portal sent them)."""
        return 0 if self._typer is None else self._typer.unparsed

    def covered(self) -> List[Tuple[int, int]]:
        """ID intervals ``[lo, hi)`` all of whose rows this iterator has handed out."""
        if self._finished:
            return self._listing.covered()
        return list(self._published)

    def stop(self, grace: float = 0.3) -> None:
        """Send nothing more: the iteration goes on with the rows of replies already received
        and of those landing within ``grace`` seconds, then ends. ``covered()`` then says what
        of the listing is complete (an export interrupted this way loses the least)."""
        self._stop.halt(None, grace)

    def close(self) -> None:
        """Stop the listing: nothing more is sent; what is in flight is dropped."""
        self._stop.halt()
        self._deliveries.close()


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
    ``retry`` (a :class:`~bitrix_fast.Retry`, or a number of retries), ``limiter`` (a
    shared :class:`~bitrix_fast.pacing.shared.RedisLimiter`, which also shares the operating
    budget, or any object with ``acquire()``, ``on_refused()``, ``rate``, ``burst``),
    ``progress`` (None: a bar when ``verbose`` and stderr is a terminal), ``deadline``
    (seconds: the longest any one call may take, unless the call passes its own
    ``deadline=``; then it raises :class:`~bitrix_fast.errors.DeadlineExceeded`, having sent
    nothing more, saying how far it got), ``settle_wait`` (seconds after a write in doubt
    was sent before its absence is trusted or it is sent again under its REST 3.0 key:
    the portal cuts every request at 60 s; see :doc:`/guides/writes-safe-to-repeat`).
    ``transport`` and ``clock`` replace the HTTP transport and the system clock (tests:
    :mod:`bitrix_fast.testing`).
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
        settle_wait: float = SETTLE_WAIT,
        transport: Optional[Transport] = None,
        clock: Optional[Clock] = None,
    ) -> None:
        config = ClientConfig.build(
            webhook, token_func, verbose, respect_velocity_policy, request_pool_size,
            requests_per_second, batch_size, operating_time_limit, client, ssl,
            max_workers=max_workers, timeout=timeout, retry=retry, limiter=limiter,
            progress=progress, deadline=deadline, settle_wait=settle_wait)
        self._setup(build(config, transport=transport, clock=clock))

    @classmethod
    def from_config(cls, config: ClientConfig, *, transport: Optional[Transport] = None,
                    clock: Optional[Clock] = None,
                    credentials: Optional[Credentials] = None) -> "Bitrix":
        """A client built from a configuration value (the command line builds one;
        :class:`~bitrix_fast.OAuthApp` gives each portal's ``credentials``)."""
        client = cls.__new__(cls)
        client._setup(build(config, transport=transport, clock=clock,
                            credentials=credentials))
        return client

    def _setup(self, parts: Parts) -> None:
        self._parts = parts
        self._config = parts.config
        self._scheduler = parts.scheduler
        self._engine = parts.engine
        self.verbose = parts.config.verbose
        self.batch_size = parts.config.batch_size
        self._closed = False

    # -- reading lists --------------------------------------------------------------------

    def get_all(self, method: str, params: Optional[Mapping[str, Any]] = None, *,
                deadline: Optional[float] = None, typed: bool = False
                ) -> List[Dict[str, Any]]:
        """Every row of a list method, each once, sorted by ID (unless the call sets its own
        order) -- or an error that says what could not be read (see the docs: how a list is
        proven complete). A method that answers with a dict instead of rows gets that dict
        back (a one-key dict unwrapped, as fast_bitrix24 does). Warns as fast_bitrix24 warns:
        a method that is not a list, ``select: ["*"]`` with no filter, None in a filter.

        ``typed=True`` converts values by the method's ``*.fields`` description (one more
        request): numbers as numbers, Y/N as booleans, dates and moments as ``date`` and
        timezone-aware ``datetime``, a money field's currency under ``<field>__currency``;
        a value that does not parse is kept as the portal sent it (see :mod:`bitrix_fast.typed`)."""
        method = check_method(method)
        stop = self._stop(method, deadline)
        checked = Params.listing(method, params)
        compat.warn_get_all(checked)
        typer = self._typer(method, checked) if typed else None
        listing = self._listing(checked, at_once=self._look_ahead(None), finishing=True)
        deliveries = [delivery.items
                      for delivery in self._deliveries(listing, stop, read_ahead=None)]
        if listing.result_dict is not None:
            return compat.unwrap(method, listing.result_dict)  # type: ignore[no-any-return]
        finished = listing.finish(deliveries)
        return finished if typer is None else [typer.row(row) for row in finished]

    def iter_all(self, method: str, params: Optional[Mapping[str, Any]] = None,
                 *, read_ahead: Optional[int] = None,
                 skip: Iterable[Tuple[int, int]] = (),
                 deadline: Optional[float] = None, typed: bool = False) -> Rows:
        """Every row of a list method, yielded as replies arrive, each ID once, in no
        particular order. At most ``read_ahead`` requests' worth of rows are held at a time
        (by default as many as may be in flight: ``request_pool_size``, ~2,500 rows each),
        so memory stays flat however big the table is.

        The iterator's ``covered()`` lists the ID intervals ``[lo, hi)`` whose every row it
        has handed out so far; pass them back as ``skip`` to read only the rest (an
        interrupted export's resume). ``close()`` stops it and cancels what is not sent.
        ``typed=True`` converts values as :meth:`get_all` does."""
        if read_ahead is not None and (isinstance(read_ahead, bool) or
                                       not isinstance(read_ahead, int) or read_ahead < 1):
            raise ValueError(f"iter_all(): read_ahead must be an int >= 1, got {read_ahead!r}")
        method = check_method(method)
        stop = self._stop(method, deadline)
        checked = Params.listing(method, params)
        typer = self._typer(method, checked) if typed else None
        listing = self._listing(checked, skip=_intervals(skip),
                                at_once=self._look_ahead(read_ahead))
        return Rows(self._deliveries(listing, stop, read_ahead=read_ahead), listing, stop,
                    typer)

    def get_by_ID(self, method: str, ID_list: Iterable[Any], ID_field_name: str = "ID",
                  params: Optional[Mapping[str, Any]] = None, *,
                  deadline: Optional[float] = None) -> Any:
        """``method`` called once per ID, batched and in parallel: ``{ID: result}`` with the
        IDs as str keys (as the batch reply prints them: ``5`` -> ``"5"``), in ``ID_list``'s
        order, results as the portal gave them. For a single ID, its result alone (a
        one-element list as its element), as fast_bitrix24 returns it. A failure raises
        :class:`BatchError` keyed the same way."""
        method = check_method(method)
        stop = self._stop(method, deadline)
        base = Params(method, params)
        if not isinstance(ID_field_name, str) or not ID_field_name.strip():
            raise TypeError("ID_field_name must be a non-empty str")
        if isinstance(ID_list, (str, bytes, Mapping)) or not isinstance(ID_list, Iterable):
            raise TypeError("ID_list must be an iterable of IDs")
        field = ID_field_name.strip()
        if field in base.raw:
            raise ValueError(f"get_by_ID(): params must not contain {field!r}; it comes "
                             f"from ID_list")
        compat.warn_none_in_filter(base)
        # IDs that print alike (5 and "5") are one command, as they are one key of the answer.
        labelled: Dict[str, Any] = {}
        for ID in ID_list:
            labelled.setdefault(compat.id_label(ID), ID)
        labels = list(labelled)
        try:
            results = self._bulk(method, [{field: ID, **base.raw} for ID in labelled.values()],
                                 stop)
        except (BatchError, DeadlineExceeded, Cancelled) as error:
            report = error if isinstance(error, BatchError) else error.partial
            if isinstance(error, BatchError):
                _raise_if_refused_as_a_whole(error)
            if report is not None:
                report.results = {labels[i]: v for i, v in report.results.items()}
                report.errors = {labels[i]: v for i, v in report.errors.items()}
                report.in_doubt = {labels[i]: v for i, v in report.in_doubt.items()}
                report.not_sent = {labels[i]: v for i, v in report.not_sent.items()}
            raise
        return compat.by_id({labels[index]: results[index] for index in range(len(labels))})

    def first_pages(self, method: str, params_list: Sequence[Mapping[str, Any]], *,
                    deadline: Optional[float] = None) -> List[Page]:
        """The first page (up to 50 rows) of ``method`` for each parameter set, with the
        server's ``total`` and ``next`` for it: one counted command each, 50 commands per
        request, requests in parallel; results in input order.

        A building block for counting: ``{"filter": {">=ID": 1, "<ID": 5001}, "select":
        ["ID"]}`` asks how many rows an ID range holds. Counts are the server's claims
        (a COUNT over joins can exceed the rows); any failed command raises its error."""
        method = check_method(method)
        stop = self._stop(method, deadline)
        if isinstance(params_list, (str, bytes, Mapping)) or not isinstance(params_list,
                                                                            Sequence):
            raise TypeError("first_pages(): params_list must be a list of parameter dicts")
        prepared = [Params.listing(method, params).raw for params in params_list]
        source = FirstPages(method, prepared, batch_size=self.batch_size)
        answers: Dict[int, CommandResult] = {}
        for delivery in self._scheduler.run(source, stop):
            answers.update(delivery.items)
        facts = methods.list_facts(method)
        pages: List[Page] = []
        for position in range(len(prepared)):
            outcome = answers[position]
            rows = rows_of(outcome.result, facts)
            pages.append(Page(rows if rows is not None else [], outcome.total, outcome.next))
        return pages

    # -- calling methods ------------------------------------------------------------------

    def call(self, method: str, items: Union[Mapping[str, Any], Sequence[Mapping[str, Any]],
                                             None] = None, raw: bool = False, *,
             key: Optional[str] = None, deadline: Optional[float] = None) -> Any:
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
        and every item whose fate is unknown. Updates (``*.update``, ``*.set``) and deletes
        in doubt are sent again: they are safe to repeat (see the guide's table).

        ``key`` (adds of ``crm.deal / lead / contact / company / item`` only): the field of
        ``fields`` that holds each item's own ID in your system, such as ``"ORIGIN_ID"``,
        a ``UF_*`` field, or ``"originId"`` for ``crm.item.add``. Every item must hold a
        value no other item holds (else ValueError, before anything is sent). An add whose
        fate is unknown is then read back by its key and resent only when it is certainly
        not there, so each item is created exactly once; the result is the new records'
        IDs in item order."""
        if raw:
            if key is not None:
                raise ValueError("call(raw=True) sends one request as it is: no key=")
            return self._raw(method, items, deadline)
        method = check_method(method)
        stop = self._stop(method, deadline)
        if key is not None:
            return self._keyed(method, items, key, stop)
        compat.warn_call(method)
        if items is None or isinstance(items, Mapping):
            params = Params(method, items)
            envelope = self._one(method, params.raw, methods.is_read_only(method), stop)
            return compat.call_one(method, envelope.get("result") if isinstance(envelope, dict)
                                   else envelope)
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise TypeError("items must be a dict or a list of dicts")
        prepared = [Params(method, item).raw for item in items]
        try:
            results = self._bulk(method, prepared, stop)
        except (BatchError, DeadlineExceeded, Cancelled) as error:
            report = error if isinstance(error, BatchError) else error.partial
            if isinstance(error, BatchError):
                _raise_if_refused_as_a_whole(error)
            if report is not None:
                report.results = {i: compat.unwrap(method, r) for i, r in report.results.items()}
            raise
        return compat.call_many(method, [results[index] for index in range(len(prepared))])

    def iter_call(self, method: str, items: Iterable[Mapping[str, Any]], *,
                  look_ahead: Optional[int] = None,
                  stop_wait: Optional[float] = None,
                  on_send: Optional[Callable[[Tuple[int, ...]], None]] = None,
                  key: Optional[str] = None,
                  deadline: Optional[float] = None) -> BulkCall:
        """Call ``method`` once per item of ``items`` (any iterable of parameter dicts, read
        lazily), 50 items per batch request, batches in parallel; yield one
        :class:`~bitrix_fast.Outcome` per item as each batch returns (not in input
        order): its input ``index`` and a ``status`` -- ``RESULT`` (``.result``), ``ERROR``
        (``.error``), ``IN_DOUBT`` (the request may have run: check before resending) or
        ``NOT_SENT`` (never sent: safe to send again).

        At most ``look_ahead`` batches (default: twice the worker threads) are submitted at a
        time, so memory stays flat however long the input. An authentication error stops the
        call: nothing more is sent and every item not sent comes out ``NOT_SENT``. So do
        ``stop()`` and ``close()``, after waiting for the requests in flight (at most
        ``stop_wait`` seconds, by default the request timeout; what still runs is then in
        doubt). A Ctrl+C while the call waits for replies does the same with a short grace,
        and ``KeyboardInterrupt`` is raised once every item is reported; the library installs
        no signal handler (see :mod:`bitrix_fast.writes.bulk`).

        ``on_send(indexes)``, if given, is called in a worker thread just before each batch
        is sent, with its items' indexes: where a journal records "about to be sent", so that
        even a ``kill -9`` leaves a record of what may have run. It must be thread-safe; if
        it raises, that batch is not sent, the call stops and the error is raised at the end.

        ::

            with bx.iter_call("crm.deal.add", ({"fields": row} for row in rows)) as outcomes:
                for outcome in outcomes:
                    journal.write(outcome.index, outcome.status, outcome.result or outcome.error)

        Results are unwrapped as ``call`` unwraps them (``{"item": {...}}`` -> ``{...}``).
        With ``key`` (see :meth:`call`), the items are read in full first, to check that
        each holds its own key; an add in doubt is settled before its outcome comes out,
        and a RESULT is the new record's ID.
        """
        method = check_method(method)
        stop = self._stop(method, deadline)
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise TypeError(f"{method}: items must be an iterable of parameter dicts")
        spec = None
        if key is not None:
            spec = KeySpec.for_add(method, key)
            items = [Params(method, item).raw for item in items]
            spec.values(method, items)
        if look_ahead is None:
            look_ahead = 2 * self._config.workers
        if not isinstance(look_ahead, int) or isinstance(look_ahead, bool) or look_ahead < 1:
            raise ValueError(f"{method}: look_ahead must be an int >= 1, got {look_ahead!r}")
        if stop_wait is None:
            stop_wait = self._config.stop_wait
        if not isinstance(stop_wait, (int, float)) or isinstance(stop_wait, bool) or stop_wait < 0:
            raise ValueError(f"{method}: stop_wait must be seconds >= 0, got {stop_wait!r}")
        source = self._bulk_source(method, items, stop, unwrap=True, on_send=on_send,
                                   stop_wait=float(stop_wait), keep=False, spec=spec)
        return self._streamed(source, stop, look_ahead, float(stop_wait))

    def upsert(self, entity: str, items: Sequence[Mapping[str, Any]], key: str = "ORIGIN_ID",
               params: Optional[Mapping[str, Any]] = None, *,
               deadline: Optional[float] = None) -> UpsertResult:
        """Make the portal hold each item, found by its key: update the record whose ``key``
        field holds the item's value if it differs, add one if there is none, leave it
        alone if it already holds the item's values. Running it again adds nothing.

        ``entity`` is a method family (``"crm.deal"``, ``"crm.contact"``, ...; ``"crm.item"``
        with ``params={"entityTypeId": N}`` for smart processes); ``items`` are field dicts
        (``{"ORIGIN_ID": "A-17", "TITLE": "..."}``), each with its own key value;
        ``params`` go with every add and update. Keys are looked up 2,500 per request;
        adds in doubt are settled as keyed adds (:meth:`call` with ``key``), updates in
        doubt resent.

        Returns an :class:`~bitrix_fast.writes.safe.result.UpsertResult`: ``.ids`` (record
        IDs in item order), ``.added``, ``.updated``, ``.unchanged``. When a key is held by
        several records nothing is written for that item; the others are, and then
        :class:`~bitrix_fast.errors.UpsertError` names each such key with its records and
        carries the result (so does any other failure)."""
        spec, base, stop = self._upsert_start(entity, items, key, params, deadline)
        source = self._upsert_source(spec, items, base, stop, on_send=None,
                                     stop_wait=self._config.stop_wait, keep=True)
        kept = source.outcomes if source.outcomes is not None else []
        count = len(items)

        def report(outcomes: List[Outcome]) -> BatchError:
            return summary(source.method, outcomes, count)[1] or BatchError(source.method)

        self._run_kept(source, stop, kept, report)
        result, error = summary(source.method, kept, count)
        if error is not None:
            raise error
        return result

    def iter_upsert(self, entity: str, items: Sequence[Mapping[str, Any]],
                    key: str = "ORIGIN_ID", params: Optional[Mapping[str, Any]] = None, *,
                    look_ahead: Optional[int] = None, stop_wait: Optional[float] = None,
                    on_send: Optional[Callable[[Tuple[int, ...]], None]] = None,
                    deadline: Optional[float] = None) -> BulkCall:
        """:meth:`upsert`, streamed as :meth:`iter_call` streams: one
        :class:`~bitrix_fast.Outcome` per item as it is decided, a RESULT's ``result``
        being ``{"id": ..., "action": "added" | "updated" | "unchanged"}``; an item whose
        key several records hold is an ERROR (:class:`~bitrix_fast.errors.KeyConflict`).
        ``on_send`` gets the positions of each write batch before it leaves."""
        spec, base, stop = self._upsert_start(entity, items, key, params, deadline)
        wait = self._config.stop_wait if stop_wait is None else stop_wait
        source = self._upsert_source(spec, items, base, stop, on_send=on_send,
                                     stop_wait=float(wait), keep=False)
        return self._streamed(source, stop, look_ahead, float(wait))

    def call_v3(self, method: str,
                items: Union[Mapping[str, Any], Sequence[Mapping[str, Any]], None] = None, *,
                keys: Optional[Sequence[str]] = None,
                deadline: Optional[float] = None) -> Any:
        """Call a REST 3.0 method (``/rest/api/``): once with a dict, once per item with a
        list of dicts (one request each, in parallel; results in item order, unwrapped as
        :meth:`call` unwraps them). JSON bodies; errors in the new shape become the typed
        errors (:class:`~bitrix_fast.errors.ValidationError` with ``.validation``, ...).

        Each item of a write gets an ``Idempotency-Key``, the same on every resend of it,
        so a write in doubt is sent again once the portal's request cut has passed and
        the portal answers it with the stored reply if it ran; ``keys`` gives your own
        (one per item, 1-255 printable ASCII characters, kept by the portal 24 hours:
        running a job again within a day sends nothing twice)."""
        method = check_method(method)
        stop = self._stop(method, deadline)
        v3_url(self._parts.credentials.base_url, method)  # ValueError: no /rest/ address
        one, prepared, own_keys = v3_items(method, items, keys)
        source = V3Calls(method, prepared, stop=stop, clock=self._parts.clock,
                         settle_wait=self._config.settle_wait, keys=own_keys,
                         unwrap=lambda result: compat.unwrap(method, result), keep=True)
        kept = source.outcomes if source.outcomes is not None else []
        self._run_kept(source, stop, kept, lambda outcomes: bulk.report(method, outcomes)[1])
        results, error = bulk.report(method, kept)
        if one:
            (outcome,) = kept
            if outcome.status is Status.RESULT:
                return outcome.result
            raise outcome.error or error
        if error.errors or error.in_doubt or error.not_sent:
            _raise_if_refused_as_a_whole(error)
            raise error
        return compat.call_many(method, [results[i] for i in range(len(prepared))])

    def get_all_v3(self, method: str, params: Optional[Mapping[str, Any]] = None, *,
                   deadline: Optional[float] = None) -> List[Dict[str, Any]]:
        """Every row of a REST 3.0 list method (``tasks.task.list``), each once, by ID:
        pages of up to 1000 rows (where the method allows), each page asked for past the
        last ID seen, until an empty one -- a short page proves nothing, since the portal
        may keep fewer rows than asked for. ``params``: ``select`` (``id`` is added),
        ``filter`` as a list of conditions; the listing sets ``order`` and ``pagination``."""
        method = check_method(method)
        stop = self._stop(method, deadline)
        v3_url(self._parts.credentials.base_url, method)
        listing = V3Listing(method, prepare_v3_listing(method, params))
        rows: List[Dict[str, Any]] = []
        with make_progress(self._config.progress, self.verbose, method) as bar:
            for delivery in self._scheduler.run(listing, stop, progress=bar.update):
                rows.extend(delivery.items)
        return rows

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
        envelope = self._one("batch", dict(params), read_only, self._stop("batch", deadline))
        halt_key = find_key(params, "halt")
        halt = None if halt_key is None else params[halt_key]
        credentials = self._parts.credentials
        # A reply without a command's result (labels missing, a null or garbled result)
        # loses nothing and claims nothing: the command is in doubt; with halt=1, the
        # commands after the failed one were simply not run.
        outcomes = unpack(envelope.get("result") if isinstance(envelope, dict) else None,
                          [Command(str(label), _method_of(cmd, label)) for label in cmd],
                          halt=halt not in (None, False, 0, "0", ""),
                          hide=lambda text: redact(text, credentials.secrets))
        results = {o.label: o.result for o in outcomes if o.ok}
        doubt = {o.label for o in outcomes if o.in_doubt and not read_only}
        errors = {o.label: o.error for o in outcomes
                  if o.error is not None and o.label not in doubt}
        in_doubt = {o.label: o.error or missing(Command(o.label, o.method))
                    for o in outcomes if o.label in doubt}
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
        stop = self._stop(branch, deadline)
        rows = self.get_all(f"{branch}.list", {"select": [ID_field_name]},
                            deadline=stop.remaining())
        try:
            ids = [row[ID_field_name] for row in rows]
        except (TypeError, KeyError):
            raise ValueError(f"list_and_get(): the rows of {branch}.list have no "
                             f"{ID_field_name!r} field; it cannot be used with this branch "
                             f"(pass ID_field_name?)") from None
        return self.get_by_ID(f"{branch}.get", ids, ID_field_name,
                              deadline=stop.remaining())

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
        self._parts.pool.shutdown(wait=True)
        self._parts.sender.close()

    def __enter__(self) -> "Bitrix":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Bitrix {self._parts.credentials.display}>"

    # -- internals --------------------------------------------------------------------------

    def _stop(self, method: str, deadline: Optional[float]) -> Stop:
        """This call's stop context: its deadline (its own, else the client's) and the
        cancel signal of its async task."""
        if self._closed:
            raise RuntimeError("this Bitrix client is closed")
        return Stop.start(method, self._config.deadline if deadline is None else deadline,
                          self._parts.clock)

    def _typer(self, method: str, params: Params) -> RowTyper:
        """The converter of a listing's rows, from its ``*.fields`` description."""
        fields = load_fields(self, method, params.raw)
        return RowTyper(fields, id_field=methods.list_facts(method).id_field)

    def _listing(self, params: Params, *, at_once: int,
                 skip: Sequence[Tuple[int, int]] = (), finishing: bool = False) -> Listing:
        method = params.method
        return Listing(method, params.raw, methods.list_facts(method),
                       batch_size=self.batch_size, single=not can_encode(params.raw),
                       skip=skip, pace=self._parts.pace.at_most(at_once),
                       finishing=finishing)

    def _look_ahead(self, read_ahead: Optional[int]) -> int:
        """How many requests of one listing may be out at once."""
        workers = self._config.workers
        return workers if read_ahead is None else min(read_ahead, workers)

    def _deliveries(self, listing: Listing, stop: Stop, *, read_ahead: Optional[int]
                    ) -> Generator[Delivery[Dict[str, Any]], None, None]:
        look_ahead = self._look_ahead(read_ahead)
        handed = [0]
        stop.progress = lambda: (f"{handed[0]:,} rows" +
                                 (f" of ~{listing.total:,}" if listing.total else ""))
        with make_progress(self._config.progress, self.verbose, stop.method) as bar:
            for delivery in self._scheduler.run(listing, stop, look_ahead=look_ahead,
                                                progress=bar.update):
                handed[0] += len(delivery.items)
                yield delivery

    def _one(self, method: str, params: Mapping[str, Any], read_only: bool,
             stop: Stop) -> Any:
        """One call's envelope (errors raised), through the scheduler like all work."""
        (answer,) = [result for delivery in
                     self._scheduler.run(OneCall(method, params, read_only=read_only), stop)
                     for result in delivery.items]
        return answer.envelope

    def _raw(self, method: str, items: Any, deadline: Optional[float] = None) -> Any:
        name = methods.normalize(method)
        stop = self._stop(name, deadline)
        params = {} if items is None else items
        if not isinstance(params, Mapping):
            raise TypeError("call(raw=True) sends items as the JSON body: a dict")
        read_only = (_batch_reads_only(params) if name == "batch"
                     else methods.is_read_only(name))
        return self._one(name, params, read_only, stop)

    def _bulk_source(self, method: str, items: Iterable[Any], stop: Stop, *, unwrap: bool,
                     on_send: Optional[Callable[[Tuple[int, ...]], None]], stop_wait: float,
                     keep: bool, spec: Optional[KeySpec] = None) -> SafeWrites:
        inner = BulkSource(
            method, items, stop, read_only=methods.is_read_only(method),
            batch_size=self.batch_size, check=lambda item: Params(method, item).raw,
            batchable=can_encode, on_send=on_send, stop_wait=stop_wait)
        # _bulk hands results on exactly as the portal gave them: call() and get_by_ID()
        # shape them by what was asked (compat), which unwrapping here would spoil.
        return SafeWrites(
            inner, stop=stop, clock=self._parts.clock, settle_wait=self._config.settle_wait,
            batch_size=self.batch_size, batchable=can_encode, spec=spec,
            unwrap=(lambda result: compat.unwrap(method, result)) if unwrap else (lambda r: r),
            keep=keep)

    def _bulk(self, method: str, items: List[Dict[str, Any]], stop: Stop, *,
              spec: Optional[KeySpec] = None) -> Dict[int, Any]:
        """Run one command per item; {position: result as the portal gave it}, or BatchError
        holding every result, error, item in doubt and item not sent. Ctrl+C raises
        :class:`~bitrix_fast.Interrupted` (a KeyboardInterrupt) holding the same; a
        passed deadline raises DeadlineExceeded, a cancel Cancelled, with it as ``partial``."""
        source = self._bulk_source(method, items, stop, unwrap=False, on_send=None,
                                   stop_wait=self._config.stop_wait, keep=True, spec=spec)
        kept = source.outcomes if source.outcomes is not None else []
        self._run_kept(source, stop, kept, lambda outcomes: bulk.report(method, outcomes)[1])
        results, error = bulk.report(method, kept)
        if error.errors or error.in_doubt or error.not_sent:
            raise error
        return results

    def _run_kept(self, source: Union[SafeWrites, UpsertSource, V3Calls], stop: Stop,
                  kept: List[Outcome], report: Callable[[List[Outcome]], BatchError]) -> None:
        """Run a source that keeps its outcomes (``kept``) to the end. Ctrl+C raises
        :class:`~bitrix_fast.Interrupted` holding every item's fate (``report``); a passed
        deadline DeadlineExceeded, a cancel Cancelled, with it as ``partial``."""
        method = source.method
        bar = make_progress(self._config.progress, self.verbose, method, total=source.total,
                            unit="items", burst=self._parts.limiter.burst)
        try:
            with bar:
                for _ in self._scheduler.run(source, stop,
                                             look_ahead=2 * self._config.workers,
                                             interrupt_grace=BulkCall.INTERRUPT_GRACE,
                                             stop_grace=self._config.stop_wait,
                                             progress=bar.update):
                    pass  # the source keeps every outcome
        except KeyboardInterrupt:
            raise Interrupted(self._whole_report(source, kept, report)) from None
        except DeadlineExceeded as stopped:
            raise DeadlineExceeded(method, stopped.seconds, stopped.progress,
                                   partial=self._whole_report(source, kept, report)) from None
        except Cancelled as stopped:
            raise Cancelled(str(stopped),
                            partial=self._whole_report(source, kept, report)) from None

    def _whole_report(self, source: Union[SafeWrites, UpsertSource, V3Calls],
                      kept: List[Outcome], report: Callable[[List[Outcome]], BatchError]
                      ) -> BatchError:
        """Every item's fate after a stop that left the run early: what was reported, what
        was handed out and never answered, and the rest."""
        reason = Stopped(f"{source.method}: interrupted before this item was sent")
        source.unresolved(reason)
        source.leftovers(reason)
        return report(kept)

    def _streamed(self, source: Union[SafeWrites, UpsertSource], stop: Stop,
                  look_ahead: Optional[int], stop_wait: float) -> BulkCall:
        """A bulk call's outcomes as they come (iter_call, iter_upsert)."""
        if look_ahead is None:
            look_ahead = 2 * self._config.workers
        bar = make_progress(self._config.progress, self.verbose, source.method,
                            total=source.total, unit="items", burst=self._parts.limiter.burst)
        chunks = self._scheduler.run(source, stop, look_ahead=look_ahead,
                                     interrupt_grace=BulkCall.INTERRUPT_GRACE,
                                     stop_grace=stop_wait, progress=bar.update)
        return BulkCall(source, chunks, stop, stop_wait=stop_wait, on_end=bar.close)

    def _keyed(self, method: str, items: Any, key: str, stop: Stop) -> Any:
        """``call(method, items, key=...)``: the new records' IDs in item order."""
        spec = KeySpec.for_add(method, key)
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise TypeError(f"{method}: with key=, items must be a list of parameter dicts")
        prepared = [Params(method, item).raw for item in items]
        spec.values(method, prepared)
        if not prepared:
            return ()
        try:
            results = self._bulk(method, prepared, stop, spec=spec)
        except BatchError as error:
            _raise_if_refused_as_a_whole(error)
            raise
        return compat.call_many(method, [results[index] for index in range(len(prepared))])

    def _upsert_start(self, entity: str, items: Any, key: str,
                      params: Optional[Mapping[str, Any]], deadline: Optional[float]
                      ) -> Tuple[KeySpec, Dict[str, Any], Stop]:
        """An upsert's key, base parameters and stop, checked before anything is sent."""
        spec, base = checked(entity, items, key, params)
        return spec, base, self._stop(f"{spec.family}.upsert", deadline)

    def _upsert_source(self, spec: KeySpec, items: Sequence[Mapping[str, Any]],
                       base: Mapping[str, Any], stop: Stop, *,
                       on_send: Optional[Callable[[Tuple[int, ...]], None]],
                       stop_wait: float, keep: bool) -> UpsertSource:
        return UpsertSource(spec, items, base, stop=stop, clock=self._parts.clock,
                            settle_wait=self._config.settle_wait, batch_size=self.batch_size,
                            check=lambda method, item: Params(method, item).raw,
                            batchable=can_encode, on_send=on_send, stop_wait=stop_wait,
                            keep=keep)


def _intervals(skip: Iterable[Tuple[int, int]]) -> List[Tuple[int, int]]:
    out = []
    for pair in skip:
        try:
            lo, hi = (int(value) for value in pair)
        except (TypeError, ValueError):
            raise TypeError("skip must be (lo, hi) pairs of integer IDs") from None
        out.append((lo, hi))
    return out


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
    key = find_key(params, "cmd")
    cmd = None if key is None else params[key]
    if isinstance(cmd, (list, tuple)):
        return {str(index): value for index, value in enumerate(cmd)}
    return dict(cmd) if isinstance(cmd, Mapping) else {}


def _batch_listed(params: Mapping[str, Any]) -> bool:
    """True when a batch's ``cmd`` is a list (its reply's results are then a list too)."""
    key = find_key(params, "cmd")
    return key is not None and isinstance(params[key], (list, tuple))


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
