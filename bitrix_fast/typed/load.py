"""Asking the portal for a listing's field descriptions: which ``*.fields`` method describes
which list method, and one call to it through the client's public API."""
from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Protocol, Tuple

from ..errors import ApiError
from ..protocol.params import find_key
from .spec import FieldSpec, describe

logger = logging.getLogger("bitrix_fast.typed")


class Caller(Protocol):
    """The part of :class:`~bitrix_fast.Bitrix` this module uses."""

    def call(self, method: str, items: Any = None, raw: bool = False) -> Any: ...


def fields_call(method: str, params: Mapping[str, Any]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The ``*.fields`` call describing a list method's fields, or None when there is none."""
    if method == "crm.item.list":
        key = find_key(params, "entityTypeId")
        type_id = None if key is None else params[key]
        return ("crm.item.fields", {"entityTypeId": type_id}) if type_id is not None else None
    if method == "crm.item.productrow.list":
        return "crm.item.productrow.fields", {}
    if method == "tasks.task.list":
        return "tasks.task.getfields", {}
    if method == "user.get":
        return "user.fields", {}
    if method.startswith("crm.") and method.endswith(".list"):
        return method[: -len(".list")] + ".fields", {}
    return None


def load_fields(bx: Caller, method: str, params: Optional[Mapping[str, Any]] = None
                ) -> Dict[str, FieldSpec]:
    """``{field: FieldSpec}`` for a list method's rows: one request. A method without a
    description, or a refusal (no such method, no access), gives ``{}``: every field is
    then read as text."""
    call = fields_call(method, params or {})
    if call is None:
        return {}
    try:
        # A raw call: ``call()`` on a ``*.fields`` method warns the way fast_bitrix24 does,
        # which is meant for a user's script, not for our own bookkeeping.
        envelope = bx.call(call[0], dict(call[1]), raw=True)
    except ApiError as error:
        logger.info("%s: no field types (%s); its fields are read as text", method, error)
        return {}
    result = envelope.get("result") if isinstance(envelope, dict) else None
    return describe(result, user_fields=method == "user.get")
