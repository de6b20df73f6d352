"""``BitrixAsync``: the same client for async code, as coroutines.

There is no asyncio inside the engine (an async core behind a sync shim is what breaks the
predecessor in notebooks and Django). Here it is the other way round: each coroutine runs
the sync client in a worker thread (``asyncio.to_thread``), so awaiting it never blocks the
event loop, and it works the same in Jupyter, FastAPI or a plain ``asyncio.run``.

Cancelling a task that awaits one of these coroutines reaches the thread: the call sends
nothing more (queued batches and queued writes included), waits for the requests already on
the wire, and the task then sees ``asyncio.CancelledError`` whose ``__cause__`` is a
:class:`~bitrix_fast.errors.Cancelled` -- for ``call(method, items)`` and ``get_by_ID`` with
``.partial``, the :class:`~bitrix_fast.errors.BatchError` naming every item that succeeded,
is in doubt (sent; check before resending) or was never sent.
"""
from __future__ import annotations

import asyncio
import threading
from typing import (Any, AsyncIterator, Callable, ContextManager, Dict, Iterable, List, Mapping,
                    Optional, Sequence, TypeVar, Union)

import requests

from .client import Bitrix
from .clock import Clock
from .config import SETTLE_WAIT
from .net.transport import Transport
from .run.stop import CANCEL
from .run.progress import ProgressSetting
from .run.retry import Retry
from .config import TimeoutSpec
from .writes.safe.result import UpsertResult
from .net.transport import DEFAULT_TIMEOUT

T = TypeVar("T")

#: Rows handed over per thread hop by ``iter_all`` (one hop per row would cost more than the
#: rows themselves).
_CHUNK = 2500


class BitrixAsync:
    """:class:`~bitrix_fast.Bitrix` for async code: the same arguments, the same results,
    as coroutines. Each call runs the sync client in a worker thread, so awaiting it never
    blocks the event loop. Use it as ``async with BitrixAsync(webhook) as bx:``."""

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
        self._sync = Bitrix(
            webhook, token_func, verbose, respect_velocity_policy, request_pool_size,
            requests_per_second, batch_size, operating_time_limit, client, ssl,
            max_workers=max_workers, timeout=timeout, retry=retry, limiter=limiter,
            progress=progress, deadline=deadline, settle_wait=settle_wait,
            transport=transport, clock=clock)

    async def get_all(self, method: str, params: Optional[Mapping[str, Any]] = None, *,
                      deadline: Optional[float] = None, typed: bool = False
                      ) -> List[Dict[str, Any]]:
        """Every row of a list method, each ID once, sorted by ID (see ``Bitrix.get_all``)."""
        return await _in_thread(self._sync.get_all, method, params, deadline=deadline,
                                typed=typed)

    async def iter_all(self, method: str, params: Optional[Mapping[str, Any]] = None, *,
                       read_ahead: Optional[int] = None, deadline: Optional[float] = None,
                       typed: bool = False) -> AsyncIterator[Dict[str, Any]]:
        """``async for row in bx.iter_all(method)``: rows as replies arrive, each ID once,
        handed over in chunks of 2,500 per thread hop; memory stays flat
        (see ``Bitrix.iter_all``). Cancelling the consuming task, or leaving the loop early,
        stops the listing cleanly: nothing more is sent."""
        cancel = threading.Event()
        token = CANCEL.set(cancel)
        try:
            # In a thread: with typed=True it asks for the fields first (one request).
            rows = await asyncio.to_thread(self._sync.iter_all, method, params,
                                           read_ahead=read_ahead, deadline=deadline,
                                           typed=typed)
        finally:
            CANCEL.reset(token)
        pending: Optional["asyncio.Future[List[Any]]"] = None
        try:
            while True:
                pending = asyncio.ensure_future(asyncio.to_thread(_take, rows, _CHUNK))
                chunk = await asyncio.shield(pending)
                pending = None
                for row in chunk:
                    yield row
                if len(chunk) < _CHUNK:
                    return
        finally:
            # Stop the listing, let a hop still reading rows finish (a generator cannot be
            # closed while another thread is inside it), then close it.
            cancel.set()
            if pending is not None:
                await asyncio.wait([pending])
                if not pending.cancelled():
                    pending.exception()  # retrieved: a Cancelled there is expected
            await asyncio.to_thread(rows.close)

    async def get_by_ID(self, method: str, ID_list: Iterable[Any], ID_field_name: str = "ID",
                        params: Optional[Mapping[str, Any]] = None, *,
                        deadline: Optional[float] = None) -> Any:
        """``{ID: result}`` of ``method`` called once per ID, batched and in parallel
        (see ``Bitrix.get_by_ID``)."""
        return await _in_thread(self._sync.get_by_ID, method, list(ID_list), ID_field_name,
                                params, deadline=deadline)

    async def call(self, method: str, items: Any = None, raw: bool = False, *,
                   key: Optional[str] = None, deadline: Optional[float] = None) -> Any:
        """Call ``method`` once with a dict, once per item with a list of dicts (batched;
        a list of results in input order), or raw; failures of a list raise ``BatchError``
        holding every result, error and item in doubt; ``key`` makes adds safe to repeat
        (see ``Bitrix.call``)."""
        return await _in_thread(self._sync.call, method, items, raw, key=key,
                                deadline=deadline)

    async def upsert(self, entity: str, items: Sequence[Mapping[str, Any]],
                     key: str = "ORIGIN_ID", params: Optional[Mapping[str, Any]] = None, *,
                     deadline: Optional[float] = None) -> UpsertResult:
        """Update or add each item, found by its key; a rerun adds nothing
        (see ``Bitrix.upsert``)."""
        return await _in_thread(self._sync.upsert, entity, list(items), key, params,
                                deadline=deadline)

    async def call_v3(self, method: str, items: Any = None, *,
                      keys: Optional[Sequence[str]] = None,
                      deadline: Optional[float] = None) -> Any:
        """Call a REST 3.0 method, each write under its own Idempotency-Key
        (see ``Bitrix.call_v3``)."""
        return await _in_thread(self._sync.call_v3, method, items, keys=keys,
                                deadline=deadline)

    async def get_all_v3(self, method: str, params: Optional[Mapping[str, Any]] = None, *,
                         deadline: Optional[float] = None) -> List[Dict[str, Any]]:
        """Every row of a REST 3.0 list method, each once (see ``Bitrix.get_all_v3``)."""
        return await _in_thread(self._sync.get_all_v3, method, params, deadline=deadline)

    async def call_batch(self, params: Mapping[str, Any], *,
                         deadline: Optional[float] = None) -> Any:
        """Run one ``batch`` of your own: ``{"halt": 0, "cmd": {label: "method?query"}}``;
        returns ``{label: result}`` (see ``Bitrix.call_batch``)."""
        return await _in_thread(self._sync.call_batch, params, deadline=deadline)

    async def list_and_get(self, method_branch: str, ID_field_name: str = "ID", *,
                           deadline: Optional[float] = None) -> Any:
        """fast_bitrix24's ``list_and_get``: every ID via ``<branch>.list``, then
        ``<branch>.get`` for each (see ``Bitrix.list_and_get``)."""
        return await _in_thread(self._sync.list_and_get, method_branch, ID_field_name,
                                deadline=deadline)

    def slow(self, max_concurrent_requests: int = 1) -> ContextManager[bool]:
        """``with bx.slow(2):`` caps requests in flight (the cap is not tied to a thread)."""
        return self._sync.slow(max_concurrent_requests)

    def stats(self) -> Dict[str, Any]:
        """What the client did so far and the limits it runs at now (see ``Bitrix.stats``)."""
        return self._sync.stats()

    async def close(self) -> None:
        """Stop the worker threads and close the HTTP session (if it is ours)."""
        await asyncio.to_thread(self._sync.close)

    async def __aenter__(self) -> "BitrixAsync":
        """``async with BitrixAsync(webhook) as bx:`` closes the client on the way out."""
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return repr(self._sync).replace("<Bitrix ", "<BitrixAsync ", 1)


async def _in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` in a worker thread; cancelling the awaiting task stops
    it (see the module docstring) before CancelledError reaches the task."""
    cancel = threading.Event()
    token = CANCEL.set(cancel)  # asyncio.to_thread copies the context into the thread
    try:
        work = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
    finally:
        CANCEL.reset(token)
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError as cancelled:
        if work.done():
            raise
        cancel.set()
        # The call sends nothing more; what is on the wire ends within its timeout.
        await asyncio.wait([work])
        stopped = None if work.cancelled() else work.exception()
        if stopped is None:
            raise
        raise cancelled from stopped


def _take(rows: Any, count: int) -> List[Any]:
    out = []
    for row in rows:
        out.append(row)
        if len(out) >= count:
            break
    return out
