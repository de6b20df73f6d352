"""Rows of list replies: where a page keeps them, the ID that names each, deduplication."""
from __future__ import annotations

from typing import Any, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple

from ..protocol.methods import MethodFacts, rows_of

__all__ = ["Chunk", "Dedup", "IdSet", "row_id", "rows_of"]


class Chunk(NamedTuple):
    """The rows of one page as a plan hands them on, with their IDs when the page was
    checked (:mod:`.check`): then ``ids[i]`` is the ID of ``rows[i]`` and the IDs ascend or
    descend strictly, so the page is deduplicated and ordered without reading each row
    again. ``ids`` is None for pages in the server's own order (plain paging)."""

    rows: List[Any]
    ids: Optional[List[int]] = None


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
            self._grow(byte)
        old = bits[byte]
        if old & mask:
            return False
        bits[byte] = old | mask
        self._len += 1
        return True

    def add_run(self, ids: Sequence[int]) -> bool:
        """Add IDs that ascend strictly, all or none: True when none of the IDs from the
        first to the last was there (all are added now); False, adding nothing, when one
        was (the caller then adds them one by one). A page of new rows -- nearly every page
        of a listing -- so costs a few comparisons of bytes, not a call per row."""
        if not ids:
            return True
        lo, hi = ids[0], ids[-1]
        if lo < 0 or hi >= BITMAP_LIMIT:
            return False
        bits = self._bits
        first, last = lo >> 3, hi >> 3
        if last >= len(bits):
            self._grow(last)
        low_mask = (0xFF << (lo & 7)) & 0xFF  # the bits of lo and above, in lo's byte
        high_mask = (1 << ((hi & 7) + 1)) - 1  # the bits of hi and below, in hi's byte
        if first == last:
            if bits[first] & low_mask & high_mask:
                return False
        elif (bits[first] & low_mask or bits[last] & high_mask or
              bits.count(0, first + 1, last) != last - first - 1):
            return False
        if hi - lo + 1 == len(ids):  # consecutive IDs: whole bytes at once
            if first == last:
                bits[first] |= low_mask & high_mask
            else:
                bits[first] |= low_mask
                bits[last] |= high_mask
                bits[first + 1:last] = b"\xff" * (last - first - 1)
        else:
            for value in ids:
                bits[value >> 3] |= 1 << (value & 7)
        self._len += len(ids)
        return True

    def _grow(self, byte: int) -> None:
        """Make room for byte ``byte`` of the bitmap, at least doubling it (amortized)."""
        bits = self._bits
        bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))

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

    def chunks(self, chunks: Sequence[Chunk]
               ) -> Tuple[List[Any], Optional[List[Tuple[int, int, int]]]]:
        """The rows of a reply's pages, less those let through before; and, when every page
        was checked, the runs they make: a (first ID, last ID, rows) per page's new rows, in
        the order of the rows, each ascending strictly. Checked pages go ascending, and a
        page of new rows passes whole (:meth:`IdSet.add_run`)."""
        if self._facts.key_fields or any(chunk.ids is None for chunk in chunks):
            return self.filter([row for chunk in chunks for row in chunk.rows]), None
        out: List[Any] = []
        runs: List[Tuple[int, int, int]] = []
        add_run, add = self._seen.add_run, self._seen.add
        total = 0
        for rows, ids in chunks:
            assert ids is not None
            if len(ids) > 1 and ids[0] > ids[-1]:
                rows, ids = rows[::-1], ids[::-1]
            total += len(ids)
            if add_run(ids):
                kept = ids
                out.extend(rows)
            else:
                kept = [value for value in ids if add(value)]
                if len(kept) == len(ids):
                    out.extend(rows)
                elif kept:
                    fresh = set(kept)
                    out.extend(row for value, row in zip(ids, rows) if value in fresh)
            if kept:
                runs.append((kept[0], kept[-1], len(kept)))
        self.passed += len(out)
        self.dropped += total - len(out)
        return out, runs

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
