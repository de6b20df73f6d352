"""REST 3.0 (``/rest/api/``) on the wire: its error shape, its idempotency keys, its reads.

Pure, like the rest of :mod:`bitrix_fast.protocol`. A REST 3.0 reply is the old envelope on
success (``{"result": ..., "time": ...}``); an error is ``{"error": {"code", "message",
"validation": [{"field", "message"}]}}`` with an HTTP 4xx, which :func:`parse` turns into
the typed errors (:func:`bitrix_fast.errors.v3_error`). Replies in the old error shape
(the leaky bucket's ``QUERY_LIMIT_EXCEEDED``, an auth refusal) and anything that is not an
envelope go through :func:`bitrix_fast.protocol.envelope.parse` as usual.

Writes carry an ``Idempotency-Key`` header (:data:`KEY_HEADER`): the portal keeps the key for
24 hours per application or webhook, user and method, and answers a repeat of the same
body with the reply it stored, marked :data:`REPLAYED_HEADER` ``true`` -- so a write in
doubt can be sent again under its key. :func:`new_key` makes one per item; :func:`check_key`
holds a caller's own keys to the rule the sandbox applies (1 to 255 printable ASCII
characters, no spaces), since the docs do not publish the portal's.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any, Callable

from ..errors import v3_error
from . import methods
from .envelope import parse as parse_envelope
from .redaction import hide_strings

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

#: REST 3.0 method endings that only read, besides the old ones (``.get``, ``.list``, ...).
_V3_READ_SUFFIXES = (".tail", ".aggregate", ".children", ".subordinates", ".thread",
                     ".senders", ".listcontacts", ".listemployees", ".multidepartment",
                     ".field.get", ".field.list", ".count")
_V3_READ_METHODS = frozenset({"documentation", "rest.documentation.openapi",
                              "rest.scope.list"})
_KEY = re.compile(r"[\x21-\x7e]{1,255}\Z")

Hide = Callable[[str], str]


def parse(method: str, status: int, content: bytes, hide: Hide) -> Any:
    """The envelope of a REST 3.0 reply, or its typed error (see the module docstring)."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) and "result" not in body else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message", "")
        extra = {k: v for k, v in error.items() if k not in ("code", "message")}
        raise v3_error(hide(code) if isinstance(code, str) else code,
                       hide(str(message)), status=status, method=method,
                       extra=hide_strings(extra, hide))
    return parse_envelope(method, status, content, hide)


def is_read_only(method: str) -> bool:
    """True when a REST 3.0 method only reads (no Idempotency-Key; resent freely)."""
    return (method in _V3_READ_METHODS or method.endswith(_V3_READ_SUFFIXES)
            or methods.is_read_only(method))


def new_key() -> str:
    """A fresh key for one item of one call: 32 hex digits."""
    return uuid.uuid4().hex


def check_key(key: Any) -> str:
    """A caller's key, checked: ValueError unless 1-255 printable ASCII without spaces."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"an Idempotency-Key must be 1 to 255 printable ASCII characters "
                         f"without spaces, got {key!r}")
    return key
