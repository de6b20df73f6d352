"""Bulk calls (``BulkSource`` run by the scheduler, behind ``Bitrix.iter_call``) driven by a
fake engine on real worker threads: every item reported exactly once, bounded reading,
stopping on auth errors, stop(), close(), Ctrl+C and a failing input."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import List

import pytest

from bitrix_fast.clock import SYSTEM_CLOCK
from bitrix_fast.errors import ApiError, AuthError, BitrixError, ConnectionDropped, Stopped
from bitrix_fast.protocol.batch import CommandResult
from bitrix_fast.protocol.encoding import can_encode
from bitrix_fast.protocol.params import check_params
from bitrix_fast.run.pool import WorkerPool
from bitrix_fast.run.scheduler import Scheduler
from bitrix_fast.run.stop import Stop
from bitrix_fast.writes.bulk import BulkCall, BulkSource, Chunk, Status, report


class FakeEngine:
    """Answers each chunk with one CommandResult per item; records what was sent."""

    def __init__(self, answer=None, delay=0.0):
        self.sent: List[int] = []           # item indexes, in the order they were sent
        self.chunks: List[Chunk] = []
        self.lock = threading.Lock()
        self.answer = answer or (lambda index, params: CommandResult("c", "m", result=index))
        self.delay = delay
        self.hold = threading.Event()
        self.hold.set()
        self.index_of = {}  # id(checked params) -> item index, for items sent alone

    def batch(self, commands, *, read_only, stop, resend=True, before_send=None):
        chunk = Chunk(tuple(int(c.label[1:]) for c in commands),
                      tuple(c.params for c in commands))
        return self.run(chunk, before_send or stop.before_send)

    def call(self, method, params, *, read_only, stop, before_send=None):
        # Sent alone (a batch cannot carry it): errors are raised, as the engine raises them.
        chunk = Chunk((self.index_of[id(params)],), (params,), single=True)
        (before_send or stop.before_send)()
        (result,) = self.run(chunk, None)
        if result.error is not None:
            raise result.error
        return {"result": result.result}

    def run(self, chunk, before_send=None):
        if self.delay:
            time.sleep(self.delay)  # waiting for a slot and a token
        if before_send is not None:
            try:  # as the engine does: the hook may stop the batch right before it is sent
                before_send()
            except BitrixError as error:
                return [CommandResult("c", "m", error=error, executed=False)
                        for _ in chunk.indexes]
        with self.lock:
            self.chunks.append(chunk)
            self.sent.extend(chunk.indexes)
        self.hold.wait()  # on the wire: a portal that does not answer holds it here
        return [self.answer(index, params) for index, params in zip(chunk.indexes, chunk.items)]


@pytest.fixture
def pool():
    workers = WorkerPool(4)
    yield workers
    workers.shutdown()


def items(count, start=0):
    return ({"id": start + n, "fields": {"TITLE": f"deal {start + n}"}} for n in range(count))


def bulk(engine, source, pool, *, look_ahead=4, stop_wait=5.0,
         interrupt_grace=BulkCall.INTERRUPT_GRACE, **kwargs):
    """A bulk call as ``Bitrix.iter_call`` builds one, over the fake engine."""
    stop = Stop("crm.deal.update", None, clock=SYSTEM_CLOCK)
    counter = iter(range(10 ** 9))

    def check(item):
        index = next(counter)  # called once per item read, in order
        checked = check_params(item, "crm.deal.update")
        engine.index_of[id(checked)] = index
        return checked

    options = dict(read_only=False, batch_size=50, stop_wait=stop_wait, check=check,
                   batchable=can_encode)
    options.update(kwargs)
    calls = BulkSource("crm.deal.update", source, stop, **options)
    chunks = Scheduler(engine, pool).run(calls, stop, look_ahead=look_ahead,
                                         interrupt_grace=interrupt_grace,
                                         stop_grace=stop_wait)
    return BulkCall(calls, chunks, stop, stop_wait=stop_wait)


def by_status(outcomes):
    out = {status: [] for status in Status}
    for outcome in outcomes:
        out[outcome.status].append(outcome.index)
    return out


def assert_each_index_once(outcomes, count):
    indexes = [o.index for o in outcomes]
    assert sorted(indexes) == list(range(count)), "an item was lost or reported twice"


# -- the normal run --------------------------------------------------------------------------

def test_every_item_once_in_batches_of_50(pool):
    """The first request carries one item (it proves the credentials in the time of one
    command), the rest go 50 to a batch."""
    engine = FakeEngine()
    outcomes = list(bulk(engine, items(230), pool))
    assert_each_index_once(outcomes, 230)
    assert all(o.status is Status.RESULT and o.result == o.index for o in outcomes)
    assert engine.chunks[0].indexes == (0,)
    assert sorted(len(c.indexes) for c in engine.chunks) == [1, 29, 50, 50, 50, 50]


def test_an_item_a_batch_cannot_carry_goes_alone(pool):
    engine = FakeEngine()
    source = [{"id": 0, "fields": {"A": 1}}, {"id": 1, "fields": {"COMMENTS": None}},
              {"id": 2, "fields": {"A": 2}}]
    outcomes = list(bulk(engine, source, pool))
    assert_each_index_once(outcomes, 3)
    singles = [c for c in engine.chunks if c.single]
    assert [c.indexes for c in singles] == [(1,)]


def test_results_errors_and_doubts_are_told_apart_and_name_the_item(pool):
    def answer(index, params):
        if index % 3 == 1:
            return CommandResult("c0001", "crm.deal.update",
                                 error=ApiError("NOT_FOUND", "Not found", status=400,
                                                method="crm.deal.update", command_label="c0001"))
        if index % 3 == 2:
            return CommandResult("c", "crm.deal.update", in_doubt=True,
                                 error=ConnectionDropped("lost", method="crm.deal.update"))
        return CommandResult("c", "crm.deal.update", result={"ok": index})

    outcomes = list(bulk(FakeEngine(answer), items(9), pool))
    groups = by_status(outcomes)
    assert sorted(groups[Status.RESULT]) == [0, 3, 6]
    assert sorted(groups[Status.ERROR]) == [1, 4, 7]
    assert sorted(groups[Status.IN_DOUBT]) == [2, 5, 8]
    error = next(o.error for o in outcomes if o.index == 4)
    assert error.item == 4 and "item 4" in str(error) and "c0001" not in str(error)


def test_a_bad_item_is_an_error_of_its_own_and_never_sent(pool):
    engine = FakeEngine()
    source = [{"fields": {}}, {"fields": []}, "not a dict", {"fields": {}}]
    outcomes = list(bulk(engine, source, pool))
    assert_each_index_once(outcomes, 4)
    errors = {o.index: o.error for o in outcomes if o.status is Status.ERROR}
    assert set(errors) == {1, 2} and sorted(engine.sent) == [0, 3]
    assert isinstance(errors[1], TypeError) and "item 1" in str(errors[1])
    assert "'fields'" in str(errors[1])


def test_reading_is_lazy_and_bounded(pool):
    engine = FakeEngine(delay=0.01)
    read = []

    def source():
        for n in range(5000):
            read.append(n)
            yield {"fields": {"N": n}}

    call = bulk(engine, source(), pool, look_ahead=3)
    ahead = []
    for outcome in call:
        ahead.append(len(read) - len(engine.sent))
    assert len(read) == 5000
    # Read but not yet sent: at most the batches submitted plus the one being filled.
    assert max(ahead) <= 4 * 50


def test_the_first_request_goes_alone(pool):
    in_flight, peak = [0], [0]
    lock = threading.Lock()
    first_done = threading.Event()
    starts = []

    engine = FakeEngine(delay=0.02)
    run = engine.run

    def tracking(chunk, before_send=None):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            starts.append(first_done.is_set())
        try:
            return run(chunk, before_send)
        finally:
            with lock:
                in_flight[0] -= 1
            first_done.set()

    engine.run = tracking
    list(bulk(engine, items(500), pool))
    assert starts[0] is False and all(starts[1:]), "a batch went out before the first returned"
    assert peak[0] > 1  # then in parallel


# -- authentication errors ---------------------------------------------------------------------

def refused(index, params):
    return CommandResult("c", "crm.deal.update",
                         error=AuthError("INVALID_CREDENTIALS", "Invalid request credentials",
                                         status=401, method="crm.deal.update"))


def test_an_auth_error_stops_the_call_at_once(pool):
    engine = FakeEngine(refused)
    outcomes = list(bulk(engine, items(1000), pool))
    assert_each_index_once(outcomes, 1000)
    groups = by_status(outcomes)
    assert len(engine.chunks) == 1, "sent more after the portal refused the credentials"
    # The first request carries one item: a wrong webhook costs one item's command.
    assert sorted(groups[Status.ERROR]) == [0]
    assert sorted(groups[Status.NOT_SENT]) == list(range(1, 1000))
    reason = next(o.error for o in outcomes if o.status is Status.NOT_SENT)
    assert isinstance(reason, AuthError)


def test_an_auth_error_later_delivers_what_was_in_flight(pool):
    def answer(index, params):
        return refused(index, params) if index >= 200 else CommandResult("c", "m", result=index)

    engine = FakeEngine(answer, delay=0.02)
    outcomes = list(bulk(engine, items(3000), pool))
    assert_each_index_once(outcomes, 3000)
    groups = by_status(outcomes)
    sent = set(engine.sent)
    assert set(groups[Status.RESULT]) | set(groups[Status.ERROR]) == sent
    assert not sent & set(groups[Status.NOT_SENT])
    assert len(engine.chunks) <= 4 + 4 + 1  # what was submitted when the refusal came back
    assert len(groups[Status.NOT_SENT]) >= 3000 - 9 * 50


# -- stopping ------------------------------------------------------------------------------------

def test_stop_delivers_in_flight_and_reports_the_rest_not_sent(pool):
    engine = FakeEngine(delay=0.02)
    call = bulk(engine, items(2000), pool)
    outcomes = []
    for outcome in call:
        outcomes.append(outcome)
        if len(outcomes) == 120:
            call.stop()
    assert_each_index_once(outcomes, 2000)
    groups = by_status(outcomes)
    assert set(groups[Status.RESULT]) == set(engine.sent)
    assert len(groups[Status.NOT_SENT]) >= 2000 - (120 + 5 * 50)
    assert isinstance(next(o.error for o in outcomes if o.status is Status.NOT_SENT), Stopped)


def test_what_still_runs_after_stop_wait_is_in_doubt(pool):
    engine = FakeEngine()
    engine.hold.clear()  # every request hangs (on the wire, as far as anyone can tell)
    call = bulk(engine, items(400), pool, stop_wait=0.2, look_ahead=2)
    threading.Timer(0.1, call.stop).start()
    started = time.monotonic()
    outcomes = list(call)
    assert time.monotonic() - started < 2
    engine.hold.set()
    assert_each_index_once(outcomes, 400)
    groups = by_status(outcomes)
    assert groups[Status.IN_DOUBT] == [0]  # the first request, alone, still running
    assert len(groups[Status.NOT_SENT]) == 399
    doubt = next(o.error for o in outcomes if o.status is Status.IN_DOUBT)
    assert isinstance(doubt, Stopped) and "may have been executed" in str(doubt)


def test_close_waits_and_the_rest_can_still_be_read(pool):
    engine = FakeEngine(delay=0.02)
    call = bulk(engine, items(1000), pool)
    first = [next(call) for _ in range(10)]
    call.close()
    rest = list(call)
    outcomes = first + rest
    assert_each_index_once(outcomes, 1000)
    assert set(by_status(outcomes)[Status.RESULT]) == set(engine.sent)


def test_a_failing_input_is_re_raised_after_everything_is_reported(pool):
    engine = FakeEngine(delay=0.01)

    def source():
        yield from items(175)
        raise OSError("disk gone")

    outcomes = []
    with pytest.raises(OSError, match="disk gone"):
        for outcome in bulk(engine, source(), pool):
            outcomes.append(outcome)
    assert_each_index_once(outcomes, 175)
    assert set(by_status(outcomes)[Status.RESULT]) == set(engine.sent)


# -- Ctrl+C --------------------------------------------------------------------------------------

def interrupt_main():
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def test_ctrl_c_while_waiting_reports_everything_then_raises(pool):
    engine = FakeEngine(delay=0.05)
    sent_interrupt = threading.Event()
    run = engine.run

    def run_and_interrupt(chunk, before_send=None):
        result = run(chunk, before_send)
        if len(engine.chunks) == 3 and not sent_interrupt.is_set():
            sent_interrupt.set()
            interrupt_main()
        return result

    engine.run = run_and_interrupt
    outcomes = []
    with pytest.raises(KeyboardInterrupt):
        for outcome in bulk(engine, items(3000), pool):
            outcomes.append(outcome)
    assert_each_index_once(outcomes, 3000)
    groups = by_status(outcomes)
    assert set(groups[Status.RESULT]) == set(engine.sent)
    assert len(engine.sent) < 3000
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_library_installs_no_signal_handler(pool):
    engine = FakeEngine(delay=0.01)
    seen = set()
    for outcome in bulk(engine, items(300), pool):
        seen.add(signal.getsignal(signal.SIGINT))
    assert seen == {signal.default_int_handler}


def test_ctrl_c_in_the_consumers_code_leaves_the_block_within_the_grace(pool):
    """Without a handler of its own, a program's Ctrl+C lands where the main thread is: in
    its own code, it ends the loop at once; leaving the ``with`` block stops the call, gives
    replies on the wire the short interrupt grace, and nothing more is sent."""
    engine = FakeEngine(delay=0.2)
    started = None
    with pytest.raises(KeyboardInterrupt):
        with bulk(engine, items(3000), pool) as call:
            for outcome in call:
                if outcome.index == 0:
                    started = time.monotonic()
                    raise KeyboardInterrupt  # as if Ctrl+C came during this handling
    assert time.monotonic() - started < BulkCall.INTERRUPT_GRACE + 0.3
    sent = len(engine.sent)
    time.sleep(0.3)
    assert len(engine.sent) == sent < 3000


def test_a_handler_of_the_programs_own_that_calls_stop_reports_everything(pool):
    """What ``bitrix-fast call`` does: the first Ctrl+C only asks the call to stop, so no
    outcome is cut in half; every item is reported, then the program decides."""
    engine = FakeEngine(delay=0.01)
    handled = []
    call = bulk(engine, items(3000), pool)
    previous = signal.signal(signal.SIGINT, lambda signum, frame: call.stop())
    try:
        for outcome in call:
            if len(handled) == 100:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)  # the signal arrives here, in the middle of the handling
            handled.append(outcome)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert_each_index_once(handled, 3000)
    assert set(by_status(handled)[Status.RESULT]) == set(engine.sent)
    assert len(engine.sent) < 3000


def test_ctrl_c_under_someone_elses_handler_still_reports_everything_or_stops_at_once(pool):
    def raising(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, raising)
    try:
        engine = FakeEngine(delay=0.05)
        threading.Timer(0.15, interrupt_main).start()
        outcomes = []
        with pytest.raises(KeyboardInterrupt):
            for outcome in bulk(engine, items(3000), pool):
                outcomes.append(outcome)
        # The interrupt lands while the call waits for replies (it is there nearly all the
        # time): every item is reported before KeyboardInterrupt comes out.
        assert_each_index_once(outcomes, 3000)
        assert set(by_status(outcomes)[Status.RESULT]) == set(engine.sent)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_second_ctrl_c_raises_at_once(pool):
    engine = FakeEngine()
    engine.hold.clear()
    # The first Ctrl+C's grace is long, so only the second one can end the wait early.
    call = bulk(engine, items(500), pool, stop_wait=30, interrupt_grace=30)
    second = threading.Event()

    def twice():
        interrupt_main()
        time.sleep(0.2)
        second.set()
        interrupt_main()

    threading.Timer(0.1, twice).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        list(call)
    assert second.is_set() and time.monotonic() - started < 5
    engine.hold.set()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- report ------------------------------------------------------------------------------------

def test_report_sorts_outcomes_into_a_batch_error(pool):
    outcomes = list(bulk(FakeEngine(refused), items(120), pool))
    results, error = report("crm.deal.update", outcomes)
    assert results == {} and list(error.errors) == [0]
    assert list(error.not_sent) == list(range(1, 120))
    assert "119 not sent" in str(error)


# -- the write-ahead hook ----------------------------------------------------------------------

def test_on_send_comes_before_each_batch_is_run(pool):
    engine = FakeEngine()
    announced = []
    run = engine.run

    def checked(chunk, before_send=None):
        def announce_then_check():
            before_send()
            assert set(chunk.indexes) <= set(announced), "a batch ran before it was announced"
        return run(chunk, announce_then_check)

    engine.run = checked
    outcomes = list(bulk(engine, items(420), pool, on_send=announced.extend))
    assert_each_index_once(outcomes, 420)
    assert sorted(announced) == list(range(420))


def test_a_failing_on_send_sends_nothing_more_and_is_raised(pool):
    engine = FakeEngine(delay=0.01)
    calls = []

    def journal(indexes):
        calls.append(indexes)
        if len(calls) == 3:
            raise OSError("No space left on device")

    outcomes = []
    with pytest.raises(OSError, match="No space"):
        for outcome in bulk(engine, items(1000), pool, on_send=journal):
            outcomes.append(outcome)
    assert_each_index_once(outcomes, 1000)
    groups = by_status(outcomes)
    assert set(groups[Status.RESULT]) == set(engine.sent)
    assert not set(calls[2]) & set(engine.sent)  # the batch whose record failed stayed home
    assert set(calls[2]) <= set(groups[Status.NOT_SENT])


def test_the_ctrl_c_tests_work_in_a_job_started_with_sigint_ignored():
    # `pytest &` in a script or under nohup starts with SIGINT ignored; the suite must still
    # be able to test Ctrl+C there rather than wait forever for an interrupt.
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run(
        # One process, as a job's pytest would be (the suite's own -n workers are not it).
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-o", "addopts=", f"{here}/test_bulk.py::test_a_second_ctrl_c_raises_at_once",
         f"{here}/test_bulk.py::test_ctrl_c_while_waiting_reports_everything_then_raises"],
        cwd=os.path.dirname(here), capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
