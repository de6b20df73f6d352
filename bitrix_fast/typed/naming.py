"""Column names a BI user can type: lower snake case, the same for both API spellings.

``STAGE_ID`` and ``stageId`` are both ``stage_id``; ``UF_CRM_11_1712074666`` and
``ufCrm11_1712074666`` are both ``uf_crm_11_1712074666`` when the description gives the
upper name (``crm.item.fields`` does), ``uf_crm11_1712074666`` when it does not. Lower case
matters on PostgreSQL: unquoted names fold to it, so ``SELECT stage_id`` just works there.
Names longer than PostgreSQL's 63 bytes keep a stable hashed tail.
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable, Set

MAX_NAME = 63

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_BAD = re.compile(r"[^a-z0-9_]+")


def snake(name: str) -> str:
    """``assignedById`` -> ``assigned_by_id``, ``STAGE_ID`` -> ``stage_id``."""
    if name.upper() != name:  # camelCase (anything with a lower-case letter)
        name = _CAMEL.sub("_", name)
    text = _BAD.sub("_", name.lower()).strip("_")
    text = re.sub(r"__+", "_", text) or "field"
    return text if not text[0].isdigit() else f"f_{text}"


def fit(name: str, reserve: int = 0) -> str:
    """``name`` cut to fit PostgreSQL (leaving ``reserve`` bytes for a suffix)."""
    limit = MAX_NAME - reserve
    if len(name.encode("utf-8")) <= limit:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return name.encode("utf-8")[: limit - 9].decode("utf-8", "ignore") + "_" + digest


def unique(name: str, taken: Iterable[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... when a column of that name (in any letter
    case: SQLite folds case) is taken."""
    used: Set[str] = {t.lower() for t in taken}
    candidate, n = name, 2
    while candidate.lower() in used:
        suffix = f"_{n}"
        candidate = fit(name, len(suffix)) + suffix
        n += 1
    return candidate
