"""Credentials for one portal of an OAuth application, from a token store shared by every
process and machine of the application; the refresh is single-flight across all of them.

Each refresh rotates the refresh token: the one sent is spent, and sending it again gets
``invalid_grant``. So a refresh happens only under the portal's lock in the store, and only
if it is still needed once the lock is held::

    token stale? --no--> use it
        | yes
    re-read the store: another process refreshed? --yes--> use its token
        | no
    take the portal's lock (a lease: a holder that died frees it when the lease ends)
    re-read the store: refreshed meanwhile? --yes--> use that token (no refresh)
        | no
    refresh (the request's timeouts end inside the lease), save the new set, release

A process that waited gets the new token from the store and does not refresh again. When
the OAuth server refuses the refresh token (``invalid_grant``), the store marks the portal
dead and :class:`~bitrix_fast.errors.PortalAccessLost` names it; every later call to that
portal fails at once, without a request, and other portals are not touched.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..clock import Clock
from ..errors import AuthError, PortalAccessLost, TokenStoreError
from ..tokens.store import TokenStore
from ..tokens.tokenset import TokenSet
from .credentials import guard_logs

__all__ = ["StoredCredentials", "Grant", "EARLY"]

#: What trades a refresh token for the OAuth server's reply (:class:`.grant.RefreshGrant`).
Grant = Callable[[str], Mapping[str, Any]]
#: Renew this long before the access token ends (at most; a tenth of short lifetimes).
EARLY = 60.0
#: Waits between attempts to save a refreshed pair the store refused (inside the lease).
SAVE_PAUSES = (0.2, 0.5, 1.0)


class _Sent(threading.local):
    token: Optional[str] = None


class StoredCredentials:
    """The :class:`~bitrix_fast.net.credentials.Credentials` of portal ``member_id``, with
    tokens from ``store``, refreshed through ``grant`` under the store's lock.

    :param lease: the lock's lease, seconds; the grant's own timeouts must end inside it
    :param clock: Unix time (``wall()``) for expiry and waits for the lock
    :param on_refresh: called with the member_id after each refresh this object made
        (counting, logging); never given a token
    """

    refreshable = True

    def __init__(self, member_id: str, store: TokenStore, grant: Grant, *, clock: Clock,
                 lease: float, early: float = EARLY,
                 on_refresh: Optional[Callable[[str], None]] = None) -> None:
        self.member_id = member_id
        self._store = store
        self._grant = grant
        self._clock = clock
        self._lease = float(lease)
        self._early = float(early)
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        self._sent = _Sent()
        self._seen: List[str] = []
        #: a refreshed pair the store has not taken yet (it failed at the time)
        self._unsaved: Optional[TokenSet] = None
        tokens = self._load()
        self._tokens = tokens
        self._remember(tokens)
        self.base_url = tokens.client_endpoint
        self.display = self.base_url
        guard_logs(self)

    # -- the Credentials contract ------------------------------------------------------------
    @property
    def secrets(self) -> Tuple[str, ...]:
        return tuple(self._seen)

    def url(self, method: str) -> str:
        return self.base_url + method

    def params(self) -> Dict[str, Any]:
        unsaved = self._unsaved
        if unsaved is not None:
            with self._lock:
                if self._unsaved is not None:
                    self._save(self._unsaved)
        tokens = self._tokens
        if tokens.stale(self._clock.wall(), self._early):
            tokens = self._fresh(None)
        self._sent.token = tokens.access_token
        return {"auth": tokens.access_token}

    def last_sent(self) -> Optional[str]:
        return self._sent.token

    def refresh(self, stale: Optional[str]) -> str:
        """A token other than ``stale`` (the one the portal refused), refreshed only if no
        other thread, process or machine has done it already."""
        return self._fresh(stale).access_token

    # -- single flight -------------------------------------------------------------------------
    def _fresh(self, stale: Optional[str]) -> TokenSet:
        with self._lock:  # one thread of this process at a time goes to the store
            if self._usable(self._tokens, stale):
                return self._tokens
            # Cheap first: another process may have refreshed already.
            stored = self._load()
            if self._usable(stored, stale):
                return self._adopt(stored)
            with self._store.lock(self.member_id, lease=self._lease):
                stored = self._load()
                if self._usable(stored, stale):
                    return self._adopt(stored)
                return self._adopt(self._refresh(stored))

    def _usable(self, tokens: TokenSet, stale: Optional[str]) -> bool:
        return tokens.access_token != stale and not tokens.stale(self._clock.wall(),
                                                                 self._early)

    def _refresh(self, stored: TokenSet) -> TokenSet:
        try:
            reply = self._grant(stored.refresh_token)
        except AuthError as error:
            if error.code.upper() != "INVALID_GRANT":
                raise
            # The refresh token is dead: the app was removed there, or the token went
            # unused for too long. Marked, so that nobody tries (and waits) again.
            self._store.save(stored.killed(error.description or error.code))
            raise PortalAccessLost.of(stored.member_id, stored.domain, error.code,
                                      error.description, method=error.method) from None
        answered = reply.get("member_id")
        if isinstance(answered, str) and answered and answered != stored.member_id:
            raise TokenStoreError(f"portal {stored.member_id}: the OAuth server answered "
                                  f"for another portal ({answered}); nothing was saved")
        fresh = stored.refreshed(reply, self._clock.wall())
        if self._on_refresh is not None:
            self._on_refresh(self.member_id)
        self._save(fresh)
        return fresh

    def _save(self, fresh: TokenSet) -> None:
        """Save a new pair, trying a few times: the old refresh token is spent, so a pair
        that never reaches the store is the portal lost for every other process."""
        for pause in SAVE_PAUSES:
            try:
                self._store.save(fresh)
                self._unsaved = None
                return
            except TokenStoreError:
                self._clock.sleep(pause)
        try:
            self._store.save(fresh)
            self._unsaved = None
        except TokenStoreError as error:
            # This process keeps using the pair, and saves it at its next request.
            self._adopt(fresh)
            self._unsaved = fresh
            raise TokenStoreError(f"portal {self.member_id}: its tokens were refreshed but "
                                  f"could not be saved ({error}); this process keeps them "
                                  f"and saves them at its next request -- other processes "
                                  f"cannot reach the portal until then") from None

    def _adopt(self, tokens: TokenSet) -> TokenSet:
        self._tokens = tokens
        self._remember(tokens)
        if tokens.client_endpoint:
            self.base_url = self.display = tokens.client_endpoint
        return tokens

    def _load(self) -> TokenSet:
        tokens = self._store.load(self.member_id)
        if tokens is None:
            raise TokenStoreError(f"portal {self.member_id} is not in the token store (not "
                                  f"installed, or uninstalled)")
        if tokens.dead:
            raise PortalAccessLost.of(tokens.member_id, tokens.domain, "invalid_grant",
                                      tokens.dead)
        return tokens

    def _remember(self, tokens: TokenSet) -> None:
        for secret in tokens.secrets:
            if secret not in self._seen:
                self._seen.append(secret)
        del self._seen[:-12]  # late replies may still quote an older token: keep a few

    def __repr__(self) -> str:
        return f"StoredCredentials(member_id={self.member_id!r}, {self.display!r})"
