"""Who may call the portal: one incoming webhook, one OAuth app, its tokens.

Checks and errors follow the rest module (bitrix-rest-semantics.md §5.3-5.4):

- webhook ``/rest/<uid>/<code>/``: wrong user or code -> 401 ``INVALID_CREDENTIALS``
  "Invalid request credentials";
- OAuth ``/rest/<method>`` with a token: no token at all -> 401 ``NO_AUTH_FOUND`` "Wrong
  authorization data"; unknown token -> 401 ``invalid_token``; expired -> 401
  ``expired_token`` "The access token provided has expired".

The token endpoint (``/oauth/token/``) is the application's OAuth server
(:class:`~.oauth.OAuthServer`), which may serve several portals the app is installed on; it
speaks the two grants Bitrix24's OAuth server does: ``authorization_code`` (codes live 30 s,
single use) and ``refresh_token`` (rotating: the refresh token used is spent; reusing it
gives ``invalid_grant``). Wrong ``client_id`` or ``client_secret`` gives ``invalid_client``.

Installing the app on the portal gives it an ``application_token``, which the portal's
ONAPPINSTALL / ONAPPUNINSTALL posts carry (:meth:`Credentials.install_event`,
:meth:`Credentials.uninstall_event`); uninstalling revokes every token. Every secret is random
(``secrets``) and is never logged or put in an error message.
"""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from ...clock import SYSTEM_CLOCK, Clock
from .oauth import OAuthServer
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
        oauth: Optional[OAuthServer] = None,
    ) -> None:
        self.token_ttl = float(token_ttl)
        self.user_id = int(user_id)
        self.scope = scope
        self._clock = clock
        self._lock = threading.Lock()
        self.webhook_id = "1"
        self.webhook_code = secrets.token_hex(8)
        if oauth is None:
            oauth = OAuthServer(clock=clock)
        self.oauth = oauth
        self.member_id = secrets.token_hex(16)
        self.application_token = secrets.token_hex(16)
        self.installed = True
        self._access: Dict[str, Tuple[int, float]] = {}
        self._refresh: Dict[str, int] = {}
        self._codes: Dict[str, Tuple[int, float]] = {}
        # endpoints are known only once the server has a port; the portal fills them in
        self.client_endpoint = ""
        self.server_endpoint = ""
        self.domain = ""
        oauth.register(self)

    @property
    def client_id(self) -> str:
        return self.oauth.client_id

    @property
    def client_secret(self) -> str:
        return self.oauth.client_secret

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

    # -- what the OAuth server asks of a portal ----------------------------------------------
    def redeem_refresh(self, token: str) -> Optional[int]:
        """Spend refresh ``token`` if it is this portal's: the user it was issued for."""
        with self._lock:
            return self._refresh.pop(token, None)

    def redeem_code(self, code: str) -> Optional[int]:
        """Spend authorization ``code`` if it is this portal's and still valid."""
        with self._lock:
            entry = self._codes.pop(code, None)
        return entry[0] if entry and entry[1] > self._clock.wall() else None

    def token_endpoint(self, params: Mapping[str, Any]) -> Tuple[int, Dict[str, Any]]:
        """Handle ``/oauth/token/``: the app's OAuth server answers (status, JSON body)."""
        return self.oauth.token_endpoint(params)

    # -- installing ------------------------------------------------------------------------
    def install_event(self, user_id: Optional[int] = None) -> Dict[str, Any]:
        """The ONAPPINSTALL post the portal sends the app's handler: fresh tokens and the
        ``application_token`` in ``auth`` (installing again after an uninstall)."""
        with self._lock:
            if not self.installed:
                self.installed = True
                self.application_token = secrets.token_hex(16)
        auth = self.issue_tokens(user_id)
        auth["application_token"] = self.application_token
        return {"event": "ONAPPINSTALL",
                "data": {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"},
                "ts": str(int(self._clock.wall())), "auth": auth}

    def uninstall_event(self, clean: bool = False) -> Dict[str, Any]:
        """The ONAPPUNINSTALL post; every token of the app on this portal stops working."""
        with self._lock:
            self.installed = False
            self._access.clear()
            self._refresh.clear()
            self._codes.clear()
        return {"event": "ONAPPUNINSTALL", "data": {"LANGUAGE_ID": "en", "CLEAN": int(clean)},
                "ts": str(int(self._clock.wall())),
                "auth": {"domain": self.domain, "server_endpoint": self.server_endpoint,
                         "client_endpoint": self.client_endpoint, "member_id": self.member_id,
                         "application_token": self.application_token}}

    def expire_refresh_tokens(self) -> int:
        """Forget every refresh token (as after 180 days unused): the next refresh is
        refused with ``invalid_grant``. Returns how many there were."""
        with self._lock:
            count = len(self._refresh)
            self._refresh.clear()
        return count
