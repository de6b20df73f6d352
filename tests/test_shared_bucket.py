"""One portal, one bucket: every client of a portal on this machine draws on the same level
(issue 14: a second client or a second process must never be refused)."""
import subprocess
import sys
import textwrap
import time

import pytest

from bitrix_fast.pacing.bucket import TokenBucket
from bitrix_fast.pacing.bucket_level import FileState, MemoryState, forget, state_for
from bitrix_fast.testing.connect import connect
from fakes import FakeClock


def test_two_buckets_on_one_file_share_the_burst(tmp_path):
    """A second bucket on the same state starts where the first left the portal's level."""
    clock = FakeClock()
    path = str(tmp_path / "portal.bucket")
    first = TokenBucket(rate=2.0, burst=10, clock=clock, state=FileState(path))
    for _ in range(10):
        assert first.acquire() == 0.0
    second = TokenBucket(rate=2.0, burst=10, clock=clock, state=FileState(path))
    assert second.available == 0.0
    assert second.try_acquire() == pytest.approx(0.5)
    clock.advance(1.0)  # two requests drained: either bucket may take them, not both
    assert first.try_acquire() == 0.0 and second.try_acquire() == 0.0
    assert first.try_acquire() > 0 and second.try_acquire() > 0


def test_a_level_from_another_boot_reads_as_an_empty_bucket(tmp_path):
    clock = FakeClock(start=100.0)
    path = str(tmp_path / "portal.bucket")
    TokenBucket(rate=2.0, burst=5, clock=FakeClock(start=10_000.0),
                state=FileState(path)).acquire()
    assert TokenBucket(rate=2.0, burst=5, clock=clock, state=FileState(path)).available == 5.0


def test_headroom_is_per_bucket_while_the_level_is_shared(tmp_path):
    clock = FakeClock()
    state = MemoryState()
    strict = TokenBucket(rate=1.0, burst=10, clock=clock, headroom=3, state=state)
    loose = TokenBucket(rate=1.0, burst=10, clock=clock, state=state)
    for _ in range(7):
        assert strict.acquire() == 0.0
    assert strict.try_acquire() > 0
    assert loose.available == pytest.approx(3.0)


def test_forget_empties_the_record_of_a_portal(tmp_path, monkeypatch):
    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", str(tmp_path))
    bucket = TokenBucket(rate=1.0, burst=4, clock=FakeClock(), state=state_for("h.example:1"))
    for _ in range(4):
        bucket.acquire()
    assert bucket.available == 0.0
    forget("h.example:1")
    assert list(tmp_path.iterdir()) == []
    assert bucket.available == 4.0
    # the file names say nothing about the portal
    state_for("h.example:1")
    bucket.acquire()
    assert all("example" not in p.name for p in tmp_path.iterdir())


def test_in_memory_sharing_when_files_are_off(monkeypatch):
    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", "none")
    a, b = state_for("m.example"), state_for("M.EXAMPLE")
    assert isinstance(a, MemoryState) and a is b


#: a burst small enough that one export of DEALS spends it (each takes 6 requests)
BURST, DEALS = 4, 12_000


def test_a_second_client_in_the_same_process_is_never_refused(bitrix_portal_factory):
    """The first client spends the whole burst; the second, created right after, waits for
    the portal to drain instead of being refused (the cause of a flaky test, issue 14). On
    the portal's FakeClock no time passes between the two unless someone waits for it."""
    sb = bitrix_portal_factory(deals=DEALS, plan="x10", burst=BURST)
    with connect(sb, request_pool_size=BURST, requests_per_second=20) as first:
        assert len(first.get_all("crm.deal.list", {"select": ["ID"]})) == DEALS
    spent, after_first = sb.stats()["requests"], sb.clock.now()
    assert spent > BURST  # the portal's bucket is full when the second starts
    with connect(sb, request_pool_size=BURST, requests_per_second=20) as second:
        assert len(second.get_all("crm.deal.list", {"select": ["ID"]})) == DEALS
    stats = sb.stats()
    assert stats["requests"] == 2 * spent and stats["refused_503"] == 0
    assert sb.max_window_excess() <= 0  # never more than burst + rate x t, in any window
    assert sb.clock.now() > after_first  # the second waited for the bucket to drain


_WORKER = textwrap.dedent("""
    import sys
    from bitrix_fast import Bitrix
    with Bitrix(sys.argv[1], verbose=False, request_pool_size=int(sys.argv[2]),
                requests_per_second=20) as bx:
        rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
    print(len(rows))
""")


def test_two_processes_started_one_after_the_other_are_never_refused(bitrix_sandbox_factory):
    """Two processes on one machine: the second starts once the first has spent the burst,
    and neither is refused (the level is in a file both lock)."""
    sb = bitrix_sandbox_factory(deals=DEALS, plan="x10", burst=BURST)
    command = [sys.executable, "-c", _WORKER, sb.webhook, str(BURST)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while sb.stats()["requests"] < BURST and first.poll() is None:
        assert time.monotonic() < deadline, "the first process sent nothing"
        time.sleep(0.01)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    outputs = [proc.communicate(timeout=120)[0].strip() for proc in (first, second)]
    assert outputs == [str(DEALS), str(DEALS)]
    stats = sb.stats()
    assert stats["refused_503"] == 0 and stats["requests"] > 2 * BURST
    assert sb.max_window_excess() <= 0
