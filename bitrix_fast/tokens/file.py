"""``FileTokenStore``: every portal's tokens in one JSON file, for the processes of one machine.

Each read or change happens under an exclusive ``flock`` on a lock file beside the data
file (``<path>.lock``), so the processes of this machine take turns. A change is written to
a temporary file in the same folder, flushed to disk and renamed over the old one: a crash
leaves the old file or the new one, never half of either. Both files are created ``0600``.

Portal locks are leases recorded in the same file (owner token and the Unix time they end,
by this machine's clock), so a process killed while refreshing holds its portal for at most
the lease. For several machines, share :class:`~.sql.SQLTokenStore` or
:class:`~.redis_store.RedisTokenStore` instead.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from .. import durable
from ..clock import Clock
from ..errors import TokenStoreError
from .store import LeaseLocks, check_member_id
from .tokenset import TokenSet

__all__ = ["FileTokenStore"]

_VERSION = 1


class FileTokenStore(LeaseLocks):
    """Token sets in the JSON file ``path`` (created on the first save; its folder must
    exist). Thread-safe and process-safe on one machine. ``clock`` is for tests."""

    def __init__(self, path: str, *, clock: Optional[Clock] = None) -> None:
        super().__init__(clock)
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise TypeError("path must name the token file, e.g. 'tokens.json'")
        if fcntl is None:  # pragma: no cover - Windows
            raise TokenStoreError("FileTokenStore needs POSIX file locks; on this system "
                                  "use SQLTokenStore('sqlite:///tokens.sqlite')")
        self.path = os.path.abspath(os.fspath(path))
        self._lock_path = self.path + ".lock"
        self._threads = threading.Lock()

    # -- the TokenStore contract -------------------------------------------------------------
    def load(self, member_id: str) -> Optional[TokenSet]:
        member_id = check_member_id(member_id)
        with self._open(write=False) as data:
            found = data["portals"].get(member_id)
        return TokenSet.from_dict(found) if isinstance(found, dict) else None

    def save(self, tokens: TokenSet) -> None:
        member_id = check_member_id(tokens.member_id)
        with self._open(write=True) as data:
            data["portals"][member_id] = tokens.to_dict()

    def delete(self, member_id: str) -> bool:
        member_id = check_member_id(member_id)
        with self._open(write=True) as data:
            return data["portals"].pop(member_id, None) is not None

    def members(self) -> List[str]:
        with self._open(write=False) as data:
            return sorted(data["portals"])

    def close(self) -> None:
        """Nothing stays open between calls."""

    # -- leases ------------------------------------------------------------------------------
    def _try_lock(self, member_id: str, owner: str, lease: float) -> bool:
        now = self._clock.wall()
        with self._open(write=True) as data:
            held = data["locks"].get(member_id)
            if isinstance(held, dict) and float(held.get("until", 0)) > now:
                return False
            data["locks"][member_id] = {"owner": owner, "until": now + lease}
            return True

    def _unlock(self, member_id: str, owner: str) -> None:
        with self._open(write=True) as data:
            held = data["locks"].get(member_id)
            if isinstance(held, dict) and held.get("owner") == owner:
                del data["locks"][member_id]

    # -- the file ----------------------------------------------------------------------------
    @contextmanager
    def _open(self, *, write: bool) -> Iterator[Dict[str, Any]]:
        with self._threads:
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:
                raise TokenStoreError(f"token file {self.path}: cannot open its lock file "
                                      f"({error.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
                data = self._read()
                before = json.dumps(data, sort_keys=True) if write else ""
                yield data
                if write and json.dumps(data, sort_keys=True) != before:
                    self._write(data)
            finally:
                os.close(fd)  # closing releases the flock

    def _read(self) -> Dict[str, Any]:
        try:
            with open(self.path, "r", encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return {"version": _VERSION, "portals": {}, "locks": {}}
        except OSError as error:
            raise TokenStoreError(f"token file {self.path}: cannot read it "
                                  f"({error.strerror})") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("portals"), dict):
                raise ValueError("not a token file")
        except ValueError:
            # Never overwrite what may be someone's tokens in another format.
            raise TokenStoreError(f"token file {self.path}: not a bitrix_fast token file "
                                  f"(left untouched)") from None
        if not isinstance(data.get("locks"), dict):
            data["locks"] = {}
        return data

    def _write(self, data: Dict[str, Any]) -> None:
        folder = os.path.dirname(self.path)
        try:
            fd, temp = tempfile.mkstemp(prefix=".tokens-", dir=folder)
        except OSError as error:
            raise TokenStoreError(f"token file {self.path}: cannot write in {folder} "
                                  f"({error.strerror})") from None
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            durable.replace(temp, self.path)
        except OSError as error:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise TokenStoreError(f"token file {self.path}: cannot write it "
                                  f"({error.strerror})") from None

    def __repr__(self) -> str:
        return f"FileTokenStore({self.path!r})"
