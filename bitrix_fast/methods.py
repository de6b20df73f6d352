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
from typing import Dict, Optional

#: Verbs that only read. Everything else is assumed to write, so it is never resent blindly.
_READ_SUFFIXES = (
    ".list", ".get", ".fields", ".getlist", ".getfields", ".search", ".count",
    ".userfield.list", ".info",
)
_READ_METHODS = {"server.time", "profile", "scope", "methods", "method.get", "app.info",
                 "user.current", "user.get", "user.search", "department.get"}


@dataclass(frozen=True)
class MethodFacts:
    """Facts about one list-capable method.

    ``id_field`` is the row key holding the ID; ``filter_id`` the name filters and ``order``
    use for it (crm.item uses ``id`` for both, tasks.task.list filters on ``ID`` but returns
    ``id``). ``wrapper`` is the key of the result dict holding the rows (``tasks``, ``items``)
    or None for a bare list. ``order`` is how ordering is expressed: ``"dict"`` for
    ``order={"ID": "ASC"}``, ``"sort"`` for ``sort="ID", order="ASC"`` strings (user.get),
    ``None`` when the method must not be sent an order. ``ranges`` says the ID-range planner
    may add ``>=ID`` / ``<ID`` filters and ``start=-1``; ``offsets`` is ``"page"`` (start is
    page-aligned), ``"exact"`` (ORM offset, user.get) or ``None`` (no usable paging).
    """

    id_field: str = "ID"
    filter_id: str = "ID"
    wrapper: Optional[str] = None
    order: Optional[str] = "dict"
    ranges: bool = True
    offsets: Optional[str] = "page"
    filter_key: str = "filter"
    id_is_int: bool = False
    default_desc: bool = False
    #: the field that records a row's last change: its name in filters and its key in rows
    #: (``DATE_MODIFY`` on classic CRM lists, ``updatedTime`` on crm.item, ``CHANGED_DATE``
    #: filtered and ``changedDate`` returned on tasks); None where the method has none
    modified_filter: Optional[str] = None
    modified_key: Optional[str] = None


_CLASSIC = MethodFacts()
_CLASSIC_MODIFIED = replace(_CLASSIC, modified_filter="DATE_MODIFY", modified_key="DATE_MODIFY")
_ITEM = MethodFacts(id_field="id", filter_id="id", wrapper="items", id_is_int=True,
                    modified_filter="updatedTime", modified_key="updatedTime")
_PLAIN = MethodFacts(order=None, ranges=False)

#: Known list methods. Classic CRM lists take filter/order/select/start and order by ID.
_LISTS: Dict[str, MethodFacts] = {
    **{f"crm.{entity}.list": _CLASSIC_MODIFIED for entity in (
        "deal", "lead", "contact", "company", "quote", "invoice", "product", "requisite")},
    **{f"crm.{entity}.list": _CLASSIC for entity in (
        "activity", "productrow", "timeline.comment", "requisite.bankdetail")},
    # Small dictionaries: paged plainly, an ID-range plan would cost more than it saves.
    **{f"crm.{entity}.list": replace(_CLASSIC, ranges=False) for entity in (
        "status", "currency", "measure", "deal.category", "dealcategory")},
    "crm.item.list": _ITEM,
    "crm.type.list": MethodFacts(id_field="id", filter_id="id", wrapper="types", id_is_int=True),
    "crm.stagehistory.list": MethodFacts(wrapper="items"),
    "tasks.task.list": MethodFacts(id_field="id", filter_id="ID", wrapper="tasks",
                                   default_desc=True, modified_filter="CHANGED_DATE",
                                   modified_key="changedDate"),
    "user.get": MethodFacts(order="sort", offsets="exact", filter_key="FILTER"),
    "department.get": MethodFacts(order="sort", ranges=False),
    # These reject or ignore an order, or report no usable total (fast_bitrix24 #98, #151,
    # #253, #260): page them with exactly what the caller sent.
    "crm.address.list": _PLAIN,
    "documentgenerator.template.list": _PLAIN,
    "userfieldconfig.list": _PLAIN,
    "voximplant.statistic.get": _PLAIN,
    "crm.deal.userfield.list": _PLAIN,
    "task.elapseditem.getlist": MethodFacts(order=None, ranges=False, offsets=None),
}


#: Single-item methods whose result is wrapped in one key, by method family. Unwrapping is
#: decided by the method, never by the shape of the data (fast_bitrix24 unwraps any one-key
#: dict, so a result's shape there depends on its content).
_ITEM_WRAPPERS = {"crm.item": "item", "tasks.task": "task", "crm.type": "type"}
_ITEM_VERBS = ("get", "add", "update")


def item_wrapper(method: str) -> Optional[str]:
    """The key wrapping a single-item result (``item`` for ``crm.item.add``), or None."""
    family, _, verb = method.rpartition(".")
    return _ITEM_WRAPPERS.get(family) if verb in _ITEM_VERBS else None


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


def list_facts(method: str) -> MethodFacts:
    """Facts for a list method; unknown methods get plain paging with nothing injected."""
    return _LISTS.get(method, _PLAIN)


def is_read_only(method: str) -> bool:
    """True when resending the method cannot change data (so any transient failure is retried)."""
    return method in _READ_METHODS or method.endswith(_READ_SUFFIXES)
