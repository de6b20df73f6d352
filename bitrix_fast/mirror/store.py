"""The database side of a mirror: what both stores do alike, and which store a URL names.

A store runs one transaction per run. :meth:`SqlStore.begin` takes the lock that keeps two
runs of the same mirror apart and opens the transaction; everything the run writes, the
state row included, becomes visible at :meth:`SqlStore.commit` or not at all.

Only what a mirror needs: a state table, one table per listing keyed by the ID, columns
added as fields appear, inserts, upserts that tell added from changed rows, deletes by ID;
and, for the child and dictionary tables, plain statements (:meth:`SqlStore.execute`,
:meth:`SqlStore.insert`, :meth:`SqlStore.delete_in`).

Column kinds (``types``): ``id``, ``int``, ``numeric``, ``bool``, ``date``, ``datetime``,
``text`` and ``json``, plus ``real`` for tables made before typed columns. SQLite has no
decimal, date or datetime type of its own: its rows are read with floats and ISO 8601 text
(the portal's offset kept) -- ``exact`` and ``dates_as_text`` -- and ``adapters`` turn
other values (the dictionaries') into what its driver binds.
"""
from __future__ import annotations

import json
from array import array
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import StoreError
from .spec import STATE_TABLE

#: rows per statement batch; below SQLite's oldest limit of 999 bound values per IN list
CHUNK = 500

STATE_COLUMNS = ("table_name", "method", "params", "filter", "select_fields", "columns",
                 "cutoff", "runs", "row_count", "synced_at", "extra")
#: state columns holding JSON
_JSON_STATE = ("select_fields", "columns", "extra")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqlStore:
    """DB-API plumbing shared by the SQLite and PostgreSQL stores."""

    #: placeholder style and column types, set by each store
    mark = "?"
    types: Dict[str, str] = {}
    adapters: Dict[str, Callable[[Any], Any]] = {}
    #: how typed readers should give values: exact decimals (else floats), dates as text
    exact = True
    dates_as_text = False
    name = "sql"

    def __init__(self) -> None:
        self._db: Any = None

    # -- transaction and lock: per store -------------------------------------------------------

    def begin(self, table: str, wait: float) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        with self._errors("commit"):
            self._db.commit()

    def rollback(self) -> None:
        if self._db is None:
            return
        try:
            self._db.rollback()
        except Exception:  # a broken connection rolls back by itself
            pass

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except Exception:
                pass

    def _errors(self, doing: str) -> Any:
        raise NotImplementedError

    # -- state ---------------------------------------------------------------------------------

    def read_state(self, table: str) -> Optional[Dict[str, Any]]:
        with self._errors("reading the mirror state"):
            row = self._one(f"SELECT {', '.join(STATE_COLUMNS)} FROM {STATE_TABLE} "
                            f"WHERE table_name = {self.mark}", (table,))
        if row is None:
            return None
        state = dict(zip(STATE_COLUMNS, row))
        for key in _JSON_STATE:
            state[key] = json.loads(state[key]) if state[key] is not None else None
        return state

    def write_state(self, state: Dict[str, Any]) -> None:
        values = {key: state.get(key) for key in STATE_COLUMNS}
        for key in _JSON_STATE:
            values[key] = json.dumps(values[key]) if values[key] is not None else None
        marks = ", ".join([self.mark] * len(STATE_COLUMNS))
        updates = ", ".join(f"{c} = excluded.{c}" for c in STATE_COLUMNS[1:])
        with self._errors("writing the mirror state"):
            self._db.execute(
                f"INSERT INTO {STATE_TABLE} ({', '.join(STATE_COLUMNS)}) VALUES ({marks}) "
                f"ON CONFLICT (table_name) DO UPDATE SET {updates}",
                tuple(values[c] for c in STATE_COLUMNS))

    def _create_state_table(self) -> None:
        columns = ", ".join(f"{c} {'INTEGER' if c in ('runs', 'row_count') else 'TEXT'}"
                            for c in STATE_COLUMNS[1:])
        self._db.execute(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} "
                         f"(table_name TEXT PRIMARY KEY, {columns})")
        # A state table made before a column was added to it gets the column now.
        have = self.columns_of(STATE_TABLE)
        for column in STATE_COLUMNS[1:]:
            if column not in have:
                self._db.execute(f"ALTER TABLE {STATE_TABLE} ADD COLUMN {column} TEXT")

    def columns_of(self, table: str) -> List[str]:
        """The names of a table's columns (empty when there is no such table)."""
        raise NotImplementedError

    # -- tables --------------------------------------------------------------------------------

    def table_exists(self, table: str) -> bool:
        raise NotImplementedError

    def create_table(self, table: str, id_column: str) -> None:
        with self._errors(f"creating table {table}"):
            self._db.execute(f"CREATE TABLE {quote(table)} "
                             f"({quote(id_column)} {self.types['id']} PRIMARY KEY)")

    def create(self, table: str, columns: Sequence[Tuple[str, str]],
               key: Sequence[str]) -> None:
        """A plain table (child and dictionary tables), unless it exists: ``columns`` are
        (name, kind) pairs, ``key`` the primary key's columns."""
        body = ", ".join(f"{quote(name)} {self.types[kind]}" for name, kind in columns)
        with self._errors(f"creating table {table}"):
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} ({body}, "
                             f"PRIMARY KEY ({self._names(key)}))")

    def add_column(self, table: str, column: str, kind: str) -> None:
        with self._errors(f"adding column {column} to {table}"):
            self._db.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column)} "
                             f"{self.types[kind]}")

    def insert(self, table: str, columns: Sequence[str], rows: List[Tuple[Any, ...]]) -> int:
        """Rows into a table known to lack their keys (the first run, fresh child rows)."""
        marks = ", ".join([self.mark] * len(columns))
        with self._errors(f"writing {table}"):
            self._executemany(f"INSERT INTO {quote(table)} ({self._names(columns)}) "
                              f"VALUES ({marks})", rows)
        return len(rows)

    def upsert(self, table: str, id_column: str, columns: Sequence[str],
               rows: List[Tuple[Any, ...]]) -> Tuple[int, int]:
        """Insert or update rows by ID; returns (added, changed). A row whose stored values
        already equal the new ones is not written and not counted."""
        added = changed = 0
        at = list(columns).index(id_column)
        others = [c for c in columns if c != id_column]
        marks = ", ".join([self.mark] * len(columns))
        sql = (f"INSERT INTO {quote(table)} ({self._names(columns)}) VALUES ({marks}) "
               f"ON CONFLICT ({quote(id_column)}) ")
        if others:
            sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in others)
            sql += f"DO UPDATE SET {sets} WHERE {self._differs(table, others)}"
        else:
            sql += "DO NOTHING"
        with self._errors(f"writing {table}"):
            for first in range(0, len(rows), CHUNK):
                chunk = rows[first:first + CHUNK]
                ids = [row[at] for row in chunk]
                known = self._count_ids(table, id_column, ids)
                written = self._executemany(sql, chunk)
                added += len(chunk) - known
                changed += max(0, written - (len(chunk) - known))
        return added, changed

    def ids(self, table: str, id_column: str) -> "array[int]":
        """Every ID in the table, ascending (8 bytes each)."""
        out = array("q")
        with self._errors(f"reading {table}"):
            cursor = self._db.cursor()
            cursor.execute(f"SELECT {quote(id_column)} FROM {quote(table)} "
                           f"ORDER BY {quote(id_column)}")
            while True:
                chunk = cursor.fetchmany(10_000)
                if not chunk:
                    break
                out.extend(row[0] for row in chunk)
        return out

    def delete(self, table: str, id_column: str, ids: Iterable[int]) -> int:
        return self.delete_in(table, id_column, ids)

    def delete_in(self, table: str, column: str, values: Iterable[Any],
                  where: Optional[Tuple[str, Any]] = None) -> int:
        """``DELETE FROM table WHERE column IN (values)`` [``AND where[0] = where[1]``]."""
        done = 0
        values = list(values)
        extra = f" AND {quote(where[0])} = {self.mark}" if where is not None else ""
        tail: Tuple[Any, ...] = (where[1],) if where is not None else ()
        with self._errors(f"deleting from {table}"):
            for first in range(0, len(values), CHUNK):
                chunk = values[first:first + CHUNK]
                marks = ", ".join([self.mark] * len(chunk))
                cursor = self._db.execute(f"DELETE FROM {quote(table)} WHERE {quote(column)} "
                                          f"IN ({marks}){extra}", tuple(chunk) + tail)
                done += max(0, cursor.rowcount)
        return done

    def execute(self, sql: str, params: Sequence[Any] = (), doing: str = "writing") -> int:
        """One statement (identifiers quoted by the caller with :func:`quote`, values bound);
        returns the rows it touched."""
        with self._errors(doing):
            return max(0, int(self._db.execute(sql, tuple(params)).rowcount))

    def query(self, sql: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
        with self._errors("reading"):
            return [tuple(row) for row in self._db.execute(sql, tuple(params)).fetchall()]

    def count(self, table: str) -> int:
        with self._errors(f"reading {table}"):
            return int(self._one(f"SELECT COUNT(*) FROM {quote(table)}", ())[0])

    # -- helpers -------------------------------------------------------------------------------

    def _names(self, columns: Sequence[str]) -> str:
        return ", ".join(quote(c) for c in columns)

    def _differs(self, table: str, columns: Sequence[str]) -> str:
        raise NotImplementedError

    def _count_ids(self, table: str, id_column: str, ids: Sequence[Any]) -> int:
        marks = ", ".join([self.mark] * len(ids))
        row = self._one(f"SELECT COUNT(*) FROM {quote(table)} WHERE {quote(id_column)} "
                        f"IN ({marks})", tuple(ids))
        return int(row[0])

    def _one(self, sql: str, params: Tuple[Any, ...]) -> Any:
        cursor = self._db.execute(sql, params)
        return cursor.fetchone()

    def _executemany(self, sql: str, rows: List[Tuple[Any, ...]]) -> int:
        cursor = self._db.cursor()
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)


def fail(doing: str, error: BaseException, secret: Optional[str] = None) -> StoreError:
    text = " ".join(str(error).split()) or type(error).__name__
    if secret:
        text = text.replace(secret, "***")
    return StoreError(f"database error while {doing}: {text}")
