"""The portal's data model: the entities, their fields, and how each field is stored.

One :class:`Field` describes a column three ways at once: how SQLite stores it (``kind``),
what ``*.fields`` reports about it (``type``, ``title``, flags), and the names it goes by
(``name`` on classic methods and in filters of tasks and users, ``camel`` on crm.item
and in task results). The column itself is called ``name``.

Storage kinds: ``int``, ``real``, ``text``; ``flag`` (text "Y"/"N"); ``time`` (Unix
seconds, printed as ISO-8601 in the portal's zone); ``bool`` (a Y/N flag that user.get
prints as a JSON boolean); ``ints`` (one integer that user.get prints as a list).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

SQL_TYPES = {"int": "INTEGER", "real": "REAL", "text": "TEXT", "flag": "TEXT",
             "time": "INTEGER", "bool": "TEXT", "ints": "INTEGER"}


def camel_case(name: str) -> str:
    """``ASSIGNED_BY_ID`` -> ``assignedById``; ``UF_CRM_1700000001`` -> ``ufCrm_1700000001``."""
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


def _id() -> Field:
    return Field("ID", "int", "integer", "ID", readonly=True)


def _crm_people() -> Tuple[Field, ...]:
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


def _crm_origin() -> Tuple[Field, ...]:
    """The record's place in an external system (crm-deal-fields.md: ORIGINATOR_ID
    "External Source", ORIGIN_ID "Identifier in External Source"); crm.item names them
    ``originatorId`` / ``originId``. Filterable with ``=`` and ``@``: a keyed add reads a
    record back by them, an upsert finds its record by them."""
    return (
        Field("ORIGINATOR_ID", "text", "string", "External source"),
        Field("ORIGIN_ID", "text", "string", "Identifier in external source"),
    )


def _crm_user_fields() -> Tuple[Field, ...]:
    """Custom (UF_) fields, one of each common type; ``title`` holds the label."""
    return (
        Field("UF_CRM_1700000001", "text", "string", "Source note"),
        Field("UF_CRM_1700000002", "real", "double", "Estimated value"),
        Field("UF_CRM_1700000003", "time", "date", "Follow-up date"),
    )


def _money() -> Tuple[Field, ...]:
    return (
        Field("OPPORTUNITY", "real", "double", "Amount", default=0.0),
        Field("CURRENCY_ID", "text", "crm_currency", "Currency", default="RUB"),
    )


DEAL = Entity("deal", (
    _id(),
    Field("TITLE", "text", "string", "Name"),
    Field("TYPE_ID", "text", "crm_status", "Type", status_type="DEAL_TYPE", default="SALE"),
    Field("STAGE_ID", "text", "crm_status", "Stage", status_type="DEAL_STAGE", default="NEW"),
    Field("CATEGORY_ID", "int", "crm_category", "Pipeline", default=0),
    Field("PROBABILITY", "int", "integer", "Probability"),
    *_money(),
    Field("IS_MANUAL_OPPORTUNITY", "flag", "char", "Manual amount", default="N"),
    Field("COMPANY_ID", "int", "crm_company", "Company"),
    Field("CONTACT_ID", "int", "crm_contact", "Contact"),
    Field("BEGINDATE", "time", "date", "Start date"),
    Field("CLOSEDATE", "time", "date", "End date"),
    Field("CLOSED", "flag", "char", "Closed", default="N"),
    *_crm_people(),
    *_crm_origin(),
    *_crm_user_fields(),
), type_id=2, indexes=(("ORIGIN_ID",),))

LEAD = Entity("lead", (
    _id(),
    Field("TITLE", "text", "string", "Lead name", required=True),
    Field("NAME", "text", "string", "First name"),
    Field("LAST_NAME", "text", "string", "Last name"),
    Field("SECOND_NAME", "text", "string", "Second name"),
    Field("COMPANY_TITLE", "text", "string", "Company name"),
    Field("POST", "text", "string", "Position"),
    Field("STATUS_ID", "text", "crm_status", "Status", camel="stageId",
          status_type="STATUS", default="NEW"),
    *_money(),
    Field("COMPANY_ID", "int", "crm_company", "Company"),
    Field("CONTACT_ID", "int", "crm_contact", "Contact"),
    Field("DATE_CLOSED", "time", "datetime", "Completed on", readonly=True),
    *_crm_people(),
    *_crm_origin(),
    *_crm_user_fields(),
), type_id=1, indexes=(("ORIGIN_ID",),))

CONTACT = Entity("contact", (
    _id(),
    Field("NAME", "text", "string", "First name"),
    Field("LAST_NAME", "text", "string", "Last name"),
    Field("SECOND_NAME", "text", "string", "Second name"),
    Field("POST", "text", "string", "Position"),
    Field("TYPE_ID", "text", "crm_status", "Contact type", status_type="CONTACT_TYPE",
          default="CLIENT"),
    Field("COMPANY_ID", "int", "crm_company", "Company"),
    Field("BIRTHDATE", "time", "date", "Date of birth"),
    Field("EXPORT", "flag", "char", "Included in export", default="Y"),
    *_crm_people(),
    *_crm_origin(),
    *_crm_user_fields(),
), type_id=3, indexes=(("ORIGIN_ID",),))

COMPANY = Entity("company", (
    _id(),
    Field("TITLE", "text", "string", "Company name", required=True),
    Field("COMPANY_TYPE", "text", "crm_status", "Company type", camel="typeId",
          status_type="COMPANY_TYPE", default="CUSTOMER"),
    Field("INDUSTRY", "text", "crm_status", "Industry", status_type="INDUSTRY"),
    Field("EMPLOYEES", "text", "crm_status", "Employees", status_type="EMPLOYEES"),
    Field("REVENUE", "real", "double", "Annual revenue"),
    Field("CURRENCY_ID", "text", "crm_currency", "Currency", default="RUB"),
    *_crm_people(),
    *_crm_origin(),
    *_crm_user_fields(),
), type_id=4, indexes=(("ORIGIN_ID",),))

TASK = Entity("task", (
    _id(),
    Field("TITLE", "text", "string", "Name", required=True),
    Field("DESCRIPTION", "text", "string", "Description"),
    Field("STATUS", "int", "enum", "Status", default=2),
    Field("PRIORITY", "int", "enum", "Priority", default=1),
    Field("RESPONSIBLE_ID", "int", "integer", "Assignee", role="assigned"),
    Field("CREATED_BY", "int", "integer", "Created by", role="created_by"),
    Field("CREATED_DATE", "time", "datetime", "Created on", readonly=True, role="created_at"),
    Field("CHANGED_DATE", "time", "datetime", "Modified on", readonly=True,
          role="modified_at"),
    Field("CLOSED_DATE", "time", "datetime", "Completed on"),
    Field("DEADLINE", "time", "datetime", "Deadline"),
    Field("GROUP_ID", "int", "integer", "Project", default=0),
), aliases={"REAL_STATUS": "STATUS"})

USER = Entity("user", (
    _id(),
    Field("ACTIVE", "bool", "boolean", "Active", default="Y"),
    Field("NAME", "text", "string", "First name"),
    Field("LAST_NAME", "text", "string", "Last name"),
    Field("SECOND_NAME", "text", "string", "Second name"),
    Field("EMAIL", "text", "string", "E-Mail"),
    Field("WORK_POSITION", "text", "string", "Position"),
    Field("WORK_PHONE", "text", "string", "Company phone"),
    Field("PERSONAL_GENDER", "text", "string", "Gender"),
    Field("PERSONAL_CITY", "text", "string", "City"),
    Field("UF_DEPARTMENT", "ints", "integer", "Departments", default=1),
    Field("UF_PHONE_INNER", "text", "string", "Extension number"),
    Field("DATE_REGISTER", "time", "datetime", "Registered on", role="created_at"),
    Field("LAST_LOGIN", "time", "datetime", "Last login"),
    Field("IS_ONLINE", "flag", "char", "Online", default="N"),
    Field("TIME_ZONE", "text", "string", "Time zone"),
    Field("USER_TYPE", "text", "string", "User type", default="employee"),
))

# Rows that belong to a deal or a task, served by older methods with their own rules
# (productrows.py, taskitems.py); they have no add/update methods here.
PRODUCTROW = Entity("productrow", (
    _id(),
    Field("OWNER_TYPE", "text", "char", "Owner type", default="D"),
    Field("OWNER_ID", "int", "integer", "Owner ID"),
    Field("PRODUCT_ID", "int", "integer", "Product"),
    Field("PRODUCT_NAME", "text", "string", "Product name"),
    Field("PRICE", "real", "double", "Price", default=0.0),
    Field("QUANTITY", "real", "double", "Quantity", default=1.0),
), indexes=(("OWNER_TYPE", "OWNER_ID", "ID"),))

ELAPSEDITEM = Entity("elapseditem", (
    _id(),
    Field("TASK_ID", "int", "integer", "Task"),
    Field("USER_ID", "int", "integer", "User", role="created_by"),
    Field("COMMENT_TEXT", "text", "string", "Comment", default=""),
    Field("SECONDS", "int", "integer", "Seconds", default=0),
    Field("MINUTES", "int", "integer", "Minutes", default=0),
    Field("SOURCE", "int", "integer", "Source", default=2),
    Field("CREATED_DATE", "time", "datetime", "Created on", role="created_at"),
    Field("DATE_START", "time", "datetime", "Started"),
    Field("DATE_STOP", "time", "datetime", "Stopped"),
), indexes=(("TASK_ID",), ("CREATED_DATE", "ID")))

COMMENTITEM = Entity("commentitem", (
    _id(),
    Field("TASK_ID", "int", "integer", "Task"),
    Field("AUTHOR_ID", "int", "integer", "Author", role="created_by"),
    Field("AUTHOR_NAME", "text", "string", "Author name"),
    Field("AUTHOR_EMAIL", "text", "string", "Author e-mail", default=""),
    Field("POST_DATE", "time", "datetime", "Posted on", role="created_at"),
    Field("POST_MESSAGE", "text", "string", "Text"),
), indexes=(("TASK_ID",),))

ENTITIES: Dict[str, Entity] = {e.name: e for e in (DEAL, LEAD, CONTACT, COMPANY, TASK, USER,
                                                   PRODUCTROW, ELAPSEDITEM, COMMENTITEM)}
#: crm.item ``entityTypeId`` -> entity
ITEM_TYPES: Dict[int, Entity] = {e.type_id: e for e in ENTITIES.values() if e.type_id}


def get_entity(name: str) -> Entity:
    """The entity called ``name``; ValueError names the known ones otherwise."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise ValueError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}") from None
