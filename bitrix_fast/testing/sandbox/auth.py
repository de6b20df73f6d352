"""Who may call the portal: one incoming webhook, one OAuth app, its tokens.

Checks and errors follow the rest module (bitrix-rest-semantics.md §5.3-5.4):

- webhook ``/rest/<uid>/<code>/``: wrong user or code -> 401 ``INVALID_CREDENTIALS``
  "Invalid request credentials";
- OAuth ``/rest/<method>`` with a token: no token at all -> 401 ``NO_AUTH_FOUND`` "Wrong
  authorization data"; unknown token -> 401 ``invalid_token``; expired -> 401
  ``expired_token`` "The access token provided has expired".

The token endpoint (``/oauth/token/``) speaks the two grants Bitrix24's OAuth server does:
``authorization_code`` (codes live 30 s, single use) and ``refresh_token`` (rotating: the
refresh token used is spent; reusing it gives ``invalid_grant``). Wrong ``client_id`` or
``client_secret`` gives ``invalid_client``. Every secret is random (``secrets``) and is
never logged or put in an error message.
"""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from ...clock import SYSTEM_CLOCK, Clock
from .outcome import ApiFault

__all__ = ["Identity", "Credentials", "CODE_TTL"]

#: authorization codes live 30 s (settings/oauth/index.md)
CODE_TTL = 30.0
DEFAULT_SCOPE = "crm,task,tasks,user,user_basic,department,lists,catalog,entity,placement"


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: ``kind`` is ``"apauth"`` (webhook) or ``"oauth"``."""

    kind: str
    entity: str  # webhook id or app client_id: the operating budget is kept per entity
    user_id: int


def _number(value: float) -> Any:
    return int(value) if float(value).is_integer() else value


class Credentials:
    """The portal's webhook, app and live tokens. Thread-safe."""

    def __init__(
        self,
        *,
        token_ttl: float = 3600.0,
        user_id: int = 1,
        scope: str = DEFAULT_SCOPE,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.token_ttl = float(token_ttl)
        self.user_id = int(user_id)
        self.scope = scope
        self._clock = clock
        self._lock = threading.Lock()
        self.webhook_id = "1"
        self.webhook_code = secrets.token_hex(8)
        self.client_id = f"local.{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"
        self.client_secret = secrets.token_urlsafe(36)[:50]
        self.member_id = secrets.token_hex(16)
        self._access: Dict[str, Tuple[int, float]] = {}
        self._refresh: Dict[str, int] = {}
        self._codes: Dict[str, Tuple[int, float]] = {}
        # endpoints are known only once the server has a port; the portal fills them in
        self.client_endpoint = ""
        self.server_endpoint = ""
        self.domain = ""

    # -- REST calls ----------------------------------------------------------------------
    def check_webhook(self, uid: str, code: str) -> Identity:
        if uid == str(self.user_id) and secrets.compare_digest(code.encode(), self.webhook_code.encode()):
            return Identity("apauth", self.webhook_id, self.user_id)
        raise ApiFault("INVALID_CREDENTIALS", "Invalid request credentials", 401)

    def check_token(self, token: Optional[str]) -> Identity:
        if token is None:
            raise ApiFault("NO_AUTH_FOUND", "Wrong authorization data", 401)
        with self._lock:
            entry = self._access.get(token)
        if entry is None:
            raise ApiFault("invalid_token", "Unable to authenticate user", 401)
        user_id, expires_at = entry
        if expires_at <= self._clock.wall():
            raise ApiFault("expired_token", "The access token provided has expired", 401)
        return Identity("oauth", self.client_id, user_id)

    # -- issuing -------------------------------------------------------------------------
    def issue_tokens(self, user_id: Optional[int] = None) -> Dict[str, Any]:
        """A fresh access/refresh pair, shaped like the real token response."""
        user = self.user_id if user_id is None else int(user_id)
        access = secrets.token_hex(35)
        refresh = secrets.token_hex(35)
        now = self._clock.wall()
        expires_at = now + self.token_ttl
        with self._lock:
            self._purge(now)
            self._access[access] = (user, expires_at)
            self._refresh[refresh] = user
        return {
            "access_token": access,
            "expires": int(expires_at),
            "expires_in": _number(self.token_ttl),
            "scope": self.scope,
            "domain": self.domain,
            "server_endpoint": self.server_endpoint,
            "status": "L",
            "client_endpoint": self.client_endpoint,
            "member_id": self.member_id,
            "user_id": user,
            "refresh_token": refresh,
        }

    def authorization_code(self, user_id: Optional[int] = None) -> str:
        """A one-time code for the ``authorization_code`` grant (valid 30 s)."""
        code = secrets.token_hex(35)
        with self._lock:
            self._codes[code] = (self.user_id if user_id is None else int(user_id), self._clock.wall() + CODE_TTL)
        return code

    def _purge(self, now: float) -> None:
        # Expired access tokens are forgotten lazily; an unknown token then reads as
        # invalid rather than expired, which real portals also do after a while.
        if len(self._access) > 1000:
            for token in [t for t, (_, exp) in self._access.items() if exp + 3600 <= now]:
                del self._access[token]

    # -- the token endpoint ----------------------------------------------------------------
    def token_endpoint(self, params: Mapping[str, Any]) -> Tuple[int, Dict[str, Any]]:
        """Handle ``/oauth/token/``; returns (HTTP status, JSON body)."""

        def fail(status: int, code: str, description: str) -> Tuple[int, Dict[str, Any]]:
            return status, {"error": code, "error_description": description}

        def text(name: str) -> str:
            value = params.get(name)
            return value if isinstance(value, str) else ""

        grant = text("grant_type")
        if not grant:
            return fail(400, "invalid_request", "Invalid grant_type parameter")
        if grant not in ("refresh_token", "authorization_code"):
            return fail(400, "unsupported_grant_type", "Unsupported grant type")
        client_ok = secrets.compare_digest(text("client_id").encode(), self.client_id.encode())
        secret_ok = secrets.compare_digest(text("client_secret").encode(), self.client_secret.encode())
        if not (client_ok and secret_ok):
            return fail(401, "invalid_client", "Invalid client credentials")
        with self._lock:
            if grant == "refresh_token":
                user = self._refresh.pop(text("refresh_token"), None)
            else:
                entry = self._codes.pop(text("code"), None)
                user = entry[0] if entry and entry[1] > self._clock.wall() else None
        if user is None:
            return fail(400, "invalid_grant", "Invalid grant")
        return 200, self.issue_tokens(user)
