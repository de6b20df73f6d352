"""The progress bar: its ETA comes from the sustained rate, not the first burst, and it is one
line of at most 80 columns. Replies are timed by a fake clock."""
from __future__ import annotations

import io
import re

import pytest

from bitrix_fast.run.progress import SustainedRate, make_bar, make_progress
from fakes import FakeClock

ROWS = 2500  # rows per batch request of an export


def export_timeline(clock, bar, total_rows, *, burst=50, in_burst=0.06, sustained=0.5):
    """Feed ``bar`` an export as a standard portal serves it: ``burst`` replies close
    together, then one every ``sustained`` seconds."""
    replies = 0
    done = 0
    while done < total_rows:
        clock.advance(in_burst if replies < burst else sustained)
        count = min(ROWS, total_rows - done)
        bar.update(count)
        done += count
        replies += 1
        yield replies, done


def test_no_rate_during_the_burst_then_the_sustained_one():
    clock = FakeClock()
    rate = SustainedRate(burst=50)
    for _ in range(50):
        clock.advance(0.06)
        rate.record(clock.now(), ROWS)
    assert rate.per_second() is None and rate.eta(100_000) is None
    for _ in range(10):
        clock.advance(0.5)
        rate.record(clock.now(), ROWS)
    assert rate.per_second() == pytest.approx(5000)  # 2 requests/s x 2,500 rows
    assert rate.eta(50_000) == pytest.approx(10)


def test_the_window_forgets_old_speeds():
    clock = FakeClock()
    rate = SustainedRate(burst=0, window=10)
    for _ in range(40):
        clock.advance(0.1)
        rate.record(clock.now(), 100)   # 1,000/s
    for _ in range(60):
        clock.advance(1.0)
        rate.record(clock.now(), 100)   # then 100/s for a minute
    assert rate.per_second() == pytest.approx(100, rel=0.15)


def test_a_job_that_ends_within_its_burst_never_shows_an_eta():
    rate = SustainedRate(burst=50)
    for n in range(30):
        rate.record(n * 0.05, ROWS)
    assert rate.eta(10) is None


def drawn_lines(buffer):
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", buffer.getvalue())  # cursor moves take no room
    return [line for line in re.split(r"[\r\n]", text) if line.strip()]


def test_the_bar_eta_is_honest_after_the_burst_and_fits_80_columns():
    clock = FakeClock()
    buffer = io.StringIO()
    total = 300_000  # 120 requests: 50 in the burst, 70 at 2/s = about 35 s more
    bar = make_bar("crm.deal.list", total, "rows", burst=50, clock=clock.now, file=buffer,
                   mininterval=0, columns=200)
    with bar:
        check_eta(clock, bar, buffer, total)
    assert max(len(line) for line in drawn_lines(buffer)) <= 80


def check_eta(clock, bar, buffer, total):
    for replies, done in export_timeline(clock, bar, total):
        line = drawn_lines(buffer)[-1]
        eta = re.search(r"<([0-9:?]+),", line).group(1)
        if replies < 53:  # the burst's 50, then 3 more to measure
            assert eta == "?", f"an ETA during the burst: {line}"
        elif replies == 60:
            # 60 of 120 replies: 60 more at 2 per second.
            minutes, seconds = map(int, eta.split(":"))
            assert 28 <= minutes * 60 + seconds <= 32, line
            assert "5.00krows/s" in line


@pytest.mark.parametrize("columns", [200, 80, 60])
def test_one_line_within_the_terminal_and_80_columns(columns):
    clock = FakeClock()
    buffer = io.StringIO()
    bar = make_bar("crm.item.productrow.list", 12_345_678, "rows", burst=2, clock=clock.now,
                   file=buffer, mininterval=0, columns=columns)
    for _ in range(10):
        clock.advance(0.5)
        bar.update(2500)
    bar.close()
    lines = drawn_lines(buffer)
    assert lines and max(len(line) for line in lines) <= min(80, columns)
    assert "\n" not in buffer.getvalue().rstrip("\n")  # redrawn in place, never a new line


def test_a_bar_without_a_total_shows_count_and_rate():
    clock = FakeClock()
    buffer = io.StringIO()
    bar = make_bar("tasks.task.list", None, "rows", burst=2, clock=clock.now, file=buffer,
                   mininterval=0)
    for _ in range(8):
        clock.advance(1.0)
        bar.update(50)
    bar.close()
    last = drawn_lines(buffer)[-1]
    assert "400 rows" in last and "50.0rows/s" in last and len(last) <= 80


def test_progress_passes_the_burst_to_its_bar(monkeypatch):
    made = {}

    def fake_bar(description, total, unit="rows", *, burst):
        made.update(description=description, total=total, unit=unit, burst=burst)
        return None

    monkeypatch.setattr("bitrix_fast.run.progress.make_bar", fake_bar)
    make_progress(True, True, "crm.deal.add", total=10, unit="items", burst=250)
    assert made == {"description": "crm.deal.add", "total": 10, "unit": "items", "burst": 250}
