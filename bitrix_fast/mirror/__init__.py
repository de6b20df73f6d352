"""Keep a local database in step with a portal, typed for BI tools, one cheap run at a time.

::

    from bitrix_fast import Bitrix
    from bitrix_fast.mirror import sync, sync_all

    with Bitrix(webhook) as bx:
        result = sync(bx, "crm.deal.list", "sqlite:///crm.sqlite", product_rows=True)
        print(result.summary())
        for line in sync_all(bx, "postgresql://bi@db/crm").lines():   # every CRM table
            print(line)

Modules, one idea each: :mod:`.spec` (the listing and its table name), :mod:`.layout`
(where each field lives), :mod:`.typedwriter` (rows into typed columns), :mod:`.store` /
:mod:`.sqlite` / :mod:`.postgres` (the two databases), :mod:`.deletions` (the sans-I/O
range-count check), :mod:`.owners` / :mod:`.productrows` (product rows by owner groups),
:mod:`.dictionaries` / :mod:`.refresh` / :mod:`.meta` (the tables BI joins to),
:mod:`.table` (one table's run), :mod:`.run` (:func:`sync`), :mod:`.crm` (:func:`sync_all`)
and :mod:`.config` (the config file). Tables made before typed columns keep their old
writer (:mod:`.writer`, :mod:`.fields`).
"""
from __future__ import annotations

from .crm import AllResult, TableSpec, sync_all
from .errors import MirrorBusy, MirrorConflict, MirrorError, StoreError
from .run import DEFAULT_OVERLAP, SyncResult, sync
from .spec import table_name

__all__ = ["AllResult", "DEFAULT_OVERLAP", "MirrorBusy", "MirrorConflict", "MirrorError",
           "StoreError", "SyncResult", "TableSpec", "sync", "sync_all", "table_name"]
