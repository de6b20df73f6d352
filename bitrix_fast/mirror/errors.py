"""What can stop a mirror run besides the portal's own errors (those stay BitrixError)::

    MirrorError
    ├── MirrorBusy        another run holds this table's lock (SQLite: the database's write
    │                     lock; PostgreSQL: an advisory lock) and did not let go in time
    ├── MirrorConflict    the table holds another listing (method, params or filter) or is
    │                     not the mirror's at all; nothing was sent or written
    └── StoreError        the database refused or failed (disk full, bad URL, a value its
                          column type cannot hold); the run's changes were rolled back
"""
from __future__ import annotations


class MirrorError(Exception):
    """A mirror run could not be done; the database is as the last complete run left it."""


class MirrorBusy(MirrorError):
    """Another run of this mirror is under way."""


class MirrorConflict(MirrorError):
    """The table belongs to another listing, or to nobody we know."""


class StoreError(MirrorError):
    """The database failed; the run's changes were rolled back."""
