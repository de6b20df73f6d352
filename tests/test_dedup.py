"""Deduplication by ID (listing/rows.py) and get_all's order by runs (listing/listing.py):
a page of new rows passes whole, anything else row by row, against a plain set as the model."""
import random

import pytest

from bitrix_fast.listing.listing import _in_runs
from bitrix_fast.listing.rows import BITMAP_LIMIT, Chunk, Dedup, IdSet
from bitrix_fast.protocol.methods import list_facts

FACTS = list_facts("crm.deal.list")


def rows(ids):
    return [{"ID": str(value)} for value in ids]


@pytest.mark.parametrize("run", [[5], [8, 9, 10, 11, 12, 13, 14, 15, 16], list(range(3, 700)),
                                 [1, 7, 9, 64, 65, 1000], list(range(16, 24))])
def test_a_new_run_is_added_whole(run):
    ids = IdSet()
    assert ids.add_run(run)
    assert len(ids) == len(run)
    assert all(value in ids for value in run)
    assert not any(value in ids for value in set(range(run[-1] + 20)) - set(run))


@pytest.mark.parametrize("seen", [0, 7, 8, 15, 16, 23, 24, 100, 699])
def test_a_run_over_a_seen_id_adds_nothing(seen):
    """Wherever the seen ID lies -- in the run's first byte, its last, between -- the run is
    refused whole, also when the seen ID is not one of the run's own (sparse runs)."""
    ids = IdSet()
    ids.add(seen)
    assert not ids.add_run(list(range(max(0, seen - 5), seen + 6)))
    if seen:  # a sparse run around it, without it
        around = [value for value in range(max(0, seen - 30), seen + 30, 7) if value != seen]
        assert around[0] < seen < around[-1] and not ids.add_run(around)
    assert len(ids) == 1


def test_runs_beyond_the_bitmap_are_left_to_single_adds():
    ids = IdSet()
    assert not ids.add_run([BITMAP_LIMIT - 1, BITMAP_LIMIT])
    assert not ids.add_run([-3, 4])
    assert len(ids) == 0


def test_random_runs_agree_with_a_set():
    rng = random.Random(11)
    ids, model = IdSet(), set()
    for _ in range(3_000):
        start = rng.randrange(0, 5_000)
        step = rng.choice((1, 1, 2, 7))
        run = list(range(start, start + step * rng.randrange(1, 60), step))
        added = ids.add_run(run)
        assert added == model.isdisjoint(range(run[0], run[-1] + 1))
        if added:
            model.update(run)
        else:
            for value in run:
                assert ids.add(value) == (value not in model)
                model.add(value)
        assert len(ids) == len(model)
    assert all((value in ids) == (value in model) for value in range(5_100))


def test_chunks_drop_what_passed_before_and_report_runs():
    dedup = Dedup(FACTS)
    out, runs = dedup.chunks([Chunk(rows([1, 2, 3]), [1, 2, 3]),
                              Chunk(rows([10, 6, 3]), [10, 6, 3])])  # a top page, descending
    assert [r["ID"] for r in out] == ["1", "2", "3", "6", "10"]
    assert runs == [(1, 3, 3), (6, 10, 2)]
    out, runs = dedup.chunks([Chunk(rows([3, 4, 5]), [3, 4, 5])])
    assert [r["ID"] for r in out] == ["4", "5"] and runs == [(4, 5, 2)]
    out, runs = dedup.chunks([Chunk(rows([4, 5]), [4, 5])])
    assert out == [] and runs == []
    assert (dedup.passed, dedup.dropped) == (7, 4)


def test_pages_in_the_servers_order_are_deduplicated_row_by_row_without_runs():
    dedup = Dedup(FACTS)
    out, runs = dedup.chunks([Chunk(rows([5, 1, 5, 2]))])
    assert [r["ID"] for r in out] == ["5", "1", "2"] and runs is None


def test_runs_order_deliveries_and_overlapping_runs_are_refused():
    a, b = rows([1, 2, 3]), rows([10, 11])
    c = rows([5, 6])
    assert _in_runs([b + c, a], [[(10, 11, 2), (5, 6, 2)], [(1, 3, 3)]], "ID") == a + c + b
    interleaved = rows([4, 8])
    assert _in_runs([a, interleaved, c], [[(1, 3, 3)], [(4, 8, 2)], [(5, 6, 2)]], "ID") is None
    # what was not recorded: a delivery missing, one of another length, rows of another order
    assert _in_runs([a], [[(1, 3, 3)], [(5, 6, 2)]], "ID") is None
    assert _in_runs([a[:2], c], [[(1, 3, 3)], [(5, 6, 2)]], "ID") is None
    assert _in_runs([a[::-1], c], [[(1, 3, 3)], [(5, 6, 2)]], "ID") is None
