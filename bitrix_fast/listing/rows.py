"""Rows of list replies: where a page keeps them, the ID that names each, deduplication."""
from __future__ import annotations

from typing import Any, Iterable, Iterator, List, Optional, Set, Tuple

from ..protocol.methods import MethodFacts, rows_of

__all__ = ["Dedup", "IdSet", "row_id", "rows_of"]


def row_id(row: Any, facts: MethodFacts) -> Optional[int]:
    """The integer ID of a row, or None when it has none we can read."""
    if not isinstance(row, dict):
        return None
    value = row.get(facts.id_field)
    if value is None and facts.id_field != "ID":
        value = row.get("ID")
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


#: IDs below this go into the bitmap (16 MB at most); larger or negative ones into a set.
BITMAP_LIMIT = 1 << 27


class IdSet:
    """A set of integer IDs stored as a bitmap: one bit per ID value up to the largest one
    (125 KB per million), where a Python set of ints costs ~60 bytes per ID."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self._other: Set[int] = set()
        self._len = 0

    def add(self, value: int) -> bool:
        """Add ``value``; True when it was not there yet."""
        if not 0 <= value < BITMAP_LIMIT:
            if value in self._other:
                return False
            self._other.add(value)
            self._len += 1
            return True
        byte, mask = value >> 3, 1 << (value & 7)
        bits = self._bits
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
        old = bits[byte]
        if old & mask:
            return False
        bits[byte] = old | mask
        self._len += 1
        return True

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        if 0 <= value < BITMAP_LIMIT:
            byte, bit = divmod(value, 8)
            return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))
        return value in self._other

    def __len__(self) -> int:
        return self._len


class Dedup:
    """Drops rows whose ID (or, for methods without one, whose key fields) was already let
    through. Rows without a readable ID or key always pass."""

    def __init__(self, facts: MethodFacts) -> None:
        self._facts = facts
        self._seen = IdSet()
        self._keys: Set[Tuple[Any, ...]] = set()
        self.dropped = 0
        self.passed = 0

    def filter(self, rows: Iterable[Any]) -> List[Any]:
        facts = self._facts
        if facts.key_fields:
            return list(self.filter_iter(rows))
        # The common case in one loop (a reply's rows at a time): no generator per row.
        out: List[Any] = []
        add = self._seen.add
        field = facts.id_field
        total = 0
        for row in rows:
            total += 1
            try:
                value: Optional[int] = int(row[field])
            except (KeyError, TypeError, ValueError):
                value = row_id(row, facts)
            if value is None or add(value):
                out.append(row)
        self.passed += len(out)
        self.dropped += total - len(out)
        return out

    def filter_iter(self, rows: Iterable[Any]) -> Iterator[Any]:
        facts = self._facts
        for row in rows:
            if self._fresh(row, facts):
                self.passed += 1
                yield row
            else:
                self.dropped += 1

    def _fresh(self, row: Any, facts: MethodFacts) -> bool:
        if facts.key_fields:
            if not isinstance(row, dict):
                return True
            key = tuple(str(row.get(name)) for name in facts.key_fields)
            if key in self._keys:
                return False
            self._keys.add(key)
            return True
        value = row_id(row, facts)
        return value is None or self._seen.add(value)
