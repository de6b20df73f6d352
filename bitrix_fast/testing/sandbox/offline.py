"""The portal's offline event queue and the ``event.*`` methods that serve it.

Follows the rest module (``rest/lib/api/event.php``, ``rest/lib/eventoffline.php``) and
api-reference/events/offline-events.md:

- ``event.bind`` with ``event_type=offline`` queues the event for the application instead of
  calling a URL (no ``handler``); binding one twice is an error; ``event.unbind`` answers
  ``{"count": n}``; ``event.get`` lists the bindings (``offline: 1`` with ``connector_id``);
- an event is queued once per object: its ``MESSAGE_ID`` is the md5 of its name and data, and
  a second event for the same object updates the unmarked entry (``TIMESTAMP_X``, data);
- ``event.offline.get`` (``filter``, ``order`` = TIMESTAMP_X ASC, ``limit`` = 50, ``clear``
  = 1, ``process_id``, ``error``): without ``process_id`` it marks up to ``limit`` unmarked
  entries with a new random ``process_id`` and returns them -- deleting them at once when
  ``clear`` is 1, else answering the ``process_id``; with a ``process_id`` it marks nothing
  and returns the entries that process holds (a reader re-reads what it has not cleared);
- ``event.offline.clear`` (``process_id``, optional ``id`` or ``message_id`` lists) deletes
  that process's entries; ``event.offline.error`` flags entries; ``event.offline.list``
  pages through everything (``PROCESS_ID`` and ``ERROR`` included) without marking;
- all of them need an application's OAuth token: a webhook gets 403 ``WRONG_AUTH_TYPE``.

CRM deletions feed the queue: the portal reports every row its store deletes
(:meth:`OfflineQueue.deleted`), and ``ONCRM<TYPE>DELETE`` is queued when bound, with
``EVENT_DATA = {"FIELDS": {"ID": id}}``.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ...clock import SYSTEM_CLOCK, Clock
from .outcome import ApiFault, CallContext, Outcome
from .values import php_int

__all__ = ["OfflineQueue", "EventMethods", "DELETE_EVENTS", "METHODS"]

#: the event a deletion of each sandbox entity raises
DELETE_EVENTS = {"deal": "ONCRMDEALDELETE", "lead": "ONCRMLEADDELETE",
                 "contact": "ONCRMCONTACTDELETE", "company": "ONCRMCOMPANYDELETE"}
METHODS = ("event.bind", "event.unbind", "event.get", "event.offline.get",
           "event.offline.clear", "event.offline.error", "event.offline.list")
_EVENT_NAME = re.compile(r"^ON[A-Z0-9_]+$")
_FILTER_KEY = re.compile(r"^(>=|<=|!=|!|=|>|<)?([A-Z_]+)$")
_GET_FIELDS = ("ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID")
_LIST_FIELDS = _GET_FIELDS + ("PROCESS_ID", "ERROR")
PAGE = 50


@dataclass
class Entry:
    id: int
    stamp: float
    name: str
    data: Any
    additional: Any
    message_id: str
    process_id: str = ""
    error: int = 0

    def value(self, name: str) -> Any:
        return {"ID": self.id, "TIMESTAMP_X": self.stamp, "EVENT_NAME": self.name,
                "MESSAGE_ID": self.message_id, "PROCESS_ID": self.process_id,
                "ERROR": self.error}[name]

    def shown(self, full: bool) -> Dict[str, Any]:
        out = {"ID": str(self.id), "TIMESTAMP_X": _iso(self.stamp), "EVENT_NAME": self.name,
               "EVENT_DATA": self.data, "EVENT_ADDITIONAL": self.additional,
               "MESSAGE_ID": self.message_id}
        if full:
            out.update(PROCESS_ID=self.process_id, ERROR=str(self.error))
        return out


@dataclass
class _State:
    bindings: List[Tuple[str, str, str]] = field(default_factory=list)  # (event, handler, type)
    entries: Dict[int, Entry] = field(default_factory=dict)
    next_id: int = 1


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(int(moment)).astimezone().isoformat(timespec="seconds")


def _message_id(name: str, data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.md5(f"{name}|{text}".encode("utf-8")).hexdigest()


class OfflineQueue:
    """One application's offline events on one portal. Thread-safe."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._state = _State()

    # -- what the portal does ------------------------------------------------------------------
    def record(self, name: str, data: Any, *, user_id: int = 1) -> bool:
        """Queue event ``name`` with ``data`` if it is bound offline; True when queued."""
        name = name.upper()
        with self._lock:
            if not any(b[0] == name and b[2] == "offline" for b in self._state.bindings):
                return False
            message_id = _message_id(name, data)
            now = self._clock.wall()
            for entry in self._state.entries.values():
                if entry.message_id == message_id and entry.process_id == "":
                    entry.stamp, entry.data = now, data
                    return True
            number = self._state.next_id
            self._state.next_id += 1
            self._state.entries[number] = Entry(number, now, name, data,
                                                {"user_id": str(user_id)}, message_id)
            return True

    def deleted(self, entity: str, row_id: int) -> None:
        """The store deleted ``entity`` row ``row_id``: queue its delete event."""
        name = DELETE_EVENTS.get(entity)
        if name is not None:
            self.record(name, {"FIELDS": {"ID": int(row_id)}})

    def entries(self) -> List[Dict[str, Any]]:
        """Everything queued, as ``event.offline.list`` shows it (for tests)."""
        with self._lock:
            return [e.shown(True) for e in sorted(self._state.entries.values(),
                                                  key=lambda e: e.id)]

    # -- the methods -------------------------------------------------------------------------
    def call(self, method: str, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        if ctx.extra.get("auth_type") != "oauth":
            raise ApiFault("WRONG_AUTH_TYPE",
                           "Current authorization type is denied for this method", 403)
        lowered = {str(k).lower(): v for k, v in params.items()}
        handler: Callable[[Dict[str, Any]], Any] = {
            "event.bind": self._bind, "event.unbind": self._unbind, "event.get": self._get_bound,
            "event.offline.get": self._offline_get, "event.offline.clear": self._clear,
            "event.offline.error": self._error, "event.offline.list": self._list,
        }[method]
        with self._lock:
            result = handler(lowered)
        if isinstance(result, Outcome):
            return result
        return Outcome(result, rows=1)

    def _bind(self, params: Dict[str, Any]) -> Any:
        name, kind = self._event(params)
        handler = "" if kind == "offline" else str(params.get("handler") or "")
        if kind == "online" and not handler:
            raise ApiFault("ERROR_ARGUMENT", "Argument 'HANDLER' is null or empty", 400)
        binding = (name, handler, kind)
        if binding in self._state.bindings:
            raise ApiFault("ERROR_CORE", "Unable to set event handler: Handler already binded",
                           400)
        self._state.bindings.append(binding)
        return True

    def _unbind(self, params: Dict[str, Any]) -> Any:
        name, kind = self._event(params)
        handler = "" if kind == "offline" else str(params.get("handler") or "")
        before = len(self._state.bindings)
        self._state.bindings = [b for b in self._state.bindings
                                if not (b[0] == name and b[2] == kind and b[1] == handler)]
        return {"count": before - len(self._state.bindings)}

    def _get_bound(self, params: Dict[str, Any]) -> Any:
        return [{"event": n, "connector_id": "", "offline": 1} if kind == "offline" else
                {"event": n, "handler": h, "auth_type": "0", "offline": 0}
                for n, h, kind in self._state.bindings]

    def _event(self, params: Dict[str, Any]) -> Tuple[str, str]:
        name = str(params.get("event") or "").upper()
        if not name:
            raise ApiFault("ERROR_ARGUMENT", "Argument 'EVENT' is null or empty", 400)
        if not _EVENT_NAME.match(name):
            raise ApiFault("ERROR_EVENT_NOT_FOUND", "Event not found", 400)
        kind = str(params.get("event_type") or "online").lower()
        if kind not in ("online", "offline"):
            raise ApiFault("ERROR_ARGUMENT", "Value must be one of {online|offline}", 400)
        return name, kind

    def _offline_get(self, params: Dict[str, Any]) -> Any:
        clear = php_int(params["clear"]) if "clear" in params else 1
        process_id = str(params["process_id"]).strip() if params.get("process_id") else None
        limit = php_int(params["limit"]) if "limit" in params else PAGE
        if limit <= 0:
            raise ApiFault("ERROR_ARGUMENT", "Value must be positive integer", 400)
        errors = 1 if php_int(params.get("error", 0)) == 1 else 0
        matches = _matcher(params.get("filter"), _GET_FIELDS)
        order = _order(params.get("order"), _GET_FIELDS, ("TIMESTAMP_X", "ASC"))
        answer_id = process_id is not None or not clear
        if process_id is None:
            process_id = secrets.token_hex(16)
            free = [e for e in self._state.entries.values()
                    if e.process_id == "" and e.error == errors and matches(e)]
            for entry in order(free)[:limit]:
                entry.process_id = process_id
        mine = [e for e in self._state.entries.values()
                if e.process_id == process_id and e.error == errors and matches(e)]
        chosen = order(mine)[:limit]
        events = [e.shown(False) for e in chosen]
        if clear and chosen:
            for entry in chosen:
                del self._state.entries[entry.id]
        return {"process_id": process_id if answer_id else None, "events": events}

    def _clear(self, params: Dict[str, Any]) -> Any:
        process_id = str(params.get("process_id") or "").strip()
        if "process_id" not in params:
            raise ApiFault("ERROR_ARGUMENT", "Argument 'PROCESS_ID' is null or empty", 400)
        ids = params.get("id")
        message_ids = params.get("message_id")
        for entry in list(self._state.entries.values()):
            if entry.process_id != process_id:
                continue
            if isinstance(ids, (list, dict)):
                wanted = {php_int(v) for v in (ids.values() if isinstance(ids, dict) else ids)}
                if entry.id not in wanted:
                    continue
            elif isinstance(message_ids, (list, dict)):
                values = message_ids.values() if isinstance(message_ids, dict) else message_ids
                if entry.message_id not in {str(v).strip() for v in values}:
                    continue
            del self._state.entries[entry.id]
        return True

    def _error(self, params: Dict[str, Any]) -> Any:
        process_id = str(params.get("process_id") or "").strip()
        message_ids = params.get("message_id")
        if not isinstance(message_ids, (list, dict)):
            raise ApiFault("ERROR_ARGUMENT", "Value must be array of MESSAGE_ID values", 400)
        values = message_ids.values() if isinstance(message_ids, dict) else message_ids
        wanted = {str(v).strip() for v in values}
        for entry in self._state.entries.values():
            if entry.message_id in wanted and entry.process_id == process_id:
                entry.error, entry.process_id = 1, ""
        return True

    def _list(self, params: Dict[str, Any]) -> Outcome:
        matches = _matcher(params.get("filter"), _LIST_FIELDS)
        order = _order(params.get("order"), _LIST_FIELDS, ("ID", "ASC"))
        rows = order([e for e in self._state.entries.values() if matches(e)])
        start = max(0, php_int(params.get("start", 0)))
        page = rows[start:start + PAGE]
        nxt = start + len(page) if start + len(page) < len(rows) else None
        return Outcome([e.shown(True) for e in page], next=nxt, total=len(rows), rows=len(page))


def _matcher(raw: Any, fields: Tuple[str, ...]) -> Callable[[Entry], bool]:
    tests: List[Callable[[Entry], bool]] = []
    for key, wanted in (raw.items() if isinstance(raw, dict) else ()):
        found = _FILTER_KEY.match(str(key).upper())
        if found is None or found.group(2) not in fields:
            continue  # the rest module drops what it does not know (sanitizeFilter)
        op, name = found.group(1) or "=", found.group(2)
        tests.append(_test(op, name, wanted))
    return lambda entry: all(test(entry) for test in tests)


def _test(op: str, name: str, wanted: Any) -> Callable[[Entry], bool]:
    def norm(value: Any) -> Any:
        if name in ("ID", "ERROR"):
            return php_int(value)
        return str(value)

    target = norm(wanted)
    compare: Mapping[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b, "!": lambda a, b: a != b, "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b}
    check = compare[op]
    return lambda entry: check(norm(entry.value(name)), target)


def _order(raw: Any, fields: Tuple[str, ...],
           default: Tuple[str, str]) -> Callable[[List[Entry]], List[Entry]]:
    keys = [(str(k).upper(), str(v).upper()) for k, v in raw.items()] \
        if isinstance(raw, dict) and raw else [default]
    keys = [(k, d) for k, d in keys if k in fields] or [default]

    def sort(entries: List[Entry]) -> List[Entry]:
        ordered = sorted(entries, key=lambda e: e.id)
        for name, direction in reversed(keys):
            ordered.sort(key=lambda e: e.value(name), reverse=direction == "DESC")
        return ordered

    return sort


class EventMethods:
    """The portal's store with the ``event.*`` methods of ``queue`` added in front."""

    def __init__(self, store: Any, queue: OfflineQueue) -> None:
        self._store = store
        self._queue = queue

    def knows(self, method: str) -> bool:
        return method in METHODS or bool(self._store.knows(method))

    def call(self, method: str, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        if method in METHODS:
            return self._queue.call(method, params, ctx)
        outcome: Outcome = self._store.call(method, params, ctx)
        return outcome
