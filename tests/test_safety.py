"""Failures that lose nothing and wait no longer than they must, against the sandbox portal
in memory on a fake clock: a portal that stops answering, one that redirects, 500s that
repeat, batch replies with commands missing. Writes are counted on the portal: none is ever
created twice, and what may have run is reported in doubt, not resent. How long the client
waited is read off the fake clock: timeouts and backoffs pass in virtual time."""
from __future__ import annotations

from collections import Counter

import pytest

from bitrix_fast import BadResponse, BatchError, Redirected, ResponseTimeout, RetryExhausted
from bitrix_fast.errors import ApiError
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox
from portals_a import memory_portal


def _code(portal: Sandbox) -> str:
    return str(portal.webhook).rstrip("/").rsplit("/", 1)[1]


def _titles(portal: Sandbox) -> "Counter[str]":
    with connect(portal, requests_per_second=20) as bx:
        return Counter(row["TITLE"] for row in bx.get_all("crm.deal.list",
                                                           {"select": ["ID", "TITLE"]}))


# -- a portal that stopped answering ----------------------------------------------------------

@pytest.mark.parametrize("timeout, bound", [
    (1, 6.0),
    # The figures: with timeout=5 a hung portal must fail a get_all within 30 s.
    (5, 30.0),
])
def test_get_all_from_a_hung_portal_fails_within_the_bound(timeout: float,
                                                          bound: float) -> None:
    """Three attempts of `timeout` seconds and two short backoffs, then RetryExhausted;
    before the cap the same run took 9 attempts (104-112 s with timeout=5)."""
    with memory_portal(deals=500, faults="hang=1") as sb:
        with connect(sb, timeout=timeout) as bx:
            began = sb.clock.now()
            with pytest.raises(RetryExhausted) as caught:
                bx.get_all("crm.deal.list")
            elapsed = sb.clock.now() - began
        hung = sb.stats()["faults"]["hang"]
    assert 3 * timeout <= elapsed < bound, f"gave up after {elapsed:.1f} s"
    assert isinstance(caught.value.last_error, ResponseTimeout)
    # The first request three times; meanwhile its uncounted pages went once or twice (the
    # listing stops waiting for a first request that takes seconds).
    assert caught.value.attempts == 3 and 3 <= hung <= 6
    assert str(caught.value).startswith("crm.deal.list: gave up after 3 attempts (no answer")


def test_a_write_to_a_hung_portal_is_in_doubt_and_sent_once() -> None:
    with memory_portal(faults="hang=1") as sb:
        with connect(sb, timeout=0.5) as bx:
            with pytest.raises(BatchError) as caught:
                bx.call("crm.deal.add", [{"fields": {"TITLE": f"h{i}"}} for i in range(3)])
        requests = sb.stats()["requests"]
    assert list(caught.value.in_doubt) == [0, 1, 2] and not caught.value.errors
    # The one-item first request, then the other two: no answer proves nothing, so neither
    # is resent.
    assert requests == 2


# -- redirects --------------------------------------------------------------------------------

def test_a_redirect_is_raised_at_once_with_the_https_address_and_no_secret() -> None:
    with memory_portal(faults="redirect=1") as sb:
        code = _code(sb)
        with connect(sb) as bx:
            began = sb.clock.now()
            with pytest.raises(Redirected) as caught:
                bx.get_all("crm.deal.list")
            elapsed = sb.clock.now() - began
        requests = sb.stats()["requests"]
        https = sb.webhook.replace("http://", "https://", 1).replace(code, "***")
    error = caught.value
    assert requests == 1 and elapsed == 0  # not retried, nothing waited for
    # The listing's first request is a batch: its counted first page and its top page.
    assert error.location == https + "batch" and error.status == 301
    assert str(error) == (f"crm.deal.list: the portal redirects this request to "
                          f"{https}batch; use https:// in the address: {https} (HTTP 301)")
    assert code not in str(error) and code not in repr(error) and code not in error.location
    assert error.executed_maybe is False and error.retryable is False


def test_redirected_writes_are_failed_not_in_doubt_and_never_resent() -> None:
    with memory_portal(faults="redirect=1") as sb:
        with connect(sb) as bx:
            with pytest.raises(BatchError) as caught:
                bx.call("crm.deal.add", [{"fields": {"TITLE": f"r{i}"}} for i in range(120)])
        portal = sb.stats()
        created = sb.store.count("deal")
        code = _code(sb)
    error = caught.value
    assert not error.in_doubt and not error.results and list(error.errors) == list(range(120))
    assert all(isinstance(e, Redirected) for e in error.errors.values())
    # the one-item first request, then batches of 50, 50 and 19; none ran, none resent
    assert portal["requests"] == 4 and created == 0
    assert code not in str(error)


def test_a_single_redirected_call_raises_redirected() -> None:
    with memory_portal(faults="redirect=1") as sb:
        with connect(sb) as bx:
            with pytest.raises(Redirected, match=r"crm\.deal\.add: the portal redirects"):
                bx.call("crm.deal.add", {"fields": {"TITLE": "x"}})
        assert sb.stats()["requests"] == 1


# -- server errors that repeat ----------------------------------------------------------------

def test_the_same_500_three_times_is_raised_not_retried_for_a_minute() -> None:
    with memory_portal(deals=100, faults="500=1") as sb:
        with connect(sb) as bx:
            began = sb.clock.now()
            with pytest.raises(RetryExhausted) as caught:
                bx.get_all("crm.deal.list")
            elapsed = sb.clock.now() - began
        requests = sb.stats()["requests"]
    # backoffs of at most 0.5 + 1 s; the first request three times, and perhaps once its
    # uncounted pages (the listing stops waiting for a first request that takes a second)
    assert 3 <= requests <= 4 and 0 < elapsed <= 1.5
    assert "(the same error 3 times in a row)" in str(caught.value)
    last = caught.value.last_error
    assert isinstance(last, ApiError) and last.code == "INTERNAL_SERVER_ERROR"


# -- batch replies with commands missing ----------------------------------------------------

def test_writes_missing_from_a_batch_reply_are_in_doubt_never_duplicated() -> None:
    """Every other label is left out of each reply (all commands ran): the others' results
    are kept, the missing ones are in doubt, and none is sent twice."""
    with memory_portal(faults="partial=1") as sb:
        items = [{"fields": {"TITLE": f"p{i}"}} for i in range(100)]
        with connect(sb) as bx:
            with pytest.raises(BatchError) as caught:
                bx.call("crm.deal.add", items)
        requests = sb.stats()["requests"]
        sb.faults.probabilities.clear()  # read the portal back undisturbed
        titles = _titles(sb)
    error = caught.value
    assert requests == 3  # the one-item first request and two batches, none resent
    assert sorted(set(error.results) | set(error.in_doubt)) == list(range(100))
    assert not set(error.results) & set(error.in_doubt) and not error.errors
    # every other label of each batch (the one-item probe's only label among them): about
    # half, one more per batch at most, whatever the split of 99 after the probe
    assert 50 - 3 <= len(error.in_doubt) <= 50 + 3
    assert all(isinstance(e, BadResponse) for e in error.in_doubt.values())
    assert len(set(error.results.values())) == len(error.results)  # each its own new ID
    assert sum(titles.values()) == 100 and max(titles.values()) == 1  # ran once each


def test_writes_of_a_batch_reply_with_a_null_result_are_in_doubt() -> None:
    with memory_portal(faults="nullresult=1") as sb:
        with connect(sb) as bx:
            with pytest.raises(BatchError) as caught:
                bx.call("crm.deal.add", [{"fields": {"TITLE": f"n{i}"}} for i in range(10)])
        requests = sb.stats()["requests"]
        created = sb.store.count("deal")
    assert sorted(caught.value.in_doubt) == list(range(10)) and not caught.value.results
    assert requests == 2 and created == 10  # the one-item first request, then the rest
    assert "10 in doubt" in str(caught.value)


@pytest.mark.parametrize("faults", ["partial=0.3", "nullresult=0.3"])
def test_reads_missing_from_a_batch_reply_are_read_again(faults: str) -> None:
    with memory_portal(deals=600, faults=faults, seed=3) as sb:
        expected = sb.store.ids("deal")
        with connect(sb, requests_per_second=20) as bx:
            got = bx.get_by_ID("crm.deal.get", sorted(expected)[:120])
            rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
        spoiled = sum(sb.stats()["faults"].values())
    assert spoiled > 0
    assert sorted(int(key) for key in got) == sorted(expected)[:120]
    assert all(str(value["ID"]) == str(key) for key, value in got.items())
    assert sorted(int(row["ID"]) for row in rows) == sorted(expected)


# -- a proxy's 504 after the portal ran the write --------------------------------------------

def test_a_504_after_the_write_ran_is_in_doubt_never_resent() -> None:
    with memory_portal(faults="504=1") as sb:
        with connect(sb) as bx:
            with pytest.raises(BatchError) as caught:
                bx.call("crm.deal.add", [{"fields": {"TITLE": f"g{i}"}} for i in range(5)])
        requests = sb.stats()["requests"]
        created = sb.store.count("deal")
    assert sorted(caught.value.in_doubt) == list(range(5)) and created == 5
    assert requests == 2  # the one-item first request, then the rest; none resent


# -- your own batch (call_batch) ---------------------------------------------------------------

def test_call_batch_keeps_what_a_partial_reply_holds_and_puts_missing_writes_in_doubt() -> None:
    with memory_portal(faults="partial=1") as sb:
        cmd = {f"add{i}": f"crm.deal.add?fields[TITLE]=cb{i}" for i in range(4)}
        with connect(sb) as bx:
            with pytest.raises(BatchError) as caught:
                bx.call_batch({"halt": 0, "cmd": cmd})
        created = sb.store.count("deal")
    error = caught.value
    assert sorted(error.results) == ["add0", "add2"] and sorted(error.in_doubt) == ["add1", "add3"]
    assert not error.errors and created == 4


def test_call_batch_with_a_null_result_raises_instead_of_returning_nothing() -> None:
    with memory_portal(deals=5, faults="nullresult=1") as sb:
        with connect(sb) as bx:
            with pytest.raises(BatchError) as caught:
                bx.call_batch({"halt": 0, "cmd": {"a": "crm.deal.get?id=1"}})
    assert list(caught.value.errors) == ["a"] and not caught.value.in_doubt  # a read


def test_call_batch_with_halt_reports_the_failure_and_not_the_skipped_commands() -> None:
    with memory_portal(deals=5) as sb:
        cmd = {"ok": "crm.deal.get?id=1", "bad": "crm.deal.get?id=999999",
               "skipped": "crm.deal.get?id=2"}
        with connect(sb) as bx:
            with pytest.raises(BatchError) as caught:
                bx.call_batch({"halt": 1, "cmd": cmd})
    error = caught.value
    assert list(error.results) == ["ok"] and list(error.errors) == ["bad"]
    assert not error.in_doubt  # "skipped" legitimately has no result: not run, not in doubt
