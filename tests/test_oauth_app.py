"""OAuthApp: one application on several portals, through full clients over the in-memory
sandbox on a FakeClock -- installs, clients, refreshes, a dead portal, uninstalls, checked
event posts, per-portal pacing."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest

from bitrix_fast import Bitrix, OAuthApp
from bitrix_fast.app import Portal
from bitrix_fast.errors import EventRejected, PortalAccessLost, TokenStoreError
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox import AppPortals
from bitrix_fast.tokens import FileTokenStore, SQLTokenStore

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def no_state_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", "off")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Tuple[AppPortals, OAuthApp]]:
    clock = FakeClock()
    with AppPortals(2, deals=120, token_ttl=60, http=False, clock=clock) as cloud:
        app = OAuthApp(cloud.client_id, cloud.client_secret,
                       store=FileTokenStore(str(tmp_path / "tokens.json"), clock=clock),
                       token_url=cloud.token_url, transport=cloud.transport(), clock=clock)
        yield cloud, app


def install_all(cloud: AppPortals, app: OAuthApp) -> None:
    for portal in cloud.portals:
        app.receive(portal.install_post(), FORM)


def test_install_posts_put_each_portal_in_the_store(world):
    cloud, app = world
    install_all(cloud, app)
    assert sorted(app.portals(), key=lambda p: p.member_id) == sorted(
        (Portal(p.member_id, p.credentials.domain, p.rest_base) for p in cloud.portals),
        key=lambda p: p.member_id)
    # Confirmed with the OAuth server: one refresh each, the posted pair is spent.
    assert cloud.stats()["oauth"]["by_portal"] == {p.member_id: 1 for p in cloud.portals}
    stored = app.store.load(cloud.portals[0].member_id)
    assert stored.application_token == cloud.portals[0].credentials.application_token


def test_a_client_per_portal_reads_that_portals_data(world):
    cloud, app = world
    install_all(cloud, app)
    for portal in cloud.portals:
        with app.client(portal.member_id, verbose=False) as bx:
            assert isinstance(bx, Bitrix)
            titles = {r["TITLE"] for r in bx.get_all("crm.deal.list", {"select": ["TITLE"]})}
            assert len(titles) > 1
            got = {int(r["ID"]) for r in bx.get_all("crm.deal.list", {"select": ["ID"]})}
            assert got == portal.store.ids("deal")
    assert cloud.portals[0].stats()["requests"] > 0 and cloud.portals[1].stats()["requests"] > 0


def test_tokens_are_renewed_through_the_store_once_per_expiry(world):
    cloud, app = world
    install_all(cloud, app)
    member = cloud.portals[0].member_id
    clients = [app.client(member, verbose=False) for _ in range(3)]  # three "processes"
    before = cloud.stats()["oauth"]["by_portal"][member]
    for _ in range(10):  # ten minutes of one-minute tokens
        for bx in clients:
            assert bx.call("server.time")
        cloud.clock.advance(60)
    refreshes = cloud.stats()["oauth"]["by_portal"][member] - before
    # The installed token serves the first minute; then one refresh per minute, not three.
    assert refreshes == 9 and cloud.stats()["oauth"]["invalid_grant"] == 0
    assert sum(bx.stats()["refreshes"] for bx in clients) == 0  # never refused first
    for bx in clients:
        bx.close()


def test_client_keywords_are_bitrixs_own(world):
    cloud, app = world
    install_all(cloud, app)
    member = cloud.portals[0].member_id
    with app.client(member, verbose=False, requests_per_second=5, request_pool_size=250) as bx:
        assert bx.stats()["rate"] == pytest.approx(5.0)
    with pytest.raises(TypeError, match="token_func"):
        app.client(member, token_func=lambda: "x")
    with pytest.raises(ValueError):
        app.client(member, batch_size=99)


def test_unknown_portal(world):
    _, app = world
    with pytest.raises(TokenStoreError, match="not in the token store"):
        app.client("no-such-portal")


def test_a_dead_portal_is_named_marked_and_the_others_go_on(world):
    cloud, app = world
    install_all(cloud, app)
    dead, alive = cloud.portals
    dead.credentials.expire_refresh_tokens()  # the app went unused there for 180 days
    bx = app.client(dead.member_id, verbose=False)
    cloud.clock.advance(120)  # its access token has expired
    with pytest.raises(PortalAccessLost) as caught:
        bx.call("server.time")
    error = caught.value
    assert error.member_id == dead.member_id and error.domain == dead.credentials.domain
    assert dead.member_id in str(error) and dead.credentials.domain in str(error)
    assert {p.member_id: bool(p.dead) for p in app.portals()} == {dead.member_id: True,
                                                                 alive.member_id: False}
    with pytest.raises(PortalAccessLost):
        app.client(dead.member_id)  # fails at once, no request
    with app.client(alive.member_id, verbose=False) as other:
        assert other.call("server.time")
    assert cloud.stats()["oauth"]["invalid_grant"] == 1
    # Installing again brings it back.
    app.receive(dead.install_post(), FORM)
    with app.client(dead.member_id, verbose=False) as again:
        assert again.call("server.time")


def test_uninstall_removes_the_portal_when_its_token_is_right(world):
    cloud, app = world
    install_all(cloud, app)
    portal = cloud.portals[0]
    forged = portal.uninstall_post().replace(
        portal.credentials.application_token.encode(), b"0" * 32)
    with pytest.raises(EventRejected, match="application_token") as caught:
        app.receive(forged, FORM)
    assert portal.credentials.application_token not in str(caught.value)
    assert portal.member_id in app.store.members()
    portal.credentials.installed = True
    event = app.receive(portal.uninstall_post(), FORM)
    assert event.event == "ONAPPUNINSTALL" and portal.member_id not in app.store.members()


def test_other_event_posts_are_checked(world):
    cloud, app = world
    install_all(cloud, app)
    portal = cloud.portals[0]
    token = portal.credentials.application_token
    post = {"event": "ONCRMDEALUPDATE", "data": {"FIELDS": {"ID": "5"}},
            "auth": {"member_id": portal.member_id, "domain": "x", "application_token": token}}
    event = app.receive(post)
    assert event.data == {"FIELDS": {"ID": "5"}} and "application_token" not in repr(event)
    with pytest.raises(EventRejected):
        app.receive({**post, "auth": {**post["auth"], "application_token": "wrong"}})
    with pytest.raises(EventRejected, match="not installed"):
        app.receive({**post, "auth": {**post["auth"], "member_id": "other"}})
    with pytest.raises(EventRejected, match="no event"):
        app.receive(b"hello=1", FORM)


def test_a_forged_install_post_is_refused(world):
    cloud, app = world
    portal = cloud.portals[0]
    post = portal.install_post()
    forged = post.replace(portal.member_id.encode(), b"f" * 32)  # another portal's id
    with pytest.raises(EventRejected, match="another portal"):
        app.receive(forged, FORM)
    spent = portal.install_post()
    app.receive(spent, FORM)
    with pytest.raises(EventRejected, match="refused the posted tokens"):
        app.receive(spent, FORM)  # its refresh token was spent confirming it


def test_save_takes_a_token_set_as_delivered(world):
    cloud, app = world
    portal = cloud.portals[1]
    saved = app.save(portal.issue_tokens())
    assert saved.member_id == portal.member_id and saved.client_endpoint == portal.rest_base
    with app.client(portal.member_id, verbose=False) as bx:
        assert bx.call("server.time")
    with pytest.raises(ValueError, match="refresh_token"):
        app.save({"member_id": "m", "access_token": "a", "domain": "d"})


def test_each_portal_has_its_own_bucket_state_file(tmp_path, monkeypatch):
    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", str(tmp_path / "state"))
    clock = FakeClock()
    with AppPortals(2, deals=10, http=False, clock=clock) as cloud:
        app = OAuthApp(cloud.client_id, cloud.client_secret,
                       store=SQLTokenStore(f"sqlite:///{tmp_path / 't.sqlite'}", clock=clock),
                       token_url=cloud.token_url, transport=cloud.transport(), clock=clock)
        for portal in cloud.portals:
            app.save(portal.issue_tokens())
            with app.client(portal.member_id, verbose=False) as bx:
                bx.call("server.time")
        assert len(os.listdir(tmp_path / "state")) == 2


def test_each_portal_has_its_own_redis_keys(world, redis_url):
    import redis

    cloud, plain = world
    app = OAuthApp(cloud.client_id, cloud.client_secret, store=plain.store,
                   token_url=cloud.token_url, transport=cloud.transport(), clock=cloud.clock,
                   redis=redis_url)
    install_all(cloud, app)
    for portal in cloud.portals:
        with app.client(portal.member_id, verbose=False) as bx:
            bx.call("server.time")
    keys = {k.decode() for k in redis.Redis.from_url(redis_url).keys("bitrix_fast:app-*")}
    for portal in cloud.portals:
        assert f"bitrix_fast:app-{portal.member_id}:bucket" in keys
