"""``get_all(..., typed=True)`` and ``iter_all(..., typed=True)``: values converted by the
method's ``*.fields`` description, one request more, nothing dropped."""
import datetime as dt

from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox

SELECT = {"select": ["ID", "OPPORTUNITY", "CLOSED", "DATE_CREATE", "STAGE_ID"]}


def test_get_all_typed_gives_numbers_booleans_and_moments_for_one_request_more():
    with Sandbox(deals=120, http=False, clock=FakeClock()) as portal:
        bx = connect(portal)
        plain = bx.get_all("crm.deal.list", SELECT)
        plain_cost = portal.stats()["requests"]
        typed = bx.get_all("crm.deal.list", SELECT, typed=True)
        assert portal.stats()["requests"] - plain_cost == plain_cost + 1  # the fields
    assert [row["ID"] for row in typed] == [int(row["ID"]) for row in plain]
    for raw, row in zip(plain, typed):
        assert isinstance(row["ID"], int) and row["STAGE_ID"] == raw["STAGE_ID"]
        assert row["OPPORTUNITY"] == float(raw["OPPORTUNITY"])
        assert row["CLOSED"] is (raw["CLOSED"] == "Y")
        assert isinstance(row["DATE_CREATE"], dt.datetime)
        assert row["DATE_CREATE"].utcoffset() is not None
        assert row["DATE_CREATE"].isoformat() == raw["DATE_CREATE"]


def test_iter_all_typed_converts_as_rows_arrive_and_counts_what_did_not_parse():
    with Sandbox(deals=80, http=False, clock=FakeClock()) as portal:
        bx = connect(portal)
        rows = bx.iter_all("crm.deal.list", SELECT, typed=True)
        typed = list(rows)
    assert len(typed) == 80 and rows.unparsed == 0
    assert all(isinstance(row["CLOSED"], bool) for row in typed)
