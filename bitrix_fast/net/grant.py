"""The refresh-token grant: one GET to the OAuth server that trades a refresh token for a new
token set (settings/oauth/auto-renewal.md).

The old refresh token is spent by the call, whatever becomes of its answer: a caller must
store the new set before anything else, and must never send the same refresh token twice
(the second time the server answers ``invalid_grant``). Who may send it is decided above
this module (:mod:`.stored`: a lock in a shared token store).
"""
from __future__ import annotations

import threading
from typing import Any, Dict, Optional, Tuple

from ..protocol.redaction import redact
from .credentials import guard_logs
from .sender import get_json
from .transport import RequestsTransport, Transport

__all__ = ["RefreshGrant", "CLOUD_TOKEN_URL"]

#: The Bitrix24 cloud's OAuth server (settings/oauth/index.md).
CLOUD_TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"


class RefreshGrant:
    """``grant(refresh_token) -> reply``: the OAuth server's answer (``access_token``,
    ``refresh_token``, ``expires_in``, ``client_endpoint``, ``member_id``, ...).

    Raises :class:`~bitrix_fast.errors.AuthError` with the server's code (``invalid_grant``:
    the refresh token is dead or spent; ``invalid_client``: wrong client id or secret), a
    :class:`~bitrix_fast.errors.TransportError` when the server cannot be reached, and
    ``TypeError`` for a reply without both tokens. No secret reaches a message or a log.
    """

    def __init__(self, client_id: str, client_secret: str, token_url: str = CLOUD_TOKEN_URL,
                 *, transport: Optional[Transport] = None,
                 timeout: Tuple[float, float] = (10.0, 30.0), ssl: Any = True,
                 session: Any = None) -> None:
        for name, value in (("client_id", client_id), ("client_secret", client_secret),
                            ("token_url", token_url)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"{name} must be a non-empty str")
        if not token_url.startswith(("http://", "https://")):
            raise ValueError("token_url must be the OAuth server's http(s) token URL, e.g. "
                             + CLOUD_TOKEN_URL)
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_url = token_url
        self.timeout = timeout
        self._spent: Tuple[str, ...] = ()
        self._spent_lock = threading.Lock()
        # The OAuth server is another host than the portals: a transport of its own.
        self._transport: Transport = transport if transport is not None else RequestsTransport(
            token_url, session=session, pool_size=4, verify=ssl,
            hide=lambda text: redact(text, self.secrets))
        guard_logs(self)

    @property
    def secrets(self) -> Tuple[str, ...]:
        return (self._client_secret,) + self._spent

    def __call__(self, refresh_token: str) -> Dict[str, Any]:
        if not isinstance(refresh_token, str) or not refresh_token:
            raise TypeError("refresh_token must be a non-empty str")
        # Remembered before sending: the request's URL carries it.
        self._remember(refresh_token)
        reply = get_json(
            self._transport, self.token_url,
            {"grant_type": "refresh_token", "client_id": self.client_id,
             "client_secret": self._client_secret, "refresh_token": refresh_token},
            secrets=(self._client_secret, refresh_token), timeout=self.timeout)
        if not isinstance(reply, dict) or not reply.get("access_token") \
                or not reply.get("refresh_token"):
            raise TypeError("the OAuth server answered without access_token/refresh_token")
        self._remember(str(reply["refresh_token"]), str(reply["access_token"]))
        return dict(reply)

    def _remember(self, *tokens: str) -> None:
        with self._spent_lock:
            self._spent = (self._spent + tokens)[-16:]

    def close(self) -> None:
        self._transport.close()

    def __repr__(self) -> str:
        return f"RefreshGrant(client_id={self.client_id!r}, token_url={self.token_url!r})"
