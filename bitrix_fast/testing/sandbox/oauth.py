"""An application's OAuth server: its client id and secret, and every portal it is installed on.

Bitrix24's OAuth server (``oauth.bitrix.info``) is one host for all portals: an app
installed on several portals refreshes all their tokens there, and the server knows which
portal a refresh token belongs to. :class:`OAuthServer` is that host for the sandbox. Each
portal's ``/oauth/token/`` route answers through the server of the app it serves, so
several sandbox portals built with one server (see :mod:`.apps`) share one token endpoint.

Grants (settings/oauth/index.md, settings/oauth/auto-renewal.md):

- ``refresh_token``: the refresh token is spent, a new access/refresh pair is issued for
  the portal it belonged to; an unknown or spent one gets 400 ``invalid_grant``;
- ``authorization_code``: single use, valid 30 s;
- wrong ``client_id`` / ``client_secret``: 401 ``invalid_client``.

It counts what it did (:meth:`OAuthServer.stats`): refreshes per portal, ``invalid_grant``
refusals. Thread-safe.
"""
from __future__ import annotations

import secrets
import threading
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Protocol, Tuple

from ...clock import SYSTEM_CLOCK, Clock

__all__ = ["OAuthServer"]


class Grantor(Protocol):
    """A portal of the application, as the token endpoint sees it (``auth.Credentials``)."""

    member_id: str

    def redeem_refresh(self, token: str) -> Optional[int]: ...

    def redeem_code(self, code: str) -> Optional[int]: ...

    def issue_tokens(self, user_id: Optional[int] = None) -> Dict[str, Any]: ...


class OAuthServer:
    """The token endpoint of one application (``client_id``, ``client_secret``: random
    unless given), for every portal registered with it."""

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, client_id: Optional[str] = None,
                 client_secret: Optional[str] = None) -> None:
        self.client_id = client_id or \
            f"local.{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"
        self.client_secret = client_secret or secrets.token_urlsafe(36)[:50]
        self._clock = clock
        self._lock = threading.Lock()
        self._portals: List[Grantor] = []
        self._refreshes: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()

    def register(self, portal: Grantor) -> None:
        with self._lock:
            self._portals.append(portal)

    def token_endpoint(self, params: Mapping[str, Any]) -> Tuple[int, Dict[str, Any]]:
        """Handle one ``/oauth/token/`` request; returns (HTTP status, JSON body)."""

        def fail(status: int, code: str, description: str) -> Tuple[int, Dict[str, Any]]:
            with self._lock:
                self._refused[code] += 1
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
        secret_ok = secrets.compare_digest(text("client_secret").encode(),
                                           self.client_secret.encode())
        if not (client_ok and secret_ok):
            return fail(401, "invalid_client", "Invalid client credentials")
        with self._lock:
            portals = list(self._portals)
        for portal in portals:
            user = (portal.redeem_refresh(text("refresh_token")) if grant == "refresh_token"
                    else portal.redeem_code(text("code")))
            if user is not None:
                if grant == "refresh_token":
                    with self._lock:
                        self._refreshes[portal.member_id] += 1
                return 200, portal.issue_tokens(user)
        return fail(400, "invalid_grant", "Invalid grant")

    def stats(self) -> Dict[str, Any]:
        """``refreshes`` (total), ``by_portal`` (member_id -> refreshes), ``invalid_grant``
        and the other refusals by code."""
        with self._lock:
            return {"refreshes": sum(self._refreshes.values()),
                    "by_portal": dict(self._refreshes),
                    "invalid_grant": self._refused.get("invalid_grant", 0),
                    "refused": dict(self._refused)}

    def __repr__(self) -> str:
        return f"<OAuthServer client_id={self.client_id!r} portals={len(self._portals)}>"
