"""A throwaway PostgreSQL server for the mirror tests.

``postgres_url`` (session) is, in order of preference:

1. ``$BITRIX_FAST_TEST_POSTGRES``: a server someone already runs (its URL);
2. a cluster made here with ``initdb`` + ``pg_ctl`` in a temp dir, on a free port, with
   fsync off, stopped and removed after the session. ``initdb`` refuses to run as root, so
   as root it runs as the ``postgres`` user (``runuser``).

When neither works the PostgreSQL tests are skipped with the reason -- except under CI
(``CI=true``), where ``.ci/run`` installs PostgreSQL and a skip would hide a missing server:
there they fail.

``postgres_db`` (function) is a fresh database on that server for one test.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from typing import Iterator, List, Optional

import pytest

ENV = "BITRIX_FAST_TEST_POSTGRES"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason} (install PostgreSQL or set {ENV})")


def _binary(name: str) -> Optional[str]:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A cluster in a temp dir, owned by the user the server runs as."""

    def __init__(self) -> None:
        self.initdb = _binary("initdb")
        self.pg_ctl = _binary("pg_ctl")
        if not self.initdb or not self.pg_ctl:
            _unavailable("initdb/pg_ctl not found")
        self.prefix: List[str] = []
        self.user = pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("running as root and there is no 'postgres' user for initdb")
            self.prefix = [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]
            self.user = "postgres"
        self.dir = tempfile.mkdtemp(prefix="bitrix-fast-pg-")
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self._run([self.initdb, "-D", self.data, "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8"], "initdb")
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run([self.pg_ctl, "-D", self.data, "-o", options, "-l",
                   os.path.join(self.dir, "log"), "-w", "-t", "30", "start"], "pg_ctl start")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: List[str], what: str) -> None:
        done = subprocess.run(self.prefix + args, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = os.path.join(self.dir, "log")
            tail = open(log).read()[-500:] if os.path.exists(log) else ""
            self.close()
            _unavailable(f"{what} failed: {(done.stderr or done.stdout).strip()[-300:]} "
                         f"{tail}")

    def close(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(self.prefix + [self.pg_ctl, "-D", self.data, "-m", "immediate",
                                          "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[postgres]')")
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    cluster = Cluster()
    try:
        yield cluster.url
    finally:
        cluster.close()


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    import psycopg
    from urllib.parse import urlsplit, urlunsplit

    name = f"mirror_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_url)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
