"""Which store a database URL names: SQLite (stdlib, the default) or PostgreSQL (the
``postgres`` extra, loaded only when asked for)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

from .sqlite import SqliteStore
from .store import SqlStore


def open_store(url: str) -> "SqlStore":
    """``postgresql://...`` (or ``postgres://``) for PostgreSQL; ``sqlite:///path``,
    ``sqlite:////absolute/path`` or a plain file path for SQLite."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("db: give a database URL or an SQLite file path")
    url = url.strip()
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStore

        return PostgresStore(url)
    if scheme in ("", "sqlite"):
        path = url[len("sqlite:///"):] if scheme else url
        if scheme and not url.lower().startswith("sqlite:///"):
            raise ValueError(f"db {url!r}: write sqlite:///relative.sqlite or "
                             f"sqlite:////absolute/path.sqlite")
        if not path or path == ":memory:":
            raise ValueError("db: an SQLite mirror needs a file (a memory database is gone "
                             "when the run ends)")
        return SqliteStore(path)
    raise ValueError(f"db {url!r}: only sqlite:/// and postgresql:// URLs are supported")


@contextmanager
def table_transaction(url: str, table: str, wait: float) -> Iterator[SqlStore]:
    """A store on ``url`` holding ``table``'s lock (waiting up to ``wait`` seconds for it) in
    one transaction: committed when the block ends, rolled back when it raises, closed
    either way."""
    store = open_store(url)
    try:
        store.begin(table, wait)
        yield store
        store.commit()
    except BaseException:
        store.rollback()
        raise
    finally:
        store.close()
