"""Aids for testing code that uses bitrix_fast: the sandbox portal (a local Bitrix24) and
the pytest plugin serving it.
"""
