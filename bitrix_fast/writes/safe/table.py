"""Which writes are safe to repeat, and what is done with each when its fate is unknown.

A write is *in doubt* when its request may have run but no answer says so: a dropped
connection, a proxy's 504, a timeout, a batch reply missing its command. What happens next
depends on the write, never on a guess about the failure:

==================  ==========================================================================
treatment           what is done with a write in doubt
==================  ==========================================================================
``read``            not a write: read again after any transient failure
``resend``          sets absolute values (``*.update``, ``*.set``): sent again at once, up to
                    :data:`MAX_RESENDS` times; running it twice leaves what running it once does
``delete``          ``*.delete``: sent again at once; "not found" on a resend means the first
                    one ran, and counts as deleted
``settle``          an add with a key (``call(..., key="ORIGIN_ID")``): read back by its key;
                    found, it counts as created; resent only when absent twice, the second
                    time after the portal's request cut has passed (:mod:`.settle`)
``idempotent``      a REST 3.0 write: sent again under the same ``Idempotency-Key`` once the
                    cut has passed (two requests with one key that overlap may both run)
``in_doubt``        anything else -- an add without a key, ``crm.timeline.comment.add``,
                    ``*.send``, ``*.start``, an update that appends to a multiple field --
                    reported in doubt, never resent
==================  ==========================================================================

An update is absolute unless it writes a multiple field of a classic CRM entity (``PHONE``,
``EMAIL``, ``WEB``, ``IM``, ``LINK``) with a value that carries no ``ID``: the portal adds
such a value instead of replacing one, so running the update twice adds it twice.
"""
from __future__ import annotations

import enum
import re
from typing import Any, Mapping

from ...protocol import methods
from ...protocol import v3 as rest_v3
from ...protocol.params import find_key

__all__ = ["Treatment", "treatment", "MAX_RESENDS", "is_not_found"]

#: How many times a write that is safe to repeat is sent again while its fate stays unknown.
MAX_RESENDS = 4

#: Classic CRM multiple fields: a value without an ID is added, not replaced.
_MULTIPLE_FIELDS = frozenset({"PHONE", "EMAIL", "WEB", "IM", "LINK"})
_CLASSIC_CRM = re.compile(r"crm\.(deal|lead|contact|company|quote)\.update\Z")
#: What portals answer for a record that is not there (classic: an empty code and "Not
#: found"; crm.item: NOT_FOUND; REST 3.0: ...ENTITYNOTFOUNDEXCEPTION).
_NOT_FOUND_CODES = frozenset({"NOT_FOUND", "ERROR_NOT_FOUND", "ENTITY_NOT_FOUND",
                              "ERROR_ENTITY_NOT_FOUND"})


class Treatment(str, enum.Enum):
    """What is done with a write whose fate is unknown (see the module docstring)."""

    READ = "read"
    RESEND = "resend"
    DELETE = "delete"
    SETTLE = "settle"
    IDEMPOTENT = "idempotent"
    IN_DOUBT = "in_doubt"


def treatment(method: str, params: Mapping[str, Any], *, keyed: bool = False,
              v3: bool = False) -> Treatment:
    """How a write of ``method`` with ``params`` is treated when in doubt. ``keyed``: the
    call names a key field (only adds take one); ``v3``: a REST 3.0 call."""
    if v3:
        return Treatment.READ if rest_v3.is_read_only(method) else Treatment.IDEMPOTENT
    if methods.is_read_only(method):
        return Treatment.READ
    if keyed and method.endswith(".add"):
        return Treatment.SETTLE
    if method.endswith(".delete"):
        return Treatment.DELETE
    if method.endswith((".update", ".set")):
        return Treatment.IN_DOUBT if _appends(method, params) else Treatment.RESEND
    return Treatment.IN_DOUBT


def _appends(method: str, params: Mapping[str, Any]) -> bool:
    """True when a classic CRM update adds to a multiple field instead of setting it."""
    if not _CLASSIC_CRM.match(method):
        return False
    key = find_key(params, "fields")
    fields = params[key] if key is not None else None
    if not isinstance(fields, Mapping):
        return False
    for name, value in fields.items():
        if str(name).upper() not in _MULTIPLE_FIELDS:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(not (isinstance(v, Mapping) and find_key(v, "ID") is not None) for v in values):
            return True
    return False


def is_not_found(error: BaseException) -> bool:
    """True when the portal's answer says the record is not there."""
    code = str(getattr(error, "code", "") or "").upper()
    if code in _NOT_FOUND_CODES or (code.endswith("NOTFOUNDEXCEPTION")
                                    and "METHOD" not in code):
        return True
    description = str(getattr(error, "description", "") or "").lower()
    return code in ("", "0") and "not found" in description
