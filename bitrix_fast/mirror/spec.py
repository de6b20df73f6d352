"""What is mirrored: one listing (method, filter, select, other parameters) and its table.

A :class:`Listing` is built once from what the caller asked for and is then only read: it
names the table (``crm.deal.list`` -> ``crm_deal``), says how the listing is read whole, how
its changes are read, how one ID range is counted, and how it is recorded in the state table
so that a later run can tell whether it asks for the same listing.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..protocol import methods
from ..protocol.params import check_list_params

#: PostgreSQL cuts identifiers at 63 bytes; longer names get a stable hashed tail instead.
MAX_NAME = 63
#: the mirror's own bookkeeping table; listings' tables may not take this name
STATE_TABLE = "bitrix_fast_mirror"

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUFFIXES = (".list", ".getlist", ".get")


def table_name(method: str, params: Mapping[str, Any]) -> str:
    """``crm.deal.list`` -> ``crm_deal``, ``crm.item.list`` with ``entityTypeId`` 1032 ->
    ``crm_item_1032``, ``tasks.task.list`` -> ``tasks_task``, ``user.get`` -> ``user``."""
    base = method
    for suffix in _SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
            break
    if method == "crm.item.list":
        type_id = _param(params, "entityTypeId")
        if type_id is not None:
            base = f"{base}.{type_id}"
    name = re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_") or "listing"
    return name if not name[0].isdigit() else f"t_{name}"


def column_name(field: str) -> str:
    """The column holding ``field``: the field's own name, unless PostgreSQL would cut it."""
    if len(field.encode("utf-8")) <= MAX_NAME:
        return field
    digest = hashlib.sha1(field.encode("utf-8")).hexdigest()[:8]
    return field.encode("utf-8")[: MAX_NAME - 9].decode("utf-8", "ignore") + "_" + digest


def check_table_name(name: str) -> str:
    if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise ValueError(f"table name {name!r}: use letters, digits and _ (at most "
                         f"{MAX_NAME}), not starting with a digit")
    if name.lower() == STATE_TABLE:
        raise ValueError(f"table name {name!r} is the mirror's own state table")
    return name


def canonical(value: Any) -> str:
    """One spelling of a filter or parameter set, so equal ones compare equal as text."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str,
                      separators=(",", ":"))


@dataclass(frozen=True)
class Listing:
    """One listing to mirror. Build it with :meth:`build`."""

    method: str
    table: str
    facts: methods.MethodFacts
    #: parameters other than filter and select (``entityTypeId``, ...)
    params: Mapping[str, Any]
    filter: Mapping[str, Any]
    #: None: the method's default fields
    select: Optional[Tuple[str, ...]]

    @classmethod
    def build(cls, method: str, *, params: Optional[Mapping[str, Any]] = None,
              filter: Optional[Mapping[str, Any]] = None,
              select: Optional[Sequence[str]] = None,
              table: Optional[str] = None) -> "Listing":
        """Check what the caller asked for; TypeError/ValueError before anything is sent."""
        name = methods.normalize(method)
        facts = methods.list_facts(name)
        checked = check_list_params(params, name)
        rest: Dict[str, Any] = {}
        for key, value in checked.items():
            lowered = key.lower()
            if lowered == "filter" and filter is not None:
                raise ValueError(f"{name}: give the filter either as filter= or in params")
            if lowered == "select" and select is not None:
                raise ValueError(f"{name}: give select either as select= or in params")
            if lowered == "filter":
                filter = value
            elif lowered == "select":
                select = value
            elif lowered in ("order", "sort"):
                raise ValueError(f"{name}: a mirror reads in its own order; remove {key!r}")
            else:
                rest[key] = value
        if filter is not None and not isinstance(filter, Mapping):
            raise TypeError(f"{name}: filter must be a dict")
        if select is not None:
            if isinstance(select, (str, bytes)) or not isinstance(select, Sequence):
                raise TypeError(f"{name}: select must be a list of field names")
            fields = [str(f) for f in select]
            if any(not f.strip() for f in fields):
                raise ValueError(f"{name}: select holds an empty field name")
            if facts.id_field not in fields and facts.filter_id not in fields \
                    and "*" not in fields:
                fields.insert(0, facts.filter_id)  # rows are recognised by their ID
            select = tuple(dict.fromkeys(fields))
        tname = check_table_name(table) if table is not None else table_name(name, rest)
        return cls(name, tname, facts, dict(rest), dict(filter or {}),
                   tuple(select) if select is not None else None)

    # -- how the listing is read ------------------------------------------------------------

    @property
    def incremental(self) -> bool:
        """True when later runs can read only changes and count deletions by ID range: the
        method has a modification field and takes ID-range filters, and the caller's own
        filter leaves the ID to us. Otherwise every run reads the listing whole."""
        return (self.facts.modified_filter is not None and self.facts.ranges
                and not any(_field_of(key) == self.facts.filter_id for key in self.filter))

    def read_params(self, extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Parameters for reading the listing's rows, with ``extra`` filter entries."""
        params: Dict[str, Any] = dict(self.params)
        merged = {**self.filter, **(extra or {})}
        if merged:
            params[self.facts.filter_key] = merged
        if self.select is not None:
            params["select"] = list(self.select)
        return params

    def changes_params(self, since: str) -> Dict[str, Any]:
        """Rows modified at or after ``since`` (ISO 8601), within the caller's filter."""
        key = ">=" + str(self.facts.modified_filter)
        own = self.filter.get(key)
        if own is not None:
            # The caller's own lower bound on the same key: keep the later of the two.
            since = _later(own, since, key)
        return self.read_params({key: since})

    def count_params(self, lo: int, hi: int) -> Dict[str, Any]:
        """The listing's rows with ``lo <= ID < hi``, IDs only: one counted page."""
        fid = self.facts.filter_id
        params: Dict[str, Any] = dict(self.params)
        params[self.facts.filter_key] = {**self.filter, f">={fid}": lo, f"<{fid}": hi}
        params["select"] = [fid]
        return params

    def rows_params(self, ids: Sequence[int]) -> Dict[str, Any]:
        """The listing's rows with these IDs (at most one page's worth)."""
        return self.read_params({f"@{self.facts.filter_id}": list(ids)})

    # -- how the listing is recorded ---------------------------------------------------------

    def record(self) -> Dict[str, str]:
        """What the state table keeps to recognise this listing."""
        return {"method": self.method, "params": canonical(self.params),
                "filter": canonical(self.filter)}

    def describe(self) -> str:
        parts = [self.method]
        if self.params:
            parts.append(f"params {canonical(self.params)}")
        parts.append(f"filter {canonical(self.filter)}" if self.filter else "no filter")
        return ", ".join(parts)


def _param(params: Mapping[str, Any], name: str) -> Any:
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def _field_of(key: str) -> str:
    return re.sub(r"^[!<>=%@?*]+", "", str(key))


def _later(own: Any, since: str, key: str) -> str:
    try:
        mine = datetime.fromisoformat(str(own).replace("Z", "+00:00"))
        ours = datetime.fromisoformat(since)
        if mine.tzinfo is None:
            mine = mine.replace(tzinfo=ours.tzinfo)
    except ValueError:
        raise ValueError(f"filter {key}={own!r}: write this date as ISO 8601 "
                         f"(2024-01-31T00:00:00+03:00) so the mirror can combine it with "
                         f"its own lower bound") from None
    return str(own) if mine > ours else since


def ids_of(rows: List[Any], facts: methods.MethodFacts) -> List[int]:
    """The integer IDs of rows (rows without a readable ID are skipped)."""
    from ..listing import row_id

    out = []
    for row in rows:
        value = row_id(row, facts)
        if value is not None:
            out.append(value)
    return out
