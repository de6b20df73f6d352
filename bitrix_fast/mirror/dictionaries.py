"""The dictionary tables a BI tool joins to: names of stages and statuses, pipelines, users,
currencies, smart processes -- read from the portal on every run and replaced whole.

=====================  ===================================  =====================================
table                  from                                  join
=====================  ===================================  =====================================
``dict_status``        crm.status.list                       ``status_type`` = the column's
                                                             statusType (``DEAL_STAGE``, ``SOURCE``,
                                                             ``DYNAMIC_1032_STAGE``), ``status_id``
``dict_category``      crm.category.list per entity type     ``entity_type_id``, ``id``
``dict_user``          user.get                              ``id``
``dict_currency``      crm.currency.list                     ``currency``
``dict_entity_type``   crm.type.list and the fixed types     ``entity_type_id``; ``table_name``
=====================  ===================================  =====================================

``status_type`` is the status dictionary without its pipeline: deal stages of every
pipeline (``DEAL_STAGE``, ``DEAL_STAGE_1``...) are ``DEAL_STAGE``, so one join condition
serves every pipeline (their codes differ: ``WON``, ``C1:WON``). Each dictionary is read
with one listing (a few requests at most) and replaced in one transaction under its own
lock; the row builders here are pure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..typed.values import BAD, read_bool, read_int, read_numeric, read_text

Row = Tuple[Any, ...]


@dataclass(frozen=True)
class Dictionary:
    table: str
    columns: Tuple[Tuple[str, str], ...]
    key: Tuple[str, ...]

    @property
    def names(self) -> List[str]:
        return [name for name, _ in self.columns]


STATUS = Dictionary("dict_status", (
    ("entity_id", "text"), ("status_id", "text"), ("name", "text"), ("sort", "int"),
    ("semantics", "text"), ("category_id", "int"), ("status_type", "text"), ("color", "text")),
    ("entity_id", "status_id"))
CURRENCY = Dictionary("dict_currency", (
    ("currency", "text"), ("name", "text"), ("amount", "numeric"), ("amount_cnt", "int"),
    ("base", "bool"), ("sort", "int")), ("currency",))
USER = Dictionary("dict_user", (
    ("id", "int"), ("name", "text"), ("last_name", "text"), ("second_name", "text"),
    ("full_name", "text"), ("email", "text"), ("active", "bool"), ("work_position", "text"),
    ("department_ids", "text")), ("id",))
CATEGORY = Dictionary("dict_category", (
    ("entity_type_id", "int"), ("id", "int"), ("name", "text"), ("sort", "int"),
    ("is_default", "bool")), ("entity_type_id", "id"))
ENTITY_TYPE = Dictionary("dict_entity_type", (
    ("entity_type_id", "int"), ("title", "text"), ("table_name", "text"), ("code", "text")),
    ("entity_type_id",))

#: the CRM's own entity types: (entityTypeId, title, list method, owner type code)
FIXED_TYPES = ((1, "Lead", "crm.lead.list", "L"), (2, "Deal", "crm.deal.list", "D"),
               (3, "Contact", "crm.contact.list", "C"), (4, "Company", "crm.company.list", "CO"),
               (7, "Quote", "crm.quote.list", "Q"))

_PIPELINE = re.compile(r"^(.*_STAGE)_\d+$")


def status_type(entity_id: str) -> str:
    """``DEAL_STAGE_3`` -> ``DEAL_STAGE``; ``DYNAMIC_1032_STAGE_5`` -> ``DYNAMIC_1032_STAGE``."""
    match = _PIPELINE.match(entity_id)
    return match.group(1) if match else entity_id


#: ``EXTRA.SEMANTICS`` of crm.status.list, for portals that leave ``SEMANTICS`` empty
_SEMANTICS = {"success": "S", "failure": "F", "apology": "F"}


def status_rows(raw: Iterable[Mapping[str, Any]]) -> List[Row]:
    """``semantics``: ``S`` a success stage, ``F`` a failure stage, NULL in progress."""
    out = []
    for r in raw:
        entity = str(r.get("ENTITY_ID") or "")
        extra = r.get("EXTRA")
        semantics = r.get("SEMANTICS") or (
            _SEMANTICS.get(str(extra.get("SEMANTICS"))) if isinstance(extra, dict) else None)
        out.append((entity, read_text(r.get("STATUS_ID")), read_text(r.get("NAME")),
                    _int(r.get("SORT")), read_text(semantics), _int(r.get("CATEGORY_ID")),
                    status_type(entity), read_text(r.get("COLOR"))))
    return _unique(out, 2)


def currency_rows(raw: Iterable[Mapping[str, Any]]) -> List[Row]:
    return _unique([(read_text(r.get("CURRENCY")), read_text(r.get("FULL_NAME")),
                     _numeric(r.get("AMOUNT")), _int(r.get("AMOUNT_CNT")),
                     _bool(r.get("BASE")), _int(r.get("SORT"))) for r in raw], 1)


def user_rows(raw: Iterable[Mapping[str, Any]]) -> List[Row]:
    out = []
    for r in raw:
        parts = [str(r.get(k) or "").strip() for k in ("NAME", "LAST_NAME")]
        full = " ".join(p for p in parts if p) or read_text(r.get("EMAIL")) or None
        departments = r.get("UF_DEPARTMENT")
        out.append((_int(r.get("ID")), read_text(r.get("NAME")), read_text(r.get("LAST_NAME")),
                    read_text(r.get("SECOND_NAME")), full, read_text(r.get("EMAIL")),
                    _bool(r.get("ACTIVE")), read_text(r.get("WORK_POSITION")),
                    ",".join(str(d) for d in departments)
                    if isinstance(departments, list) else read_text(departments)))
    return _unique(out, 1)


def category_rows(raw: Iterable[Mapping[str, Any]]) -> List[Row]:
    return _unique([(_int(r.get("entityTypeId")), _int(r.get("id")), read_text(r.get("name")),
                     _int(r.get("sort")), _bool(r.get("isDefault"))) for r in raw], 2)


def entity_type_rows(smart: Iterable[Mapping[str, Any]],
                     table_of: Callable[[int], Optional[str]]) -> List[Row]:
    rows: List[Row] = [(type_id, title, table_of(type_id), code)
                       for type_id, title, _, code in FIXED_TYPES]
    for r in smart:
        type_id = _int(r.get("entityTypeId"))
        if type_id is not None:
            rows.append((type_id, read_text(r.get("title")), table_of(type_id),
                         f"T{type_id:x}"))
    return _unique(rows, 1)


def _unique(rows: Sequence[Row], key: int) -> List[Row]:
    """First row of each key (a portal that repeats a row across pages must not break the
    primary key); rows without a key are dropped, they cannot be joined to."""
    seen = set()
    out = []
    for row in rows:
        k = row[:key]
        if any(part is None for part in k) or k in seen:
            continue
        seen.add(k)
        out.append(row)
    return out


def _int(value: Any) -> Optional[int]:
    parsed = read_int(value)
    return None if parsed is BAD else parsed


def _numeric(value: Any) -> Any:
    parsed = read_numeric(value)
    return None if parsed is BAD else parsed


def _bool(value: Any) -> Optional[bool]:
    parsed = read_bool(value)
    return None if parsed is BAD else parsed


ALL: Dict[str, Dictionary] = {d.table: d for d in (STATUS, CURRENCY, USER, CATEGORY,
                                                   ENTITY_TYPE)}
