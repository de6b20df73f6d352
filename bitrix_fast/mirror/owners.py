"""Reading the product rows of many owners in few commands -- sans-I/O.

``crm.item.productrow.list`` needs ``=ownerType`` and ``=ownerId``. One command per owner
would cost a request per 50 deals; :class:`OwnerGroups` asks for groups of owners in one
command instead (``=ownerId`` holding a list, which the controller's ORM reads as IN) and
sizes the groups so each answer fits on one page (50 rows): it starts with
:data:`FIRST_SIZE` owners, then aims at :data:`TARGET` rows per group from the rows per
owner seen so far.

Nothing the portal says is taken on trust (bitrix-rest-semantics.md §8; the docs of this
method disagree with its source on lists in ``=ownerId``):

* every row must belong to the owner type asked for and to an owner of the group; a row of
  any other owner means the list was ignored: the group is asked again, and from then on
  every owner is asked alone (:attr:`OwnerGroups.grouped` turns False);
* a refusal of the grouped form (:meth:`OwnerGroups.refused`) does the same;
* an answer is complete only when its page holds all of its ``total`` (at most one page):
  a group with more is split in halves and asked again; a single owner with more is
  handed back in :attr:`OwnerGroups.whole`, to be read page by page;
* an answer without a ``total`` proves nothing and is an error.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

PAGE = 50
#: rows a group aims at (some room under a page, so few groups need splitting)
TARGET = 35
FIRST_SIZE = 10
MAX_SIZE = 50
#: commands handed out per round (2 requests of 50): what bounds the rows held at once
#: (up to 5,000 product rows, ~10 MB decoded)
ROUND = 100


class OwnerFilterIgnored(Exception):
    """Even one owner per command comes back with other owners' rows."""


@dataclass
class OwnerGroups:
    owners: Sequence[int]
    owner_type: str
    grouped: bool = True
    #: owners with more than a page of rows: read each whole, by its own pages
    whole: List[int] = field(default_factory=list)
    commands: int = 0
    rows_seen: int = 0
    owners_seen: int = 0

    def __post_init__(self) -> None:
        self._next = 0  # the first owner not handed out yet
        self._again: Deque[Tuple[int, ...]] = deque()
        self._out: List[Tuple[int, ...]] = []

    @property
    def done(self) -> bool:
        return not self._out and not self._again and self._next >= len(self.owners)

    def params(self, group: Sequence[int]) -> Dict[str, Any]:
        owner: Any = list(group) if self.grouped else group[0]
        return {"filter": {"=ownerType": self.owner_type, "=ownerId": owner}}

    def next_round(self) -> List[Tuple[int, ...]]:
        """The groups to ask for now (one command each); empty when done."""
        if self._out:
            raise RuntimeError("feed() the previous round first")
        out: List[Tuple[int, ...]] = []
        # The first round is one request: it tells how many rows an owner has here.
        limit = ROUND if self.owners_seen else PAGE
        while self._again and len(out) < limit:
            out.append(self._again.popleft())
        size = self._size()
        while self._next < len(self.owners) and len(out) < limit:
            out.append(tuple(self.owners[self._next:self._next + size]))
            self._next += size
        self._out = out
        self.commands += len(out)
        return list(out)

    def feed(self, answers: Sequence[Tuple[Optional[int], Sequence[Any]]]) -> List[Any]:
        """``(total, rows)`` for each group of the last round, in order; returns the rows
        that are complete and belong where they should."""
        groups, self._out = self._out, []
        if len(answers) != len(groups):
            raise ValueError(f"expected {len(groups)} answers, got {len(answers)}")
        kept: List[Any] = []
        for n, (group, (total, rows)) in enumerate(zip(groups, answers)):
            if not self._belongs(group, rows):
                if not self.grouped or len(group) == 1:
                    raise OwnerFilterIgnored(
                        f"rows of other owners came back for {self.owner_type} owner "
                        f"{group[0]}: the portal ignores =ownerId")
                self._ungroup(groups[n:])
                break
            if total is None:
                raise ValueError("a counted page came back without a total")
            if total <= PAGE and len(rows) >= total:
                kept.extend(rows)
                self.rows_seen += len(rows)
                self.owners_seen += len(group)
            elif len(group) > 1:
                half = len(group) // 2
                self._again.appendleft(group[half:])
                self._again.appendleft(group[:half])
            else:
                self.whole.append(group[0])
        return kept

    def refused(self) -> None:
        """The portal refused the last round's grouped commands: ask owners alone."""
        groups, self._out = self._out, []
        if not self.grouped:
            raise RuntimeError("refused() is for grouped commands")
        self._ungroup(groups)

    def _ungroup(self, groups: Sequence[Tuple[int, ...]]) -> None:
        self.grouped = False
        singles = [(owner,) for group in list(groups) + list(self._again) for owner in group]
        self._again = deque(singles)

    def _belongs(self, group: Sequence[int], rows: Sequence[Any]) -> bool:
        allowed = set(group)
        for row in rows:
            if not isinstance(row, dict) or str(row.get("ownerType")) != self.owner_type:
                return False
            try:
                if int(row.get("ownerId")) not in allowed:  # type: ignore[arg-type]
                    return False
            except (TypeError, ValueError):
                return False
        return True

    def _size(self) -> int:
        if not self.grouped:
            return 1
        if not self.owners_seen:
            return FIRST_SIZE
        per_owner = self.rows_seen / self.owners_seen
        return max(1, min(MAX_SIZE, int(TARGET / max(per_owner, TARGET / MAX_SIZE))))
