"""Ways real portals' list methods misbehave, as switches a test can turn on.

Each quirk reproduces a behaviour reported from real portals (bitrix-rest-semantics.md §8).
None is on by default. They apply to the list methods the sandbox serves
(``crm.{deal,lead,contact,company}.list``, ``crm.item.list``, ``tasks.task.list``,
``user.get``) unless stated otherwise; ``crm.productrow.list``, ``task.elapseditem.getlist``
and ``task.commentitem.getlist`` have their own fixed behaviour instead.

``joined_pages``
    As if the filter or select joined a multiple field (PHONE, EMAIL): every row whose ID is
    divisible by ``joined_every`` (default 7) is in the joined result set twice. ``LIMIT 50``
    and the OFFSET apply to the joined rows, then the page is de-duplicated by ID, so pages
    come back shorter than 50 long before the end. ``total`` is the COUNT over the joined rows
    (overstated). ``next`` follows the family's rule on the joined offsets: classic lists
    step by the 50 joined rows of the page (``start`` is page-aligned), so a doubled row can
    show on two pages; engine lists (crm.item.list) report ``offset + count(page)``, which
    a page-aligned ``start`` turns back into the same page. With ``start=-1`` the first 50
    joined rows, de-duplicated. Classic CRM lists and crm.item.list only (the methods with
    multiple fields and one-to-many filters).
``ignored_filters``
    Filter keys the method "does not support" are dropped silently: every key on the ID
    field (``ID``, ``>ID``, ``>=ID``, ``<ID``, ``<=ID``, ``@ID``, ``!ID``... and ``id`` on
    crm.item.list). ``order`` is ignored too: rows come in the table's own stable order, a
    hash of the ID, which is not ID order. Paging by ``start`` still works.
``ignored_start``
    ``start`` is ignored: every page is the first 50 rows of the filtered, ordered set, while
    ``next`` and ``total`` are reported as if paging worked. ``start=-1`` still skips the
    count and omits ``next``.
``understated_total``
    ``total`` claims fewer rows than match (``matching - max(1, matching // 10)``, never
    below 0) and ``next`` is computed from that claim, so it stops before the last rows.
``endless_next``
    ``next`` is always reported, as the requested (page-aligned) offset + 50, also past the
    end; pages past the end are empty (engine) or page 1 again (classic, with
    ``classic_out_of_range_page1``); user.get's empty page stays a bare ``[]`` without
    ``next``, as always. ``start=-1`` still has no ``next``.
``no_total``
    ``total`` is never reported, with or without ``start``; ``next`` still is.
``owner_list_ignored``
    crm.item.productrow.list drops a list in ``=ownerId`` as an unsupported condition (the
    newest docs' reading; the source reads it as IN) and answers with the rows of every
    owner of the type. Only that method.
``capped_v3_pages``
    REST 3.0 lists (``/rest/api/tasks.task.list``) return at most 250 rows a page whatever
    ``pagination.limit`` asks for (b24jssdk reports portals keeping less than the limit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, FrozenSet, Iterable, Union

from .filterkeys import split_key

__all__ = ["KNOWN", "Quirks", "NO_QUIRKS", "parse_quirks", "without_id_keys", "understated",
           "TABLE_ORDER"]

KNOWN = ("joined_pages", "ignored_filters", "ignored_start", "understated_total",
         "endless_next", "no_total", "owner_list_ignored", "capped_v3_pages")

#: ``ignored_filters``' stable non-ID order: Knuth's multiplicative hash of the ID, then
#: the ID (the product stays well inside SQLite's 64-bit integers for any real ID)
TABLE_ORDER = '("ID" * 2654435761) % 4294967296, "ID"'


def parse_quirks(spec: Union[str, Iterable[str], None]) -> FrozenSet[str]:
    """``"joined_pages, no_total"`` or an iterable of names -> a frozenset of known names."""
    if spec is None:
        return frozenset()
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    names = set()
    for part in parts:
        if not isinstance(part, str):
            raise TypeError(f"quirk names are strings, not {type(part).__name__}")
        name = part.strip().lower()
        if not name:
            continue
        if name not in KNOWN:
            raise ValueError(f"unknown quirk {part.strip()!r}; known: {', '.join(KNOWN)}")
        names.add(name)
    return frozenset(names)


@dataclass(frozen=True)
class Quirks:
    """The quirks one portal has on; ``"ignored_start" in quirks`` asks about one."""

    names: FrozenSet[str] = frozenset()
    #: ``joined_pages``: rows whose ID is divisible by this come twice
    joined_every: int = 7

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", parse_quirks(self.names))
        every = self.joined_every
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"joined_every must be an integer >= 1, not {every!r}")

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __bool__(self) -> bool:
        return bool(self.names)


NO_QUIRKS = Quirks()


def without_id_keys(filter_: Any, id_name: str) -> Any:
    """The filter minus every key on the ID field, whatever its operator (nested too)."""
    if isinstance(filter_, list):
        return [without_id_keys(v, id_name) if isinstance(v, (dict, list)) else v
                for v in filter_]
    if not isinstance(filter_, dict):
        return filter_
    kept = {}
    target = id_name.lower()
    for key, value in filter_.items():
        key_text = str(key)
        if key_text.isdigit() and isinstance(value, (dict, list)):
            kept[key] = without_id_keys(value, id_name)
        elif split_key(key_text)[1].lower() != target:
            kept[key] = value
    return kept


def understated(matching: int) -> int:
    """What ``understated_total`` claims for ``matching`` rows."""
    return max(0, matching - max(1, matching // 10))

