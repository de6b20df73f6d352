"""How the sandbox describes a field and an entity (the model the store, the dialects and
the handlers all read).

One :class:`Field` describes a column three ways at once: how SQLite stores it (``kind``),
what ``*.fields`` reports about it (``type``, ``title``, flags), and the names it goes by
(``name`` on classic methods and in filters of tasks and users, ``camel`` on crm.item
and in task results). The column itself is called ``name``.

Storage kinds: ``int``, ``real``, ``text``; ``flag`` (text "Y"/"N"); ``time`` (Unix
seconds, printed as ISO-8601 in the portal's zone); ``bool`` (a Y/N flag that user.get
prints as a JSON boolean); ``ints`` (one integer that user.get prints as a list);
``json`` (a value kept as JSON text and printed decoded: multiple fields, files).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

SQL_TYPES = {"int": "INTEGER", "real": "REAL", "text": "TEXT", "flag": "TEXT",
             "time": "INTEGER", "bool": "TEXT", "ints": "INTEGER", "json": "TEXT"}

#: ``UF_CRM_5_1700000101``: a smart process's user field (its number, then the field's)
_SMART_UF = re.compile(r"UF_CRM_(\d+)_(\w+)\Z")


def camel_case(name: str) -> str:
    """``ASSIGNED_BY_ID`` -> ``assignedById``; ``UF_CRM_1700000001`` -> ``ufCrm_1700000001``;
    ``UF_CRM_5_1700000101`` -> ``ufCrm5_1700000101`` (real_responses/crm_item_list.json)."""
    smart = _SMART_UF.match(name)
    if smart:
        return f"ufCrm{smart.group(1)}_{smart.group(2)}"
    if name.startswith("UF_CRM_"):
        return "ufCrm_" + name[len("UF_CRM_"):]
    head, *rest = name.lower().split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    type: str
    title: str
    camel: str = ""
    readonly: bool = False
    required: bool = False
    status_type: Optional[str] = None
    #: filled in by the server: created_at / modified_at (now), created_by / modified_by /
    #: assigned (the calling user unless given)
    role: Optional[str] = None
    #: storage value a new row gets when the caller gives none
    default: Any = None
    #: several values (kept as a JSON list; ``isMultiple`` in ``*.fields``)
    multiple: bool = False
    #: enumeration choices as (ID, label) pairs (``items`` in ``*.fields``)
    items: Tuple[Tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.camel:
            object.__setattr__(self, "camel", camel_case(self.name))

    @property
    def uf(self) -> bool:
        return self.name.startswith("UF_")


@dataclass(frozen=True, eq=False)
class Entity:
    name: str
    fields: Tuple[Field, ...]
    #: crm.item ``entityTypeId``; None for entities crm.item does not serve
    type_id: Optional[int] = None
    #: extra accepted names, e.g. tasks' REAL_STATUS for STATUS
    aliases: Dict[str, str] = field(default_factory=dict)
    #: indexes (column tuples) for the orders and filters a method always uses
    indexes: Tuple[Tuple[str, ...], ...] = ()
    #: fields by UPPER name (aliases included) and by camelCase name, built from ``fields``
    by_name: Dict[str, Field] = field(init=False, repr=False, compare=False)
    by_camel: Dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {f.name: f for f in self.fields}
        by_name.update({alias: by_name[target] for alias, target in self.aliases.items()})
        object.__setattr__(self, "by_name", by_name)
        object.__setattr__(self, "by_camel", {f.camel: f for f in self.fields})

    @property
    def id_field(self) -> Field:
        return self.fields[0]
