"""What the mirror asks of the client: a few public calls of :class:`~bitrix_fast.Bitrix`,
named here as a protocol so nothing else about the client is assumed."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Mapping, Optional, Protocol, Sequence

from .errors import MirrorError

#: requests' worth of replies a listing may hold while the database catches up (~2,500
#: rows each; 10-15 MB decoded for a deal list with every field): enough to keep a standard
#: portal's rate busy, and what bounds the memory (measured: 2 -> 70 MB, 3 -> 81 MB,
#: 6 -> 133 MB peak for 100,000 deals with every field, into SQLite)
READ_AHEAD = 3


class PageLike(Protocol):
    @property
    def rows(self) -> List[Any]: ...

    @property
    def total(self) -> Optional[int]: ...


class Portal(Protocol):
    """The client's public API, as far as the mirror uses it."""

    def call(self, method: str, items: Any = None, raw: bool = False) -> Any: ...

    def call_batch(self, params: Mapping[str, Any]) -> Any: ...

    def iter_all(self, method: str, params: Optional[Mapping[str, Any]] = None, *,
                 read_ahead: Optional[int] = None) -> Iterator[Dict[str, Any]]: ...

    def first_pages(self, method: str, params_list: Sequence[Mapping[str, Any]]
                    ) -> Sequence[PageLike]: ...

    def stats(self) -> Dict[str, Any]: ...


def portal_time(bx: Portal, value: Any = None) -> datetime:
    """The portal's clock now (``server.time``, or its answer when already asked), with its
    UTC offset."""
    if value is None:
        value = bx.call("server.time")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MirrorError(f"server.time answered {value!r}, not a date and time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def requests_made(bx: Portal) -> int:
    """The client's request count so far (0 when it does not say)."""
    value = bx.stats().get("requests", 0)
    return value if isinstance(value, int) else 0
