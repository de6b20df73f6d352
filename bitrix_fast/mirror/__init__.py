"""Keep a local database in step with a portal's listing, one cheap run at a time.

::

    from bitrix_fast import Bitrix
    from bitrix_fast.mirror import sync

    with Bitrix(webhook) as bx:
        result = sync(bx, "crm.deal.list", "sqlite:///crm.sqlite",
                      select=["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "DATE_MODIFY"])
    print(result.summary())

Modules, one idea each: :mod:`.spec` (the listing and its table name), :mod:`.fields`
(column kinds from ``*.fields``), :mod:`.store` / :mod:`.sqlite` / :mod:`.postgres` (the two
databases), :mod:`.writer` (rows into columns), :mod:`.deletions` (the sans-I/O range-count
check) and :mod:`.run` (one run).
"""
from __future__ import annotations

from .errors import MirrorBusy, MirrorConflict, MirrorError, StoreError
from .run import DEFAULT_OVERLAP, SyncResult, sync
from .spec import table_name

__all__ = ["DEFAULT_OVERLAP", "MirrorBusy", "MirrorConflict", "MirrorError", "StoreError",
           "SyncResult", "sync", "table_name"]
