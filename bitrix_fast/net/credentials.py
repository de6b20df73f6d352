"""Credentials: an incoming webhook, or OAuth tokens from a ``token_func``.

Both know how to address a method and which strings are secret, so that nothing built from a
URL, a token or a server's reply can leak them into an error, a log line or a repr.
OAuth refresh is single-flight: when sixteen threads see ``expired_token`` at once, one of them
calls ``token_func`` and the others wait for its result.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import re
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple
from urllib.parse import urlsplit

from ..protocol.redaction import REDACTED, redact

class Credentials(Protocol):
    """What the sender and the engine need from a way of signing requests."""

    #: False for a webhook: its code never changes, so a refusal is final.
    refreshable: bool
    #: The REST base every method name is appended to.
    base_url: str
    #: ``base_url`` with the secret part replaced by ``***``, for reprs and messages.
    display: str

    @property
    def secrets(self) -> Tuple[str, ...]:
        """Every string that must never appear in a message, a log line or a repr."""

    def url(self, method: str) -> str:
        """The address of ``method``."""

    def params(self) -> Dict[str, Any]:
        """Parameters to add to a request about to be sent (an OAuth ``auth`` token)."""

    def last_sent(self) -> Optional[str]:
        """The token this thread sent last: the one a refusal is about (None: no tokens)."""

    def refresh(self, stale: Optional[str]) -> Any:
        """Replace ``stale`` with a fresh token (single-flight across threads)."""


_WEBHOOK_PATH = re.compile(r"^(?P<prefix>.*/rest/)(?P<uid>[^/]+)/(?P<code>[^/]+)/?$")
#: Parts of a webhook path that are never a secret (redacting them would garble messages).
_PATH_WORDS = frozenset({"rest", "api"})

#: Every live object holding secrets; the log filter below hides what any of them holds.
_HOLDERS: "weakref.WeakSet[Any]" = weakref.WeakSet()
#: urllib3 logs each request line at DEBUG, and the line carries the URL (so a webhook code).
_GUARDED_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "requests")


class _SecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [secret for holder in list(_HOLDERS) for secret in holder.secrets]
        if secrets:
            message = record.getMessage()
            cleaned = redact(message, secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_FILTER = _SecretFilter()


def guard_logs(holder: Any) -> None:
    """Keep ``holder.secrets`` out of the HTTP libraries' log lines, for as long as it lives."""
    _HOLDERS.add(holder)
    for name in _GUARDED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class Webhook:
    """An incoming webhook ``https://<portal>/rest/<user>/<code>/``; the code is the secret."""

    refreshable = False

    def __init__(self, url: str) -> None:
        if not isinstance(url, str):
            raise TypeError(f"webhook must be a str, not {type(url).__name__}")
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path:
            # The URL itself is not repeated: it is, or contains, the secret.
            raise ValueError(
                "webhook must be an http(s) URL like https://<portal>/rest/<user_id>/<code>/ "
                "(the incoming-webhook URL from the portal's Developer resources)")
        origin = f"{parts.scheme}://{parts.netloc}"
        match = _WEBHOOK_PATH.match(parts.path)
        if match:
            self._secrets: Tuple[str, ...] = (match.group("code"),)
            self.base_url = f"{origin}{match.group('prefix')}{match.group('uid')}/" \
                            f"{match.group('code')}/"
            self.display = f"{origin}{match.group('prefix')}{match.group('uid')}/{REDACTED}/"
        else:
            # Any other path is accepted, as fast_bitrix24 accepts it (a proxy, a gateway, a
            # portal behind a prefix). Which part is the code is unknown, so the whole path
            # and every part of it that could be one are secrets.
            path = parts.path if parts.path.endswith("/") else parts.path + "/"
            segments = [s for s in path.split("/") if s]
            self._secrets = tuple(dict.fromkeys(
                s for s in ["/".join(segments)] + segments
                if not s.isdigit() and s.lower() not in _PATH_WORDS))
            self.base_url = origin + path
            self.display = f"{origin}/{REDACTED}/" if self._secrets else self.base_url
        guard_logs(self)

    @property
    def secrets(self) -> Tuple[str, ...]:
        return self._secrets

    def url(self, method: str) -> str:
        return self.base_url + method

    def params(self) -> Dict[str, Any]:
        return {}

    def current(self) -> Optional[str]:
        return None

    def last_sent(self) -> Optional[str]:
        return None

    def refresh(self, stale: Optional[str]) -> None:  # pragma: no cover - never refreshable
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"Webhook({self.display!r})"


class TokenAuth:
    """OAuth: the REST endpoint (``https://<portal>/rest/``) plus tokens from ``token_func``.

    ``token_func`` is called with no arguments on the first request and whenever the portal
    says the token expired or is invalid; it returns the access token (a str), or a dict
    holding ``access_token`` (then ``client_endpoint`` from it, when present, becomes the
    REST endpoint, and ``expires_in`` lets the token be renewed just before it runs out
    instead of after a refused call). A coroutine function is accepted for fast_bitrix24
    compatibility and run to completion on a private event loop.
    """

    refreshable = True
    #: Renew this long before the reported expiry (at most; a tenth of short lifetimes).
    EARLY = 60.0

    def __init__(self, endpoint: str, token_func: Callable[[], Any], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not callable(token_func):
            raise TypeError("token_func must be callable")
        parts = urlsplit(endpoint.strip() if isinstance(endpoint, str) else "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("with token_func, the first argument must be the portal's REST "
                             "endpoint, e.g. https://example.bitrix24.ru/rest/")
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        self.base_url = f"{parts.scheme}://{parts.netloc}{path}"
        self.display = self.base_url
        self._token_func = token_func
        self._clock = clock
        self._token: Optional[str] = None
        self._renew_at: Optional[float] = None
        self._seen: List[str] = []
        self._lock = threading.Lock()
        self._sent = threading.local()
        guard_logs(self)

    @property
    def secrets(self) -> Tuple[str, ...]:
        return tuple(self._seen)

    def url(self, method: str) -> str:
        return self.base_url + method

    def params(self) -> Dict[str, Any]:
        """The auth parameter for a request about to be sent (renewing a token that is about
        to expire); the token is remembered per thread for :meth:`last_sent`."""
        token = self._token
        if token is None or (self._renew_at is not None and self._clock() >= self._renew_at):
            token = self.refresh(token)
        self._sent.token = token
        return {"auth": token}

    def last_sent(self) -> Optional[str]:
        """The token this thread sent last: the one a refusal is about."""
        return getattr(self._sent, "token", None)

    def current(self) -> Optional[str]:
        return self._token

    def refresh(self, stale: Optional[str]) -> str:
        """Return a fresh token. Single-flight: if another thread already replaced ``stale``,
        its token is returned without calling ``token_func`` again."""
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            value = _call_token_func(self._token_func)
            lifetime = None
            if isinstance(value, dict):
                token = value.get("access_token")
                endpoint = value.get("client_endpoint")
                if isinstance(endpoint, str) and endpoint.startswith(("http://", "https://")):
                    self.base_url = endpoint if endpoint.endswith("/") else endpoint + "/"
                    self.display = self.base_url
                try:
                    lifetime = float(value["expires_in"])
                except (KeyError, TypeError, ValueError):
                    lifetime = None
            else:
                token = value
            if not isinstance(token, str) or not token:
                raise TypeError("token_func must return the access token as a non-empty str "
                                "(or a dict with 'access_token')")
            self._seen.append(token)
            del self._seen[:-8]  # old tokens can still appear in late replies: keep a few
            self._token = token
            self._renew_at = (None if lifetime is None or lifetime <= 0 else
                              self._clock() + lifetime - min(self.EARLY, lifetime / 10))
            return token

    def __repr__(self) -> str:
        return f"TokenAuth({self.display!r})"


def _call_token_func(func: Callable[[], Any]) -> Any:
    value = func()
    if inspect.isawaitable(value):
        return _run_awaitable(value)
    return value


def _run_awaitable(awaitable: Any) -> Any:
    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    # This thread already runs a loop (Jupyter, an async app): asyncio.run would refuse,
    # so the coroutine gets a loop of its own in a short-lived thread.
    box: Dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(wait())
        except BaseException as error:  # handed back to the caller below
            box["error"] = error

    thread = threading.Thread(target=run, name="bitrix_fast-token", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def credentials(webhook: str, token_func: Optional[Callable[[], Any]]) -> Credentials:
    """The credentials object for the constructor's ``webhook`` / ``token_func`` pair."""
    if token_func is not None:
        return TokenAuth(webhook, token_func)
    return Webhook(webhook)
