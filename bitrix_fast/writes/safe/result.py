"""What an upsert did: :class:`UpsertResult`, and each write's outcome as the upsert's.

An upsert's item comes out as ``RESULT`` with ``{"id": ..., "action": "added" | "updated"
| "unchanged"}``, or as any bulk call's ``ERROR`` / ``IN_DOUBT`` / ``NOT_SENT``;
:func:`summary` turns them into the :class:`UpsertResult`, or the
:class:`~bitrix_fast.errors.UpsertError` carrying it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ...errors import ApiError, KeyConflict, UpsertError, with_item
from .. import bulk
from ..bulk import Outcome, Status

__all__ = ["UpsertResult", "summary", "renumbered", "ADDED", "UPDATED", "UNCHANGED"]

ADDED, UPDATED, UNCHANGED = "added", "updated", "unchanged"


@dataclass
class UpsertResult:
    """What an upsert did: ``ids`` -- each item's record ID, in item order (None for an item
    not written) -- and how many records were ``added``, ``updated`` and left
    ``unchanged`` (they already held the item's values)."""

    ids: List[Optional[int]] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def renumbered(outcome: Outcome, index: int, method: str, action: str,
               ident: Any) -> Outcome:
    """A write's outcome as the upsert's outcome for item ``index``."""
    if outcome.status is Status.RESULT:
        return Outcome(index, Status.RESULT, result={"id": ident, "action": action})
    error = outcome.error
    if isinstance(error, ApiError):
        error = with_item(error, index)
    elif isinstance(error, KeyConflict):
        error = KeyConflict(method, error.field, error.value, error.ids, item=index)
    return Outcome(index, outcome.status, error=error)


def summary(method: str, outcomes: Iterable[Outcome], count: int
            ) -> Tuple[UpsertResult, Optional[UpsertError]]:
    """The result of an upsert of ``count`` items from their outcomes, and the error to
    raise when any item was not written (None when every one was)."""
    result = UpsertResult(ids=[None] * count)
    conflicts: Dict[Any, List[int]] = {}
    kept = list(outcomes)
    for outcome in kept:
        if outcome.status is Status.RESULT:
            value = outcome.result
            result.ids[outcome.index] = value["id"]
            if value["action"] == ADDED:
                result.added += 1
            elif value["action"] == UPDATED:
                result.updated += 1
            else:
                result.unchanged += 1
        elif isinstance(outcome.error, KeyConflict):
            conflicts[outcome.error.value] = outcome.error.ids
    results, report = bulk.report(method, kept)
    if not (report.errors or report.in_doubt or report.not_sent):
        return result, None
    return result, UpsertError(method, result, conflicts=conflicts, results=results,
                               errors=report.errors, in_doubt=report.in_doubt,
                               not_sent=report.not_sent)
