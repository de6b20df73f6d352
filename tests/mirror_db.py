"""A mirror database as a test sees it -- plain SQL on SQLite or PostgreSQL, the way a BI
tool reads it -- and the ``db`` fixture that gives one of each."""
from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest


class Db:
    def __init__(self, kind, url):
        self.kind = kind
        self.url = url

    def query(self, sql, params=()):
        if self.kind == "sqlite":
            with sqlite3.connect(self.url) as con:
                cursor = con.execute(sql, params)
                return [tuple(r) for r in cursor.fetchall()]
        import psycopg

        with psycopg.connect(self.url) as con:
            return [tuple(r) for r in con.execute(sql.replace("?", "%s"), params).fetchall()]

    def rows(self, table, key="id"):
        names = self.columns(table)
        return {r[names.index(key)]: dict(zip(names, r))
                for r in self.query(f'SELECT * FROM "{table}"')}

    def columns(self, table):
        if self.kind == "sqlite":
            return [r[1] for r in self.query(f'PRAGMA table_info("{table}")')]
        return [r[0] for r in self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))]

    def types(self, table):
        """column -> its declared type, lower case (PostgreSQL: its data_type)."""
        if self.kind == "sqlite":
            return {r[1]: r[2].lower() for r in self.query(f'PRAGMA table_info("{table}")')}
        return {r[0]: r[1] for r in self.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE "
            "table_schema = current_schema() AND table_name = ?", (table,))}

    def tables(self):
        if self.kind == "sqlite":
            return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {r[0] for r in self.query("SELECT table_name FROM information_schema.tables "
                                         "WHERE table_schema = current_schema()")}


def number(value):
    """A NUMERIC column's value as a float (SQLite gives int or float, psycopg Decimal)."""
    return float(value) if isinstance(value, Decimal) else value


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    if request.param == "sqlite":
        return Db("sqlite", str(tmp_path / "mirror.sqlite"))
    return Db("postgres", request.getfixturevalue("postgres_db"))
