"""Aids for testing code that uses bitrix_fast: the sandbox portal (a local Bitrix24), an
in-memory transport into it (:mod:`.memory`), a virtual clock (:mod:`.clock`) and the opt-in
pytest plugin serving portals (:mod:`.pytest_plugin`).

::

    from bitrix_fast.testing.clock import FakeClock
    from bitrix_fast.testing.connect import connect
    from bitrix_fast.testing.sandbox import Sandbox

    with Sandbox(deals=5000, http=False, clock=FakeClock()) as portal:
        bx = connect(portal)             # no socket, no sleep
        assert len(bx.get_all("crm.deal.list")) == 5000

The package imports nothing itself: the pytest plugin lives here and must stay cheap to load
(the sandbox, and SQLite with it, load only when a portal is made).
"""
