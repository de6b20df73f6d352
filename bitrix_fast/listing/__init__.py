"""The list engine: from a list call as the caller asked it to every row, each once.

``choose_plan`` picks how a listing is read: by ID ranges (:mod:`.plan`) where the method and
the caller's parameters allow it, else plainly by offset pages (:mod:`.paging`). Both are
sans-I/O plans (:class:`bitrix_fast.work.Plan`) that the executor drives.
"""
from __future__ import annotations

from typing import Any, Dict

from ..batch import MAX_COMMANDS
from ..methods import MethodFacts
from .paging import PlainPlan
from .plan import RangePlan
from .query import ListQuery, _ranges_fit, id_order
from .rows import Dedup, row_id, rows_of

__all__ = ["choose_plan", "Dedup", "ListQuery", "PlainPlan", "RangePlan", "row_id", "rows_of"]


def choose_plan(method: str, params: Dict[str, Any], facts: MethodFacts, *,
                batch_size: int = MAX_COMMANDS, single: bool = False,
                keep_order: bool = False) -> Any:
    """The ID-range plan when the method and the caller's parameters allow it, else plain
    paging with exactly the caller's parameters (plus an ID order where that is safe)."""
    direction = id_order(params, facts)
    if facts.ranges and not single and direction is not None and _ranges_fit(params, facts):
        return RangePlan(ListQuery(method, params, facts), batch_size=batch_size,
                         descending=direction == "DESC")
    return PlainPlan(method, params, facts, batch_size=batch_size, single=single,
                     keep_pages=keep_order)
