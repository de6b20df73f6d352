"""``Bitrix.iter_call`` and ``call(method, [items])`` on top of it, against the sandbox portal."""
from __future__ import annotations

import signal
import threading

import pytest

from bitrix_fast import BatchError, Bitrix, BitrixError
from bitrix_fast.writes.bulk import Interrupted, Status
from bitrix_fast.testing.sandbox import Sandbox
from bitrix_fast.testing.sandbox.cost import CostModel


def titles(sb):
    with Bitrix(sb.webhook, verbose=False) as bx:
        return {r["TITLE"]: int(r["ID"]) for r in bx.get_all("crm.deal.list",
                                                              {"select": ["ID", "TITLE"]})}


@pytest.mark.bitrix_sandbox(deals=0, plan="x10")
def test_iter_call_streams_one_outcome_per_item(bitrix_sandbox):
    source = ({"fields": {"TITLE": f"deal {n}"}} for n in range(230))
    with Bitrix(bitrix_sandbox.webhook, verbose=False) as bx:
        outcomes = list(bx.iter_call("crm.deal.add", source))
    assert sorted(o.index for o in outcomes) == list(range(230))
    assert all(o.status is Status.RESULT for o in outcomes)
    created = titles(bitrix_sandbox)
    assert all(created[f"deal {o.index}"] == o.result for o in outcomes)


@pytest.mark.bitrix_sandbox(deals=0, plan="x10")
def test_iter_call_unwraps_item_results(bitrix_sandbox):
    with Bitrix(bitrix_sandbox.webhook, verbose=False) as bx:
        (outcome,) = bx.iter_call("crm.item.add", [{"entityTypeId": 2,
                                                    "fields": {"title": "x"}}])
    assert outcome.ok and outcome.result["title"] == "x"


@pytest.mark.bitrix_sandbox(deals=0, plan="x10")
def test_a_wrong_webhook_sends_one_item_and_reports_the_rest_not_sent(bitrix_sandbox):
    bad = bitrix_sandbox.webhook.replace(bitrix_sandbox.credentials.webhook_code, "wrong12345")
    with Bitrix(bad, verbose=False) as bx, pytest.raises(BitrixError) as caught:
        bx.call("crm.deal.add", [{"fields": {"TITLE": str(n)}} for n in range(6000)])
    # call() may raise the AuthError itself (nothing ran), with the BatchError as its cause.
    error = caught.value if isinstance(caught.value, BatchError) else caught.value.__cause__
    assert isinstance(error, BatchError)
    assert bitrix_sandbox.stats()["requests"] == 1
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


def test_ctrl_c_in_call_raises_interrupted_with_everything_known():
    with Sandbox(deals=0, plan="x10", cost=CostModel(per_command=0.01)) as sb:
        with Bitrix(sb.webhook, verbose=False, request_pool_size=50,
                    requests_per_second=20) as bx:
            timer = threading.Timer(1.0, signal.pthread_kill,
                                    (threading.main_thread().ident, signal.SIGINT))
            timer.start()
            with pytest.raises(Interrupted) as caught:
                bx.call("crm.deal.add", [{"fields": {"TITLE": f"deal {n}"}}
                                         for n in range(20000)])
            timer.join()
        stopped = caught.value
        assert isinstance(stopped, KeyboardInterrupt)
        assert stopped.results and stopped.not_sent
        assert len(stopped.results) + len(stopped.in_doubt) + len(stopped.not_sent) + \
            len(stopped.errors) == 20000
        created = titles(sb)
        # Every deal the portal created is reported (succeeded or in doubt), none not sent.
        assert set(stopped.results) <= {int(t.split()[1]) for t in created}
        made = {int(t.split()[1]) for t in created}
        assert made <= set(stopped.results) | set(stopped.in_doubt)
        assert not made & set(stopped.not_sent)
