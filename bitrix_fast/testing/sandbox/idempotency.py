"""REST 3.0's ``Idempotency-Key``: what the portal remembers of a write, and for how long.

As documented for ``/rest/api/`` create, modify and delete calls (bitrix-rest-semantics.md
§9.2): the key is kept for 24 hours per application or webhook, user and method; a repeat
with the same body gets the stored reply again, with ``Idempotent-Replayed: true``; the same
key with another body is refused with 422; an invalid key with 400. The key is recorded
*after* the method ran, so two requests with one key that arrive together may both run --
which is why a client must not resend a write in doubt before the first one has certainly
ended.

The docs give the statuses but not the codes or the rules for a valid key; the sandbox
answers ``BITRIX_REST_V3_EXCEPTION_IDEMPOTENCYKEYREUSEDEXCEPTION`` (422) and
``BITRIX_REST_V3_EXCEPTION_INVALIDIDEMPOTENCYKEYEXCEPTION`` (400), and takes 1 to 255
printable ASCII characters without spaces as a valid key. Only replies that succeeded are
kept: a refused request changed nothing, and sending it again runs it again.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Dict, Hashable, Optional, Tuple

from ...clock import SYSTEM_CLOCK, Clock

__all__ = ["IdempotencyStore", "Stored", "KEY_TTL", "valid_key", "REUSED", "INVALID"]

#: how long the portal remembers a key (seconds)
KEY_TTL = 24 * 3600.0
REUSED = "BITRIX_REST_V3_EXCEPTION_IDEMPOTENCYKEYREUSEDEXCEPTION"
INVALID = "BITRIX_REST_V3_EXCEPTION_INVALIDIDEMPOTENCYKEYEXCEPTION"
_VALID = re.compile(r"[\x21-\x7e]{1,255}\Z")


def valid_key(key: str) -> bool:
    """1 to 255 printable ASCII characters, no spaces (the sandbox's rule)."""
    return bool(_VALID.match(key))


def body_hash(params: Any) -> str:
    """A digest of a request's parameters that does not depend on key order."""
    text = json.dumps(params, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Stored:
    """A reply kept for a key: the digest of the body that produced it, the reply itself."""

    digest: str
    status: int
    body: Any
    until: float


class IdempotencyStore:
    """Keys seen per scope (credential, user, method), with the replies they got.
    Thread-safe; expiry is read on the portal's clock."""

    def __init__(self, *, ttl: float = KEY_TTL, clock: Clock = SYSTEM_CLOCK) -> None:
        self._ttl = float(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: Dict[Tuple[Hashable, str], Stored] = {}

    def find(self, scope: Hashable, key: str, params: Any) -> Tuple[Optional[Stored], bool]:
        """(the stored reply for ``key`` in ``scope`` or None, whether the body differs)."""
        now = self._clock.now()
        with self._lock:
            stored = self._kept.get((scope, key))
            if stored is not None and stored.until <= now:
                del self._kept[(scope, key)]
                stored = None
        if stored is None:
            return None, False
        return stored, stored.digest != body_hash(params)

    def record(self, scope: Hashable, key: str, params: Any, status: int, body: Any) -> None:
        """Keep the reply a request with ``key`` got (after the method ran)."""
        stored = Stored(body_hash(params), status, json.loads(json.dumps(body)),
                        self._clock.now() + self._ttl)
        with self._lock:
            self._kept[(scope, key)] = stored

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)
