"""What each command of a range plan's request reads, travelling with it (``Work.tags``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .query import PAGE


@dataclass(frozen=True)
class Tag:
    """One command: ``kind`` is ``head``, ``tail``, ``second`` (the counted second page),
    ``sample`` or ``span``.

    ``role``: ``page``, ``count`` (a counted page) or ``cap`` (a descending top page).
    A span's commands carry its key and the reference index ``ref`` the next page of the
    chain was built with; a sample carries the ID it reads above (``after``) and its
    bound (``bound``, exclusive)."""

    kind: str
    span: int = -1
    role: str = "page"
    ref: int = PAGE - 1
    after: int = 0
    bound: Optional[int] = None
