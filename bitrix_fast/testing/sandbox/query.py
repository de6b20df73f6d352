"""The ``filter``, ``order`` and ``select`` parameters of list methods, turned into SQL.

Field names come only from the entity's whitelist and every value is a bound parameter,
so nothing a client sends is ever spliced into SQL text. Anything the real server would
refuse (an unknown operator, a list where a scalar belongs, a field the entity does not
have) is refused with a 400 in the dialect's own error code.

Filter keys carry their operator as a prefix: ``>=ID``, ``!@STAGE_ID``, ``%TITLE``.
A numeric key holding a dict is a nested group; a ``LOGIC: OR`` entry turns its group
into a disjunction (the documented crm.item form).
"""
from __future__ import annotations

import functools

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .dialects import Dialect
from .entities import Entity, Field
from .filterkeys import split_key
from .outcome import ApiFault
from .values import filter_flag, php_float, php_int, php_str, php_truthy, to_epoch

#: longest first, so "!=%" is not read as "!=" followed by a field called "%TITLE"
_COMPARISONS = (">", ">=", "<", "<=")
_NUMERIC = ("int", "ints", "real", "time")


@dataclass(frozen=True)
class Where:
    sql: str
    params: Tuple[Any, ...]


def param(params: Mapping[str, Any], name: str) -> Any:
    """A parameter by name, any letter case (``filter``, ``FILTER``, ``Filter``)."""
    if name in params:
        return params[name]
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def compile_filter(dialect: Dialect, entity: Entity, filter_: Any) -> Where:
    if filter_ is None:
        return Where("1", ())
    if not isinstance(filter_, (dict, list)):
        raise dialect.fault("Parameter 'filter' must be array.")
    bound: List[Any] = []
    return Where(_group(dialect, entity, filter_, bound), tuple(bound))


def _group(dialect: Dialect, entity: Entity, group: Any, bound: List[Any]) -> str:
    items = group.items() if isinstance(group, dict) else enumerate(group)
    joiner, parts = " AND ", []
    for key, value in items:
        key = str(key)
        if key.upper() == "LOGIC":
            joiner = " OR " if php_str(value).upper() == "OR" else " AND "
        elif key.isdigit() and isinstance(value, (dict, list)):
            parts.append(f"({_group(dialect, entity, value, bound)})")
        else:
            parts.append(_condition(dialect, entity, key, value, bound))
    return joiner.join(parts) if parts else "1"


def _condition(dialect: Dialect, entity: Entity, key: str, value: Any, bound: List[Any]) -> str:
    op, name = split_key(key)
    if not name or not (name[0].isalnum() or name[0] == "_"):
        raise dialect.fault("Filter operation not allowed")
    f = dialect.field(entity, name, "filter")
    col = f'"{f.name}"'
    if isinstance(value, dict):
        raise _bad_value(dialect, name)
    if op in ("", "=", "!", "!="):
        return _equal(dialect, f, name, col, value, op.startswith("!"), bound)
    if op in ("@", "!@"):
        return _within(dialect, f, name, col, value, op == "!@", bound)
    if isinstance(value, list):
        raise _bad_value(dialect, name)
    if op in _COMPARISONS:
        bound.append(_coerce(dialect, f, name, value))
        return f"{col} {op} ?"
    negate = op.startswith("!")
    if op in ("%", "!%"):
        bound.append("%" + _escape_like(php_str(value)) + "%")
        test = f"{col} LIKE ? ESCAPE '\\'"
    else:  # "=%", "%=", "!=%", "!%=": the caller writes the wildcards
        bound.append(php_str(value))
        test = f"{col} LIKE ?"
    return f"({col} IS NULL OR NOT {test})" if negate else test


def _equal(dialect: Dialect, f: Field, name: str, col: str, value: Any, negate: bool,
           bound: List[Any]) -> str:
    if isinstance(value, list):
        return _within(dialect, f, name, col, value, negate, bound)
    if f.kind != "bool" and (value is None or value is False or value == ""):
        blank = "0" if f.kind in _NUMERIC else "''"
        empty = f"({col} IS NULL OR {col} = {blank})"
        return f"NOT {empty}" if negate else empty
    bound.append(_coerce(dialect, f, name, value))
    return f"({col} IS NULL OR {col} != ?)" if negate else f"{col} = ?"


def _within(dialect: Dialect, f: Field, name: str, col: str, value: Any, negate: bool,
            bound: List[Any]) -> str:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    elif not isinstance(value, list):
        value = [value]
    if not value:
        return "1" if negate else "0"
    if any(isinstance(v, (list, dict)) for v in value):
        raise _bad_value(dialect, name)
    bound.extend(_coerce(dialect, f, name, v) for v in value)
    marks = ", ".join("?" * len(value))
    return f"({col} IS NULL OR {col} NOT IN ({marks}))" if negate else f"{col} IN ({marks})"


def _coerce(dialect: Dialect, f: Field, name: str, value: Any) -> Any:
    """A filter value cast to the column's type (IDs compare as integers, and so on)."""
    if f.kind in ("int", "ints"):
        return php_int(value)
    if f.kind == "real":
        return php_float(value)
    if f.kind == "flag":
        return filter_flag(value)
    if f.kind == "bool":  # user.get: ($value && $value !== 'N') ? 'Y' : 'N'
        return "Y" if php_truthy(value) and value != "N" else "N"
    if f.kind == "time":
        moment = to_epoch(value)
        if moment is None:
            raise _bad_value(dialect, name)
        return moment
    return php_str(value)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _bad_value(dialect: Dialect, name: str) -> ApiFault:
    return dialect.fault(f"Invalid filter: field '{name}' has invalid value")


def compile_order(dialect: Dialect, entity: Entity, order: Any) -> str:
    """ORDER BY terms; ties are always broken by ID ascending so pages never overlap."""
    if order is None or order == [] or order == {}:
        pairs: Any = dialect.default_order
    elif isinstance(order, dict):
        pairs = order.items()
    else:
        raise dialect.fault("Parameter 'order' must be array.")
    terms, by_id = [], False
    for name, direction in pairs:
        f = dialect.field(entity, name, "order")
        way = php_str(direction).upper()
        if way not in ("ASC", "DESC"):
            raise dialect.fault("Order direction should be one of {ASC|DESC}")
        terms.append(f'"{f.name}" {way}')
        by_id = by_id or f is entity.id_field
    if not by_id:
        terms.append('"ID" ASC')
    return ", ".join(terms)


def select_fields(dialect: Dialect, entity: Entity, select: Any) -> Tuple[Field, ...]:
    """The fields a ``select`` asks for, in the entity's order; unknown names are ignored.

    ``*`` means every standard field (and the UF_ ones where the dialect's ``*`` has them),
    ``UF_*`` every custom field; nothing selected at all still yields the ID.
    """
    if select is None:
        names: Tuple[Any, ...] = ()
    elif isinstance(select, dict):  # a PHP array whose keys are not 0..n-1
        names = tuple(select.values())
    elif isinstance(select, list):
        names = tuple(select)
    else:
        raise dialect.fault("Parameter 'select' must be array.")
    try:
        return _resolve_select(dialect, entity, names)
    except TypeError:  # an unhashable name (a nested array): resolve without the cache
        return _resolve_select.__wrapped__(dialect, entity, names)


# An export sends the same select with every command; resolving it once per distinct
# select keeps a 50-command batch from redoing the same set algebra 50 times.
@functools.lru_cache(maxsize=1024)
def _resolve_select(dialect: Dialect, entity: Entity, names: Tuple[Any, ...]
                    ) -> Tuple[Field, ...]:
    star = {f for f in entity.fields if dialect.star_uf or not f.uf}
    lookup: Dict[str, Field] = dialect.lookup(entity)
    chosen = set() if names else star
    for name in names:
        if name == "*":
            chosen |= star
        elif name == "UF_*":
            chosen |= {f for f in entity.fields if f.uf}
        elif isinstance(name, str) and name in lookup:
            chosen.add(lookup[name])
    picked = tuple(f for f in entity.fields if f in chosen)
    return picked or (entity.id_field,)


def id_param(value: Any) -> Optional[int]:
    """A positive integer ID as PHP reads it, or None when there is none."""
    number = php_int(value) if value is not None else 0
    return number if number > 0 else None
