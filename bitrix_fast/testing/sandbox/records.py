"""Written values: how the fields of an add or update become a row, the way PHP casts them.

``fields`` here are keyed by the entity's UPPER names; handlers translate camelCase keys
and drop read-only fields first (:func:`writable`), while :meth:`Store.insert` lets tests
and the churner set anything.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional

from .dialects import Dialect
from .entities import Entity, Field
from .values import php_float, php_int, php_str, php_truthy, to_epoch, to_flag


def coerce(f: Field, value: Any) -> Any:
    """The storage value of ``value`` written to ``f``; None (null) clears the field."""
    if f.kind == "ints" and isinstance(value, list):  # UF_DEPARTMENT: [3] -> 3
        value = value[0] if value else None
    if value is None:
        return None
    if f.kind == "json":  # multiple values and files, kept as the JSON the portal prints
        if f.multiple and not isinstance(value, list):
            value = [] if value in ("", False) else [value]
        return json.dumps(value, ensure_ascii=False)
    if f.kind in ("int", "ints"):
        return php_int(value)
    if f.kind == "real":
        return php_float(value)
    if f.kind == "flag":
        return to_flag(value)
    if f.kind == "bool":
        return "Y" if php_truthy(value) and value != "N" else "N"
    if f.kind == "time":
        return to_epoch(value)
    return php_str(value)


def writable(dialect: Dialect, entity: Entity, fields: Mapping[str, Any]) -> Dict[str, Any]:
    """The client's ``fields`` keyed by UPPER name, minus unknown and read-only ones."""
    lookup = dialect.lookup(entity)
    out: Dict[str, Any] = {}
    for key, value in fields.items():
        f = lookup.get(key)
        if f is not None and not f.readonly:
            out[f.name] = value
    return out


def _given(entity: Entity, fields: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    row: Dict[str, Any] = {}
    for key, value in (fields or {}).items():
        f = entity.by_name.get(key)
        if f is not None and f is not entity.id_field:  # IDs are never chosen by callers
            row[f.name] = coerce(f, value)
    return row


def new_row(entity: Entity, fields: Optional[Mapping[str, Any]], *, by: int,
            now: int) -> Dict[str, Any]:
    """A complete row for an insert: defaults, then the given fields, then server stamps."""
    row = {f.name: f.default for f in entity.fields if f.default is not None}
    row.update(_given(entity, fields))
    for f in entity.fields:
        if f.role and row.get(f.name) is None:
            row[f.name] = now if f.role in ("created_at", "modified_at") else by
    return row


def changed_row(entity: Entity, fields: Optional[Mapping[str, Any]], *, by: int,
                now: int) -> Dict[str, Any]:
    """The columns an update sets: the given fields plus the modified stamps."""
    row = _given(entity, fields)
    for f in entity.fields:
        if f.role == "modified_at":
            row[f.name] = now
        elif f.role == "modified_by":
            row[f.name] = by
    return row
