import pickle
import threading

import pytest

from bitrix_fast.errors import (ApiError, AuthError, BadResponse, ConnectError, ConnectionDropped, MethodNotFound,
    OperationTimeLimit, RateLimited, ResponseTimeout, Redirected, RetryExhausted, api_error)
from bitrix_fast.run.retry import Retry, RetryBudget, not_executed

M = "crm.deal.list"


def test_increment_returns_a_new_retry_and_never_mutates():
    """increment() leaves the original alone, so one default is shared safely by all workers."""
    first = Retry(3)
    error = ConnectError("refused")
    second = first.increment(M, error)
    assert second is not first
    assert (first.total, first.history) == (3, ())
    assert second.total == 2
    assert second.history == ((M, error),)
    assert second.backoff_factor == first.backoff_factor


def test_retry_refuses_assignment():
    """A Retry cannot be changed in place; new() makes a changed copy."""
    retry = Retry(3)
    with pytest.raises(AttributeError):
        retry.total = 5
    assert retry.new(total=5, resend_writes=True) == Retry(5, resend_writes=True)
    assert retry == Retry(3)


def test_exhaustion_raises_from_the_last_error():
    """When no retries are left, increment raises RetryExhausted chained to the last error."""
    retry = Retry(2)
    retry = retry.increment(M, ResponseTimeout("slow"))
    retry = retry.increment(M, ResponseTimeout("slow"))
    last = BadResponse("html", status=502)
    with pytest.raises(RetryExhausted) as caught:
        retry.increment(M, last)
    assert caught.value.__cause__ is last
    assert caught.value.last_error is last
    assert caught.value.attempts == 3
    assert caught.value.method == M


def test_zero_retries_gives_up_on_the_first_error():
    """Retry(0) allows the single attempt only."""
    with pytest.raises(RetryExhausted) as caught:
        Retry(0).increment(M, ConnectError("refused"))
    assert caught.value.attempts == 1


def test_backoff_doubles_and_is_capped():
    """Without jitter the waits are factor x 2^(n-1), capped at backoff_max."""
    retry = Retry(10, backoff_factor=0.5, backoff_max=5.0, jitter=0.0)
    assert retry.backoff() == 0.0
    waits = []
    for _ in range(6):
        retry = retry.increment(M, ConnectionDropped("reset"))
        waits.append(retry.backoff())
    assert waits == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_jitter_comes_from_the_injected_random():
    """Jitter takes away up to `jitter` of the wait, drawn from the random function given."""
    retry = Retry(10, backoff_factor=1.0, jitter=0.5)
    for _ in range(3):
        retry = retry.increment(M, ConnectError("refused"))
    assert retry.backoff(random=lambda: 0.0) == 4.0
    assert retry.backoff(random=lambda: 1.0) == 2.0
    assert retry.backoff(random=lambda: 0.5) == 3.0


def test_backoff_survives_a_huge_total():
    """Many retries do not overflow the exponent."""
    retry = Retry(5000, backoff_max=30.0, jitter=0.0)
    retry = retry.new(history=retry.history + ((M, ConnectError("x")),) * 2000)
    assert retry.backoff() == 30.0


READ, WRITE = True, False
CLASSIFICATION = [
    # error                                           read   write  write+resend_writes
    (RateLimited("QUERY_LIMIT_EXCEEDED", status=503), True, True, True),
    (OperationTimeLimit("OPERATION_TIME_LIMIT", status=429), True, True, True),
    (ConnectError("refused"), True, True, True),
    (ResponseTimeout("slow"), True, False, True),
    (ConnectionDropped("reset"), True, False, True),
    (BadResponse("html", status=502), True, False, True),
    (ApiError("INTERNAL_SERVER_ERROR", status=500), True, False, True),
    (ApiError("", "proxy", status=504), True, False, True),
    (ApiError("OVERLOAD_LIMIT", status=503), False, False, False),
    (AuthError("expired_token", status=401), False, False, False),
    (AuthError("INVALID_CREDENTIALS", status=500), False, False, False),
    (MethodNotFound("ERROR_METHOD_NOT_FOUND", status=404), False, False, False),
    (ApiError("ACCESS_DENIED", status=403), False, False, False),
    (ApiError("", "Parameter 'filter' must be array.", status=400), False, False, False),
    (ValueError("a bug"), False, False, False),
    (Redirected("moved", status=301, location="https://x/"), False, False, False),
    (ConnectError("certificate verify failed", retryable=False), False, False, False),
]


@pytest.mark.parametrize("error, read, write, resend", CLASSIFICATION,
                         ids=[type(row[0]).__name__ + ":" + str(row[0]) for row in CLASSIFICATION])
def test_classification(error, read, write, resend):
    """Refusals always retry; unknown fates only for reads or with resend_writes; the rest never."""
    assert Retry().should_retry(error, read_only=READ) is read
    assert Retry().should_retry(error, read_only=WRITE) is write
    assert Retry(resend_writes=True).should_retry(error, read_only=WRITE) is resend


@pytest.mark.parametrize("code, write_retryable, read_retryable", [
    ("QUERY_LIMIT_EXCEEDED", True, True),
    ("OPERATION_TIME_LIMIT", True, True),
    ("INTERNAL_SERVER_ERROR", False, True),
    ("ERROR_CORE", False, False),
    ("ERROR_BATCH_METHOD_NOT_ALLOWED", False, False),
])
def test_batch_command_errors_have_no_status(code, write_retryable, read_retryable):
    """A command refused inside a batch did not run, so even a write may be resent."""
    error = api_error(code, "x", method="crm.deal.add", command_label="c1")
    assert error.status is None
    assert Retry().should_retry(error, read_only=False) is write_retryable
    assert Retry().should_retry(error, read_only=True) is read_retryable


def test_not_executed():
    """Only refusals and requests that never left prove the portal did not run them."""
    assert not_executed(RateLimited("QUERY_LIMIT_EXCEEDED"))
    assert not_executed(api_error("operation_time_limit"))
    assert not_executed(ConnectError("refused"))
    assert not not_executed(ResponseTimeout("slow"))
    assert not not_executed(ApiError("INTERNAL_SERVER_ERROR", status=500))


def test_any_error_may_declare_it_was_not_executed():
    """An error class with executed_maybe = False (e.g. a command a batch skipped) is always resent."""

    class Skipped(Exception):
        executed_maybe = False

    assert not_executed(Skipped())
    assert Retry().should_retry(Skipped(), read_only=False)


@pytest.mark.parametrize("value, expected", [
    (None, Retry()), (True, Retry()), (False, Retry(0)), (3, Retry(3)),
])
def test_from_value(value, expected):
    """Users may pass a Retry, a number of retries, True/None for defaults or False for none."""
    assert Retry.from_value(value) == expected


def test_from_value_keeps_a_retry():
    """A Retry passed in is used as it is."""
    retry = Retry(2, resend_writes=True)
    assert Retry.from_value(retry) is retry


@pytest.mark.parametrize("kwargs", [
    {"total": -1}, {"total": 1.5}, {"backoff_factor": -1}, {"jitter": 1.5},
])
def test_rejects_nonsense(kwargs):
    """Settings that cannot work raise ValueError."""
    with pytest.raises(ValueError):
        Retry(**kwargs)


def test_repr_shows_the_remaining_budget():
    """repr tells how many retries are left and how many were used."""
    retry = Retry(3).increment(M, ConnectError("refused"))
    assert repr(retry).startswith("Retry(total=2, connect=2, timeouts=2, used=1, ")


def test_pickles():
    """A Retry survives pickling (process pools) despite refusing attribute assignment."""
    retry = Retry(3, backoff_max=9.0, resend_writes=True)
    assert pickle.loads(pickle.dumps(retry)) == retry


# -- RetryBudget ---------------------------------------------------------------------------

def test_budget_drains_under_a_storm():
    """100 server faults (or 50 timeouts) empty the default budget; then it says give up."""
    budget = RetryBudget()
    fault = ApiError("INTERNAL_SERVER_ERROR", status=500)
    assert all(budget.acquire(fault) for _ in range(100))
    assert budget.acquire(fault) is False
    budget = RetryBudget()
    assert all(budget.acquire(ResponseTimeout("slow")) for _ in range(50))
    assert budget.acquire(ResponseTimeout("slow")) is False
    assert budget.snapshot() == {"capacity": 500, "available": 0}


def test_refusals_cost_nothing():
    """503 and 429 refusals are paced by the limiters, not paid for from the budget."""
    budget = RetryBudget(capacity=0)
    assert budget.acquire(RateLimited("QUERY_LIMIT_EXCEEDED"))
    assert budget.acquire(OperationTimeLimit("OPERATION_TIME_LIMIT"))
    assert budget.acquire(ConnectError("refused")) is False


def test_budget_refills_with_successes():
    """Each success gives back a little, never beyond the capacity."""
    budget = RetryBudget(capacity=10, retry_cost=5)
    budget.acquire(ConnectError("refused"))
    budget.acquire(ConnectError("refused"))
    assert budget.acquire(ConnectError("refused")) is False
    for _ in range(5):
        budget.on_success()
    assert budget.acquire(ConnectError("refused"))
    for _ in range(50):
        budget.on_success()
    assert budget.available == 10


def test_budget_is_thread_safe():
    """16 threads drawing at once get exactly capacity / cost retries between them."""
    budget = RetryBudget(capacity=4000, retry_cost=5)
    granted = []

    def draw():
        granted.append(sum(budget.acquire(ConnectError("x")) for _ in range(100)))

    workers = [threading.Thread(target=draw) for _ in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(granted) == 800
    assert budget.available == 0


def test_connection_failures_have_a_smaller_allowance():
    """A refused connection is usually a wrong address: three retries, not eight."""
    from bitrix_fast.errors import ConnectError, ResponseTimeout

    retry = Retry(total=8, connect=2)
    retry = retry.increment("x.get", ConnectError("refused"))
    retry = retry.increment("x.get", ResponseTimeout("slow"))  # other failures spend only total
    retry = retry.increment("x.get", ConnectError("refused"))
    assert (retry.total, retry.connect) == (5, 0)
    with pytest.raises(RetryExhausted):
        retry.increment("x.get", ConnectError("refused"))
    assert retry.increment("x.get", ResponseTimeout("slow")).total == 4


def test_read_timeouts_have_their_own_small_allowance():
    """Two retries after a read timeout, however many the total allows; other failures in
    between do not reset it."""
    retry = Retry(10)
    retry = retry.increment(M, ResponseTimeout("slow"))
    retry = retry.increment(M, ConnectionDropped("reset"))
    retry = retry.increment(M, ResponseTimeout("slow"))
    assert (retry.total, retry.timeouts) == (7, 0)
    with pytest.raises(RetryExhausted) as caught:
        retry.increment(M, ResponseTimeout("slow"))
    assert caught.value.attempts == 4 and caught.value.reason == "no answer 3 times"
    assert Retry(10, timeouts=5).new(timeouts=0).timeouts == 0
    with pytest.raises(ValueError):
        Retry(timeouts=-1)


def test_the_same_server_error_three_times_in_a_row_is_final():
    """A 500 that repeats word for word is the command's, not a passing fault."""
    same = api_error("ERROR_CORE", "SQL query error!", status=500)
    retry = Retry(10).increment(M, same).increment(M, same)
    with pytest.raises(RetryExhausted) as caught:
        retry.increment(M, api_error("ERROR_CORE", "SQL query error!", status=500))
    assert caught.value.reason == "the same error 3 times in a row"
    assert str(caught.value).startswith(f"{M}: gave up after 3 attempts (the same error 3 ")


@pytest.mark.parametrize("errors", [
    # a different text in between: not the same error
    [api_error("ERROR_CORE", "a", status=500), api_error("ERROR_CORE", "b", status=500),
     api_error("ERROR_CORE", "a", status=500)],
    # something else in between breaks the run
    [api_error("ERROR_CORE", "a", status=500), ConnectionDropped("x"),
     api_error("ERROR_CORE", "a", status=500)],
    # gateway pages look the same every time, but they come from a proxy and pass
    [BadResponse("html", status=502, snippet="<h1>502</h1>")] * 3,
    [BadResponse("html", status=504, snippet="<h1>504</h1>")] * 3,
    [RateLimited("QUERY_LIMIT_EXCEEDED", status=503)] * 3,
])
def test_runs_that_are_not_the_same_error_keep_retrying(errors):
    retry = Retry(10)
    for error in errors:
        retry = retry.increment(M, error)
    assert retry.total == 7


def test_the_same_html_500_page_three_times_is_final_too():
    page = BadResponse("html", status=500, snippet="<h1>Fatal error</h1>")
    retry = Retry(10).increment(M, page).increment(M, page)
    with pytest.raises(RetryExhausted):
        retry.increment(M, page)
