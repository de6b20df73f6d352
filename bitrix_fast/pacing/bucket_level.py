"""Where a :class:`~bitrix_fast.pacing.bucket.TokenBucket` keeps the portal's fill level.

The portal counts requests per portal *and source IP*, so every client on this machine that
talks to one portal draws on one bucket: two ``Bitrix`` objects in one script, a cron job
that starts while the last one still runs, a Django worker next to a management command.
If each of them assumed an empty bucket of its own, the second would be refused.

So by default the level lives in a small file per portal, read and written under an
exclusive ``flock``: every client and process on the machine sees what the others took. The
files are in the user's cache directory, by the platform's convention
(``$XDG_CACHE_HOME/bitrix_fast`` or ``~/.cache/bitrix_fast`` on Linux,
``~/Library/Caches/bitrix_fast`` on macOS), the folder created 0700 and each file 0600, named
by a hash of the portal's ``host:port``; a file holds two numbers and nothing else (no URL, no
webhook code). ``BITRIX_FAST_STATE_DIR`` names another folder; ``BITRIX_FAST_STATE_DIR=none``
keeps the level in memory, shared by the clients of this process only, as it is where file
locks are not available (Windows).

A :class:`LevelState` hands out the level inside :meth:`~LevelState.transaction`; the bucket
does its arithmetic there. Times are ``time.monotonic()`` seconds, which are system-wide on
Linux, macOS and Windows; a stamp from the future (a reboot) is read as an empty bucket.
"""
from __future__ import annotations

import hashlib
import os
import struct
import sys
import threading
import weakref
from contextlib import contextmanager
from typing import ContextManager, Iterator, Optional, Protocol

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Environment variable naming the folder for state files; ``none`` keeps state in memory.
STATE_DIR_ENV = "BITRIX_FAST_STATE_DIR"
_RECORD = struct.Struct("<dd")  # level, stamp


class Level:
    """The portal's estimated fill level (requests in its bucket) at monotonic time ``stamp``.
    ``stamp`` None: nothing known yet, an empty bucket."""

    __slots__ = ("level", "stamp")

    def __init__(self, level: float = 0.0, stamp: Optional[float] = None) -> None:
        self.level = level
        self.stamp = stamp


class LevelState(Protocol):
    """Where a bucket's level is kept: :meth:`transaction` hands it out, exclusively."""

    def transaction(self) -> ContextManager[Level]:
        """The level, for reading and changing; changes are kept when the block ends."""


class MemoryState:
    """The level in this process's memory, shared by every bucket given this object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = Level()

    @contextmanager
    def transaction(self) -> Iterator[Level]:
        with self._lock:
            yield self._value


class FileState:
    """The level in a file, changed only under an exclusive ``flock`` (see module docs)."""

    def __init__(self, path: str) -> None:
        self.path = path
        # Threads of this process queue here first, so only one at a time waits on the file.
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Level]:
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                data = os.pread(fd, _RECORD.size, 0)
                value = Level(*_RECORD.unpack(data)) if len(data) == _RECORD.size else Level()
                before = (value.level, value.stamp)
                yield value
                if (value.level, value.stamp) != before and value.stamp is not None:
                    os.pwrite(fd, _RECORD.pack(value.level, value.stamp), 0)
            finally:
                os.close(fd)  # closing releases the lock


_SHARED: "weakref.WeakValueDictionary[str, LevelState]" = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def _state_dir() -> Optional[str]:
    configured = os.environ.get(STATE_DIR_ENV)
    if configured is not None and configured.strip().lower() in ("", "none", "off", "0"):
        return None
    if fcntl is None:
        return None
    folder = configured or cache_dir()
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder


def cache_dir() -> str:
    """The user's cache folder for bitrix_fast, by the platform's convention."""
    if sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    elif sys.platform == "win32":  # pragma: no cover - no file locks there anyway
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
    return os.path.join(base, "bitrix_fast")


def _file_name(portal: str) -> str:
    # Hashed: the file name tells nothing about which portal it is for.
    return hashlib.sha256(portal.lower().encode("utf-8")).hexdigest()[:24] + ".bucket"


def state_for(portal: str) -> LevelState:
    """The shared level of ``portal`` (``host[:port]``): one object per portal in this
    process, backed by a file for the whole machine where possible."""
    folder = _state_dir()
    key = os.path.join(folder, _file_name(portal)) if folder else "memory:" + portal.lower()
    with _SHARED_LOCK:
        state = _SHARED.get(key)
        if state is None:
            state = FileState(key) if folder else MemoryState()
            _SHARED[key] = state
        return state


def forget(portal: str) -> None:
    """Drop what this machine knows of ``portal``'s level: its bucket is empty (the sandbox
    calls this when a portal starts on a port an earlier one may have used)."""
    folder = _state_dir()
    if folder:
        try:
            os.unlink(os.path.join(folder, _file_name(portal)))
        except OSError:
            pass
    with _SHARED_LOCK:
        key = (os.path.join(folder, _file_name(portal)) if folder
               else "memory:" + portal.lower())
        state = _SHARED.get(key)
    if isinstance(state, MemoryState):
        with state.transaction() as value:
            value.level, value.stamp = 0.0, None


__all__ = ["Level", "MemoryState", "FileState", "state_for", "forget", "STATE_DIR_ENV"]
