"""Token stores (bitrix_fast.tokens): one contract, three stores; token sets; the lease lock.

Every store is run through the same contract tests. The lease is checked on a fake clock
for the file and SQLite stores, and with short real leases for Redis and PostgreSQL (whose
servers keep the time). Processes are real where that is the point: a killed holder.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from bitrix_fast.errors import TokenLockBusy, TokenStoreError
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.tokens import FileTokenStore, RedisTokenStore, SQLTokenStore, TokenSet
from bitrix_fast.tokens.sql import parse_url

from mirror_pg import postgres_url  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent


def tokens(member_id: str = "m1", access: str = "access-1", refresh: str = "refresh-1",
           expires_at: float = 5000.0) -> TokenSet:
    return TokenSet(member_id=member_id, domain="example.bitrix24.ru",
                    client_endpoint="https://example.bitrix24.ru/rest/", access_token=access,
                    refresh_token=refresh, expires_at=expires_at, issued_at=expires_at - 3600,
                    application_token="app-token-1")


# -- TokenSet ------------------------------------------------------------------------------------

def test_a_token_set_from_an_install_post_and_from_the_oauth_server():
    posted = {"access_token": "a1", "refresh_token": "r1", "expires_in": "3600",
              "member_id": "m1", "domain": "example.bitrix24.ru",
              "client_endpoint": "https://example.bitrix24.ru/rest/",
              "application_token": "app1"}
    first = TokenSet.from_response(posted, now=1000.0)
    assert (first.member_id, first.access_token, first.refresh_token) == ("m1", "a1", "r1")
    assert first.expires_at == 4600.0 and first.issued_at == 1000.0
    assert first.application_token == "app1"
    # The OAuth server names itself in ``domain`` and knows no application_token.
    reply = {"access_token": "a2", "refresh_token": "r2", "expires_in": 3600,
             "member_id": "m1", "domain": "oauth.bitrix.info",
             "client_endpoint": "https://example.bitrix24.ru/rest/"}
    second = first.refreshed(reply, 2000.0)
    assert second.domain == "example.bitrix24.ru" and second.application_token == "app1"
    assert second.access_token == "a2" and second.expires_at == 5600.0


def test_a_token_set_from_an_oauth_callback_and_what_it_must_have():
    callback = {"AUTH_ID": "a1", "REFRESH_ID": "r1", "AUTH_EXPIRES": "3600", "member_id": "m1",
                "DOMAIN": "example.bitrix24.ru"}
    got = TokenSet.from_response(callback, now=0.0)
    assert got.client_endpoint == "https://example.bitrix24.ru/rest/"
    assert got.access_token == "a1" and got.expires_at == 3600.0
    with pytest.raises(ValueError, match="refresh_token"):
        TokenSet.from_response({"access_token": "a", "member_id": "m", "domain": "d"}, now=0)


def test_a_token_set_never_shows_a_token_and_survives_json():
    item = tokens()
    for text in (repr(item), str(item)):
        assert "access-1" not in text and "refresh-1" not in text and "app-token-1" not in text
        assert "m1" in text
    again = TokenSet.from_json(item.to_json())
    assert again == item
    assert set(item.secrets) == {"access-1", "refresh-1", "app-token-1"}


def test_staleness_counts_a_tenth_of_short_lifetimes():
    long_lived = TokenSet.from_response({"access_token": "a", "refresh_token": "r",
                                         "expires_in": 3600, "member_id": "m",
                                         "client_endpoint": "https://x/rest/"}, now=0.0)
    assert not long_lived.stale(3539.0, 60.0) and long_lived.stale(3540.0, 60.0)
    short = TokenSet.from_response({"access_token": "a", "refresh_token": "r", "expires_in": 5,
                                    "member_id": "m", "client_endpoint": "https://x/rest/"},
                                   now=0.0)
    assert not short.stale(4.4, 60.0) and short.stale(4.5, 60.0)


# -- the stores ----------------------------------------------------------------------------------

@pytest.fixture(params=["file", "sqlite", "redis", "postgresql"])
def store_factory(request: pytest.FixtureRequest,
                  tmp_path: Path) -> Iterator[Callable[..., Any]]:
    made = []

    def make(**options: Any) -> Any:
        if request.param == "file":
            store: Any = FileTokenStore(str(tmp_path / "tokens.json"), **options)
        elif request.param == "sqlite":
            store = SQLTokenStore(f"sqlite:///{tmp_path / 'tokens.sqlite'}", **options)
        elif request.param == "redis":
            url = request.getfixturevalue("redis_url")
            key = request.getfixturevalue("redis_key")
            store = RedisTokenStore(url, prefix=f"test:{key}", **options)
        else:
            # One database for the session; a table of its own per test.
            table = request.node.__dict__.setdefault("pg_table", f"t_{uuid.uuid4().hex[:12]}")
            store = SQLTokenStore(request.getfixturevalue("postgres_url"), table=table,
                                  **options)
        made.append(store)
        return store

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for store in made:
        store.close()


def test_a_store_keeps_loads_lists_and_forgets_portals(store_factory):
    store = store_factory()
    assert store.load("m1") is None and store.members() == []
    store.save(tokens("m1"))
    store.save(tokens("m2", access="access-2"))
    store.save(tokens("m1", access="access-3"))
    assert store.load("m1").access_token == "access-3"
    assert store.members() == ["m1", "m2"]
    # Another store object on the same place sees the same (another process would).
    assert store_factory().load("m2") == tokens("m2", access="access-2")
    assert store.delete("m1") is True and store.delete("m1") is False
    assert store.members() == ["m2"]


def test_a_portal_lock_is_held_by_one_at_a_time(store_factory):
    first, second = store_factory(), store_factory()
    with first.lock("m1", lease=30):
        with pytest.raises(TokenLockBusy, match="portal m1"):
            with second.lock("m1", lease=30, wait=0.1):
                pass
        with second.lock("m2", lease=30, wait=0):  # other portals are not held
            pass
    with second.lock("m1", lease=30, wait=0):  # released
        pass


def test_threads_and_stores_take_turns_under_the_lock(store_factory):
    stores = [store_factory() for _ in range(2)]
    stores[0].save(tokens(access="0"))
    errors = []

    def bump(store: Any) -> None:
        try:
            for _ in range(4):
                with store.lock("m1", lease=30, wait=20):
                    value = int(store.load("m1").access_token)
                    store.save(tokens(access=str(value + 1)))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=bump, args=(s,)) for s in stores for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert stores[0].load("m1").access_token == "16"  # no increment lost


def test_a_lease_ends_by_itself(store_factory):
    if store_factory.kind in ("file", "sqlite"):
        clock = FakeClock(start=100.0, wall_start=1_000.0)
        holder, waiter = store_factory(clock=clock), store_factory(clock=clock)
        lock = holder.lock("m1", lease=30)
        lock.__enter__()  # taken and never released: its holder "died"
        with pytest.raises(TokenLockBusy):
            with waiter.lock("m1", lease=30, wait=29):
                pass
        clock.advance(1.5)  # past the lease: 29 s of waiting + 1.5
        with waiter.lock("m1", lease=30, wait=0):
            pass
    else:
        holder, waiter = store_factory(), store_factory()
        held = holder.lock("m1", lease=0.4)
        held.__enter__()  # kept: a context manager collected would release it
        started = time.monotonic()
        with waiter.lock("m1", lease=5, wait=5):
            waited = time.monotonic() - started
        assert 0.2 < waited < 2.0


def test_releasing_never_frees_a_successors_lease(store_factory):
    clock = FakeClock(wall_start=1_000.0) if store_factory.kind in ("file", "sqlite") else None
    options = {"clock": clock} if clock else {}
    slow, fast = store_factory(**options), store_factory(**options)
    late = slow.lock("m1", lease=0.3)
    late.__enter__()
    if clock:
        clock.advance(1)
    else:
        time.sleep(0.5)
    with fast.lock("m1", lease=30, wait=5):
        late.__exit__(None, None, None)  # the old holder wakes up and releases "its" lock
        with pytest.raises(TokenLockBusy):
            with slow.lock("m1", lease=30, wait=0):
                pass


def test_a_portal_lock_frees_itself_when_its_process_is_killed(tmp_path, redis_url, redis_key,
                                                               postgres_url):
    """One process takes the lock in every store with a 0.6 s lease and is SIGKILLed: the
    next one gets each lock within the lease, not never."""
    table = f"t_{uuid.uuid4().hex[:12]}"
    specs = {
        "file": f"FileTokenStore({str(tmp_path / 'tokens.json')!r})",
        "sqlite": f"SQLTokenStore({'sqlite:///' + str(tmp_path / 'tokens.sqlite')!r})",
        "redis": f"RedisTokenStore({redis_url!r}, prefix={'test:' + redis_key!r})",
        "postgresql": f"SQLTokenStore({postgres_url!r}, table={table!r})",
    }
    stores = {
        "file": FileTokenStore(str(tmp_path / "tokens.json")),
        "sqlite": SQLTokenStore(f"sqlite:///{tmp_path / 'tokens.sqlite'}"),
        "redis": RedisTokenStore(redis_url, prefix=f"test:{redis_key}"),
        "postgresql": SQLTokenStore(postgres_url, table=table),
    }
    code = ("import sys, time\nfrom bitrix_fast.tokens import *\nheld = []\n"
            + "".join(f"held.append({spec}.lock('m1', lease=0.6))\n" for spec in specs.values())
            + "for lock in held:\n    lock.__enter__()\nprint('held', flush=True)\n"
              "time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=str(ROOT))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for name, store in stores.items():
            with pytest.raises(TokenLockBusy):  # held by the live process
                with store.lock("m1", lease=5, wait=0):
                    pass
        started = time.monotonic()
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        for name, store in stores.items():
            with store.lock("m1", lease=5, wait=10):
                waited = time.monotonic() - started
            assert waited < 2.0, name  # held until its lease ran out, then taken over
    finally:
        holder.kill()
        holder.wait()
        for store in stores.values():
            store.close()


# -- store specifics -----------------------------------------------------------------------------

def test_the_token_file_is_private_and_replaced_whole(tmp_path):
    path = tmp_path / "tokens.json"
    store = FileTokenStore(str(path))
    store.save(tokens())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(path) + ".lock").st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json", "tokens.json.lock"]
    data = json.loads(path.read_text())
    assert data["portals"]["m1"]["refresh_token"] == "refresh-1"


def test_a_file_that_is_not_a_token_file_is_left_alone(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text("[1, 2, 3]")
    store = FileTokenStore(str(path))
    with pytest.raises(TokenStoreError, match="not a bitrix_fast token file"):
        store.save(tokens())
    assert path.read_text() == "[1, 2, 3]"


def test_sql_urls_follow_the_mirrors_convention():
    assert parse_url("sqlite:///tokens.sqlite") == ("sqlite", "tokens.sqlite")
    assert parse_url("sqlite:////var/lib/app/t.sqlite") == ("sqlite", "/var/lib/app/t.sqlite")
    assert parse_url("tokens.sqlite") == ("sqlite", "tokens.sqlite")
    assert parse_url("postgresql://u:p@h/db")[0] == "postgresql"
    for bad in ("sqlite://x.sqlite", ":memory:", "mysql://h/db", ""):
        with pytest.raises(ValueError):
            parse_url(bad)
    with pytest.raises(ValueError, match="plain SQL name"):
        SQLTokenStore("sqlite:///x.sqlite", table="tokens; drop")


def test_store_errors_never_show_a_password(tmp_path):
    with pytest.raises(TokenStoreError) as caught:
        SQLTokenStore("postgresql://app:s3cret-pass@127.0.0.1:1/db")
    assert "s3cret-pass" not in str(caught.value) and "127.0.0.1" in str(caught.value)
    with pytest.raises(TokenStoreError) as caught:
        RedisTokenStore("redis://:s3cret-pass@127.0.0.1:1/0", timeout=0.2)
    assert "s3cret-pass" not in str(caught.value)
