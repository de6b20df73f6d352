"""Many tables in one run: every CRM table (``sync --all-crm``), or the tables a config file
lists. See :func:`sync_all`.

One clock read (``server.time``) serves every table, so their cutoffs agree; one client
(one bucket) sends everything; each table is its own transaction under its own lock, so a
table that fails (or is busy in another run) leaves the others done, and the result says
which. Smart processes are found with ``crm.type.list`` and mirrored each to
``crm_item_<entityTypeId>``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import offline
from ..errors import AuthError, BitrixError
from . import dictionaries as d
from .errors import MirrorBusy, MirrorConflict, MirrorError
from .portal import READ_AHEAD, Portal, portal_time, requests_made
from .refresh import DictResult, refresh
from .run import SyncResult, as_sync_result, check_options, run_table
from .spec import Listing
from .table import DEFAULT_OVERLAP

logger = logging.getLogger("bitrix_fast.mirror")

#: the CRM's own lists and what a BI mirror selects of them (``*`` leaves out custom
#: fields and phones/e-mails, so they are named)
CRM_TABLES: Dict[str, Dict[str, Any]] = {
    "deal": {"method": "crm.deal.list", "select": ["*", "UF_*"]},
    "lead": {"method": "crm.lead.list", "select": ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"]},
    "contact": {"method": "crm.contact.list",
                "select": ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"]},
    "company": {"method": "crm.company.list",
                "select": ["*", "UF_*", "PHONE", "EMAIL", "WEB", "IM"]},
    "quote": {"method": "crm.quote.list", "select": ["*", "UF_*"]},
}
#: ``entities`` names: the tables above, and every smart process
ENTITY_NAMES = (*CRM_TABLES, "smart_processes")


@dataclass(frozen=True)
class TableSpec:
    """One listing to mirror: a method with its params, filter, select and table."""

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    filter: Optional[Mapping[str, Any]] = None
    select: Optional[Sequence[str]] = None
    table: Optional[str] = None

    def listing(self) -> Listing:
        return Listing.build(self.method, params=self.params, filter=self.filter,
                             select=self.select, table=self.table)


@dataclass(frozen=True)
class Failure:
    """A table left as the last run wrote it: ``kind`` is ``busy`` (another run holds it),
    ``conflict`` (it holds another listing), ``database`` or ``portal``."""

    table: str
    error: str
    kind: str

    def summary(self) -> str:
        what = "busy, left for the next run" if self.kind == "busy" else "not in step"
        return f"{self.table}: {what}: {self.error}"


@dataclass(frozen=True)
class AllResult:
    tables: List[SyncResult]
    dictionaries: List[DictResult]
    failures: List[Failure]
    requests: int
    seconds: float

    def lines(self) -> List[str]:
        out = [line for t in self.tables for line in t.lines()]
        out.extend(x.summary() for x in self.dictionaries)
        out.extend(f.summary() for f in self.failures)
        out.append(f"{len(self.tables)} tables in step, {len(self.failures)} not; "
                   f"{self.requests:,} requests, {self.seconds:.1f} s")
        return out


def crm_tables(entities: Sequence[str], smart: Sequence[Mapping[str, Any]]) -> List[TableSpec]:
    """The listings of ``entities`` (names of :data:`ENTITY_NAMES`, ``smart_processes``
    standing for every smart process in ``smart``, the crm.type.list rows)."""
    unknown = [e for e in entities if e not in ENTITY_NAMES]
    if unknown:
        raise ValueError(f"unknown entities {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(ENTITY_NAMES)}")
    out = [TableSpec(CRM_TABLES[e]["method"], select=CRM_TABLES[e]["select"])
           for e in entities if e in CRM_TABLES]
    if "smart_processes" in entities:
        for row in smart:
            type_id = row.get("entityTypeId")
            if isinstance(type_id, int) or (isinstance(type_id, str) and type_id.isdigit()):
                out.append(TableSpec("crm.item.list", params={"entityTypeId": int(type_id)}))
    return out


def sync_all(bx: Portal, db: str, *, tables: Optional[Sequence[TableSpec]] = None,
             entities: Sequence[str] = ENTITY_NAMES, dictionaries: bool = True,
             product_rows: bool = True, multiple: str = "table",
             overlap: float = DEFAULT_OVERLAP, wait: float = 0.0,
             read_ahead: int = READ_AHEAD, deletions: str = "auto") -> AllResult:
    """Mirror every table of ``entities`` (by default all of the CRM, smart processes
    included) plus ``tables``, then the dictionaries; see the module docstring."""
    options = replace(check_options(overlap, wait, multiple, read_ahead, deletions),
                      product_rows=bool(product_rows), describe=bool(dictionaries))
    specs = list(tables or [])
    want_smart = "smart_processes" in entities
    listings = [s.listing() for s in specs]  # bad arguments fail before anything is sent
    started = time.monotonic()
    before = requests_made(bx)
    # One clock read for every table, asked with the event bindings: an OAuth application
    # with delete events bound offline gets its tables' deletions from the queue.
    now, bound = offline.probe(bx) if options.deletions == "auto" else (None, None)
    run_start = portal_time(bx, now)
    smart = _smart_processes(bx) if want_smart or dictionaries else []
    listings += [s.listing() for s in crm_tables(entities, smart)]
    results: List[SyncResult] = []
    failures: List[Failure] = []
    seen = set()
    for listing in listings:
        if listing.table in seen:
            continue
        seen.add(listing.table)
        at, requests = time.monotonic(), requests_made(bx)
        try:
            result = run_table(bx, db, listing, options, run_start, float(wait),
                               queue=offline.QueuedDeletions.choose(bx, listing, bound))
        except AuthError:
            raise  # a wrong webhook fails every table alike
        except (MirrorError, BitrixError) as error:
            logger.warning("%s: %s", listing.table, error)
            failures.append(Failure(listing.table, str(error), _kind(error)))
            continue
        results.append(as_sync_result(result, requests_made(bx) - requests,
                                      time.monotonic() - at))
    dicts: List[DictResult] = []
    if dictionaries:
        table_of = {_type_of(l): l.table for l in listings if _type_of(l) is not None}
        categories = [2] + [int(r["entityTypeId"]) for r in smart
                            if str(r.get("isCategoriesEnabled", "Y")) == "Y"
                            and str(r.get("entityTypeId", "")).isdigit()]
        dicts = refresh(bx, db, list(d.ALL), wait=float(wait), category_types=categories,
                        smart=smart, table_of=table_of.get)
    return AllResult(results, dicts, failures, requests_made(bx) - before,
                     time.monotonic() - started)


def _smart_processes(bx: Portal) -> List[Dict[str, Any]]:
    """crm.type.list's rows; none on a portal without smart processes (an older on-premise
    one answers ERROR_METHOD_NOT_FOUND), which is said and is no reason to stop."""
    try:
        return list(bx.iter_all("crm.type.list"))
    except AuthError as error:
        if str(error.code).upper() != "INSUFFICIENT_SCOPE":
            raise
        logger.warning("crm.type.list: %s; smart processes are left out", error)
    except BitrixError as error:
        logger.warning("crm.type.list: %s; smart processes are left out", error)
    return []


def _kind(error: BaseException) -> str:
    if isinstance(error, MirrorBusy):
        return "busy"
    if isinstance(error, MirrorConflict):
        return "conflict"
    return "portal" if isinstance(error, BitrixError) else "database"


def _type_of(listing: Listing) -> Optional[int]:
    fixed = {method: type_id for type_id, _, method, _ in d.FIXED_TYPES}
    if listing.method in fixed:
        return fixed[listing.method]
    if listing.method == "crm.item.list":
        value = {k.lower(): v for k, v in listing.params.items()}.get("entitytypeid")
        return int(str(value)) if str(value).isdigit() else None
    return None
