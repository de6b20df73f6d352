"""Phones, e-mails, sites and messengers of leads, contacts and companies (``crm_multifield``).

Classic lists print them only when the select names them (``PHONE``, ``EMAIL``...; ``*``
does not), as ``[{"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}]`` with string IDs; ``*.get``
always prints the ones a record has. They live in their own table, so a list handler takes
them out of the select, reads the page, and adds them to its rows.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from .entities_crm import MULTIFIELD_TYPES

__all__ = ["MULTIFIELD_TYPES", "OWNERS", "attach", "meta", "split_select"]
from .model import Entity

OWNERS = ("lead", "contact", "company")


def meta() -> Tuple[Tuple[str, Dict[str, Any]], ...]:
    """The ``*.fields`` entries of the four kinds."""
    titles = {"PHONE": "Phone", "EMAIL": "E-mail", "WEB": "Website", "IM": "Messenger"}
    return tuple((kind, {"type": "crm_multifield", "isRequired": False, "isReadOnly": False,
                         "isImmutable": False, "isMultiple": True, "isDynamic": False,
                         "title": titles[kind]}) for kind in MULTIFIELD_TYPES)


def split_select(params: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str], bool]:
    """(params without the multifield names in ``select``, the names taken out, whether
    ``ID`` was added to the select to match rows to their values)."""
    key = next((k for k in params if str(k).lower() == "select"), None)
    select = params.get(key) if key is not None else None
    if not isinstance(select, list):
        return params, [], False
    wanted = [name for name in select if name in MULTIFIELD_TYPES]
    if not wanted:
        return params, [], False
    rest = [name for name in select if name not in MULTIFIELD_TYPES]
    added = not any(name in ("ID", "*") for name in rest)
    return {**params, str(key): rest + (["ID"] if added else [])}, wanted, added


def attach(store: Any, entity: Entity, rows: List[Dict[str, Any]], kinds: Sequence[str],
           *, drop_id: bool = False) -> None:
    """Give each row (keyed ``ID``) its values of ``kinds``; ``drop_id``: the caller did
    not ask for the ID."""
    if not rows or not kinds:
        return
    ids = [int(row["ID"]) for row in rows]
    found: Dict[Tuple[int, str], List[Dict[str, Any]]] = {}
    marks = ", ".join("?" * len(ids))
    kinds_marks = ", ".join("?" * len(kinds))
    with store.locked() as db:
        for id_, element, kind, value_type, value in db.execute(
                f'SELECT "ID", "ELEMENT_ID", "TYPE_ID", "VALUE_TYPE", "VALUE" FROM "multifield" '
                f'WHERE "ENTITY_ID" = ? AND "ELEMENT_ID" IN ({marks}) '
                f'AND "TYPE_ID" IN ({kinds_marks}) ORDER BY "ID"',
                (entity.name.upper(), *ids, *kinds)):
            found.setdefault((element, kind), []).append(
                {"ID": str(id_), "VALUE_TYPE": value_type, "VALUE": value, "TYPE_ID": kind})
    for row, id_ in zip(rows, ids):
        for kind in kinds:
            entries: Optional[List[Dict[str, Any]]] = found.get((id_, kind))
            if entries:
                row[kind] = entries
        if drop_id:
            del row["ID"]
