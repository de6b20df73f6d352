"""The contract every token store keeps, and the lock with a lease they share.

A store keeps one :class:`~.tokenset.TokenSet` per portal, by ``member_id``, and a lock
per portal. The lock is what makes a refresh single-flight across processes and machines:
whoever holds it may spend the portal's refresh token, and nobody else may. It is a
*lease*: it ends by itself ``lease`` seconds after it was taken, so a process killed while
holding it (or frozen, or cut off) blocks the others for at most that long. Releasing
removes only one's own lease (an owner token, random per acquisition), never a successor's.

Stores implement four data operations and two lease primitives; :class:`LeaseLocks` turns
the primitives into :meth:`TokenStore.lock`, waiting on an injected clock.
"""
from __future__ import annotations

import secrets
from contextlib import contextmanager
from typing import ContextManager, Iterator, List, Optional, Protocol

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import TokenLockBusy
from .tokenset import TokenSet

__all__ = ["TokenStore", "LeaseLocks", "DEFAULT_LEASE", "check_member_id"]

#: A portal's lock lasts this long unless released earlier: the refresh request's own
#: timeouts fit inside it, so a holder that dies mid-request frees the portal soon after.
DEFAULT_LEASE = 30.0
#: Waiting for a lock: first poll after this long, doubling up to MAX_POLL.
FIRST_POLL = 0.02
MAX_POLL = 0.5


class TokenStore(Protocol):
    """What :class:`~bitrix_fast.OAuthApp` and the stored credentials need of a store."""

    def load(self, member_id: str) -> Optional[TokenSet]:
        """The portal's tokens, or None if the store does not know it."""

    def save(self, tokens: TokenSet) -> None:
        """Keep ``tokens`` for ``tokens.member_id`` (replacing what was there), durably."""

    def delete(self, member_id: str) -> bool:
        """Forget the portal; False if it was not there."""

    def members(self) -> List[str]:
        """Every ``member_id`` the store knows, sorted."""

    def lock(self, member_id: str, *, lease: float = DEFAULT_LEASE,
             wait: Optional[float] = None) -> ContextManager[None]:
        """Hold the portal's lock (a lease of ``lease`` seconds) for a ``with`` block; wait
        at most ``wait`` seconds for it (default: two leases), then raise TokenLockBusy."""

    def close(self) -> None:
        """Release connections and files."""


def check_member_id(member_id: object) -> str:
    if not isinstance(member_id, str) or not member_id.strip():
        raise TypeError("member_id must be a non-empty str (the portal's member_id)")
    return member_id.strip()


class LeaseLocks:
    """:meth:`lock` for a store that can take and release a lease in one atomic step.

    Subclasses implement :meth:`_try_lock` (take the lease if it is free or has run out;
    True when taken) and :meth:`_unlock` (end it if ``owner`` still holds it).
    """

    def __init__(self, clock: Optional[Clock] = None) -> None:
        self._clock = clock or SYSTEM_CLOCK

    def _try_lock(self, member_id: str, owner: str, lease: float) -> bool:
        raise NotImplementedError

    def _unlock(self, member_id: str, owner: str) -> None:
        raise NotImplementedError

    @contextmanager
    def lock(self, member_id: str, *, lease: float = DEFAULT_LEASE,
             wait: Optional[float] = None) -> Iterator[None]:
        member_id = check_member_id(member_id)
        if not lease > 0:
            raise ValueError("lease must be a positive number of seconds")
        patience = 2 * lease if wait is None else max(0.0, float(wait))
        owner = secrets.token_hex(16)
        clock = self._clock
        deadline = clock.now() + patience
        pause = FIRST_POLL
        while not self._try_lock(member_id, owner, lease):
            left = deadline - clock.now()
            if left <= 0:
                raise TokenLockBusy(
                    f"portal {member_id}: its token lock stayed taken for {patience:g} s "
                    f"(another process is refreshing its tokens, or died holding the lock: "
                    f"then it frees itself {lease:g} s after it was taken)")
            clock.sleep(min(pause, left))
            pause = min(pause * 2, MAX_POLL)
        try:
            yield
        finally:
            self._unlock(member_id, owner)
