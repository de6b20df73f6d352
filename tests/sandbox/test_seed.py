"""Seeding: counts, the three ID spaces, determinism and references."""
from __future__ import annotations

import random

import pytest

from bitrix_fast.testing.sandbox.outcome import CallContext
from bitrix_fast.testing.sandbox.seed import id_space
from bitrix_fast.testing.sandbox.store import Store


def gaps(ids):
    return [b - a for a, b in zip(ids, ids[1:])]


def test_uniform_ids_are_contiguous_from_one():
    assert id_space("uniform", 5, random.Random(0)) == [1, 2, 3, 4, 5]


def test_sparse_ids_hold_about_one_id_in_three():
    ids = id_space("sparse", 30_000, random.Random(1))
    steps = gaps(ids)
    assert ids[0] == 1 and len(set(ids)) == 30_000
    assert all(1 <= s <= 4 or 101 <= s <= 903 for s in steps)
    assert 2.8 < (ids[-1] - ids[0]) / len(ids) < 3.2
    assert 10 <= sum(s > 100 for s in steps) <= 60  # about 30 bigger jumps expected


def test_clustered_ids_come_in_dense_runs_between_huge_holes():
    ids = id_space("clustered", 200_000, random.Random(2))
    holes = [i for i, s in enumerate(gaps(ids)) if s > 1]
    runs = [b - a for a, b in zip([-1] + holes, holes)]
    assert ids[0] == 1 and holes
    assert all(500 <= r <= 20_000 for r in runs)
    assert all(10_001 <= ids[i + 1] - ids[i] <= 1_000_001 for i in holes)


def test_unknown_id_space_is_refused():
    with pytest.raises(ValueError, match="id_gaps"):
        id_space("random", 3, random.Random(0))


# clustered: more than the longest clustered run, so there is at least one hole; sparse:
# enough rows for the mean gap to show
@pytest.mark.parametrize("mode,n", [("uniform", 1000), ("sparse", 8000), ("clustered", 21_000)])
def test_every_entity_honours_the_id_space(mode, n):
    store = Store()
    store.seed(deals=n, leads=n, contacts=n, companies=n, tasks=n, users=n, id_gaps=mode, seed=3)
    for name in ("deal", "lead", "contact", "company", "task", "user"):
        ids = sorted(store.ids(name))
        assert len(ids) == n and ids[0] == 1
        span = ids[-1] - ids[0] + 1
        if mode == "uniform":
            assert span == n
        elif mode == "sparse":
            assert 2.5 * n < span < 3.5 * n
        else:
            assert span > n + 10_000
    store.close()


def test_seeding_is_deterministic_for_a_seed():
    def export(seed):
        store = Store()
        store.seed(deals=80, companies=5, contacts=5, users=4, id_gaps="sparse", seed=seed)
        rows = store.call("crm.deal.list", {"select": ["*", "UF_*"], "start": 0},
                          CallContext()).result
        store.close()
        return rows

    assert export(7) == export(7)
    assert export(7) != export(8)


def test_counts_and_the_single_default_user():
    store = Store()
    store.seed(deals=3, tasks=2)
    assert [store.count(n) for n in ("deal", "lead", "contact", "company", "task", "user")] == [
        3, 0, 0, 0, 2, 1]
    (admin,) = store.call("user.get", {}, CallContext()).result
    assert admin["ID"] == "1" and admin["ACTIVE"] is True
    store.close()


def test_references_point_at_seeded_rows():
    store = Store()
    store.seed(deals=300, contacts=20, companies=10, users=5, id_gaps="sparse", seed=4)
    users, companies = store.ids("user"), store.ids("company")
    contacts = store.ids("contact")
    deals = store.call("crm.item.list", {"entityTypeId": 2, "start": -1}, CallContext())
    for deal in deals.result["items"]:
        assert deal["assignedById"] in users and deal["createdBy"] in users
        assert deal["companyId"] is None or deal["companyId"] in companies
        assert deal["contactId"] is None or deal["contactId"] in contacts
    assert any(d["companyId"] for d in deals.result["items"])
    store.close()


def test_creation_dates_grow_with_the_id():
    store = Store()
    store.seed(deals=200, id_gaps="clustered")
    rows = store.call("crm.deal.list", {"select": ["ID", "DATE_CREATE"], "start": -1},
                      CallContext()).result
    created = [r["DATE_CREATE"] for r in rows]
    assert created == sorted(created) and created[0].startswith("2020-01-01")
    store.close()
