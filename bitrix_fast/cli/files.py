"""Files that are never half-written under their own name.

A file is written as ``FILE.part`` and renamed over ``FILE`` only when it is complete, after
an fsync (so a crash right after the rename cannot leave an empty ``FILE`` either). Until
then the old ``FILE``, if any, is untouched: a failed or interrupted run destroys nothing.
"""
from __future__ import annotations

import os
from typing import IO

from .. import durable

PART = ".part"


def part_of(path: str) -> str:
    return path + PART


def sync_and_close(stream: IO[str]) -> None:
    try:
        stream.flush()
        os.fsync(stream.fileno())
    finally:
        stream.close()


def commit(part: str, path: str) -> None:
    """Put the finished ``part`` in the place of ``path`` (atomic on one file system)."""
    durable.replace(part, path)


def remove_if_empty(path: str) -> None:
    try:
        if os.path.getsize(path) == 0:
            os.remove(path)
    except OSError:
        pass


def write_atomically(path: str, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` through ``path.part``."""
    part = part_of(path)
    with open(part, "w", encoding=encoding) as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    commit(part, path)
