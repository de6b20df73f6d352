"""The PostgreSQL store, through psycopg 3 (``pip install 'bitrix_fast[postgres]'``).

Two runs of one mirror are kept apart by a transaction-level advisory lock keyed on the
table's name: a second run polls for it up to ``wait`` seconds, then gives up with
:class:`MirrorBusy`. Runs of different tables go on side by side. The first run's rows go
in with ``COPY``; later runs upsert.
"""
from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from .errors import MirrorBusy, StoreError
from .store import SqlStore, fail, quote

#: how often a waiting run asks for the lock again
POLL = 0.1


class PostgresStore(SqlStore):
    name = "postgresql"
    mark = "%s"
    types = {"id": "BIGINT", "int": "BIGINT", "numeric": "NUMERIC", "real": "DOUBLE PRECISION",
             "bool": "BOOLEAN", "date": "DATE", "datetime": "TIMESTAMPTZ", "text": "TEXT",
             "json": "JSONB"}

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        #: the psycopg module, once :meth:`begin` has imported it
        self._psycopg: Any = None
        try:
            self._secret: Optional[str] = urlsplit(url).password
        except ValueError:
            self._secret = None

    def begin(self, table: str, wait: float) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError("PostgreSQL needs psycopg 3: pip install "
                             "'bitrix_fast[postgres]'") from None
        self._psycopg = psycopg
        with self._errors("connecting"):
            self._db = psycopg.connect(self.url, autocommit=False, connect_timeout=10)
        key = lock_key(table)
        deadline = time.monotonic() + max(0.0, wait)
        with self._errors("locking the table"):
            while not self._one("SELECT pg_try_advisory_xact_lock(%s)", (key,))[0]:
                if time.monotonic() >= deadline:
                    self.rollback()
                    raise MirrorBusy(f"another sync of table {table} is under way (waited "
                                     f"{wait:g} s); try again later, or give it longer to "
                                     f"wait")
                time.sleep(POLL)
        # Runs of other tables may create the state table at the same moment.
        try:
            with self._db.transaction():
                self._create_state_table()
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
            pass
        except psycopg.Error as error:
            raise fail("creating the state table", error, self._secret) from None

    def create(self, table: str, columns: Sequence[Tuple[str, str]],
               key: Sequence[str]) -> None:
        # Runs of other tables may create a shared table (dict_fields...) at the same moment:
        # a savepoint keeps this run's transaction alive when the other one wins.
        body = ", ".join(f"{quote(name)} {self.types[kind]}" for name, kind in columns)
        try:
            with self._db.transaction():
                self._db.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} ({body}, "
                                 f"PRIMARY KEY ({self._names(key)}))")
        except (self._psycopg.errors.UniqueViolation, self._psycopg.errors.DuplicateTable):
            pass
        except self._psycopg.Error as error:
            raise fail(f"creating table {table}", error, self._secret) from None

    def columns_of(self, table: str) -> List[str]:
        return [row[0] for row in self._db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s ORDER BY ordinal_position", (table,))]

    def table_exists(self, table: str) -> bool:
        row = self._one("SELECT 1 FROM information_schema.tables WHERE table_schema = "
                        "current_schema() AND table_name = %s", (table,))
        return row is not None

    def insert(self, table: str, columns: Sequence[str], rows: List[Tuple[Any, ...]]) -> int:
        with self._errors(f"writing {table}"):
            with self._db.cursor() as cursor:
                with cursor.copy(f"COPY {quote(table)} ({self._names(columns)}) "
                                 f"FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        return len(rows)

    def _differs(self, table: str, columns: Sequence[str]) -> str:
        t = quote(table)
        mine = ", ".join(f"{t}.{quote(c)}" for c in columns)
        theirs = ", ".join(f"excluded.{quote(c)}" for c in columns)
        return f"ROW({mine}) IS DISTINCT FROM ROW({theirs})"

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        psycopg = self._psycopg
        try:
            yield
        except Exception as error:
            if psycopg is not None and isinstance(error, psycopg.Error):
                raise fail(doing, error, self._secret) from None
            raise


def lock_key(table: str) -> int:
    """A stable signed 64-bit advisory-lock key for one mirror table."""
    digest = hashlib.sha1(f"bitrix_fast.mirror:{table}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
