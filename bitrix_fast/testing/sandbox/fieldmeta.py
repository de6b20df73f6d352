"""What ``*.fields`` says about a field, in the shapes real portals print
(real_responses/crm_lead_fields_success.json): the classic methods' ``{NAME: meta}`` and
crm.item.fields' ``{"fields": {camelName: meta + upperName}}``."""
from __future__ import annotations

import re
from typing import Any, Dict, Tuple

from .model import Entity, Field

#: ``settings`` that *.fields reports for custom fields, by type (as real portals print them)
UF_SETTINGS: Dict[str, Dict[str, Any]] = {
    "string": {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0,
               "DEFAULT_VALUE": None},
    "double": {"PRECISION": 2, "SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0,
               "DEFAULT_VALUE": None},
    "date": {"DEFAULT_VALUE": {"TYPE": "NONE", "VALUE": ""}},
    "money": {"DEFAULT_VALUE": ""},
    "enumeration": {"DISPLAY": "LIST", "LIST_HEIGHT": 1, "CAPTION_NO_VALUE": "",
                    "SHOW_NO_VALUE": "Y"},
    "boolean": {"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX", "LABEL": ["", ""],
                "LABEL_CHECKBOX": ""},
    "file": {"SIZE": 20, "LIST_WIDTH": 0, "LIST_HEIGHT": 0, "MAX_SHOW_SIZE": 0,
             "MAX_ALLOWED_SIZE": 0, "EXTENSIONS": [], "TARGET_BLANK": "Y"},
    "employee": {},
}


def field_meta(f: Field, *, upper_name: bool = False) -> Dict[str, Any]:
    """One entry of a ``*.fields`` answer; ``upper_name`` adds crm.item's ``upperName``."""
    meta: Dict[str, Any] = {"type": f.type, "isRequired": f.required, "isReadOnly": f.readonly,
                            "isImmutable": False, "isMultiple": f.multiple, "isDynamic": f.uf}
    if f.status_type:
        meta["statusType"] = f.status_type
    if not f.uf:
        meta["title"] = f.title
    else:
        meta.update(title=f.name, listLabel=f.title, formLabel=f.title, filterLabel=f.title,
                    settings=UF_SETTINGS.get(f.type, {}))
    if f.items:
        meta["items"] = [{"ID": str(id_), "VALUE": value} for id_, value in f.items]
    if upper_name:
        meta["upperName"] = upper_name_of(f.camel)
    return meta


def upper_name_of(camel: str) -> str:
    """crm.item.fields' ``upperName``: the camelCase name in upper snake case
    (``updatedTime`` -> ``UPDATED_TIME``, ``ufCrm5_1700000101`` -> ``UF_CRM_5_1700000101``)."""
    smart = re.match(r"ufCrm(\d*)_(\w+)\Z", camel)
    if smart:
        return "UF_CRM_" + (f"{smart.group(1)}_" if smart.group(1) else "") + smart.group(2)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).upper()


def classic_fields(e: Entity, extra: Tuple[Tuple[str, Dict[str, Any]], ...] = ()
                   ) -> Dict[str, Any]:
    out = {f.name: field_meta(f) for f in e.fields}
    out.update(extra)
    return out


def item_fields(e: Entity) -> Dict[str, Any]:
    return {"fields": {f.camel: field_meta(f, upper_name=True) for f in e.fields}}
