"""The portal's data: the entities and their fields (see :mod:`.model` for what a field
says; the CRM entities added for the typed mirror -- quotes, a smart process, the status
dictionary, phones and e-mails -- are in :mod:`.entities_crm`)."""
from __future__ import annotations

from typing import Dict

from .entities_crm import (MULTIFIELD, QUOTE, SMART_TYPES, STATUS, crm_origin, crm_people,
                           crm_user_fields, deal_user_fields, id_field, money)
from .model import SQL_TYPES, Entity, Field, camel_case

__all__ = ["SQL_TYPES", "Entity", "Field", "camel_case", "ENTITIES", "ITEM_TYPES", "get_entity",
           "DEAL", "LEAD", "CONTACT", "COMPANY", "QUOTE", "TASK", "USER", "PRODUCTROW",
           "ELAPSEDITEM", "COMMENTITEM", "STATUS", "MULTIFIELD", "SMART_TYPES"]

DEAL = Entity("deal", (
    id_field(),
    Field("TITLE", "text", "string", "Name"),
    Field("TYPE_ID", "text", "crm_status", "Type", status_type="DEAL_TYPE", default="SALE"),
    Field("STAGE_ID", "text", "crm_status", "Stage", status_type="DEAL_STAGE", default="NEW"),
    Field("CATEGORY_ID", "int", "crm_category", "Pipeline", default=0),
    Field("PROBABILITY", "int", "integer", "Probability"),
    *money(),
    Field("IS_MANUAL_OPPORTUNITY", "flag", "char", "Manual amount", default="N"),
    Field("COMPANY_ID", "int", "crm_company", "Company"),
    Field("CONTACT_ID", "int", "crm_contact", "Contact"),
    Field("BEGINDATE", "time", "date", "Start date"),
    Field("CLOSEDATE", "time", "date", "End date"),
    Field("CLOSED", "flag", "char", "Closed", default="N"),
    *crm_people(),
    *crm_origin(),
    *crm_user_fields(),
    *deal_user_fields(),
), type_id=2, indexes=(("ORIGIN_ID",),))

LEAD = Entity("lead", (
    id_field(),
    Field("TITLE", "text", "string", "Lead name", required=True),
    Field("NAME", "text", "string", "First name"),
    Field("LAST_NAME", "text", "string", "Last name"),
    Field("SECOND_NAME", "text", "string", "Second name"),
    Field("COMPANY_TITLE", "text", "string", "Company name"),
    Field("POST", "text", "string", "Position"),
    Field("STATUS_ID", "text", "crm_status", "Status", camel="stageId",
          status_type="STATUS", default="NEW"),
    *money(),
    Field("COMPANY_ID", "int", "crm_company", "Company"),
    Field("CONTACT_ID", "int", "crm_contact", "Contact"),
    Field("DATE_CLOSED", "time", "datetime", "Completed on", readonly=True),
    *crm_people(),
    *crm_origin(),
    *crm_user_fields(),
), type_id=1, indexes=(("ORIGIN_ID",),))

CONTACT = Entity("contact", (
    id_field(),
    Field("NAME", "text", "string", "First name"),
    Field("LAST_NAME", "text", "string", "Last name"),
    Field("SECOND_NAME", "text", "string", "Second name"),
    Field("POST", "text", "string", "Position"),
    Field("TYPE_ID", "text", "crm_status", "Contact type", status_type="CONTACT_TYPE",
          default="CLIENT"),
    Field("COMPANY_ID", "int", "crm_company", "Company"),
    Field("BIRTHDATE", "time", "date", "Date of birth"),
    Field("EXPORT", "flag", "char", "Included in export", default="Y"),
    *crm_people(),
    *crm_origin(),
    *crm_user_fields(),
), type_id=3, indexes=(("ORIGIN_ID",),))

COMPANY = Entity("company", (
    id_field(),
    Field("TITLE", "text", "string", "Company name", required=True),
    Field("COMPANY_TYPE", "text", "crm_status", "Company type", camel="typeId",
          status_type="COMPANY_TYPE", default="CUSTOMER"),
    Field("INDUSTRY", "text", "crm_status", "Industry", status_type="INDUSTRY"),
    Field("EMPLOYEES", "text", "crm_status", "Employees", status_type="EMPLOYEES"),
    Field("REVENUE", "real", "double", "Annual revenue"),
    Field("CURRENCY_ID", "text", "crm_currency", "Currency", default="RUB"),
    *crm_people(),
    *crm_origin(),
    *crm_user_fields(),
), type_id=4, indexes=(("ORIGIN_ID",),))

TASK = Entity("task", (
    id_field(),
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
    id_field(),
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
    id_field(),
    Field("OWNER_TYPE", "text", "char", "Owner type", default="D"),
    Field("OWNER_ID", "int", "integer", "Owner ID"),
    Field("PRODUCT_ID", "int", "integer", "Product"),
    Field("PRODUCT_NAME", "text", "string", "Product name"),
    Field("PRICE", "real", "double", "Price", default=0.0),
    Field("QUANTITY", "real", "double", "Quantity", default=1.0),
), indexes=(("OWNER_TYPE", "OWNER_ID", "ID"),))

ELAPSEDITEM = Entity("elapseditem", (
    id_field(),
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
    id_field(),
    Field("TASK_ID", "int", "integer", "Task"),
    Field("AUTHOR_ID", "int", "integer", "Author", role="created_by"),
    Field("AUTHOR_NAME", "text", "string", "Author name"),
    Field("AUTHOR_EMAIL", "text", "string", "Author e-mail", default=""),
    Field("POST_DATE", "time", "datetime", "Posted on", role="created_at"),
    Field("POST_MESSAGE", "text", "string", "Text"),
), indexes=(("TASK_ID",),))

ENTITIES: Dict[str, Entity] = {e.name: e for e in (DEAL, LEAD, CONTACT, COMPANY, TASK, USER,
                                                   PRODUCTROW, ELAPSEDITEM, COMMENTITEM,
                                                   QUOTE, STATUS, MULTIFIELD,
                                                   *SMART_TYPES.values())}
#: crm.item ``entityTypeId`` -> entity
ITEM_TYPES: Dict[int, Entity] = {e.type_id: e for e in ENTITIES.values() if e.type_id}


def get_entity(name: str) -> Entity:
    """The entity called ``name``; ValueError names the known ones otherwise."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise ValueError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}") from None
