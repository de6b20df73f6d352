"""Typed values from a listing's ``*.fields`` description, shared by the mirror, the typed
exports and ``get_all(..., typed=True)``. Pure: nothing here talks to the portal except
:func:`load_fields`, which makes one call through the client's public API.

::

    from bitrix_fast.typed import load_fields, typed_rows

    fields = load_fields(bx, "crm.deal.list")          # one request
    rows = list(typed_rows(bx.get_all("crm.deal.list"), fields))
    # {"ID": 7, "OPPORTUNITY": 1500.0, "CLOSED": False, "DATE_CREATE": datetime(...), ...}

Modules: :mod:`.spec` (what a description says), :mod:`.values` (reading one value),
:mod:`.rows` (typing whole rows), :mod:`.naming` (column names), :mod:`.load` (the call).
"""
from __future__ import annotations

from .load import fields_call, load_fields
from .rows import CURRENCY_SUFFIX, RowTyper, typed_list, typed_rows
from .spec import KINDS, EnumItem, FieldSpec, describe, spec_for
from .values import BAD

__all__ = ["BAD", "CURRENCY_SUFFIX", "EnumItem", "FieldSpec", "KINDS", "RowTyper",
           "describe", "fields_call", "load_fields", "spec_for", "typed_list", "typed_rows"]
