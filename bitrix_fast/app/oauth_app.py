"""``OAuthApp``: one application installed on many portals, its tokens in one shared store.

::

    app = OAuthApp(CLIENT_ID, CLIENT_SECRET, store=SQLTokenStore("postgresql://app@db/app"))

    # the web process: the portal posts ONAPPINSTALL / ONAPPUNINSTALL to the app's handler
    event = app.receive(request.body, request.content_type)

    # any worker process, on any machine sharing the store
    for portal in app.portals():
        with app.client(portal.member_id) as bx:
            bx.get_all("crm.deal.list")

Every client of a portal, in every process, refreshes that portal's tokens through the
store's lock (:mod:`bitrix_fast.net.stored`): one refresh per expiry whatever the number of
processes, a refresh token never sent twice. Each portal has its own bucket and operating
budget: its own state file by default (kept by the portal's host), or its own Redis keys
when the app is given ``redis=``.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
import threading
from typing import Any, List, Mapping, Optional, Union

from ..client import Bitrix
from ..clock import SYSTEM_CLOCK, Clock
from ..config import ClientConfig
from ..errors import AuthError, EventRejected, TokenStoreError
from ..net.grant import CLOUD_TOKEN_URL, RefreshGrant
from ..net.stored import StoredCredentials
from ..net.transport import Transport
from ..tokens.store import DEFAULT_LEASE, TokenStore, check_member_id
from ..tokens.tokenset import TokenSet
from .incoming import IncomingEvent, parse_event
from .offline import OfflineEvents

__all__ = ["OAuthApp", "Portal"]


@dataclass(frozen=True)
class Portal:
    """A portal the application is installed on, as the store knows it (no tokens)."""

    member_id: str
    domain: str
    client_endpoint: str
    #: why the portal cannot be reached (its refresh token was refused), or ""
    dead: str = ""


class OAuthApp:
    """An OAuth application (``client_id``, ``client_secret``) and its portals' tokens.

    :param store: a :mod:`bitrix_fast.tokens` store (file, SQL, Redis, or your own), shared
        by every process and machine of the application
    :param token_url: the OAuth server's token URL; the Bitrix24 cloud's by default
    :param lease: a portal's token lock lasts at most this long, seconds: a process killed
        while refreshing blocks the others no longer; the refresh request's connect and read
        timeouts add up to 80% of it
    :param redis: a Redis URL: each portal's bucket and operating budget are then shared
        through Redis under keys of its own (``bitrix_fast:app-<member_id>:*``), for
        processes on several machines
    :param transport, clock: replace HTTP and the system clock (tests: one transport that
        reaches every portal and the token URL, e.g. the sandbox's
        :meth:`~bitrix_fast.testing.sandbox.apps.AppPortals.transport`)
    """

    def __init__(self, client_id: str, client_secret: str, *, store: TokenStore,
                 token_url: str = CLOUD_TOKEN_URL, lease: float = DEFAULT_LEASE,
                 redis: Optional[str] = None, transport: Optional[Transport] = None,
                 clock: Optional[Clock] = None) -> None:
        if not isinstance(lease, (int, float)) or isinstance(lease, bool) or not lease >= 5:
            raise ValueError("lease must be at least 5 seconds (the refresh request's "
                             "timeouts must fit inside it)")
        if redis is not None and (not isinstance(redis, str) or "://" not in redis):
            raise ValueError("redis must be a Redis URL, e.g. redis://redis-host:6379/0")
        self.store = store
        self.lease = float(lease)
        self._redis = redis
        self._transport = transport
        self._clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self._grant = RefreshGrant(client_id, client_secret, token_url, transport=transport,
                                   timeout=(0.2 * self.lease, 0.6 * self.lease))
        self.client_id = client_id
        self._counted = threading.Lock()
        #: refreshes made by this object's clients (and install confirmations)
        self.refreshes = 0

    @property
    def token_url(self) -> str:
        return self._grant.token_url

    # -- portals ---------------------------------------------------------------------------
    def save(self, tokens: Union[Mapping[str, Any], TokenSet]) -> TokenSet:
        """Store a portal's tokens as the install event (its ``auth``), the OAuth callback
        or the OAuth server delivers them: ``access_token``, ``refresh_token``,
        ``expires_in``, ``member_id``, ``domain``, ``client_endpoint``. A portal already
        stored keeps its ``application_token`` unless the new set brings one."""
        if isinstance(tokens, TokenSet):
            fresh = tokens
            member_id = check_member_id(fresh.member_id)
        else:
            member_id = check_member_id(tokens.get("member_id"))
        with self.store.lock(member_id, lease=self.lease):
            previous = self.store.load(member_id)
            if not isinstance(tokens, TokenSet):
                fresh = TokenSet.from_response(tokens, now=self._clock.wall(),
                                               previous=previous)
            self.store.save(fresh)
        return fresh

    def portals(self) -> List[Portal]:
        """Every portal in the store, dead ones included (``dead`` says why)."""
        found = []
        for member_id in self.store.members():
            tokens = self.store.load(member_id)
            if tokens is not None:
                found.append(Portal(tokens.member_id, tokens.domain, tokens.client_endpoint,
                                    tokens.dead))
        return found

    def portal(self, member_id: str) -> Portal:
        tokens = self._load(member_id)
        return Portal(tokens.member_id, tokens.domain, tokens.client_endpoint, tokens.dead)

    def remove(self, member_id: str) -> bool:
        """Forget a portal (its tokens); False if the store did not have it."""
        member_id = check_member_id(member_id)
        with self.store.lock(member_id, lease=self.lease):
            return self.store.delete(member_id)

    # -- clients -----------------------------------------------------------------------------
    def client(self, member_id: str, **kwargs: Any) -> Bitrix:
        """A :class:`~bitrix_fast.Bitrix` for the portal; ``kwargs`` are Bitrix's own
        (``requests_per_second=5, request_pool_size=250`` for an Enterprise portal, ...).
        Its credentials come from the store and are refreshed through it.

        :raises TokenStoreError: the store does not know the portal
        :raises PortalAccessLost: the portal's refresh token was refused earlier
        """
        member_id = check_member_id(member_id)
        if "token_func" in kwargs:
            raise TypeError("client(): the application supplies the tokens; token_func "
                            "is not for app clients")
        transport = kwargs.pop("transport", self._transport)
        clock = kwargs.pop("clock", self._clock)
        credentials = StoredCredentials(member_id, self.store, self._grant, clock=clock,
                                        lease=self.lease, on_refresh=self._count)
        if self._redis is not None and kwargs.get("limiter") is None:
            kwargs["limiter"] = self._redis_limiter(member_id, kwargs, clock)
        config = ClientConfig.build(credentials.base_url, **kwargs)
        return Bitrix.from_config(config, transport=transport, clock=clock,
                                  credentials=credentials)

    def events(self, member_id: str, *, event: Optional[str] = None, limit: int = 50,
               lease: float = 300.0, **kwargs: Any) -> OfflineEvents:
        """The portal's offline event queue (``event.offline.get`` with ``clear=0``, then
        ``event.offline.clear`` once handled): no event is lost between reading and
        handling. ``event`` reads one event name only; ``lease`` is how long a reader
        holds a batch before another process may take it over; ``kwargs`` go to
        :meth:`client`. Close it (or use ``with``) to close its client."""
        member_id = check_member_id(member_id)
        OfflineEvents.check(limit, lease)
        return OfflineEvents(self.client(member_id, **kwargs), self.store, member_id,
                             event=event, limit=limit, lease=lease, store_lease=self.lease,
                             clock=self._clock)

    # -- incoming posts ----------------------------------------------------------------------
    def receive(self, body: Union[bytes, str, Mapping[str, Any]],
                content_type: str = "application/x-www-form-urlencoded", *,
                confirm: bool = True) -> IncomingEvent:
        """Check an event post from a portal and act on it; returns the event.

        - ONAPPINSTALL: the tokens in ``auth`` are confirmed with the OAuth server (one
          refresh: the server, not the post, says which portal they belong to and where its
          REST API is) and stored with the post's ``application_token``. ``confirm=False``
          skips that (a test, or a handler behind its own check).
        - ONAPPUNINSTALL: the ``application_token`` must be the stored one; the portal is
          removed from the store.
        - any other event: the ``application_token`` must be the stored one.

        :raises EventRejected: the post failed a check (answer it with 403)
        """
        event = parse_event(body, content_type)
        if event.event == "ONAPPINSTALL":
            self._install(event, confirm)
        elif event.event in ("ONAPPUNINSTALL", "ONAPPSUNINSTALL"):
            self._verify(event)
            self.remove(event.member_id)
        else:
            self._verify(event)
        return event

    def _install(self, event: IncomingEvent, confirm: bool) -> None:
        if not event.application_token:
            raise EventRejected("ONAPPINSTALL: the post has no auth[application_token]")
        try:
            posted = TokenSet.from_response(event.auth, now=self._clock.wall())
        except ValueError as error:
            raise EventRejected(f"ONAPPINSTALL: {error}") from None
        tokens = posted
        if confirm:
            try:
                reply = self._grant(posted.refresh_token)
            except AuthError as error:
                raise EventRejected(f"ONAPPINSTALL: the OAuth server refused the posted "
                                    f"tokens ({error.code})") from None
            if reply.get("member_id") != posted.member_id:
                raise EventRejected("ONAPPINSTALL: the posted tokens belong to another "
                                    "portal than auth[member_id]")
            self._count(posted.member_id)
            tokens = posted.refreshed(reply, self._clock.wall())
        self.save(tokens)

    def _verify(self, event: IncomingEvent) -> None:
        stored = self.store.load(check_member_id(event.member_id))
        if stored is None:
            raise EventRejected(f"{event.event}: portal {event.member_id} is not installed")
        given = event.application_token
        if not given or not stored.application_token or not secrets.compare_digest(
                given.encode("utf-8"), stored.application_token.encode("utf-8")):
            raise EventRejected(f"{event.event}: wrong auth[application_token] for portal "
                                f"{event.member_id}")

    # -- the rest ----------------------------------------------------------------------------
    def _load(self, member_id: str) -> TokenSet:
        member_id = check_member_id(member_id)
        tokens = self.store.load(member_id)
        if tokens is None:
            raise TokenStoreError(f"portal {member_id} is not in the token store")
        return tokens

    def _count(self, member_id: str) -> None:
        with self._counted:
            self.refreshes += 1

    def _redis_limiter(self, member_id: str, kwargs: Mapping[str, Any], clock: Clock) -> Any:
        from ..pacing.shared import RedisLimiter

        rate = kwargs.get("requests_per_second", 2.0)
        burst = kwargs.get("request_pool_size", 50)
        assert self._redis is not None
        return RedisLimiter(self._redis, rate=rate, burst=burst, key=f"app-{member_id}",
                            clock=clock)

    def close(self) -> None:
        """Close the OAuth server's connection and the store."""
        self._grant.close()
        self.store.close()

    def __enter__(self) -> "OAuthApp":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r}, store={self.store!r})"

