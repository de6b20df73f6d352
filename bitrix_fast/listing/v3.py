"""Every row of a REST 3.0 list (``/rest/api/tasks.task.list``), each once.

REST 3.0 lists page by ``pagination: {page, limit, offset}``, up to 1000 rows a page where
the method allows it (:data:`PAGE_LIMITS`), and say nothing of ``total`` or ``next``. A
portal may keep fewer rows than the limit asked for, so a page's length proves nothing:
:class:`V3Listing` pages by the ID instead -- ``filter [["id", ">", last]]``, ``order
{"id": "ASC"}`` -- and only an empty page ends the listing. Every page is checked: IDs
ascending and past the last one seen, else :class:`~bitrix_fast.errors.ListingError`
(the method ignored the filter or the order) rather than rows missing or twice.

Sequential by nature (each page starts where the last one ended), one request per page.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..errors import ListingError
from ..protocol.batch import Command, CommandResult
from ..run.work import Work

__all__ = ["V3Listing", "PAGE_LIMITS", "DEFAULT_LIMIT", "prepare"]

#: Rows a page may hold, per method (the docs' maximum); others get :data:`DEFAULT_LIMIT`.
PAGE_LIMITS: Dict[str, int] = {"tasks.task.list": 1000}
DEFAULT_LIMIT = 50


def prepare(method: str, params: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The caller's parameters, checked: ``filter`` a list of conditions, no ``order`` or
    ``pagination`` of their own (the listing pages by ID), ``id`` added to ``select``."""
    out = dict(params or {})
    for own in ("order", "pagination"):
        if own in out:
            raise ValueError(f"{method}: get_all_v3() pages by id itself; remove {own!r}")
    flt = out.get("filter", [])
    if not isinstance(flt, list):
        raise TypeError(f"{method}: a REST 3.0 'filter' is a list of conditions such as "
                        f"[['id', '>', 5]], not {type(flt).__name__}")
    out["filter"] = list(flt)
    select = out.get("select")
    if select is not None:
        if not isinstance(select, (list, tuple)) or not all(isinstance(s, str) for s in select):
            raise TypeError(f"{method}: 'select' must be a list of field names")
        out["select"] = ["id"] + [name for name in select if name != "id"]
    return out


class V3Listing:
    """The pages of one REST 3.0 list (see the module docstring); outputs are rows."""

    total: Optional[int] = None

    def __init__(self, method: str, params: Mapping[str, Any], *,
                 limit: Optional[int] = None) -> None:
        self.method = method
        self._params = dict(params)
        self._limit = limit or PAGE_LIMITS.get(method, DEFAULT_LIMIT)
        self._last = 0
        self._out = False
        self._ended = False
        self.pages = 0

    @property
    def done(self) -> bool:
        return self._ended and not self._out

    def next_work(self) -> Optional[Work]:
        if self._out or self._ended:
            return None
        self._out = True
        params = {**self._params,
                  "filter": self._params["filter"] + [["id", ">", self._last]],
                  "order": {"id": "ASC"},
                  "pagination": {"limit": self._limit}}
        return Work([Command("c0000", self.method, params)], single=True, read_only=True,
                    v3=True)

    def mark(self) -> Any:
        return None

    def ready(self) -> List[Dict[str, Any]]:
        return []

    def before_send(self, work: Work) -> None:
        pass

    def feed(self, work: Work, results: Sequence[CommandResult]) -> List[Dict[str, Any]]:
        self._out = False
        self.pages += 1
        result = results[0].result if results else None
        rows = result.get("items") if isinstance(result, dict) else None
        if not isinstance(rows, list):
            raise ListingError(self.method, f"a page came back as {type(result).__name__}, "
                                            f"not {{'items': [...]}}")
        if not rows:
            self._ended = True
            return []
        for row in rows:
            ident = row.get("id") if isinstance(row, dict) else None
            if isinstance(ident, bool) or not isinstance(ident, int) or ident <= self._last:
                raise ListingError(self.method, f"asked for ids above {self._last} in "
                                                f"ascending order, got {ident!r}: the filter "
                                                f"or the order was ignored")
            self._last = ident
        return rows

    def failed(self, work: Work, error: BaseException) -> List[Dict[str, Any]]:
        raise error

    def lost(self, work: Work, error: BaseException) -> List[Dict[str, Any]]:
        return []  # only after a halt: the scheduler raises its reason

    def leftovers(self, reason: BaseException) -> List[Dict[str, Any]]:
        return []
