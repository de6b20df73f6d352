"""An unchanged fast_bitrix24 from PyPI must work against the sandbox like against a portal."""
from __future__ import annotations

import pytest

fast_bitrix24 = pytest.importorskip("fast_bitrix24")


def test_get_all_exports_every_deal_exactly_once(bitrix_sandbox_factory):
    portal = bitrix_sandbox_factory(deals=10_500, id_gaps="sparse", leads=0, contacts=0, companies=0, tasks=0)
    bx = fast_bitrix24.Bitrix(portal.webhook, verbose=False)
    deals = bx.get_all("crm.deal.list", params={"select": ["ID", "TITLE", "STAGE_ID"]})
    ids = [int(deal["ID"]) for deal in deals]
    assert len(ids) == len(set(ids)) == 10_500
    assert set(ids) == portal.store.ids("deal")
    assert all(set(deal) == {"ID", "TITLE", "STAGE_ID"} for deal in deals)
    stats = portal.stats()
    assert stats["refused_503"] == 0 and stats["internal_errors"] == 0
    assert stats["requests"] <= 10  # one counted call, then 50-page batches
    assert stats["rows_served"] == 10_500


def test_writes_and_get_by_id(bitrix_sandbox_factory):
    portal = bitrix_sandbox_factory(deals=20)
    bx = fast_bitrix24.Bitrix(portal.webhook, verbose=False)
    new = bx.call("crm.deal.add", [{"fields": {"TITLE": f"peer {i}"}} for i in range(60)])
    assert len(new) == 60 and portal.store.count("deal") == 80
    got = bx.get_by_ID("crm.deal.get", [1, 2, 3])
    assert {key: deal["ID"] for key, deal in got.items()} == {"1": "1", "2": "2", "3": "3"}
    titles = bx.get_all("crm.deal.list", params={"filter": {">ID": 20}, "select": ["ID", "TITLE"]})
    assert sorted(d["TITLE"] for d in titles) == sorted(f"peer {i}" for i in range(60))


@pytest.mark.slow
def test_offset_paging_300k_on_x10_light_is_never_billed(bitrix_sandbox_factory):
    """The ``light`` cost model must not turn fast_bitrix24's COUNT+OFFSET paging into 429s."""
    portal = bitrix_sandbox_factory(deals=300_000, plan="x10", cost="light",
                                    leads=0, contacts=0, companies=0, tasks=0)
    bx = fast_bitrix24.Bitrix(portal.webhook, verbose=False)
    deals = bx.get_all("crm.deal.list", params={"select": ["ID"]})
    assert {int(deal["ID"]) for deal in deals} == portal.store.ids("deal")
    stats = portal.stats()
    assert stats["refused_429"] == stats["refused_429_commands"] == 0
