"""CRM fields every entity shares, and the entities a BI mirror reads besides the classic
four: quotes, a smart process, the status dictionary, phones and e-mails.

Types follow what real portals describe (real_responses/crm_lead_fields_success.json):
custom fields of the common types -- string, double, date, an ``enumeration`` with its
``items``, a multiple enumeration, ``money`` (``"1500.00|RUB"``), ``boolean`` and ``file``
-- and ``crm_status`` fields naming their status dictionary. A smart process's fields are
camelCase on crm.item (``stageId``, ``ufCrm5_1700000101``); its stages are
``DT1032_5:NEW`` in the dictionary ``DYNAMIC_1032_STAGE_5``.
"""
from __future__ import annotations

from typing import Dict, Tuple

from .model import Entity, Field


def id_field() -> Field:
    return Field("ID", "int", "integer", "ID", readonly=True)


def crm_people() -> Tuple[Field, ...]:
    """Who and when: the same six fields on every CRM entity."""
    return (
        Field("ASSIGNED_BY_ID", "int", "user", "Responsible person", role="assigned"),
        Field("CREATED_BY_ID", "int", "user", "Created by", camel="createdBy",
              readonly=True, role="created_by"),
        Field("MODIFY_BY_ID", "int", "user", "Modified by", camel="updatedBy",
              readonly=True, role="modified_by"),
        Field("DATE_CREATE", "time", "datetime", "Created on", camel="createdTime",
              readonly=True, role="created_at"),
        Field("DATE_MODIFY", "time", "datetime", "Modified on", camel="updatedTime",
              readonly=True, role="modified_at"),
        Field("OPENED", "flag", "char", "Available to everyone", default="Y"),
        Field("COMMENTS", "text", "string", "Comment"),
        Field("SOURCE_ID", "text", "crm_status", "Source", status_type="SOURCE"),
    )


def crm_origin() -> Tuple[Field, ...]:
    """The record's place in an external system (crm-deal-fields.md: ORIGINATOR_ID
    "External Source", ORIGIN_ID "Identifier in External Source"); crm.item names them
    ``originatorId`` / ``originId``. Filterable with ``=`` and ``@``: a keyed add reads a
    record back by them, an upsert finds its record by them."""
    return (
        Field("ORIGINATOR_ID", "text", "string", "External source"),
        Field("ORIGIN_ID", "text", "string", "Identifier in external source"),
    )


def crm_user_fields() -> Tuple[Field, ...]:
    """Custom (UF_) fields, one of each common type; ``title`` holds the label."""
    return (
        Field("UF_CRM_1700000001", "text", "string", "Source note"),
        Field("UF_CRM_1700000002", "real", "double", "Estimated value"),
        Field("UF_CRM_1700000003", "time", "date", "Follow-up date"),
    )


#: deals' lead channels and interests: enumeration items (ID, label)
CHANNELS = ((61, "Website"), (62, "Phone call"), (63, "Exhibition"), (64, "Partner"))
INTERESTS = ((71, "Hardware"), (72, "Software"), (73, "Services"))


def deal_user_fields() -> Tuple[Field, ...]:
    """The custom fields a BI team meets on deals, one of each harder type."""
    return (
        Field("UF_CRM_1700000004", "int", "enumeration", "Lead channel", items=CHANNELS),
        Field("UF_CRM_1700000005", "json", "enumeration", "Interests", multiple=True,
              items=INTERESTS),
        Field("UF_CRM_1700000006", "text", "money", "Budget"),
        Field("UF_CRM_1700000007", "flag", "boolean", "Key account"),
        Field("UF_CRM_1700000008", "json", "file", "Contract scan"),
    )


def money() -> Tuple[Field, ...]:
    return (
        Field("OPPORTUNITY", "real", "double", "Amount", default=0.0),
        Field("CURRENCY_ID", "text", "crm_currency", "Currency", default="RUB"),
    )


QUOTE = Entity("quote", (
    id_field(),
    Field("TITLE", "text", "string", "Name"),
    Field("STATUS_ID", "text", "crm_status", "Status", camel="stageId",
          status_type="QUOTE_STATUS", default="DRAFT"),
    *money(),
    Field("DEAL_ID", "int", "crm_deal", "Deal"),
    Field("COMPANY_ID", "int", "crm_company", "Company"),
    Field("CONTACT_ID", "int", "crm_contact", "Contact"),
    Field("BEGINDATE", "time", "date", "Start date"),
    Field("CLOSEDATE", "time", "date", "End date"),
    Field("CLOSED", "flag", "char", "Closed", default="N"),
    *crm_people(),
    *crm_origin(),
), type_id=7, indexes=(("ORIGIN_ID",),))

#: the smart processes: entityTypeId -> (crm.type ``id``, title, categories as (ID, name));
#: the type's ``id`` names its user fields (``UF_CRM_<id>_...``)
SMART_PROCESSES = {1032: (5, "Projects", ((5, "Main"), (6, "Pilots")))}
PRIORITIES = ((81, "Low"), (82, "Normal"), (83, "High"))


def _smart(type_id: int) -> Entity:
    own_id, _, categories = SMART_PROCESSES[type_id]
    uf = f"UF_CRM_{own_id}"
    return Entity(f"smart{type_id}", (
        id_field(),
        Field("TITLE", "text", "string", "Name"),
        Field("CATEGORY_ID", "int", "crm_category", "Pipeline", default=categories[0][0]),
        Field("STAGE_ID", "text", "crm_status", "Stage",
              status_type=f"DYNAMIC_{type_id}_STAGE_{categories[0][0]}"),
        *money(),
        Field("COMPANY_ID", "int", "crm_company", "Company"),
        Field("BEGINDATE", "time", "date", "Start date"),
        Field("CLOSEDATE", "time", "date", "End date"),
        *crm_people(),
        *crm_origin(),
        Field(f"{uf}_1700000101", "text", "string", "Project code"),
        Field(f"{uf}_1700000102", "int", "enumeration", "Priority", items=PRIORITIES),
        Field(f"{uf}_1700000103", "time", "date", "Deadline"),
        Field(f"{uf}_1700000104", "json", "employee", "Team", multiple=True),
    ), type_id=type_id, indexes=(("ORIGIN_ID",),))


SMART_TYPES: Dict[int, Entity] = {type_id: _smart(type_id) for type_id in SMART_PROCESSES}

#: crm.status.list: the status dictionaries (stages, sources, types...), one row per status
STATUS = Entity("status", (
    id_field(),
    Field("ENTITY_ID", "text", "string", "Dictionary"),
    Field("STATUS_ID", "text", "string", "Code"),
    Field("NAME", "text", "string", "Name"),
    Field("NAME_INIT", "text", "string", "Initial name"),
    Field("SORT", "int", "integer", "Sort"),
    Field("SYSTEM", "flag", "char", "System", default="N"),
    Field("CATEGORY_ID", "int", "integer", "Pipeline"),
    Field("COLOR", "text", "string", "Colour"),
    Field("SEMANTICS", "text", "string", "Semantics"),
), indexes=(("ENTITY_ID", "SORT"),))

#: phones, e-mails, sites and messengers of leads, contacts and companies (crm_multifield)
MULTIFIELD = Entity("multifield", (
    id_field(),
    Field("ENTITY_ID", "text", "string", "Owner type"),
    Field("ELEMENT_ID", "int", "integer", "Owner"),
    Field("TYPE_ID", "text", "string", "Kind"),
    Field("VALUE_TYPE", "text", "string", "Value type"),
    Field("VALUE", "text", "string", "Value"),
), indexes=(("ENTITY_ID", "ELEMENT_ID"),))
MULTIFIELD_TYPES = ("PHONE", "EMAIL", "WEB", "IM")
