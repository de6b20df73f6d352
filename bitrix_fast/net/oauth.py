"""OAuth tokens for ``Bitrix(..., token_func=...)``: the documented refresh-token grant.

:class:`OAuthRefresher` is a ``token_func`` that trades the refresh token for a new token
set at the OAuth server, hands every new set to ``on_update`` to be stored before it is
used (each refresh rotates the refresh token), and never uses a refresh token twice.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Optional, Tuple

from .credentials import guard_logs
from .sender import get_json
from .transport import RequestsTransport, Transport
from ..protocol.redaction import redact


class OAuthRefresher:
    """A ``token_func`` that performs the documented refresh-token grant.

    ``Bitrix("https://<portal>/rest/", token_func=OAuthRefresher(client_id, client_secret,
    refresh_token, on_update=save))``. Each refresh rotates the refresh token (the old one is
    then refused with ``invalid_grant``), so every new token set is handed to ``on_update``
    to be stored before it is used. ``access_token``, when given, is used first, saving one
    refresh. ``endpoint`` is the OAuth server's token URL (Bitrix24 cloud:
    ``https://oauth.bitrix.info/oauth/token/``); a dead refresh token raises ``AuthError``.
    """

    DEFAULT_ENDPOINT = "https://oauth.bitrix.info/oauth/token/"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        access_token: Optional[str] = None,
        on_update: Optional[Callable[[Dict[str, Any]], None]] = None,
        endpoint: str = DEFAULT_ENDPOINT,
        session: Any = None,
        timeout: Tuple[float, float] = (10.0, 30.0),
        ssl: Any = True,
        transport: Optional[Transport] = None,
    ) -> None:
        for name, value in (("client_id", client_id), ("client_secret", client_secret),
                            ("refresh_token", refresh_token)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"{name} must be a non-empty str")
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._access_token = access_token
        self._on_update = on_update
        self.endpoint = endpoint
        self._timeout = timeout
        # The OAuth server is another host than the portal: a transport of its own.
        self._transport: Transport = transport if transport is not None else RequestsTransport(
            endpoint, session=session, pool_size=1, verify=ssl,
            hide=lambda text: redact(text, self.secrets))
        self._lock = threading.Lock()
        guard_logs(self)

    @property
    def secrets(self) -> Tuple[str, ...]:
        return tuple(s for s in (self._client_secret, self._refresh_token, self._access_token)
                     if s)

    def __call__(self) -> Dict[str, Any]:
        with self._lock:
            if self._access_token is not None:
                token, self._access_token = self._access_token, None
                return {"access_token": token}
            reply = get_json(
                self._transport, self.endpoint,
                {"grant_type": "refresh_token", "client_id": self._client_id,
                 "client_secret": self._client_secret, "refresh_token": self._refresh_token},
                secrets=(self._client_secret, self._refresh_token), timeout=self._timeout)
            if not isinstance(reply, dict) or not reply.get("access_token") \
                    or not reply.get("refresh_token"):
                raise TypeError("the OAuth server answered without access_token/refresh_token")
            self._refresh_token = reply["refresh_token"]
            if self._on_update is not None:
                self._on_update(dict(reply))
            return reply

    def __repr__(self) -> str:
        return f"OAuthRefresher(client_id={self._client_id!r}, endpoint={self.endpoint!r})"
