"""The sandbox portal's database: SQLite tables for the entities, and the method entry point.

One connection serves every thread; a lock is held only while SQL runs, so the dispatcher
can call :meth:`Store.call` from many threads and sleep its cost-model delays outside.
Tables use ``INTEGER PRIMARY KEY AUTOINCREMENT``: the ID is the rowid (ID-range filters and
ID order walk the table's own B-tree) and a deleted ID is never handed out again.
"""
from __future__ import annotations

import sqlite3
import threading
from typing import Any, Callable, Dict, List, Optional, Set

from ...clock import SYSTEM_CLOCK, Clock
from . import seed as seeding
from .entities import ENTITIES, SMART_TYPES, SQL_TYPES, Entity, get_entity
from .handlers import HANDLERS
from .outcome import ApiFault, CallContext, Outcome
from .records import changed_row, new_row


def _schema(e: Entity) -> str:
    columns = ", ".join(f'"{f.name}" {SQL_TYPES[f.kind]}' for f in e.fields[1:])
    return f'CREATE TABLE IF NOT EXISTS "{e.name}" ("ID" INTEGER PRIMARY KEY AUTOINCREMENT, {columns})'


def _add_missing_columns(db: sqlite3.Connection, e: Entity) -> None:
    """A file kept from an older sandbox lacks the fields added since (ORIGIN_ID, ...):
    they are added empty, as a portal update adds a field to existing records."""
    have = {row[1] for row in db.execute(f'PRAGMA table_info("{e.name}")')}
    for f in e.fields[1:]:
        if f.name not in have:
            db.execute(f'ALTER TABLE "{e.name}" ADD COLUMN "{f.name}" {SQL_TYPES[f.kind]}')


class Store:
    """Entities in SQLite (``:memory:`` or a file) plus the REST methods that serve them.

    ``clock`` gives the Unix time stamped on rows written (``DATE_CREATE``, ``DATE_MODIFY``).
    """

    def __init__(self, path: str = ":memory:", *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._locked = _Locked(self._lock, self._db)
        self._on_delete: List[Callable[[str, int], None]] = []
        with self.locked() as db:
            db.execute("PRAGMA synchronous=OFF")  # a sandbox trades durability for speed
            for e in ENTITIES.values():
                db.execute(_schema(e))
                _add_missing_columns(db, e)
                for number, columns in enumerate(e.indexes):
                    names = ", ".join(f'"{c}"' for c in columns)
                    db.execute(f'CREATE INDEX IF NOT EXISTS "{e.name}_{number}" ON "{e.name}" ({names})')

    def locked(self) -> "_Locked":
        """The connection, for as long as the caller holds the store's lock (``with``)."""
        return self._locked

    def seed(self, *, deals: int = 0, leads: int = 0, contacts: int = 0, companies: int = 0,
             tasks: int = 0, users: int = 1, productrows: int = 0, elapseditems: int = 0,
             commentitems: int = 0, id_gaps: str = "uniform", seed: int = 0, quotes: int = 0,
             smart_items: int = 0) -> None:
        """Fill empty tables with realistic rows; tables that already hold rows are left as
        they are, so seeding a file store twice never duplicates (see :mod:`.seed`)."""
        counts = {"user": users, "company": companies, "contact": contacts, "lead": leads,
                  "deal": deals, "task": tasks, "productrow": productrows,
                  "elapseditem": elapseditems, "commentitem": commentitems, "quote": quotes,
                  **{f"smart{type_id}": smart_items for type_id in SMART_TYPES}}
        with self.locked() as db:
            seeding.seed_all(db, counts, id_gaps=id_gaps, seed=seed)

    def knows(self, method: str) -> bool:
        return method in HANDLERS

    def call(self, method: str, params: Dict[str, Any], ctx: CallContext) -> Outcome:
        """Run one REST method (name already lowercased); raises :class:`ApiFault`."""
        handler = HANDLERS.get(method)
        if handler is None:
            raise ApiFault("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
        return handler(self, params or {}, ctx)

    def ids(self, entity: str) -> Set[int]:
        table = get_entity(entity).name
        with self.locked() as db:
            return {row[0] for row in db.execute(f'SELECT "ID" FROM "{table}"')}

    def count(self, entity: str) -> int:
        table = get_entity(entity).name
        with self.locked() as db:
            return int(db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])

    def insert(self, entity: str, fields: Optional[Dict[str, Any]] = None, *,
               by: int = 1) -> int:
        """Add a row (fields by UPPER name; unknown ones ignored) and return its new ID,
        one above the largest ID ever used. ``by`` is the user stamped as its author."""
        e = get_entity(entity)
        row = new_row(e, fields, by=by, now=int(self._clock.wall()))
        columns = ", ".join(f'"{name}"' for name in row)
        marks = ", ".join("?" * len(row))
        with self.locked() as db:
            cursor = db.execute(f'INSERT INTO "{e.name}" ({columns}) VALUES ({marks})',
                                tuple(row.values()))
            new_id = cursor.lastrowid
        if new_id is None:  # pragma: no cover - SQLite always sets it after an INSERT
            raise RuntimeError(f"no ID for the new {entity}")
        return new_id

    def update(self, entity: str, id: int, fields: Optional[Dict[str, Any]] = None, *,
               by: int = 1) -> bool:
        """Change a row's fields; False when there is no row with this ID."""
        e = get_entity(entity)
        row = changed_row(e, fields, by=by, now=int(self._clock.wall()))
        # "ID" = "ID" keeps the statement valid when nothing is set (users have no stamps)
        assignments = ", ".join(['"ID" = "ID"'] + [f'"{name}" = ?' for name in row])
        with self.locked() as db:
            cursor = db.execute(f'UPDATE "{e.name}" SET {assignments} WHERE "ID" = ?',
                                (*row.values(), id))
            return cursor.rowcount > 0

    def delete(self, entity: str, id: int) -> bool:
        """Remove a row; False when there was none. Watchers hear of every row removed."""
        table = get_entity(entity).name
        with self.locked() as db:
            removed = db.execute(f'DELETE FROM "{table}" WHERE "ID" = ?', (id,)).rowcount > 0
        if removed:
            for watcher in self._on_delete:
                watcher(table, id)
        return removed

    def watch_deletes(self, watcher: Callable[[str, int], None]) -> None:
        """Call ``watcher(entity, id)`` after each row deleted (the offline event queue)."""
        self._on_delete.append(watcher)

    def close(self) -> None:
        with self.locked() as db:
            db.close()


class _Locked:
    """``with store.locked() as db``: the store's lock, held around the connection.

    A plain context object rather than a generator-based one: every command of every batch
    enters it, and that overhead showed in the sandbox's profile.
    """

    __slots__ = ("_lock", "_db")

    def __init__(self, lock: threading.Lock, db: sqlite3.Connection) -> None:
        self._lock = lock
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        return self._db

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()
