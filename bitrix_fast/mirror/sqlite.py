"""The SQLite store (stdlib only): one file, WAL so reports can read while a run writes.

Two runs are kept apart by SQLite's own write lock: a run holds it from ``BEGIN IMMEDIATE``
to its commit, so a second run waits up to ``wait`` seconds for it and then gives up with
:class:`MirrorBusy`. The lock is the whole file's: runs of different tables in one file
take turns too.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Dict, Iterator, List, Sequence

from .errors import MirrorBusy
from .store import SqlStore, fail, quote


def _float(value: Decimal) -> float:
    """SQLite has no decimal type: NUMERIC columns keep numbers as integers or reals."""
    return float(value)


class SqliteStore(SqlStore):
    name = "sqlite"
    mark = "?"
    types = {"id": "INTEGER", "int": "INTEGER", "numeric": "NUMERIC", "real": "REAL",
             "bool": "BOOLEAN", "date": "DATE", "datetime": "DATETIME", "text": "TEXT",
             "json": "TEXT"}
    adapters: Dict[str, Callable[[Any], Any]] = {
        "numeric": _float, "date": date.isoformat, "datetime": datetime.isoformat}
    exact = False
    dates_as_text = True

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def begin(self, table: str, wait: float) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise fail("opening the database", FileNotFoundError(f"no folder {folder}"))
        with self._errors("opening the database"):
            self._db = sqlite3.connect(self.path, timeout=max(0.0, wait),
                                       isolation_level=None, check_same_thread=False)
        try:
            # WAL: readers (reports, BI tools) go on reading the last commit while a run
            # writes; the mode is the file's, so this only does something the first time
            # (and, like the lock, waits for a writer that got there first).
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                raise MirrorBusy(f"another sync is writing {self.path} (waited "
                                 f"{wait:g} s); try again later, or give it longer to "
                                 f"wait") from None
            raise fail("locking the database", error) from None
        with self._errors("creating the state table"):
            self._create_state_table()

    def commit(self) -> None:
        with self._errors("commit"):
            self._db.execute("COMMIT")

    def rollback(self) -> None:
        if self._db is not None and self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def columns_of(self, table: str) -> List[str]:
        return [row[1] for row in self._db.execute(f"PRAGMA table_info({quote(table)})")]

    def table_exists(self, table: str) -> bool:
        row = self._one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (table,))
        return row is not None

    def _differs(self, table: str, columns: Sequence[str]) -> str:
        t = quote(table)
        return " OR ".join(f"{t}.{quote(c)} IS NOT excluded.{quote(c)}" for c in columns)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise fail(doing, error) from None


