"""``BitrixAsync``: the same client for async code, as coroutines.

There is no asyncio inside the engine (an async core behind a sync shim is what breaks the
predecessor in notebooks and Django). Here it is the other way round: each coroutine runs
the sync client in a worker thread (``asyncio.to_thread``), so awaiting it never blocks the
event loop, and it works the same in Jupyter, FastAPI or a plain ``asyncio.run``.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Dict, Iterable, Mapping, Optional

from .client import Bitrix

#: Rows handed over per thread hop by ``iter_all`` (one hop per row would cost more than the
#: rows themselves).
_CHUNK = 2500


class BitrixAsync:
    """Takes exactly the arguments of :class:`~bitrix_fast.Bitrix`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sync = Bitrix(*args, **kwargs)

    async def get_all(self, method: str, params: Optional[Mapping[str, Any]] = None) -> Any:
        return await asyncio.to_thread(self._sync.get_all, method, params)

    async def iter_all(self, method: str, params: Optional[Mapping[str, Any]] = None, *,
                       read_ahead: int = 8) -> AsyncIterator[Any]:
        rows = self._sync.iter_all(method, params, read_ahead=read_ahead)
        try:
            while True:
                chunk = await asyncio.to_thread(_take, rows, _CHUNK)
                for row in chunk:
                    yield row
                if len(chunk) < _CHUNK:
                    return
        finally:
            await asyncio.to_thread(rows.close)

    async def get_by_ID(self, method: str, ID_list: Iterable[Any], ID_field_name: str = "ID",
                        params: Optional[Mapping[str, Any]] = None) -> Dict[Any, Any]:
        return await asyncio.to_thread(self._sync.get_by_ID, method, list(ID_list),
                                       ID_field_name, params)

    async def call(self, method: str, items: Any = None, raw: bool = False) -> Any:
        return await asyncio.to_thread(self._sync.call, method, items, raw)

    async def call_batch(self, params: Mapping[str, Any]) -> Dict[str, Any]:
        return await asyncio.to_thread(self._sync.call_batch, params)

    async def list_and_get(self, method_branch: str, ID_field_name: str = "ID") -> Dict[Any, Any]:
        return await asyncio.to_thread(self._sync.list_and_get, method_branch, ID_field_name)

    def slow(self, max_concurrent_requests: int = 1) -> Any:
        """``with bx.slow(2):`` caps requests in flight (the cap is not tied to a thread)."""
        return self._sync.slow(max_concurrent_requests)

    def stats(self) -> Dict[str, Any]:
        return self._sync.stats()

    async def close(self) -> None:
        await asyncio.to_thread(self._sync.close)

    async def __aenter__(self) -> "BitrixAsync":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return repr(self._sync).replace("<Bitrix ", "<BitrixAsync ", 1)


def _take(rows: Any, count: int) -> list:
    out = []
    for row in rows:
        out.append(row)
        if len(out) >= count:
            break
    return out
