"""The listing property against the real sandbox portal: every list shape against every quirk
the sandbox can switch on, sparse and clustered IDs -- exactly the table's rows, once each,
or a ListingError naming the method; never a silent shortfall (issue 17)."""
import itertools

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.errors import ListingError
from bitrix_fast.testing.sandbox import Sandbox

ROWS = 6_000
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


def expected_ids(sb, table, where):
    with sb.store.locked() as db:
        sql = f'SELECT "ID" FROM "{table}"' + (f" WHERE {where}" if where else "")
        return sorted(row[0] for row in db.execute(sql))


@pytest.mark.parametrize("shape,quirks,gaps", CASES,
                         ids=[f"{s[0]}{'+filter' if s[3] else ''}-{'+'.join(q) or 'clean'}-{g}"
                              for s, q, g in CASES])
def test_every_row_once_or_a_named_error(shape, quirks, gaps):
    method, params, table, where, key = shape
    seed = {"deals": ROWS} if table == "deal" else {"tasks": ROWS} if table == "task" \
        else {"users": ROWS}
    with Sandbox(plan="x10", id_gaps=gaps, quirks=quirks, **seed) as sb:
        expected = expected_ids(sb, table, where)
        with Bitrix(sb.webhook, verbose=False, requests_per_second=20) as bx:
            unpageable = {"ignored_filters", "ignored_start"} <= set(quirks)
            try:
                rows = bx.get_all(method, params)
            except ListingError as error:
                assert error.method == method and unpageable, error
                return
    assert not unpageable, "a method that ignores both the ID filter and start was 'read'"
    got = [int(row[key]) for row in rows]
    assert len(got) == len(set(got)), "a row came twice"
    assert got == expected, (len(got), len(expected))
