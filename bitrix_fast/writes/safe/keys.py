"""A key field: the value each item carries that finds its record again.

CRM records have a field made for it, ``ORIGIN_ID`` ("identifier in the external source",
``originId`` through ``crm.item``); a ``UF_*`` field serves as well. :class:`KeySpec` says,
for one method family and one field, which method adds, which lists, how the list names the
record's ID and wraps its rows, and which of an item's parameters say where its record lives
(``entityTypeId`` for ``crm.item``). :func:`KeySpec.values` checks a call's items before
anything is sent: each holds the field in its ``fields`` under exactly that name, with a
value that is a non-empty str or an int, and no two hold the same value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ...protocol import methods
from ...protocol.params import find_key

__all__ = ["KeySpec", "FAMILIES", "Scope", "key_text"]

#: Method families whose adds take a key: their ``.list`` filters on the field with ``=``
#: and ``@`` (a list of values) and orders by ID.
FAMILIES = ("crm.deal", "crm.lead", "crm.contact", "crm.company", "crm.item")
#: Which of an item's parameters say where its record lives, per family.
_SCOPE_PARAMS: Dict[str, Tuple[str, ...]] = {"crm.item": ("entityTypeId",)}
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

#: (parameter, value) pairs that place a record (``(("entityTypeId", 2),)``), hashable.
Scope = Tuple[Tuple[str, Any], ...]


def key_text(value: Any) -> str:
    """A key value as the portal stores and prints it (``17`` and ``"17"`` are one key)."""
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class KeySpec:
    """One key field of one method family (see the module docstring)."""

    family: str
    field: str

    @classmethod
    def of(cls, family: str, field: Any) -> "KeySpec":
        """The spec for ``family`` (``crm.deal``) and ``field``; ValueError when the family
        takes no key or the name cannot be the family's field."""
        if family not in FAMILIES:
            raise ValueError(f"{family}: keys work for {', '.join(FAMILIES)} "
                             f"(their lists filter on the key field)")
        if not isinstance(field, str) or not _FIELD_NAME.match(field):
            raise ValueError(f"{family}: key must be a field name such as 'ORIGIN_ID', "
                             f"got {field!r}")
        # The portal ignores a field name it does not know: an add would then carry no
        # key, and nothing could find it again. Each family spells its fields one way.
        if family == "crm.item" and not field[0].islower():
            raise ValueError(f"crm.item names fields in camelCase: key={field!r} would be "
                             f"ignored by the portal; use e.g. 'originId' or 'ufCrm_...'")
        if family != "crm.item" and field != field.upper():
            raise ValueError(f"{family} names fields in UPPER_CASE: key={field!r} would be "
                             f"ignored by the portal; use e.g. 'ORIGIN_ID' or 'UF_CRM_...'")
        return cls(family, field)

    @classmethod
    def for_add(cls, method: str, field: Any) -> "KeySpec":
        """The spec of an add method (``crm.deal.add``); ValueError for any other."""
        family, _, verb = method.rpartition(".")
        if verb != "add":
            raise ValueError(f"{method}: key= is for add methods ({', '.join(f + '.add' for f in FAMILIES)})")
        return cls.of(family, field)

    # -- the methods and their names --------------------------------------------------

    @property
    def add(self) -> str:
        return f"{self.family}.add"

    @property
    def update(self) -> str:
        return f"{self.family}.update"

    @property
    def list(self) -> str:
        return f"{self.family}.list"

    @property
    def id_field(self) -> str:
        """The ID's name in the list's rows (``ID``; ``id`` for crm.item)."""
        return methods.list_facts(self.list).id_field

    @property
    def filter_id(self) -> str:
        """The ID's name in filters and orders."""
        return methods.list_facts(self.list).filter_id

    # -- items ---------------------------------------------------------------------------

    def scope(self, params: Mapping[str, Any]) -> Scope:
        """Where an item's record lives: its values of the family's placing parameters."""
        out = []
        for name in _SCOPE_PARAMS.get(self.family, ()):
            key = find_key(params, name)
            out.append((name, None if key is None else params[key]))
        return tuple(out)

    def value(self, params: Mapping[str, Any], where: str) -> str:
        """The key value an item's ``fields`` hold (ValueError naming ``where`` if none)."""
        key = find_key(params, "fields")
        fields = params[key] if key is not None else None
        if not isinstance(fields, Mapping) or self.field not in fields:
            raise ValueError(f"{where}: its fields hold no {self.field!r} (the key); a "
                             f"record added without it could not be found again")
        value = fields[self.field]
        if isinstance(value, bool) or not isinstance(value, (str, int)) or (
                isinstance(value, str) and not value.strip()):
            raise ValueError(f"{where}: {self.field} must be a non-empty str or an int, "
                             f"got {value!r}")
        return key_text(value)

    def values(self, method: str, items: Sequence[Mapping[str, Any]]) -> List[str]:
        """Every item's key value, in item order; ValueError before anything is sent for an
        item without one and for two items with the same one."""
        seen: Dict[Tuple[Scope, str], int] = {}
        out: List[str] = []
        for index, params in enumerate(items):
            if not isinstance(params, Mapping):
                raise TypeError(f"{method}: item {index} must be a dict of parameters")
            value = self.value(params, f"{method}: item {index}")
            place = (self.scope(params), value)
            if place in seen:
                raise ValueError(f"{method}: items {seen[place]} and {index} hold the same "
                                 f"{self.field} {value!r}; each item needs its own key")
            seen[place] = index
            out.append(value)
        return out

    def record_id(self, result: Any) -> Optional[int]:
        """The new record's ID in an add's result (``5``; ``{"item": {"id": 5}}``)."""
        if isinstance(result, Mapping):
            inner = result.get("item", result)
            result = inner.get(self.id_field) if isinstance(inner, Mapping) else None
        try:
            return None if result is None or isinstance(result, bool) else int(result)
        except (TypeError, ValueError):
            return None
