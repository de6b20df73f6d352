"""``Bitrix.iter_call`` and ``call(method, [items])`` on top of it, against an in-memory
sandbox portal on a FakeClock (no socket, no sleep)."""
from __future__ import annotations

import threading
import time

import pytest

from bitrix_fast import BatchError, Bitrix, BitrixError
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox.cost import CostModel
from bitrix_fast.writes.bulk import Interrupted, Status
from portals_b import Gate, Interrupting, Trigger


def titles(sb):
    with connect(sb) as bx:
        return {r["TITLE"]: int(r["ID"]) for r in bx.get_all("crm.deal.list",
                                                              {"select": ["ID", "TITLE"]})}


@pytest.mark.bitrix_portal(deals=0, plan="x10")
def test_iter_call_streams_one_outcome_per_item(bitrix_portal):
    source = ({"fields": {"TITLE": f"deal {n}"}} for n in range(230))
    with connect(bitrix_portal) as bx:
        outcomes = list(bx.iter_call("crm.deal.add", source))
    assert sorted(o.index for o in outcomes) == list(range(230))
    assert all(o.status is Status.RESULT for o in outcomes)
    created = titles(bitrix_portal)
    assert len(created) == 230
    assert all(created[f"deal {o.index}"] == o.result for o in outcomes)


@pytest.mark.bitrix_portal(deals=0, plan="x10")
def test_iter_call_unwraps_item_results(bitrix_portal):
    with connect(bitrix_portal) as bx:
        (outcome,) = bx.iter_call("crm.item.add", [{"entityTypeId": 2,
                                                    "fields": {"title": "x"}}])
    assert outcome.ok and outcome.result["title"] == "x"


@pytest.mark.bitrix_portal(deals=0, plan="x10")
def test_a_wrong_webhook_sends_one_item_and_reports_the_rest_not_sent(bitrix_portal):
    bad = bitrix_portal.webhook.replace(bitrix_portal.credentials.webhook_code, "wrong12345")
    with Bitrix(bad, verbose=False, transport=bitrix_portal.transport(),
                clock=bitrix_portal.clock) as bx, pytest.raises(BitrixError) as caught:
        bx.call("crm.deal.add", [{"fields": {"TITLE": str(n)}} for n in range(6000)])
    # call() may raise the AuthError itself (nothing ran), with the BatchError as its cause.
    error = caught.value if isinstance(caught.value, BatchError) else caught.value.__cause__
    assert isinstance(error, BatchError)
    assert bitrix_portal.stats()["requests"] == 1
    assert list(error.errors) == [0]  # the first request carries one item
    assert list(error.not_sent) == list(range(1, 6000))
    assert not error.results and not error.in_doubt
    assert "5999 not sent" in str(error) and "wrong12345" not in str(error)


def test_iter_call_rejects_what_is_not_a_list_of_items():
    with Bitrix("http://127.0.0.1:9/rest/1/secretcode1/", verbose=False) as bx:
        for bad in ("crm", {"fields": {}}, 5):
            with pytest.raises(TypeError, match="items"):
                bx.iter_call("crm.deal.add", bad)
        with pytest.raises(ValueError, match="look_ahead"):
            bx.iter_call("crm.deal.add", [], look_ahead=0)


@pytest.mark.bitrix_portal(deals=0, plan="x10", cost=CostModel(per_command=0.01))
def test_ctrl_c_in_call_raises_interrupted_with_everything_known(bitrix_portal):
    """A real SIGINT to the main thread while call() waits (the library installs no handler:
    Python's own raises KeyboardInterrupt there): the call stops sending, lets the replies on
    the wire land, and raises Interrupted -- a KeyboardInterrupt -- with every item's fate."""
    total = 20000
    wire = Interrupting(bitrix_portal.transport(), after=10)
    with Bitrix(bitrix_portal.webhook, verbose=False, request_pool_size=50,
                requests_per_second=20, transport=wire, clock=bitrix_portal.clock) as bx:
        with pytest.raises(Interrupted) as caught:
            bx.call("crm.deal.add", [{"fields": {"TITLE": f"deal {n}"}} for n in range(total)])
    stopped = caught.value
    assert isinstance(stopped, KeyboardInterrupt)
    assert stopped.results and stopped.not_sent
    fates = [set(stopped.results), set(stopped.in_doubt), set(stopped.not_sent),
             set(stopped.errors)]
    assert sum(len(f) for f in fates) == total  # every item once, in one of them
    assert set().union(*fates) == set(range(total))
    # Stopped soon: most of the input never left, and only what was already on its way
    # went out after the signal (at most the requests in flight then).
    assert len(stopped.not_sent) > total / 2
    # The first ten requests (one item, then batches of 50) were answered before the signal
    # was even sent: those replies are results, not "in doubt", however short the grace.
    assert len(stopped.results) >= 1 + 9 * 50
    assert wire.sent_after_signal <= 50
    made = {int(t.split()[1]) for t in titles(bitrix_portal)}
    # Every deal the portal created is reported (succeeded or in doubt), none not sent.
    assert set(stopped.results) <= made
    assert made <= set(stopped.results) | set(stopped.in_doubt)
    assert not made & set(stopped.not_sent)


@pytest.mark.bitrix_portal(deals=0, plan="x10")
def test_replies_that_landed_are_results_even_when_the_grace_is_over(bitrix_portal):
    """stop() gives the requests on the wire ``stop_wait`` to come back. A reply that has come
    back is a result whenever the call gets to it -- even if the grace ran out first, because
    the caller was busy -- never "in doubt": in doubt means the item may have to be checked
    or sent again, and an export would read its rows twice."""
    gate = Gate(bitrix_portal.transport(), passing=3)
    clock = bitrix_portal.clock
    with Bitrix(bitrix_portal.webhook, verbose=False, request_pool_size=50,
                requests_per_second=20, transport=gate, clock=clock) as bx:
        calls = bx.iter_call("crm.deal.add", ({"fields": {"TITLE": f"deal {n}"}}
                                              for n in range(501)), stop_wait=1.0)
        first = next(calls)  # the lone first item; then batches 2 and 3 come back and
        # the call holds their outcomes for the caller, who is busy: nothing else is read
        assert gate.wait_until(held=1, answered=3), "no batch reached the held requests"
        calls.stop()
        gate.open()  # the held requests are sent and answered after the stop, in the grace
        assert gate.wait_until(answered=3 + gate.held)
        time.sleep(0.3)  # their worker threads finish with them
        clock.advance(5.0)  # the caller comes back after the grace
        outcomes = [first, *calls]
    by_status = {status: {o.index for o in outcomes if o.status is status} for status in Status}
    assert sorted(o.index for o in outcomes) == list(range(501))
    made = {int(t.split()[1]) for t in titles(bitrix_portal)}
    assert by_status[Status.IN_DOUBT] == set(), "replies that came back were left in doubt"
    assert by_status[Status.RESULT] == made
    assert len(made) == 1 + 50 * (2 + gate.held)
    assert by_status[Status.NOT_SENT] == set(range(501)) - made


class Watch:
    """A transport that counts the requests that leave after a reply refusing the
    credentials (HTTP 401) came back, and can wait until such a reply came back and nothing
    is on the wire."""

    def __init__(self, inner):
        self._inner = inner
        self._lock = threading.Condition()
        self._refused = False
        self._on_wire = 0
        self.sent_after_refusal = 0

    def exchange(self, request):
        with self._lock:
            self._on_wire += 1
            if self._refused:
                self.sent_after_refusal += 1
        try:
            response = self._inner.exchange(request)
        finally:
            with self._lock:
                self._on_wire -= 1
                self._lock.notify_all()
        if response.status == 401:
            with self._lock:
                self._refused = True
                self._lock.notify_all()
        return response

    def wait_refused_and_idle(self, timeout=10.0):
        with self._lock:
            return self._lock.wait_for(lambda: self._refused and self._on_wire == 0, timeout)

    def close(self):
        self._inner.close()


@pytest.mark.bitrix_portal(deals=0, plan="x10")
def test_nothing_more_is_sent_once_the_credentials_are_refused(bitrix_portal_factory):
    """bulk.py: after an authentication error nothing more is sent. The webhook is deleted
    on the portal at its 100th add; the caller takes the first outcome, then is busy until a
    refusal has come back and nothing is on the wire; from then on not one request may
    leave -- the rest of the input is NOT_SENT (safe to resend with --resume)."""
    from bitrix_fast.testing.sandbox.store import Store

    store = Store()
    store.seed(deals=0)
    portals = []

    def delete_webhook():
        portals[0].credentials.webhook_code = "revoked0000"

    portals.append(bitrix_portal_factory(plan="x10", store=Trigger(
        store, "crm.deal.add", after=100, action=delete_webhook)))
    portal = portals[0]
    wire = Watch(portal.transport())
    try:
        with Bitrix(portal.webhook, verbose=False, request_pool_size=50,
                    requests_per_second=20, transport=wire, clock=portal.clock) as bx:
            calls = bx.iter_call("crm.deal.add",
                                 ({"fields": {"TITLE": str(n)}} for n in range(6000)))
            outcomes = [next(calls)]
            assert wire.wait_refused_and_idle(), "no request was refused"
            outcomes.extend(calls)
    finally:
        store.close()
    assert sorted(o.index for o in outcomes) == list(range(6000))
    assert any(o.status is Status.NOT_SENT for o in outcomes)
    assert wire.sent_after_refusal == 0
