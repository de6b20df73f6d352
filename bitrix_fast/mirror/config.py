"""The config file of ``bitrix-fast sync --config FILE``: which tables one run keeps in step.

TOML (Python 3.11+) or JSON, by the file's suffix::

    db = "postgresql://bi@db/crm"       # optional; --db wins
    entities = ["deal", "contact", "company", "smart_processes"]   # default: none
    dictionaries = true                 # default true
    product_rows = true                 # default true
    multiple = "table"                  # or "json"
    overlap = 65                        # default: the 60 s cut, and slack

    [[table]]                           # any other list method, one table each
    method = "crm.deal.list"
    table = "deals_won"
    filter = { STAGE_ID = "WON" }
    select = ["ID", "TITLE", "OPPORTUNITY"]

Everything is checked before anything is sent; a mistake is a ValueError naming the key.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from .crm import ENTITY_NAMES, TableSpec
from .layout import MULTIPLE_MODES
from .table import DEFAULT_OVERLAP

_TOP = {"db", "entities", "dictionaries", "product_rows", "multiple", "overlap", "table",
        "wait"}
_TABLE = {"method", "params", "filter", "select", "table"}


@dataclass(frozen=True)
class MirrorConfig:
    db: Optional[str] = None
    entities: List[str] = field(default_factory=list)
    tables: List[TableSpec] = field(default_factory=list)
    dictionaries: bool = True
    product_rows: bool = True
    multiple: str = "table"
    overlap: float = DEFAULT_OVERLAP
    wait: float = 0.0


def load(path: str) -> MirrorConfig:
    """Read and check a config file."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror or error}") from None
    if os.path.splitext(path)[1].lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            raise ValueError(f"{path}: TOML needs Python 3.11 or later; write the same "
                             f"settings as JSON (a .json file)") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"{path}: not TOML: {error}") from None
    else:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"{path}: not JSON: {error}") from None
    return parse(data, path)


def parse(data: Any, where: str = "config") -> MirrorConfig:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: the file must hold a table of settings")
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ValueError(f"{where}: unknown settings {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(_TOP))}")
    entities = data.get("entities", [])
    if entities == "all":
        entities = list(ENTITY_NAMES)
    if not isinstance(entities, list) or not all(isinstance(e, str) for e in entities):
        raise ValueError(f"{where}: entities must be a list of names ({', '.join(ENTITY_NAMES)}) "
                         f"or \"all\"")
    bad = [e for e in entities if e not in ENTITY_NAMES]
    if bad:
        raise ValueError(f"{where}: unknown entities {', '.join(bad)}; known: "
                         f"{', '.join(ENTITY_NAMES)}")
    tables = [_table(t, f"{where}: table {n + 1}") for n, t in enumerate(_list(data, "table",
                                                                               where))]
    if not entities and not tables:
        raise ValueError(f"{where}: nothing to mirror: give entities or [[table]] entries")
    multiple = data.get("multiple", "table")
    if multiple not in MULTIPLE_MODES:
        raise ValueError(f"{where}: multiple must be one of {', '.join(MULTIPLE_MODES)}")
    db = data.get("db")
    if db is not None and not isinstance(db, str):
        raise ValueError(f"{where}: db must be a database URL")
    return MirrorConfig(db=db, entities=list(entities), tables=tables,
                        dictionaries=_bool(data, "dictionaries", True, where),
                        product_rows=_bool(data, "product_rows", True, where),
                        multiple=multiple, overlap=_seconds(data, "overlap", DEFAULT_OVERLAP,
                                                            where),
                        wait=_seconds(data, "wait", 0.0, where))


def _table(entry: Any, where: str) -> TableSpec:
    if not isinstance(entry, dict) or not isinstance(entry.get("method"), str):
        raise ValueError(f"{where}: give at least method = \"crm.xxx.list\"")
    unknown = sorted(set(entry) - _TABLE)
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(_TABLE))}")
    for key, kind in (("params", dict), ("filter", dict), ("select", list), ("table", str)):
        if key in entry and not isinstance(entry[key], kind):
            raise ValueError(f"{where}: {key} must be a {kind.__name__}")
    spec = TableSpec(entry["method"], params=dict(entry.get("params") or {}),
                     filter=entry.get("filter"), select=entry.get("select"),
                     table=entry.get("table"))
    try:
        spec.listing()
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    return spec


def _list(data: Mapping[str, Any], key: str, where: str) -> List[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{where}: {key} must be a list of tables ([[{key}]] in TOML)")
    return value


def _bool(data: Dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be true or false")
    return value


def _seconds(data: Dict[str, Any], key: str, default: float, where: str) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{where}: {key} must be a number of seconds >= 0")
    return float(value)
