"""Aids for testing code that uses bitrix_fast: the sandbox portal (a local Bitrix24), an
in-memory transport into it (:mod:`.memory`), a virtual clock (:mod:`.clock`) and the opt-in
pytest plugin serving portals (:mod:`.pytest_plugin`).
"""
