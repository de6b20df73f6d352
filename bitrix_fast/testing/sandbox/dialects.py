"""The five ways a method family names fields, prints values and pages its lists.

=========  ==================  ===========  ===========  ==============  ======================
dialect    methods             param names  result keys  numbers         paging
=========  ==================  ===========  ===========  ==============  ======================
classic    crm.deal.list ...   UPPER        UPPER        strings         page-aligned; past the
                                                                         end gives page 1
item       crm.item.*          camelCase    camelCase    JSON numbers    page-aligned; past the
                                                                         end gives an empty page
task       tasks.task.*        UPPER        camelCase    strings         as item
user       user.get            UPPER        UPPER        strings, but    exact offset
                                                         ACTIVE is bool
legacy     task.elapseditem,   UPPER        UPPER        strings         their own (see
           task.commentitem                                              taskitems.py)
=========  ==================  ===========  ===========  ==============  ======================

Values are rendered inside SQLite (casts, ``printf``, ``strftime``) so that building a page
of 50 rows in Python is a plain ``dict(zip(...))`` per row.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .entities import Entity, Field
from .outcome import ApiFault
from .values import SQL_TIME_FORMAT, SQL_TIME_SHIFT


@dataclass(frozen=True)
class Dialect:
    name: str
    #: which Field attribute names a field in filter/order/select: "name" or "camel"
    names: str
    #: which Field attribute keys a field in results
    keys: str
    #: numbers come out as JSON numbers (True) or as strings (False)
    typed: bool
    #: "classic" (page-aligned, past the end -> page 1), "engine" (page-aligned, past the
    #: end -> empty) or "exact" (offset = start)
    paging: str
    #: the ``error`` code of this family's 400 answers
    error_code: str
    #: order without an ``order`` parameter, as (field name, direction) pairs
    default_order: Tuple[Tuple[str, str], ...]
    #: whether "*" (and an absent select) include the custom UF_ fields
    star_uf: bool

    def lookup(self, entity: Entity) -> Dict[str, Field]:
        return entity.by_camel if self.names == "camel" else entity.by_name

    def field(self, entity: Entity, name: Any, where: str) -> Field:
        """The field ``name`` refers to; a 400 naming it when the entity has none."""
        found = self.lookup(entity).get(name) if isinstance(name, str) else None
        if found is None:
            raise self.fault(f"Invalid {where}: field '{name}' is not allowed in {where}")
        return found

    def fault(self, description: str) -> ApiFault:
        return ApiFault(self.error_code, description, 400)

    def key(self, f: Field) -> str:
        return f.camel if self.keys == "camel" else f.name


CLASSIC = Dialect("classic", "name", "name", False, "classic", "", (("ID", "ASC"),), False)
ITEM = Dialect("item", "camel", "camel", True, "engine", "INVALID_ARG_VALUE",
               (("id", "ASC"),), True)
TASK = Dialect("task", "name", "camel", False, "engine", "0", (("ID", "DESC"),), True)
USER = Dialect("user", "name", "name", False, "exact", "ERROR_ARGUMENT", (("ID", "ASC"),), True)
LEGACY = Dialect("legacy", "name", "name", False, "classic", "ERROR_CORE", (("ID", "ASC"),), False)


def _as_bool(value: Optional[str]) -> bool:
    return value == "Y"


def _as_list(value: Optional[int]) -> List[int]:
    return [] if value is None else [value]


def _as_json(value: Optional[str]) -> Any:
    return None if value is None else json.loads(value)


#: Python touch-ups for the kinds SQLite cannot print (user.get's, and JSON values)
_POST: Dict[str, Callable[[Any], Any]] = {"bool": _as_bool, "ints": _as_list, "json": _as_json}


def _column(f: Field, typed: bool) -> str:
    col = f'"{f.name}"'
    if f.kind == "time":
        return f"strftime('{SQL_TIME_FORMAT}', {col}, 'unixepoch', '{SQL_TIME_SHIFT}')"
    if typed:
        return col
    if f.kind == "int":
        return f"CAST({col} AS TEXT)"
    if f.kind == "real":
        return f"CASE WHEN {col} IS NULL THEN NULL ELSE printf('%.2f', {col}) END"
    return col


@dataclass(frozen=True)
class Renderer:
    """The SELECT list for some fields and the way its rows become result objects."""

    sql: str
    keys: Tuple[str, ...]
    posts: Tuple[Optional[Callable[[Any], Any]], ...]

    def rows(self, raw: Sequence[Sequence[Any]]) -> List[Dict[str, Any]]:
        keys = self.keys
        if not any(self.posts):
            return [dict(zip(keys, row)) for row in raw]
        posts = self.posts
        return [
            {k: (p(v) if p else v) for k, p, v in zip(keys, posts, row)}
            for row in raw
        ]


@lru_cache(maxsize=256)
def renderer(dialect: Dialect, fields: Tuple[Field, ...]) -> Renderer:
    """How ``dialect`` selects and prints ``fields`` (cached: the same few sets recur)."""
    return Renderer(
        sql=", ".join(_column(f, dialect.typed) for f in fields),
        keys=tuple(dialect.key(f) for f in fields),
        posts=tuple(_POST.get(f.kind) for f in fields),
    )
