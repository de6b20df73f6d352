"""Where an OAuth application keeps its portals' tokens, shared by its processes and machines.

::

    from bitrix_fast import OAuthApp
    from bitrix_fast.tokens import SQLTokenStore

    app = OAuthApp(CLIENT_ID, CLIENT_SECRET, store=SQLTokenStore("postgresql://app@db/app"))

Three stores keep one small contract (:class:`TokenStore`): load and save one portal's
:class:`TokenSet` by ``member_id``, delete it, list the portals, and a per-portal lock that
is a lease (it ends by itself, so a process that dies holding it blocks the others for at
most the lease).

FileTokenStore   one JSON file (flock, atomic rename, 0600): the processes of one machine
SQLTokenStore    ``sqlite:///file`` (one machine) or ``postgresql://...`` (several)
RedisTokenStore  Redis (several machines; ``pip install 'bitrix_fast[redis]'``)

Anything with the same methods works as a store too.
"""
from __future__ import annotations

from .file import FileTokenStore
from .redis_store import RedisTokenStore
from .sql import SQLTokenStore
from .store import DEFAULT_LEASE, LeaseLocks, TokenStore
from .tokenset import TokenSet

__all__ = ["DEFAULT_LEASE", "FileTokenStore", "LeaseLocks", "RedisTokenStore",
           "SQLTokenStore", "TokenSet", "TokenStore"]
