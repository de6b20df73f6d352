"""The one scheduler: bounded look-ahead, failures that stop everything, halts with a grace,
deadlines, Ctrl+C, and threads that never keep a stopped process alive."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from bitrix_fast.errors import DeadlineExceeded, Stopped
from bitrix_fast.protocol.batch import Command, CommandResult
from bitrix_fast.run.pool import WorkerPool
from bitrix_fast.run.scheduler import Scheduler
from bitrix_fast.run.stop import Stop
from bitrix_fast.run.work import Work
from bitrix_fast.clock import SYSTEM_CLOCK
from fakes import FakeClock


class Counting:
    """A source handing out ``works`` units; each reply gives 10 outputs (unit, i)."""

    def __init__(self, works):
        self.left = works
        self.out = 0
        self.total = works * 10
        self.lost_units = []
        self.failed_units = []

    @property
    def done(self):
        return not self.left and not self.out

    def next_work(self):
        if not self.left:
            return None
        self.left -= 1
        self.out += 1
        return Work([Command("c0000", "x.list")], tags=[self.left])

    def mark(self):
        return None

    def ready(self):
        return []

    def before_send(self, work):
        pass

    def feed(self, work, results):
        self.out -= 1
        return [(work.tags[0], i) for i in range(10)]

    def failed(self, work, error):
        self.out -= 1
        if isinstance(error, Stopped):
            self.failed_units.append(work.tags[0])
            return []
        raise error

    def lost(self, work, error):
        self.out -= 1
        self.lost_units.append(work.tags[0])
        return []

    def leftovers(self, reason):
        return []


class FakeEngine:
    """Answers each batch by calling ``reply(work_tag)``; asks the stop before 'sending'."""

    def __init__(self, reply=lambda tag: None):
        self.reply = reply
        self.sent = []
        self.lock = threading.Lock()

    def batch(self, commands, *, read_only, stop, resend=True, before_send=None):
        (before_send or stop.before_send)()
        with self.lock:
            self.sent.append(commands)
        self.reply(commands)
        return [CommandResult(c.label, c.method, result=[]) for c in commands]

    def call(self, method, params, *, read_only, stop, before_send=None):
        raise AssertionError("not used")


def run(source, engine, *, workers=8, stop=None, **options):
    stop = stop or Stop("x.list", None, clock=SYSTEM_CLOCK)
    scheduler = Scheduler(engine, WorkerPool(workers))
    return scheduler.run(source, stop, **options), stop


def test_look_ahead_is_bounded_however_slow_the_caller():
    source = Counting(40)
    peak, lock = [0], threading.Lock()

    def reply(commands):
        with lock:
            peak[0] = max(peak[0], source.out)
        time.sleep(0.002)

    chunks, _ = run(source, FakeEngine(reply), look_ahead=3)
    rows = []
    for chunk in chunks:
        rows.extend(chunk.items)
        time.sleep(0.001)  # a slow consumer
    assert len(rows) == 400 and peak[0] <= 3


@pytest.mark.parametrize("look_ahead", [1, 2, 3])
def test_deliveries_the_caller_holds_count_against_the_look_ahead(look_ahead):
    """Replies in flight and deliveries not yet given back hold rows alike: together they
    never exceed look_ahead, however slow the caller (a database writer)."""
    source = Counting(12)
    held, peak, lock = [0], [0], threading.Lock()

    def reply(commands):
        with lock:  # this request is in flight while the caller holds what it holds
            peak[0] = max(peak[0], source.out + held[0])

    chunks, _ = run(source, FakeEngine(reply), look_ahead=look_ahead)
    rows = []
    for chunk in chunks:
        with lock:
            held[0] = 1
        rows.extend(chunk.items)
        time.sleep(0.02)  # the caller is slower than the wire
        with lock:
            held[0] = 0
    assert sorted(rows) == sorted((u, i) for u in range(12) for i in range(10))
    assert peak[0] <= look_ahead


def test_a_delivery_given_back_sends_the_next_request_at_once():
    """With the only slot held by the caller, coming back for more starts the next request
    without waiting for the driver's next check (a quarter of a second)."""
    source = Counting(6)
    sent_at = []
    chunks, _ = run(source, FakeEngine(lambda c: sent_at.append(time.monotonic())),
                    look_ahead=1)
    came_back = []
    for _ in chunks:
        time.sleep(0.01)
        came_back.append(time.monotonic())
    gaps = [sent - back for sent, back in zip(sent_at[1:], came_back)]
    assert len(sent_at) == 6 and max(gaps) < 0.1, gaps


def test_a_failure_ends_the_run_and_nothing_more_is_sent():
    source = Counting(20)
    engine = FakeEngine()
    calls = []

    def reply(commands):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        time.sleep(0.01)

    engine.reply = reply
    chunks, stop = run(source, engine, workers=2, look_ahead=2)
    with pytest.raises(RuntimeError, match="boom"):
        list(chunks)
    time.sleep(0.05)
    assert stop.halted and len(engine.sent) < 8


def test_closing_early_sends_nothing_more():
    source = Counting(100)
    engine = FakeEngine(lambda commands: time.sleep(0.005))
    chunks, stop = run(source, engine, workers=1, look_ahead=4)
    next(chunks)
    chunks.close()
    sent = len(engine.sent)
    time.sleep(0.05)
    assert stop.halted and len(engine.sent) == sent <= 6


def test_progress_gets_counts_and_the_total():
    seen = []
    chunks, _ = run(Counting(3), FakeEngine(), workers=2,
                    progress=lambda n, total: seen.append((n, total)))
    assert sum(len(c.items) for c in chunks) == 30
    assert seen == [(10, 30)] * 3


def test_after_a_halt_replies_in_the_grace_are_used_and_the_rest_is_lost():
    source = Counting(6)
    release = threading.Event()
    on_wire = threading.Semaphore(0)
    tags = {}

    def batch(commands, *, read_only, stop, resend=True, before_send=None):
        (before_send or stop.before_send)()
        on_wire.release()
        unit = tags[id(commands)]
        if unit < 2:      # the last two units hang until the test ends
            release.wait(5)
        elif unit < 5:    # these land within the grace
            time.sleep(0.05)
        return [CommandResult(c.label, c.method, result=[]) for c in commands]

    original = source.next_work

    def next_work():
        work = original()
        if work is not None:
            tags[id(work.commands)] = work.tags[0]
        return work

    source.next_work = next_work
    engine = FakeEngine()
    engine.batch = batch
    chunks, stop = run(source, engine, look_ahead=6)
    rows = []
    try:
        for chunk in chunks:
            if not stop.halted:
                for _ in range(6):  # every unit is on the wire before the halt
                    assert on_wire.acquire(timeout=5)
                stop.halt(None, grace=1.0)
            rows.extend(chunk.items)
    finally:
        release.set()
    assert {unit for unit, _ in rows} == {2, 3, 4, 5} and len(rows) == 40
    assert sorted(source.lost_units) == [0, 1]


def test_a_deadline_passed_while_waiting_ends_it_with_what_is_out_lost():
    clock = FakeClock()
    release = threading.Event()
    source = Counting(3)
    stop = Stop("x.list", 10.0, clock=clock)
    chunks, _ = run(source, FakeEngine(lambda c: release.wait(5)), stop=stop)
    threading.Timer(0.1, lambda: clock.advance(11)).start()
    started = time.monotonic()
    try:
        with pytest.raises(DeadlineExceeded):
            list(chunks)
    finally:
        release.set()
    assert time.monotonic() - started < 1.0
    assert sorted(source.lost_units) == [0, 1, 2]


def test_ctrl_c_while_waiting_halts_with_the_grace_then_raises_keyboard_interrupt():
    source = Counting(4)
    release = threading.Event()
    sent_after = []

    def reply(commands):
        release.wait(5)

    engine = FakeEngine(reply)
    chunks, stop = run(source, engine, workers=2, look_ahead=4, interrupt_grace=0.2)
    threading.Timer(0.1, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            list(chunks)
    finally:
        release.set()
    assert 0.2 <= time.monotonic() - started < 1.0
    assert stop.halted and isinstance(stop.reason, KeyboardInterrupt)
    time.sleep(0.05)
    # Two were on the wire; the two queued behind them never went out.
    assert len(engine.sent) == 2 and sorted(source.failed_units + source.lost_units) == [0, 1, 2, 3]


def test_a_process_with_requests_on_the_wire_ends_at_once():
    """The worker threads are daemons: a request still on the wire does not keep a stopped
    script alive (the standard pool joins its threads at exit)."""
    code = (
        "import threading, time\n"
        "from bitrix_fast.run.pool import WorkerPool\n"
        "pool = WorkerPool(4)\n"
        "for _ in range(4): pool.submit(time.sleep, 30)\n"
        "time.sleep(0.1)\n"
        "print('exiting', flush=True)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 0 and "exiting" in done.stdout
    assert time.monotonic() - started < 5
