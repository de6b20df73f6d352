"""What the state table says about a table, held against what a run asks for: the same
listing (method, params, filter), and a select that only grows."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple

from .errors import MirrorConflict
from .spec import Listing


def merge_select(old: Optional[Sequence[str]], new: Optional[Sequence[str]]
                 ) -> Optional[Tuple[str, ...]]:
    """A select only grows: the fields of both, the method's default set (None) as ``*``."""
    if old == new or (old is not None and new is not None and set(new) <= set(old)):
        return tuple(old) if old is not None else None
    if old is None and new is None:
        return None
    merged = list(old) if old is not None else ["*"]
    for name in new if new is not None else ["*"]:
        if name not in merged:
            merged.append(name)
    return tuple(merged)


def check_same(state: Optional[Mapping[str, Any]], listing: Listing, exists: bool) -> None:
    if state is None:
        if exists:
            raise MirrorConflict(
                f"table {listing.table} exists but is not a mirror (no state row in "
                f"bitrix_fast_mirror); give this listing another table")
        return
    asked = listing.record()
    held = {key: state.get(key) for key in asked}
    if held != asked:
        raise MirrorConflict(
            f"table {listing.table} mirrors {_describe(held)}, but this run asks for "
            f"{listing.describe()}; a different listing needs its own table (table=... in "
            f"Python, --table NAME on the command line)")


def _describe(held: Mapping[str, Any]) -> str:
    parts = [str(held.get("method"))]
    if held.get("params") not in (None, "{}"):
        parts.append(f"params {held['params']}")
    parts.append(f"filter {held['filter']}" if held.get("filter") not in (None, "{}")
                 else "no filter")
    return ", ".join(parts)


def select_of(state: Optional[Mapping[str, Any]]) -> Optional[Tuple[str, ...]]:
    if state is None or state.get("select_fields") is None:
        return None
    return tuple(state["select_fields"])
