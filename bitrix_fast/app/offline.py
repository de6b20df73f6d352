"""A portal's offline event queue, read so that no event is lost between reading and handling.

Offline events are bound with ``event.bind`` and ``event_type=offline``; the portal then
queues them for the application (one entry per object and event, the latest) instead of
calling a URL (api-reference/events/offline-events.md). Reading::

    events = app.events(member_id)
    while (batch := events.read()) is not None:
        handle(batch.events)        # raises: the batch stays on the portal, read again later
        events.done(batch)          # event.offline.clear: gone for good
    # or: events.process(handle)

:meth:`OfflineEvents.read` calls ``event.offline.get`` with ``clear=0``: the portal marks
the batch with a ``process_id`` and hides it from other readers, but keeps it. The
``process_id`` goes into the token store at once, with a lease; :meth:`OfflineEvents.done`
clears the batch (``event.offline.clear`` with its ``process_id`` and IDs) and forgets the
``process_id``. A reader that dies before ``done`` leaves its ``process_id`` in the store:
once its lease has run out, the next reader of that portal (any process, any machine) reads
that batch again first (``event.offline.get`` with the ``process_id``). So every event is
handled at least once; make handlers idempotent.

``event.offline.get`` marks what it returns, so it is never resent after an attempt whose
answer was lost: that raises, and the batch it may have marked stays hidden on the portal
(``event.offline.list`` shows it with its ``PROCESS_ID``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Protocol

from ..clock import Clock
from ..errors import BadResponse
from ..tokens.store import TokenStore

__all__ = ["OfflineEvent", "EventBatch", "OfflineEvents"]


class Caller(Protocol):
    """What the reader needs of a client: one call, and closing it."""

    def call(self, method: str, items: Any = None, raw: bool = False, *,
             deadline: Optional[float] = None) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class OfflineEvent:
    """One queued event: ``name`` (``ONCRMDEALDELETE``), ``data`` (``{"FIELDS": {"ID":
    5}}``), ``id`` (the queue entry's ID), ``message_id``, ``timestamp`` (ISO text) and
    ``additional`` (``{"user_id": ...}``)."""

    id: int
    name: str
    data: Any
    message_id: str = ""
    timestamp: str = ""
    additional: Any = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> "OfflineEvent":
        try:
            number = int(row["ID"])
        except (KeyError, TypeError, ValueError):
            raise BadResponse("event.offline.get: an event without a numeric ID",
                              method="event.offline.get") from None
        return cls(number, str(row.get("EVENT_NAME", "")).upper(), row.get("EVENT_DATA"),
                   str(row.get("MESSAGE_ID", "")), str(row.get("TIMESTAMP_X", "")),
                   row.get("EVENT_ADDITIONAL"))


@dataclass(frozen=True)
class EventBatch:
    """Events read together under one ``process_id``; iterate it, or read ``events``."""

    process_id: str
    events: List[OfflineEvent] = field(default_factory=list)

    def __iter__(self) -> Iterator[OfflineEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


class OfflineEvents:
    """Reads one portal's offline events (see the module docs). Made by
    :meth:`bitrix_fast.OAuthApp.events`; one reader per thread."""

    def __init__(self, caller: Caller, store: TokenStore, member_id: str, *,
                 event: Optional[str] = None, limit: int = 50, lease: float = 300.0,
                 store_lease: float = 30.0, clock: Clock) -> None:
        self.check(limit, lease)
        self._caller = caller
        self._store = store
        self.member_id = member_id
        self._event = event.upper() if event else None
        self._limit = limit
        self._lease = float(lease)
        self._store_lease = store_lease
        self._clock = clock
        self.handled = 0

    @staticmethod
    def check(limit: int, lease: float) -> None:
        """ValueError for a ``limit`` or ``lease`` the reader cannot work with."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
            raise ValueError("limit must be an int in 1..50 (the portal's page)")
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
            raise ValueError("lease must be a positive number of seconds")

    # -- reading -------------------------------------------------------------------------------
    def read(self) -> Optional[EventBatch]:
        """The next batch to handle: one a dead reader left behind, else new events; None
        when the queue has nothing more."""
        while True:
            orphan = self._claim_orphan()
            if orphan is None:
                break
            batch = self._get(process_id=orphan)
            if batch.events:
                return batch
            self._forget(orphan)  # cleared by its reader after all, or emptied
        batch = self._get(process_id=None)
        if not batch.events:
            return None
        return batch

    def done(self, batch: EventBatch) -> None:
        """The batch is handled: clear it from the portal and forget its ``process_id``."""
        params: Dict[str, Any] = {"process_id": batch.process_id}
        if batch.events:
            params["id"] = [event.id for event in batch.events]
        self._caller.call("event.offline.clear", params)
        self._forget(batch.process_id)
        self.handled += len(batch.events)

    def process(self, handler: Callable[[EventBatch], None]) -> int:
        """Hand every queued batch to ``handler``, clearing each after it returns; returns
        the number of events handled. A handler that raises leaves its batch on the portal
        (read again by the next reader once this one's lease ends) and the error goes on."""
        before = self.handled
        while True:
            batch = self.read()
            if batch is None:
                return self.handled - before
            handler(batch)
            self.done(batch)

    def close(self) -> None:
        self._caller.close()

    def __enter__(self) -> "OfflineEvents":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the portal ------------------------------------------------------------------------------
    def _get(self, *, process_id: Optional[str]) -> EventBatch:
        params: Dict[str, Any] = {"clear": 0, "limit": self._limit}
        if self._event is not None:
            params["filter"] = {"=EVENT_NAME": self._event}
        if process_id is not None:
            params["process_id"] = process_id
        answer = self._caller.call("event.offline.get", params)
        if not isinstance(answer, dict) or not isinstance(answer.get("events", []), list):
            raise BadResponse("event.offline.get: the answer is not {process_id, events}",
                              method="event.offline.get")
        events = [OfflineEvent.of(row) for row in answer.get("events") or []
                  if isinstance(row, dict)]
        marked = answer.get("process_id") or process_id
        if events and not isinstance(marked, str):
            raise BadResponse("event.offline.get: events without a process_id (clear=0 "
                              "needs the portal's extended offline events)",
                              method="event.offline.get")
        batch = EventBatch(str(marked or ""), events)
        if events and process_id is None:
            self._hold(batch.process_id)
        return batch

    # -- the ledger of batches being handled, in the token store ---------------------------------
    def _hold(self, process_id: str) -> None:
        until = self._clock.wall() + self._lease
        self._edit(lambda pending: {**pending, process_id: until})

    def _forget(self, process_id: str) -> None:
        self._edit(lambda pending: {k: v for k, v in pending.items() if k != process_id})

    def _claim_orphan(self) -> Optional[str]:
        """A ``process_id`` whose reader's lease ran out, now held by this reader."""
        now = self._clock.wall()
        claimed: List[str] = []

        def take(pending: Mapping[str, float]) -> Dict[str, float]:
            for process_id, until in sorted(pending.items(), key=lambda kv: kv[1]):
                if until <= now:
                    claimed.append(process_id)
                    return {**pending, process_id: now + self._lease}
            return dict(pending)

        self._edit(take)
        return claimed[0] if claimed else None

    def _edit(self, change: Callable[[Mapping[str, float]], Mapping[str, float]]) -> None:
        with self._store.lock(self.member_id, lease=self._store_lease):
            tokens = self._store.load(self.member_id)
            if tokens is None:
                return  # uninstalled meanwhile: nothing to keep track of
            updated = change(tokens.pending)
            if dict(updated) != dict(tokens.pending):
                self._store.save(tokens.with_pending(updated))

    def __repr__(self) -> str:
        return f"OfflineEvents(member_id={self.member_id!r}, event={self._event!r})"
