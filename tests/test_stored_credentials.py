"""Stored credentials: a portal's tokens from a shared store, refreshed single-flight across
threads, processes and machines (bitrix_fast.net.stored), on a fake clock with a fake OAuth
server; no socket, no sleep."""
from __future__ import annotations

import threading
from typing import Any, Dict, List, Mapping, Optional

import pytest

from bitrix_fast.errors import (AuthError, PortalAccessLost, TokenLockBusy, TokenStoreError,
                                TransportError)
from bitrix_fast.net.stored import StoredCredentials
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.tokens import FileTokenStore, LeaseLocks, TokenSet


class MemoryStore(LeaseLocks):
    """A store in a dict: what a shared store looks like to several processes."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.data: Dict[str, TokenSet] = {}
        self.leases: Dict[str, Any] = {}
        self.saves = 0

    def load(self, member_id: str) -> Optional[TokenSet]:
        return self.data.get(member_id)

    def save(self, tokens: TokenSet) -> None:
        self.saves += 1
        self.data[tokens.member_id] = tokens

    def delete(self, member_id: str) -> bool:
        return self.data.pop(member_id, None) is not None

    def members(self) -> List[str]:
        return sorted(self.data)

    def close(self) -> None:
        pass

    def _try_lock(self, member_id: str, owner: str, lease: float) -> bool:
        held = self.leases.get(member_id)
        now = self._clock.wall()
        if held is not None and held[1] > now:
            return False
        self.leases[member_id] = (owner, now + lease)
        return True

    def _unlock(self, member_id: str, owner: str) -> None:
        if self.leases.get(member_id, (None,))[0] == owner:
            del self.leases[member_id]


class OAuthServer:
    """Rotating refresh tokens: a spent one gets invalid_grant, as Bitrix24's does."""

    def __init__(self, clock: FakeClock, ttl: float = 3600.0) -> None:
        self.clock = clock
        self.ttl = ttl
        self.valid = {"refresh-0": "m1", "refresh-b": "m2"}
        self.grants = 0
        self.refused = 0
        self.fail_next: Optional[BaseException] = None

    def __call__(self, refresh_token: str) -> Mapping[str, Any]:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        member = self.valid.pop(refresh_token, None)
        if member is None:
            self.refused += 1
            raise AuthError("invalid_grant", "Invalid grant", status=400, method="oauth/token")
        self.grants += 1
        new = f"refresh-{self.grants}-{member}"
        self.valid[new] = member
        return {"access_token": f"access-{self.grants}-{member}", "refresh_token": new,
                "expires_in": self.ttl, "member_id": member,
                "client_endpoint": f"https://{member}.bitrix24.ru/rest/",
                "domain": "oauth.bitrix.info"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_start=1_000_000.0)


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    store = MemoryStore(clock)
    for member, refresh in (("m1", "refresh-0"), ("m2", "refresh-b")):
        store.save(TokenSet(member_id=member, domain=f"{member}.bitrix24.ru",
                            client_endpoint=f"https://{member}.bitrix24.ru/rest/",
                            access_token=f"first-{member}", refresh_token=refresh,
                            expires_at=clock.wall() + 3600, issued_at=clock.wall()))
    return store


def creds(store: Any, server: OAuthServer, clock: FakeClock, member: str = "m1",
          lease: float = 30.0) -> StoredCredentials:
    return StoredCredentials(member, store, server, clock=clock, lease=lease)


def test_a_fresh_token_is_used_without_a_refresh(store, clock):
    server = OAuthServer(clock)
    one = creds(store, server, clock)
    assert one.params() == {"auth": "first-m1"} and one.last_sent() == "first-m1"
    assert one.url("crm.deal.list") == "https://m1.bitrix24.ru/rest/crm.deal.list"
    assert server.grants == 0


def test_a_token_about_to_expire_is_refreshed_once_for_every_process(store, clock):
    server = OAuthServer(clock)
    processes = [creds(store, server, clock) for _ in range(4)]  # one per "process"
    for p in processes:
        p.params()
    clock.advance(3550)  # within the last minute of the token's hour
    tokens = {p.params()["auth"] for p in processes}
    assert tokens == {"access-1-m1"} and server.grants == 1 and server.refused == 0
    assert store.load("m1").refresh_token == "refresh-1-m1"


def test_the_portal_refusing_a_token_refreshes_it_once(store, clock):
    server = OAuthServer(clock)
    a, b = creds(store, server, clock), creds(store, server, clock)
    stale = a.params()["auth"]
    b.params()
    # Both hear expired_token for the same token: one refresh, the other reads the store.
    assert a.refresh(stale) == "access-1-m1"
    assert b.refresh(stale) == "access-1-m1"
    assert server.grants == 1
    # A refusal of a token already replaced costs nothing.
    assert a.refresh(stale) == "access-1-m1" and server.grants == 1


def test_threads_waiting_for_one_refresh_get_its_token(store, clock):
    server = OAuthServer(clock)
    shared = creds(store, server, clock)
    stale = shared.params()["auth"]
    got: List[str] = []
    threads = [threading.Thread(target=lambda: got.append(shared.refresh(stale)))
               for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(got) == {"access-1-m1"} and server.grants == 1


def test_a_lock_held_longer_than_the_wait_is_an_error_not_a_second_refresh(store, clock):
    server = OAuthServer(clock)
    waiter = creds(store, server, clock, lease=30)
    stale = waiter.params()["auth"]
    store._try_lock("m1", "another-process", 600.0)  # a holder with a much longer lease
    started = clock.now()
    with pytest.raises(TokenLockBusy, match="portal m1"):
        waiter.refresh(stale)
    assert clock.now() - started == pytest.approx(60.0)  # two of its own leases
    assert server.grants == 0


def test_a_holder_that_died_is_taken_over_after_its_lease(store, clock):
    server = OAuthServer(clock)
    waiter = creds(store, server, clock, lease=30)
    stale = waiter.params()["auth"]
    started = clock.now()
    store._try_lock("m1", "dead-process", 30.0)  # taken, never released
    assert waiter.refresh(stale) == "access-1-m1"
    assert 29 <= clock.now() - started <= 31 and server.grants == 1


def test_a_dead_refresh_token_marks_the_portal_and_names_it(store, clock):
    server = OAuthServer(clock)
    server.valid.pop("refresh-0")  # the app was removed there, or 180 days unused
    one = creds(store, server, clock)
    stale = one.params()["auth"]
    with pytest.raises(PortalAccessLost) as caught:
        one.refresh(stale)
    error = caught.value
    assert isinstance(error, AuthError) and error.code == "invalid_grant"
    assert error.member_id == "m1" and error.domain == "m1.bitrix24.ru"
    assert "m1" in str(error) and "m1.bitrix24.ru" in str(error)
    assert store.load("m1").dead
    # Nobody tries again: a new client fails at once, with no request to the server.
    with pytest.raises(PortalAccessLost):
        creds(store, server, clock)
    assert server.refused == 1
    # The other portal goes on.
    other = creds(store, server, clock, member="m2")
    assert other.refresh(other.params()["auth"]) == "access-1-m2"


def test_other_refresh_failures_change_nothing(store, clock):
    server = OAuthServer(clock)
    one = creds(store, server, clock)
    stale = one.params()["auth"]
    server.fail_next = TransportError("could not connect", method="oauth/token")
    with pytest.raises(TransportError):
        one.refresh(stale)
    assert not store.load("m1").dead and store.leases == {}  # the lock was released
    assert one.refresh(stale) == "access-1-m1"


def test_an_answer_for_another_portal_is_not_saved(store, clock):
    server = OAuthServer(clock)
    server.valid["refresh-0"] = "m2"
    one = creds(store, server, clock)
    with pytest.raises(TokenStoreError, match="another portal"):
        one.refresh(one.params()["auth"])
    assert store.load("m1").refresh_token == "refresh-0"


def test_a_portal_not_in_the_store(store, clock):
    with pytest.raises(TokenStoreError, match="not in the token store"):
        creds(store, OAuthServer(clock), clock, member="nope")


def test_tokens_are_secrets_and_the_repr_shows_none(store, clock):
    server = OAuthServer(clock)
    one = creds(store, server, clock)
    one.refresh(one.params()["auth"])
    assert {"first-m1", "refresh-0", "access-1-m1", "refresh-1-m1"} <= set(one.secrets)
    assert "access" not in repr(one) and "m1" in repr(one)


def test_processes_sharing_a_token_file_refresh_once_per_expiry(tmp_path, clock):
    """Four "processes" (their own store objects on one file) over a day of hour-long
    tokens: one refresh per hour, whoever notices first."""
    server = OAuthServer(clock)
    path = str(tmp_path / "tokens.json")
    FileTokenStore(path, clock=clock).save(TokenSet(
        member_id="m1", domain="m1.bitrix24.ru", client_endpoint="https://m1.bitrix24.ru/rest/",
        access_token="first-m1", refresh_token="refresh-0", expires_at=clock.wall() + 3600,
        issued_at=clock.wall()))
    processes = [creds(FileTokenStore(path, clock=clock), server, clock) for _ in range(4)]
    for _ in range(24 * 6 + 1):
        for p in processes:
            p.params()
        clock.advance(600)
    assert server.grants == 24 and server.refused == 0


def test_a_refreshed_pair_the_store_refuses_is_kept_and_saved_later(store, clock):
    server = OAuthServer(clock)
    one = creds(store, server, clock)
    stale = one.params()["auth"]
    real_save = store.save
    failures = {"left": 10}

    def flaky(tokens: TokenSet) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise TokenStoreError("token store: the database went away")
        real_save(tokens)

    store.save = flaky  # type: ignore[method-assign]
    started = clock.now()
    with pytest.raises(TokenStoreError, match="refreshed but could not be saved"):
        one.refresh(stale)
    assert clock.now() - started == pytest.approx(1.7)  # it tried, within the lease
    assert store.load("m1").refresh_token == "refresh-0"  # nothing half-written
    failures["left"] = 0
    # This process goes on with the new pair, and saves it at its next request.
    assert one.params() == {"auth": "access-1-m1"}
    assert store.load("m1").refresh_token == "refresh-1-m1" and server.grants == 1


def test_a_store_that_recovers_within_the_retries_loses_nothing(store, clock):
    server = OAuthServer(clock)
    one = creds(store, server, clock)
    real_save = store.save
    failures = {"left": 2}

    def flaky(tokens: TokenSet) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise TokenStoreError("token store: busy")
        real_save(tokens)

    store.save = flaky  # type: ignore[method-assign]
    assert one.refresh(one.params()["auth"]) == "access-1-m1"
    assert store.load("m1").refresh_token == "refresh-1-m1"
