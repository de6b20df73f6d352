"""What bitrix_fast knows about individual REST methods, in one declarative table.

Other libraries hard-code these quirks across their code (and learn them one bug report at a
time); here every list strategy, retry decision and result unwrapping asks this table.

A method the table does not know is treated conservatively: reads are recognised by their
name (``*.list``, ``*.get``, ``*.fields``, ...), lists are paged plainly with the caller's own
parameters, and nothing is ever added to what the caller sends.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Tuple

#: Verbs that only read. Everything else is assumed to write, so it is never resent blindly.
_READ_SUFFIXES = (
    ".list", ".get", ".fields", ".getlist", ".getfields", ".search", ".count",
    ".userfield.list", ".info",
)
_READ_METHODS = {"server.time", "profile", "scope", "methods", "method.get", "app.info",
                 "user.current", "user.get", "user.search", "department.get"}
#: Named like reads, but they change the portal: ``event.offline.get`` marks (or deletes)
#: the events it returns, so a resend after an unanswered attempt would hide a batch.
_WRITE_METHODS = {"event.offline.get"}


@dataclass(frozen=True)
class MethodFacts:
    """Facts about one list-capable method, each read by the list engine.

    ``id_field`` is the row key holding the ID; ``filter_id`` the name filters and orders use
    for it (crm.item uses ``id`` for both, tasks.task.list filters on ``ID`` but returns
    ``id``). ``key_fields`` names the fields that identify a row of a method without an ID
    (crm.address.list), for deduplication. ``wrapper`` is the key of the result dict holding
    the rows (``tasks``, ``items``) or None for a bare list. ``filter_key`` is the parameter
    holding the filter (``FILTER`` for user.get). ``order`` is how ordering is expressed:
    ``"dict"`` for ``{<order_key>: {"ID": "ASC"}}``, ``"sort"`` for ``sort="ID", order="ASC"``
    strings (user.get), ``None`` when the method must not be sent an order (it rejects or
    ignores one). ``ranges`` says the ID-range planner may add ``>ID`` / ``<ID`` filters and
    ``start=-1`` (every reply is still checked: a method that ignores them is caught and paged
    plainly). ``paging`` is how pages after the first are asked for: ``"start"`` (the
    ``start`` offset, 50 a page), ``"nav"`` (``PARAMS.NAV_PARAMS`` page numbers: task.elapseditem
    .getlist ignores ``start``) or ``"none"`` (one reply holds every row: task.commentitem
    .getlist). ``modified_filter`` / ``modified_key`` name the field recording a row's last
    change, in filters and in rows (None where there is none).
    """

    id_field: str = "ID"
    filter_id: str = "ID"
    key_fields: Tuple[str, ...] = ()
    wrapper: Optional[str] = None
    filter_key: str = "filter"
    order: Optional[str] = "dict"
    order_key: str = "order"
    ranges: bool = True
    paging: str = "start"
    modified_filter: Optional[str] = None
    modified_key: Optional[str] = None


_CLASSIC = MethodFacts()
_CLASSIC_MODIFIED = replace(_CLASSIC, modified_filter="DATE_MODIFY", modified_key="DATE_MODIFY")
#: Engine-controller lists (crm.item, catalog.*): camelCase ``id`` in filters, orders and rows.
_ENGINE = MethodFacts(id_field="id", filter_id="id")
#: Lists paged plainly with exactly the caller's parameters: they reject or ignore an order or
#: ID filters (bitrix-rest-semantics.md §8; fast_bitrix24 #98, #151, #253, #260).
_PLAIN = MethodFacts(order=None, ranges=False)

#: Known list methods (bitrix-rest-semantics.md §6 and §8, the recorded replies in
#: shared/real_responses). A method not here gets ``_PLAIN``: plain paging, nothing injected.
_LISTS: Dict[str, MethodFacts] = {
    # Classic CRM lists: filter/order/select/start, ``>ID`` with ``start=-1`` honoured.
    **{f"crm.{entity}.list": _CLASSIC_MODIFIED for entity in (
        "deal", "lead", "contact", "company", "quote", "invoice", "product", "requisite")},
    **{f"crm.{entity}.list": _CLASSIC for entity in ("activity", "requisite.bankdetail")},
    # Small dictionaries: an ID-range plan would cost more than it saves.
    **{f"crm.{entity}.list": replace(_CLASSIC, ranges=False) for entity in (
        "status", "currency", "measure", "deal.category", "dealcategory")},
    # Filters only by ENTITY_ID / ENTITY_TYPE: a ``>ID`` filter is dropped silently.
    "crm.timeline.comment.list": _PLAIN,
    # Needs OWNER_TYPE / OWNER_ID, drops every other filter key and ignores ``order``.
    "crm.productrow.list": _PLAIN,
    "crm.item.productrow.list": replace(_PLAIN, id_field="id", filter_id="id",
                                        wrapper="productRows"),
    "crm.item.list": replace(_ENGINE, wrapper="items", modified_filter="updatedTime",
                             modified_key="updatedTime"),
    "crm.type.list": replace(_ENGINE, wrapper="types", ranges=False),
    "crm.category.list": replace(_ENGINE, wrapper="categories", ranges=False),
    "crm.stagehistory.list": MethodFacts(wrapper="items"),
    # No ID at all: a composite key, offset pages deduplicated by the whole key.
    "crm.address.list": replace(_PLAIN, key_fields=("TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID")),
    "tasks.task.list": MethodFacts(id_field="id", filter_id="ID", wrapper="tasks",
                                   modified_filter="CHANGED_DATE", modified_key="changedDate"),
    # Ignores ``start`` and pages by PARAMS.NAV_PARAMS, yet reports ``next`` and ``total``.
    "task.elapseditem.getlist": replace(_PLAIN, paging="nav"),
    # Every comment of the task in one reply, no ``next``/``total``.
    "task.commentitem.getlist": replace(_PLAIN, paging="none"),
    "user.get": MethodFacts(order="sort", filter_key="FILTER"),
    "department.get": MethodFacts(order="sort", ranges=False),
    # Sorted by ELEMENT_ORDER, filtered by FILTER; ID ranges are not verified on real portals.
    "lists.element.get": MethodFacts(filter_key="FILTER", order_key="ELEMENT_ORDER",
                                     ranges=False),
    # Reads only upper-case ORDER / FILTER.
    "sonet_group.get": MethodFacts(filter_key="FILTER", order_key="ORDER", ranges=False),
    "socialnetwork.api.workgroup.list": replace(_PLAIN, id_field="id", wrapper="workgroups"),
    **{f"catalog.{entity}.list": replace(_ENGINE, wrapper=wrapper) for entity, wrapper in (
        ("product", "products"), ("section", "sections"), ("store", "stores"),
        ("storeproduct", "storeProducts"), ("price", "prices"), ("catalog", "catalogs"),
        ("document", "documents"), ("document.element", "documentElements"))},
    "documentgenerator.template.list": _PLAIN,
    "userfieldconfig.list": _PLAIN,
    "voximplant.statistic.get": _PLAIN,
    "crm.deal.userfield.list": _PLAIN,
}


#: Methods whose result is a dict keyed by data, so a one-key answer is data too:
#: ``crm.duplicate.findbycomm`` answers ``{"CONTACT": [4, 5]}`` when only contacts match,
#: ``im.user.list.get`` ``{"7": {...user}}`` for one user, ``user.option.get`` and
#: ``app.option.get`` (asked for every option) ``{name: value}`` when one option is set.
#: Every other one-key result is a wrapper (``{"items": [...]}``, ``{"item": {...}}``,
#: ``{"products": [...]}``) and is unwrapped, as fast_bitrix24 unwraps it; these are not,
#: because unwrapping them would throw the key away (the entity type, the user ID, the name).
_DATA_KEYED = frozenset({
    "crm.duplicate.findbycomm", "im.user.list.get", "user.option.get", "app.option.get",
})


def keyed_by_data(method: str) -> bool:
    """True when a one-key result of ``method`` is data, never a wrapper to unwrap."""
    return method in _DATA_KEYED


#: A REST method name: dot-separated parts of ASCII letters, digits and ``_``. Checked
#: before the name goes into a URL path, where ``..``, ``/``, ``?`` or ``#`` would change
#: which address the request (and its credentials) goes to.
_METHOD_NAME = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*\Z")


def normalize(method: str) -> str:
    """Lower-case and strip a method name the way the server does (``CRM.Deal.List`` works);
    ValueError for anything but letters, digits, ``_`` and single dots between them."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    name = method.strip().lower()
    if name.endswith(".json"):
        name = name[: -len(".json")]
    if not _METHOD_NAME.match(name):
        raise ValueError(f"{method!r} is not a REST method name: a method name is made of "
                         f"letters, digits and '_', in parts joined by single dots "
                         f"(e.g. 'crm.deal.list')")
    return name


def rows_of(result: Any, facts: MethodFacts) -> Optional[List[Any]]:
    """The rows of one list reply, or None when the result is not a list of rows (a dict
    result, which get_all hands back as it is)."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        if facts.wrapper is not None:
            rows = result.get(facts.wrapper)
            if isinstance(rows, list):
                return rows
            if not result:  # an empty page of a wrapped method comes back as []/{}
                return []
            # fall through: a method from the table answering in another shape
        if len(result) == 1:
            only = next(iter(result.values()))
            if isinstance(only, list):
                return only
    return None


def list_facts(method: str) -> MethodFacts:
    """Facts for a list method; unknown methods get plain paging with nothing injected."""
    return _LISTS.get(method, _PLAIN)


def is_read_only(method: str) -> bool:
    """True when resending the method cannot change data (so any transient failure is retried)."""
    if method in _WRITE_METHODS:
        return False
    return method in _READ_METHODS or method.endswith(_READ_SUFFIXES)
