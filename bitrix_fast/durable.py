"""Putting a finished file in place so that a crash cannot undo it: the rename, then an
fsync of the folder that holds the new entry (without it a power cut may bring the old file
back). The caller has already written and fsynced the file itself."""
from __future__ import annotations

import os

__all__ = ["replace"]


def replace(temporary: str, path: str) -> None:
    """Rename ``temporary`` over ``path`` (atomic on one file system) and make it last."""
    os.replace(temporary, path)
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return  # a folder that cannot be opened (some platforms): the rename stands
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
