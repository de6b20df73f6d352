"""The listing property against the sandbox portal: every list shape against every quirk the
sandbox can switch on, sparse and clustered IDs -- exactly the table's rows, once each, or a
ListingError naming the method; never a silent shortfall (issue 17).

The portal runs in memory on a FakeClock (the same routing and bytes as over HTTP, no socket,
no sleep). Its quirks live in the portal, not in the data, so one store per ID space serves
every case read-only. 2,600 rows a table: 52 pages, more than one batch of 50 commands, so
every case plans several ranges and several requests (4 to 6 measured), and a method paged
by offsets needs two batches of pages."""
import itertools

import pytest

from bitrix_fast.errors import ListingError
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox
from bitrix_fast.testing.sandbox.store import Store

ROWS = 2_600
#: (method, params, table, SQL filter of the rows expected, ID key in rows)
SHAPES = [
    ("crm.deal.list", {"select": ["ID", "TITLE"]}, "deal", None, "ID"),
    ("crm.deal.list", {"select": ["ID"], "filter": {"CATEGORY_ID": 0}}, "deal",
     "CATEGORY_ID = 0", "ID"),
    ("crm.item.list", {"entityTypeId": 2, "select": ["id", "title"]}, "deal", None, "id"),
    ("tasks.task.list", {"select": ["ID", "TITLE"]}, "task", None, "id"),
    ("user.get", {}, "user", None, "ID"),
]
QUIRK_SETS = [(), ("joined_pages",), ("ignored_filters",), ("ignored_start",),
              ("understated_total",), ("endless_next",), ("no_total",),
              ("joined_pages", "understated_total"), ("ignored_filters", "endless_next"),
              ("ignored_filters", "ignored_start")]
CASES = [(shape, quirks, gaps) for (shape, quirks), gaps in zip(
    itertools.product(SHAPES, QUIRK_SETS), itertools.cycle(["sparse", "clustered"]))]


@pytest.fixture(scope="module")
def stores():
    """One seeded store per ID space, shared by the cases (listing only reads)."""
    made = {}
    for gaps in ("sparse", "clustered"):
        store = Store()
        store.seed(deals=ROWS, tasks=ROWS, users=ROWS, id_gaps=gaps)
        made[gaps] = store
    yield made
    for store in made.values():
        store.close()


def expected_ids(store, table, where):
    with store.locked() as db:
        sql = f'SELECT "ID" FROM "{table}"' + (f" WHERE {where}" if where else "")
        return sorted(row[0] for row in db.execute(sql))


@pytest.mark.parametrize("shape,quirks,gaps", CASES,
                         ids=[f"{s[0]}{'+filter' if s[3] else ''}-{'+'.join(q) or 'clean'}-{g}"
                              for s, q, g in CASES])
def test_every_row_once_or_a_named_error(stores, shape, quirks, gaps):
    method, params, table, where, key = shape
    store = stores[gaps]
    expected = expected_ids(store, table, where)
    unpageable = {"ignored_filters", "ignored_start"} <= set(quirks)
    with Sandbox(store=store, plan="x10", quirks=quirks, http=False, clock=FakeClock()) as sb:
        with connect(sb, requests_per_second=20) as bx:
            try:
                rows = bx.get_all(method, params)
            except ListingError as error:
                assert error.method == method and unpageable, error
                return
        stats = sb.stats()
    assert not unpageable, "a method that ignores both the ID filter and start was 'read'"
    assert stats["requests"] >= 2 and stats["refused_503"] == 0
    got = [int(row[key]) for row in rows]
    assert len(got) == len(set(got)), "a row came twice"
    assert got == expected, (len(got), len(expected))
