"""What a ``*.fields`` description says about each field, as one value per field.

A :class:`FieldSpec` holds the field's name as rows carry it, its *kind* (how its values are
read), whether it holds several values, its label, the dictionary it points into
(``statusType`` of a ``crm_status`` field, the items of an enumeration) and the portal's own
type name. :func:`describe` reads the three shapes the portal prints:

* classic CRM (``crm.deal.fields``): ``{NAME: {"type", "isMultiple", "title", ...}}``;
* ``crm.item.fields``, ``crm.item.productrow.fields`` and ``tasks.task.getfields``: the same
  inside ``{"fields": {...}}``, camelCase names with an ``upperName``;
* ``user.fields``: ``{NAME: "title"}`` only, which says nothing about types (every field
  stays text there, except the few :data:`USER_KINDS` the API documents).

Kinds and what they hold:

==========  =====================================================================
int         integers; references to other CRM records, groups, iblock elements
numeric     ``double`` fields (``OPPORTUNITY``): exact decimals
money       money user fields, ``"1500.00|RUB"``: an amount and its currency
bool        ``char`` Y/N fields and ``boolean`` user fields (Y/N, 1/0, true/false)
date        a calendar date as the portal wrote it
datetime    a moment with the portal's UTC offset
status      a ``crm_status`` code (``C1:WON``); names in the status dictionary
currency    a ``crm_currency`` code (``RUB``); the currency dictionary
user        a user ID; the user dictionary
category    a pipeline (``crm_category``) ID; the category dictionary
enum        an enumeration item ID; its label in the field's ``items``
file        a file: its ID only (the portal's URLs may carry an access token)
multifield  PHONE / EMAIL / WEB / IM: ``[{"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}]``
text        everything else, unknown types included (lists and dicts as JSON)
==========  =====================================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

KINDS = ("int", "numeric", "money", "bool", "date", "datetime", "status", "currency",
         "user", "category", "enum", "file", "multifield", "text")

#: the portal's ``type`` -> kind; a type not here is text
TYPE_KINDS: Dict[str, str] = {
    **dict.fromkeys(("integer", "int", "crm_company", "crm_contact", "crm_lead", "crm_deal",
                     "crm_quote", "crm_invoice", "crm_smart_invoice", "crm_entity_id", "group",
                     "iblock_element", "iblock_section", "location"), "int"),
    **dict.fromkeys(("double", "float", "number"), "numeric"),
    "money": "money",
    "char": "bool",
    "boolean": "bool",
    "date": "date",
    "datetime": "datetime",
    "crm_status": "status",
    "crm_currency": "currency",
    **dict.fromkeys(("user", "employee"), "user"),
    "crm_category": "category",
    **dict.fromkeys(("enumeration", "enum"), "enum"),
    "file": "file",
    "crm_multifield": "multifield",
}

#: ``char`` fields that hold a code, not Y/N (product rows' owner type)
CHAR_CODES = frozenset({"OWNER_TYPE", "OWNERTYPE", "ENTITY_TYPE", "ENTITYTYPE"})

#: user.fields has titles only; these user.get fields have documented types
USER_KINDS: Dict[str, str] = {
    "ID": "int", "ACTIVE": "bool", "IS_ONLINE": "bool", "DATE_REGISTER": "datetime",
    "LAST_LOGIN": "datetime", "LAST_ACTIVITY_DATE": "datetime", "TIMESTAMP_X": "datetime",
    "PERSONAL_BIRTHDAY": "date", "UF_EMPLOYMENT_DATE": "date", "TIME_ZONE_OFFSET": "int",
}


@dataclass(frozen=True)
class EnumItem:
    """One choice of an enumeration field."""

    id: int
    value: str
    sort: Optional[int] = None


@dataclass(frozen=True)
class FieldSpec:
    """One field of a listing, as its ``*.fields`` entry describes it."""

    name: str
    kind: str = "text"
    type: str = ""
    multiple: bool = False
    title: str = ""
    #: the UPPER_CASE name (``crm.item.fields`` gives it as ``upperName``)
    upper: str = ""
    #: ``crm_status`` fields: the status dictionary's entity (``DEAL_STAGE``, ``SOURCE``)
    status_type: Optional[str] = None
    items: Tuple[EnumItem, ...] = ()

    @property
    def column_stem(self) -> str:
        """The name a column is made from: the UPPER_CASE one where the portal gives it, so
        ``assignedById`` and ``ASSIGNED_BY_ID`` become the same column name."""
        return self.upper or self.name


def describe(result: Any, *, user_fields: bool = False) -> Dict[str, FieldSpec]:
    """``{field name: FieldSpec}`` from a ``*.fields`` result (any of the three shapes)."""
    if isinstance(result, dict) and isinstance(result.get("fields"), dict):
        result = result["fields"]
    specs: Dict[str, FieldSpec] = {}
    if not isinstance(result, dict):
        return specs
    for name, meta in result.items():
        name = str(name)
        if isinstance(meta, dict):
            specs[name] = _spec(name, meta)
        elif user_fields or isinstance(meta, str):
            kind = USER_KINDS.get(name.upper(), "text")
            specs[name] = FieldSpec(name, kind, title=str(meta) if meta is not None else "")
    return specs


def _spec(name: str, meta: Mapping[str, Any]) -> FieldSpec:
    type_ = str(meta.get("type") or "").lower()
    kind = TYPE_KINDS.get(type_, "text")
    upper = str(meta.get("upperName") or "")
    if type_ == "char" and (name.upper() in CHAR_CODES or upper in CHAR_CODES):
        kind = "text"
    title = next((str(meta[key]) for key in ("listLabel", "formLabel", "title")
                  if isinstance(meta.get(key), str) and meta[key]), name)
    status = meta.get("statusType")
    return FieldSpec(
        name=name, kind=kind, type=type_, multiple=_truthy(meta.get("isMultiple")),
        title=title, upper=upper, status_type=str(status) if status else None,
        items=_items(meta.get("items") if "items" in meta else meta.get("values")))


def _items(raw: Any) -> Tuple[EnumItem, ...]:
    """Enumeration choices: ``[{"ID": "45", "VALUE": "A"}]`` (user fields) or
    ``{"1": "Low"}`` (tasks' ``values``)."""
    out = []
    if isinstance(raw, dict):
        raw = [{"ID": key, "VALUE": value} for key, value in raw.items()]
    if not isinstance(raw, list):
        return ()
    for item in raw:
        if not isinstance(item, dict):
            continue
        lowered = {str(k).upper(): v for k, v in item.items()}
        try:
            id_ = int(lowered.get("ID"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        sort = lowered.get("SORT")
        out.append(EnumItem(id_, "" if lowered.get("VALUE") is None else str(lowered["VALUE"]),
                            int(sort) if isinstance(sort, (int, str)) and str(sort).isdigit()
                            else None))
    return tuple(out)


def _truthy(value: Any) -> bool:
    return value in (True, "Y", "y", "true", "1", 1)


def spec_for(field: str, specs: Mapping[str, FieldSpec], id_field: str) -> FieldSpec:
    """The spec of ``field``, matched as the portal spells it or by its normalised name
    (tasks describe ``CHANGED_DATE`` but answer ``changedDate``); an unknown field is
    text, and the listing's ID is always an integer."""
    if field == id_field or field.upper() == "ID":
        return FieldSpec(field, "int", "integer", title="ID", upper="ID")
    found = specs.get(field)
    if found is None:
        wanted = normalise(field)
        found = next((s for s in specs.values()
                      if normalise(s.name) == wanted or (s.upper and normalise(s.upper) == wanted)),
                     None)
    if found is None:
        return FieldSpec(field)
    if found.name != field:
        return FieldSpec(field, found.kind, found.type, found.multiple, found.title,
                         found.upper or found.name, found.status_type, found.items)
    return found


def normalise(name: str) -> str:
    """``CHANGED_DATE``, ``changedDate`` and ``changeddate`` are one field."""
    return name.replace("_", "").lower()
