"""Deletions read from the portal's offline event queue, for a mirror whose client is an
OAuth application with the CRM type's delete event bound offline.

Counting (:mod:`.deletions`) finds rows gone from a listing by comparing per-range counts:
about 22 requests for 100 deletions scattered over a million rows. An application can read
them instead: bound with ``event.bind(event=ONCRMDEALDELETE, event_type=offline)``, the
portal queues one event per deleted deal, and ``event.offline.get`` hands them out
(api-reference/events/offline-events.md). Webhooks cannot (``WRONG_AUTH_TYPE``): for them,
and whenever the event is not bound, the mirror keeps counting.

:meth:`QueuedDeletions.open` decides, asking the portal (``event.get``), never the client
object. The queue is used only for a listing without a filter: a row that stops matching a
filter is gone from the listing without being deleted, and only counting sees that.

One run, inside the mirror's transaction:

1. :meth:`QueuedDeletions.gone`, before anything is read: ``event.offline.get`` with
   ``clear=0`` until the queue has no unmarked delete events of this type, then
   ``event.offline.list`` of everything marked -- this run's batches and any an earlier
   run marked but never cleared (it died, or its commit failed). Their IDs are deleted
   locally first, so rows read later in the run win (a row restored meanwhile stays).
2. Counting is skipped only when the table's marker says an earlier committed run already
   saw the event bound (the queue then holds every deletion since); otherwise the run
   counts as well, and records the marker (:meth:`QueuedDeletions.settle`).
3. After the commit, :meth:`QueuedDeletions.clear` removes the events it applied from the
   portal. A failure there leaves them marked: the next run applies them again (deleting
   a row that is not there is nothing) and clears them.

Dynamic types share ``ONCRMDYNAMICITEMDELETE``: each mirror applies and clears only the
events whose ``ENTITY_TYPE_ID`` is its own, and finds the others' among the marked ones.
The delete events of a CRM type belong to its one mirror: another reader of the same
events (a second mirror of the type, an event handler of yours) would take some away.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import BatchError
from ..protocol.params import find_key
from ..protocol.encoding import command
from .spec import Listing

logger = logging.getLogger("bitrix_fast.mirror")

__all__ = ["QueuedDeletions", "delete_event", "distrust", "MARKER_TABLE"]

#: which listings' deletions the queue reports, and under which event
DELETE_EVENTS = {"crm.deal.list": "ONCRMDEALDELETE", "crm.lead.list": "ONCRMLEADDELETE",
                 "crm.contact.list": "ONCRMCONTACTDELETE",
                 "crm.company.list": "ONCRMCOMPANYDELETE",
                 "crm.quote.list": "ONCRMQUOTEDELETE"}
#: crm.item.list's entityTypeId for the types above
ITEM_TYPES = {1: "ONCRMLEADDELETE", 2: "ONCRMDEALDELETE", 3: "ONCRMCONTACTDELETE",
              4: "ONCRMCOMPANYDELETE", 7: "ONCRMQUOTEDELETE"}
DYNAMIC = "ONCRMDYNAMICITEMDELETE"
#: the mirrors (by a hash of their table's name) whose queue is known complete
MARKER_TABLE = "bitrix_fast_mirror_queue"
MARKER_ID = "mirror"
PAGE = 50
#: ``event.offline.get`` pages per drain request (with one more ``event.offline.list`` page)
DRAIN = 10


def delete_event(method: str, params: Mapping[str, Any]) -> Optional[Tuple[str, Optional[int]]]:
    """(event name, entity type ID for dynamic types) reporting deletions of the listing's
    rows, or None when no event does."""
    if method in DELETE_EVENTS:
        return DELETE_EVENTS[method], None
    if method != "crm.item.list":
        return None
    key = find_key(params, "entityTypeId")
    type_id = _int(None if key is None else params[key])
    if type_id is None or type_id <= 0:
        return None
    if type_id in ITEM_TYPES:
        return ITEM_TYPES[type_id], None
    return DYNAMIC, type_id


def probe(bx: Any) -> Tuple[Any, Optional[List[Any]]]:
    """(``server.time``'s answer, the portal's event bindings for this client), in one
    request: finding out costs a run nothing, for it reads the clock anyway. The bindings
    are None when the client may not read them (webhooks are refused ``WRONG_AUTH_TYPE``;
    so is an application without the rights): deletions are then counted."""
    try:
        answers = bx.call_batch({"halt": 0, "cmd": {"time": "server.time",
                                                    "events": "event.get"}})
    except BatchError as error:
        if "time" not in error.results:
            raise
        logger.debug("no offline events (%s); deletions are counted",
                     error.errors.get("events"))
        return error.results["time"], None
    bound = answers.get("events")
    return answers.get("time"), bound if isinstance(bound, list) else []


class QueuedDeletions:
    """One run's use of the queue (see the module docs)."""

    def __init__(self, bx: Any, event: str, type_id: Optional[int]) -> None:
        self._bx = bx
        self.event = event
        self.type_id = type_id
        #: process_id -> queue entry IDs this run applied, to clear after the commit
        self._applied: Dict[str, List[int]] = {}
        self.requests = 0

    @classmethod
    def open(cls, bx: Any, listing: Listing) -> Tuple[Any, Optional["QueuedDeletions"]]:
        """(``server.time``'s answer, the queue for ``listing``) -- the queue None when the
        portal does not report the listing's deletions to this client (a webhook, the event
        not bound offline, a filtered listing), the time None when it was not asked."""
        if listing.filter or delete_event(listing.method, listing.params) is None:
            return None, None
        now, bound = probe(bx)
        return now, cls.choose(bx, listing, bound)

    @classmethod
    def choose(cls, bx: Any, listing: Listing, bound: Optional[List[Any]]
               ) -> Optional["QueuedDeletions"]:
        """The queue for ``listing`` given the bindings :func:`probe` found (None: none can
        be read by this client)."""
        if listing.filter or bound is None:
            return None
        found = delete_event(listing.method, listing.params)
        if found is None:
            return None
        event, type_id = found
        if not any(isinstance(b, dict) and str(b.get("event", "")).upper() == event
                   and str(b.get("offline", "")) == "1" and not b.get("connector_id")
                   for b in bound):
            return None
        return cls(bx, event, type_id)

    def gone(self) -> List[int]:
        """Every row ID the queue reports deleted (marking them for this run).

        One batch request drains and lists up to ``DRAIN`` pages: ``event.offline.get``
        (``clear=0``) commands first, each marking the next page of unmarked events, then
        ``event.offline.list`` pages of everything of the event, marked or not. Entries
        still unmarked at the listing came after the drain: the next run has them."""
        marked = 0
        start = 0
        ids: List[int] = []
        while True:
            get = command("event.offline.get", {"filter": {"=EVENT_NAME": self.event},
                                                "clear": 0, "limit": PAGE})
            cmd = {f"g{n}": get for n in range(DRAIN)}
            cmd.update({f"l{n}": command("event.offline.list", {
                "filter": {"=EVENT_NAME": self.event}, "order": {"ID": "ASC"},
                "start": start + n * PAGE}) for n in range(DRAIN + 1)})
            self.requests += 1
            answers = self._bx.call_batch({"halt": 0, "cmd": cmd})
            got = [len(a.get("events") or []) if isinstance(a, dict) else 0
                   for a in (answers.get(f"g{n}") for n in range(DRAIN))]
            marked += sum(got)
            pages = [answers.get(f"l{n}") for n in range(DRAIN + 1)]
            for page in pages:
                ids.extend(self._take(page if isinstance(page, list) else []))
            start += (DRAIN + 1) * PAGE
            drained = got[-1] < PAGE
            listed = not pages or not isinstance(pages[-1], list) or len(pages[-1]) < PAGE
            if drained and listed:
                return sorted(set(ids))

    def _take(self, rows: List[Any]) -> List[int]:
        """The row IDs of this type's marked entries, remembered for clearing."""
        found = []
        for row in rows:
            if not isinstance(row, dict):
                continue
            entry = _int(row.get("ID"))
            process_id = str(row.get("PROCESS_ID") or "")
            row_id, type_id = _fields(row.get("EVENT_DATA"))
            if entry is None or not process_id or row_id is None or type_id != self.type_id:
                continue  # queued after the drain (next run), or another type's
            found.append(row_id)
            self._applied.setdefault(process_id, []).append(entry)
        return found

    def trusted(self, store: Any, table: str) -> bool:
        """True when an earlier committed run recorded that the queue was complete."""
        return store.table_exists(MARKER_TABLE) and \
            _key(table) in set(store.ids(MARKER_TABLE, MARKER_ID))

    def settle(self, store: Any, table: str) -> None:
        """Record, in this run's transaction, that the queue is complete from now on."""
        if not store.table_exists(MARKER_TABLE):
            store.create_table(MARKER_TABLE, MARKER_ID)
        if _key(table) not in set(store.ids(MARKER_TABLE, MARKER_ID)):
            store.insert(MARKER_TABLE, [MARKER_ID], [(_key(table),)])

    def clear(self) -> None:
        """Remove the applied events from the portal (after the commit)."""
        items = [{"process_id": process_id, "id": entries[i:i + PAGE]}
                 for process_id, entries in self._applied.items()
                 for i in range(0, len(entries), PAGE)]
        if items:
            self.requests += (len(items) + PAGE - 1) // PAGE
            self._bx.call("event.offline.clear", items)
        self._applied = {}


def distrust(store: Any, table: str) -> None:
    """The queue no longer reports this mirror's deletions (the event was unbound, or the
    client is a webhook now): the next run that uses it again counts once more."""
    if store.table_exists(MARKER_TABLE):
        store.delete(MARKER_TABLE, MARKER_ID, [_key(table)])


def _key(table: str) -> int:
    digest = hashlib.sha1(f"bitrix_fast.mirror.queue:{table}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _fields(data: Any) -> Tuple[Optional[int], Optional[int]]:
    fields = data.get("FIELDS") if isinstance(data, dict) else None
    if not isinstance(fields, dict):
        return None, None
    return _int(fields.get("ID")), _int(fields.get("ENTITY_TYPE_ID"))


def _int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
