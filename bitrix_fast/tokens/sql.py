"""``SQLTokenStore``: tokens in SQLite (one machine) or PostgreSQL (shared by machines).

The URL follows the mirror's convention: ``sqlite:///relative.sqlite``,
``sqlite:////absolute/path.sqlite`` or a plain file path for SQLite (the standard library);
``postgresql://user:password@host/dbname`` for PostgreSQL (``pip install
'bitrix_fast[postgres]'``: psycopg 3, loaded only when asked for).

Two tables: ``<table>`` (``member_id`` -> the token set as JSON) and ``<table>_locks``
(``member_id``, the lease's owner token and the Unix time it ends). A lease is taken by one
atomic upsert that succeeds only when there is none or it has run out, so two processes, or
two machines, can never both hold it. On PostgreSQL the time is the server's
(``clock_timestamp()``), so machines whose clocks disagree still agree on when a lease ends;
SQLite serves one machine and uses its clock.
"""
from __future__ import annotations

import re
import threading
from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar
from urllib.parse import urlsplit

from ..clock import Clock
from ..errors import TokenStoreError
from ..protocol.redaction import redact
from .store import LeaseLocks, check_member_id
from .tokenset import TokenSet

__all__ = ["SQLTokenStore", "parse_url"]

T = TypeVar("T")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")


def parse_url(url: str) -> Tuple[str, str]:
    """``("sqlite", path)`` or ``("postgresql", url)`` for a database URL (the mirror's
    convention); ValueError for anything else."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("give a database URL (sqlite:///tokens.sqlite, postgresql://...) "
                         "or an SQLite file path")
    url = url.strip()
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        return "postgresql", url
    if scheme in ("", "sqlite"):
        if scheme and not url.lower().startswith("sqlite:///"):
            raise ValueError("write sqlite:///relative.sqlite or sqlite:////absolute/path.sqlite")
        path = url[len("sqlite:///"):] if scheme else url
        if not path or path == ":memory:":
            raise ValueError("an SQLite token store needs a file: a memory database is gone "
                             "when the process ends, and other processes never see it")
        return "sqlite", path
    raise ValueError(f"only sqlite:/// and postgresql:// URLs are supported, not {scheme}://")


class SQLTokenStore(LeaseLocks):
    """Token sets in a database (see the module docs). Thread-safe; processes and machines
    sharing the database share the tokens and the locks.

    :param url: ``sqlite:///tokens.sqlite`` (default form) or ``postgresql://...``; a
        password in it is never shown
    :param table: the table's name (``<table>_locks`` holds the leases)
    :param clock: for tests (SQLite leases only; PostgreSQL uses its server's time)
    """

    def __init__(self, url: str = "sqlite:///bitrix_fast_tokens.sqlite", *,
                 table: str = "bitrix_fast_tokens", clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        self.kind, target = parse_url(url)
        if not _NAME.match(table):
            raise ValueError("table must be a plain SQL name (letters, digits, _)")
        self._table, self._locks = table, table + "_locks"
        self._target = target
        parts = urlsplit(target) if self.kind == "postgresql" else None
        self._secret = parts.password if parts is not None else None
        self.address = (f"postgresql://{parts.hostname or 'localhost'}"
                        f"{':' + str(parts.port) if parts.port else ''}{parts.path}"
                        if parts is not None else f"sqlite:///{target}")
        self._mark = "%s" if self.kind == "postgresql" else "?"
        self._threads = threading.Lock()
        self._db: Any = None
        self._run(self._create, "creating its tables")

    # -- the TokenStore contract -------------------------------------------------------------
    def load(self, member_id: str) -> Optional[TokenSet]:
        member_id = check_member_id(member_id)
        rows = self._run(lambda: self._query(
            f"SELECT data FROM {self._table} WHERE member_id = {self._mark}", (member_id,)),
            f"reading portal {member_id}")
        return TokenSet.from_json(rows[0][0]) if rows else None

    def save(self, tokens: TokenSet) -> None:
        member_id = check_member_id(tokens.member_id)
        m = self._mark
        self._run(lambda: self._change(
            f"INSERT INTO {self._table} (member_id, data) VALUES ({m}, {m}) "
            f"ON CONFLICT (member_id) DO UPDATE SET data = excluded.data",
            (member_id, tokens.to_json())), f"saving portal {member_id}")

    def delete(self, member_id: str) -> bool:
        member_id = check_member_id(member_id)
        changed = self._run(lambda: self._change(
            f"DELETE FROM {self._table} WHERE member_id = {self._mark}", (member_id,)),
            f"deleting portal {member_id}")
        return changed > 0

    def members(self) -> List[str]:
        rows = self._run(lambda: self._query(
            f"SELECT member_id FROM {self._table} ORDER BY member_id", ()), "listing portals")
        return [str(row[0]) for row in rows]

    def close(self) -> None:
        with self._threads:
            db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except Exception:  # noqa: BLE001 - a broken connection is closed anyway
                pass

    # -- leases ------------------------------------------------------------------------------
    def _try_lock(self, member_id: str, owner: str, lease: float) -> bool:
        m = self._mark
        if self.kind == "postgresql":
            now, params = "EXTRACT(EPOCH FROM clock_timestamp())", (member_id, owner, lease)
            until = f"{now} + {m}"
        else:
            wall = self._clock.wall()
            now, until = repr(float(wall)), m
            params = (member_id, owner, wall + lease)
        # One statement: it inserts the lease, or replaces one that has run out, or (held
        # by someone else) changes nothing -- and says which by the rows it changed.
        changed = self._run(lambda: self._change(
            f"INSERT INTO {self._locks} (member_id, owner, until) VALUES ({m}, {m}, {until}) "
            f"ON CONFLICT (member_id) DO UPDATE SET owner = excluded.owner, "
            f"until = excluded.until WHERE {self._locks}.until <= {now}",
            params), f"locking portal {member_id}")
        return changed == 1

    def _unlock(self, member_id: str, owner: str) -> None:
        m = self._mark
        self._run(lambda: self._change(
            f"DELETE FROM {self._locks} WHERE member_id = {m} AND owner = {m}",
            (member_id, owner)), f"unlocking portal {member_id}")

    # -- the database ------------------------------------------------------------------------
    def _create(self) -> None:
        real = "DOUBLE PRECISION" if self.kind == "postgresql" else "REAL"
        for statement in (
                f"CREATE TABLE IF NOT EXISTS {self._table} "
                f"(member_id TEXT PRIMARY KEY, data TEXT NOT NULL)",
                f"CREATE TABLE IF NOT EXISTS {self._locks} "
                f"(member_id TEXT PRIMARY KEY, owner TEXT NOT NULL, until {real} NOT NULL)"):
            try:
                self._change(statement, ())
            except Exception as error:  # noqa: BLE001 - two machines creating it at once
                if "already exists" not in str(error) and "duplicate key" not in str(error):
                    raise

    def _connect(self) -> Any:
        if self.kind == "sqlite":
            # Imported here: ``import bitrix_fast`` (and the pytest plugin) stays light.
            import sqlite3

            db = sqlite3.connect(self._target, timeout=30.0, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            return db
        try:
            import psycopg
        except ImportError:
            raise TokenStoreError("a PostgreSQL token store needs psycopg 3: pip install "
                                  "'bitrix_fast[postgres]'") from None
        return psycopg.connect(self._target, autocommit=True, connect_timeout=10)

    def _query(self, sql: str, params: Sequence[Any]) -> List[Any]:
        if self._db is None:
            self._db = self._connect()
        return list(self._db.execute(sql, tuple(params)).fetchall())

    def _change(self, sql: str, params: Sequence[Any]) -> int:
        """Run a statement that changes rows; the number of rows it changed."""
        if self._db is None:
            self._db = self._connect()
        return int(self._db.execute(sql, tuple(params)).rowcount)

    def _run(self, operation: Callable[[], T], doing: str) -> T:
        with self._threads:
            for attempt in (1, 2):
                try:
                    return operation()
                except TokenStoreError:
                    raise
                except Exception as error:  # noqa: BLE001 - sqlite3 / psycopg errors
                    broken = (self.kind == "postgresql" and self._db is not None
                              and bool(self._db.broken))
                    if attempt == 1 and broken:
                        # A connection the server closed (a restart): one new one, once.
                        self._db = None
                        continue
                    detail = redact(f"{type(error).__name__}: {error}",
                                    [s for s in (self._secret,) if s])
                    raise TokenStoreError(f"token store {self.address}: {doing} failed "
                                          f"({detail})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def __repr__(self) -> str:
        return f"SQLTokenStore({self.address!r}, table={self._table!r})"
