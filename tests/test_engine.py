"""The engine's decisions, with a scripted transport and a fake clock: what is resent, what
never is, how refusals tune the limiter and budget, and how tokens are refreshed."""
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import pytest

from bitrix_fast.net.credentials import Credentials, TokenAuth, Webhook
from bitrix_fast.protocol.batch import Command, CommandResult
from bitrix_fast.pacing.billing import BilledTime
from bitrix_fast.pacing.inflight import InFlight
from bitrix_fast.run.engine import Engine, Pacing
from bitrix_fast.run.stop import CHECK_EVERY, Stop
from bitrix_fast.errors import (ApiError, AuthError, BadResponse, BitrixError, ConnectError,
                                ConnectionDropped, OperationTimeLimit, RateLimited,
                                ResponseTimeout, RetryExhausted, api_error)
from bitrix_fast.pacing.bucket import TokenBucket
from bitrix_fast.pacing.budget import OperatingBudget
from bitrix_fast.run.retry import Retry, RetryBudget
from bitrix_fast.pacing.gate import ConcurrencyGate
from bitrix_fast.pacing.throttle import AdaptiveThrottle
from bitrix_fast.net.sender import Reply
from fakes import FakeClock

HOOK = "https://portal.example/rest/1/abcdefgh/"


class ScriptedTransport:
    """Answers each send with the next scripted item: a body (any JSON value), an exception,
    or a callable(method, params) returning either."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.sent: List[Tuple[str, Mapping[str, Any]]] = []

    def send(self, method: str, params: Mapping[str, Any], *,
             read_timeout: Optional[float] = None,
             headers: Optional[Mapping[str, str]] = None) -> Reply:
        self.sent.append((method, params))
        item = self.script.pop(0)
        if callable(item) and not isinstance(item, BaseException):
            item = item(method, params)
        if isinstance(item, BaseException):
            raise item
        return Reply(item, 200, 0.01, 10)


class Driven:
    """The engine as a test drives it: every call gets a stop context with no deadline."""

    def __init__(self, engine: Engine, clock: FakeClock) -> None:
        self.engine = engine
        self.clock = clock
        self.stats = engine.stats

    def call(self, method: str, params: Mapping[str, Any], *, read_only: bool) -> Any:
        return self.engine.call(method, params, read_only=read_only,
                                stop=Stop("test", None, clock=self.clock))

    def batch(self, commands: Sequence[Command], *, read_only: bool,
              resend: bool = True) -> List[CommandResult]:
        return self.engine.batch(commands, read_only=read_only, resend=resend,
                                 stop=Stop("test", None, clock=self.clock))

    def snapshot(self) -> Dict[str, Any]:
        return self.engine.snapshot()

    def cap_concurrency(self, limit: Optional[int]) -> Optional[int]:
        return self.engine.cap_concurrency(limit)


def make_engine(*script: Any, credentials: Optional[Credentials] = None,
                retry: Optional[Retry] = None, respect_budget: bool = True,
                limiter: Optional[TokenBucket] = None, budget: Optional[OperatingBudget] = None
                ) -> Tuple[Driven, ScriptedTransport, FakeClock, TokenBucket]:
    clock = FakeClock()
    limiter = limiter or TokenBucket(rate=2, burst=50, clock=clock)
    transport = ScriptedTransport(*script)
    pacing = Pacing(limiter=limiter, budget=budget or OperatingBudget(limit=480, clock=clock),
                    throttle=AdaptiveThrottle(2, 8, clock=clock), gate=ConcurrencyGate(8),
                    inflight=InFlight(8), billed=BilledTime(), respect_budget=respect_budget)
    engine = Engine(transport, credentials or Webhook(HOOK), pacing,
                    retry=retry or Retry(total=4), retry_budget=RetryBudget(),
                    clock=clock, random=lambda: 0.5)
    return Driven(engine, clock), transport, clock, limiter


def refused() -> ApiError:
    return api_error("QUERY_LIMIT_EXCEEDED", "Too many requests", status=503, method="x")


def batch_reply(results: Optional[Dict[str, Any]] = None,
                errors: Optional[Dict[str, Dict[str, str]]] = None,
                times: Optional[Dict[str, Dict[str, float]]] = None) -> Dict[str, Any]:
    return {"result": {"result": results or [], "result_error": errors or [],
                       "result_total": [], "result_next": [], "result_time": times or []},
            "time": {"start": 1, "finish": 1.0, "operating": 0}}


def test_503_resynchronises_the_bucket_and_never_reaches_the_caller() -> None:
    engine, transport, clock, limiter = make_engine(refused(), refused(), {"result": 1})
    assert engine.call("crm.deal.add", {}, read_only=False) == {"result": 1}
    assert len(transport.sent) == 3
    stats = engine.stats.snapshot()
    assert stats["refused_503"] == 2 and stats["retries"] == 2


def test_503_surfaces_only_when_retries_run_out() -> None:
    engine, *_ = make_engine(*[refused()] * 10, retry=Retry(total=2))
    with pytest.raises(RetryExhausted) as caught:
        engine.call("crm.deal.list", {}, read_only=True)
    assert isinstance(caught.value.last_error, RateLimited)
    assert isinstance(caught.value.__cause__, RateLimited)


def test_429_pauses_the_method_until_its_reset_then_continues() -> None:
    time_block = {"start": 1_700_000_000, "finish": 1_700_000_000.0, "operating": 470.0,
                  "operating_reset_at": 1_700_000_030}
    limit = api_error("OPERATION_TIME_LIMIT", "blocked", status=429, method="crm.deal.list")
    engine, transport, clock, _ = make_engine({"result": [], "time": time_block}, limit,
                                              {"result": []})
    engine.call("crm.deal.list", {}, read_only=True)
    engine.call("crm.deal.list", {}, read_only=True)
    assert len(transport.sent) == 3
    # waited for operating_reset_at (plus the budget's one second of slack: the server gives
    # whole seconds) before retrying, and no longer
    assert 30 <= clock.now() <= 31 + CHECK_EVERY
    assert engine.stats.snapshot()["refused_429"] == 1


def test_429_raises_when_waiting_is_disallowed() -> None:
    limit = api_error("OPERATION_TIME_LIMIT", "blocked", status=429, method="crm.deal.list")
    engine, *_ = make_engine(limit, respect_budget=False)
    with pytest.raises(OperationTimeLimit):
        engine.call("crm.deal.list", {}, read_only=True)


@pytest.mark.parametrize("error", [
    BadResponse("html", status=502), ResponseTimeout("slow"), ConnectionDropped("lost"),
    api_error("INTERNAL_SERVER_ERROR", "oops", status=500)])
def test_reads_are_resent_after_transient_failures(error: BitrixError) -> None:
    engine, transport, *_ = make_engine(error, {"result": [1]})
    assert engine.call("crm.deal.list", {}, read_only=True) == {"result": [1]}
    assert len(transport.sent) == 2


@pytest.mark.parametrize("error", [
    BadResponse("html", status=502), ResponseTimeout("slow"), ConnectionDropped("lost"),
    api_error("INTERNAL_SERVER_ERROR", "oops", status=500)])
def test_writes_are_not_resent_when_they_may_have_run(error: BitrixError) -> None:
    engine, transport, *_ = make_engine(error, {"result": 1})
    with pytest.raises(type(error)):
        engine.call("crm.deal.add", {}, read_only=False)
    assert len(transport.sent) == 1


def test_writes_are_resent_when_the_request_never_left() -> None:
    engine, transport, *_ = make_engine(ConnectError("refused"), {"result": 5})
    assert engine.call("crm.deal.add", {}, read_only=False) == {"result": 5}


def test_writes_can_opt_into_resending() -> None:
    engine, transport, *_ = make_engine(ConnectionDropped("lost"), {"result": 5},
                                        retry=Retry(total=3, resend_writes=True))
    assert engine.call("crm.deal.add", {}, read_only=False) == {"result": 5}


def test_client_errors_are_never_retried() -> None:
    bad = api_error("", "Parameter 'filter' must be array.", status=400)
    engine, transport, *_ = make_engine(bad)
    with pytest.raises(ApiError):
        engine.call("crm.deal.list", {}, read_only=True)
    assert len(transport.sent) == 1


def test_expired_token_is_refreshed_once_and_the_call_repeated() -> None:
    tokens = iter(["t1", "t2", "t3"])
    auth = TokenAuth("https://portal.example/rest/", lambda: next(tokens))
    expired = api_error("expired_token", "The access token provided has expired", status=401)
    engine, transport, *_ = make_engine(expired, {"result": "ok"}, credentials=auth)
    auth.params()
    assert engine.call("crm.deal.add", {}, read_only=False) == {"result": "ok"}
    assert auth.current() == "t2" and engine.stats.snapshot()["refreshes"] == 1


def test_wrong_credentials_are_not_retried() -> None:
    wrong = api_error("INVALID_CREDENTIALS", "Invalid request credentials", status=401)
    engine, transport, *_ = make_engine(wrong)
    with pytest.raises(AuthError):
        engine.call("crm.deal.list", {}, read_only=True)
    assert len(transport.sent) == 1


def test_batch_resends_only_the_refused_commands() -> None:
    commands = [Command(f"c{i}", "crm.deal.add", {"fields": {"TITLE": str(i)}}) for i in range(3)]
    first = batch_reply(results={"c0": 10, "c2": 12}, errors={
        "c1": {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}})
    second = batch_reply(results={"c1": 11})
    engine, transport, *_ = make_engine(first, second)
    out = engine.batch(commands, read_only=False)
    assert [o.result for o in out] == [10, 11, 12]
    assert list(transport.sent[1][1]["cmd"]) == ["c1"]


def test_batch_of_writes_lost_in_transit_is_in_doubt_not_resent() -> None:
    commands = [Command(f"c{i}", "crm.deal.add", {"fields": {"TITLE": str(i)}}) for i in range(3)]
    engine, transport, *_ = make_engine(ConnectionDropped("lost"), batch_reply())
    out = engine.batch(commands, read_only=False)
    assert all(o.in_doubt and not o.ok for o in out) and len(transport.sent) == 1
    assert engine.stats.snapshot()["in_doubt"] == 3


def test_batch_command_failures_are_kept_not_raised() -> None:
    commands = [Command("c0", "crm.deal.get", {"id": 1}), Command("c1", "crm.deal.get", {"id": 2})]
    reply = batch_reply(results={"c0": {"ID": "1"}},
                        errors={"c1": {"error": "", "error_description": "Not found"}})
    engine, *_ = make_engine(reply)
    ok, missing = engine.batch(commands, read_only=True)
    assert ok.ok and not missing.ok and isinstance(missing.error, ApiError)
    assert missing.error.description == "Not found"


def test_chained_batches_are_never_split_up() -> None:
    commands = [Command("c0", "crm.deal.list", {}), Command("c1", "crm.deal.list", {})]
    reply = batch_reply(results={"c0": []}, errors={
        "c1": {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"}})
    engine, transport, *_ = make_engine(reply)
    out = engine.batch(commands, read_only=True, resend=False)
    assert out[0].ok and isinstance(out[1].error, OperationTimeLimit)
    assert len(transport.sent) == 1


def test_budget_is_fed_from_every_command_time_block() -> None:
    commands = [Command("c0", "crm.deal.list", {}), Command("c1", "crm.lead.list", {})]
    times = {"c0": {"start": 1_700_000_000, "finish": 1_700_000_000.5, "operating": 300.0,
                    "operating_reset_at": 1_700_000_100},
             "c1": {"start": 1_700_000_000, "finish": 1_700_000_000.5, "operating": 12.0,
                    "operating_reset_at": 1_700_000_100}}
    engine, *_ = make_engine(batch_reply(results={"c0": [], "c1": []}, times=times))
    engine.batch(commands, read_only=True)
    operating = engine.snapshot()["operating"]
    assert operating["crm.deal.list"]["operating"] == 300.0
    assert operating["crm.lead.list"]["operating"] == 12.0


def test_overloads_lower_rate_and_concurrency() -> None:
    engine, transport, clock, limiter = make_engine(
        *[BadResponse("html", status=502)] * 5, {"result": 1},
        retry=Retry(total=6))
    engine.call("crm.deal.list", {}, read_only=True)
    snap = engine.snapshot()
    assert snap["rate"] < 2 and snap["concurrency"] < 8


def test_slow_caps_concurrency_and_restores_it() -> None:
    engine, *_ = make_engine()
    previous = engine.cap_concurrency(1)
    assert engine.snapshot()["concurrency"] == 1
    engine.cap_concurrency(previous)
    assert engine.snapshot()["concurrency"] == 8


def test_a_failed_limiter_is_not_retried() -> None:
    """A shared limiter that lost its store: nothing was sent and retrying cannot help."""
    from bitrix_fast.errors import LimiterError

    class Broken(TokenBucket):
        def acquire(self, check: Optional[Callable[[], None]] = None) -> float:
            raise LimiterError("redis down")

    engine, transport, clock, limiter = make_engine(
        {"result": 1}, limiter=Broken(rate=2, burst=50, clock=FakeClock()))
    with pytest.raises(LimiterError):
        engine.call("crm.deal.list", {}, read_only=True)
    assert transport.sent == [] and engine.stats.snapshot()["retries"] == 0


def test_a_batch_failing_as_a_whole_is_reported_under_its_method() -> None:
    """Users see crm.deal.list: INVALID_CREDENTIALS, not batch: INVALID_CREDENTIALS."""
    wrong = api_error("INVALID_CREDENTIALS", "Invalid request credentials", status=401,
                      method="batch")
    engine, *_ = make_engine(wrong)
    (outcome,) = engine.batch([Command("c0", "crm.deal.list", {})], read_only=True)
    assert isinstance(outcome.error, AuthError)
    assert str(outcome.error) == ("crm.deal.list: INVALID_CREDENTIALS (401) Invalid request "
                                  "credentials")


# -- bounded waiting -------------------------------------------------------------------------

def test_a_read_timeout_is_retried_at_most_twice() -> None:
    """Plenty of retries left, but a request that got no answer three times is given up."""
    engine, transport, *_ = make_engine(*[ResponseTimeout("slow")] * 5, {"result": 1},
                                        retry=Retry(total=8))
    with pytest.raises(RetryExhausted) as caught:
        engine.call("crm.deal.list", {}, read_only=True)
    assert len(transport.sent) == 3 and caught.value.attempts == 3
    assert "(no answer 3 times)" in str(caught.value)


def test_the_same_server_error_three_times_ends_the_request() -> None:
    boom = api_error("ERROR_CORE", "SQL query error!", status=500)
    engine, transport, clock, _ = make_engine(*[boom] * 6, {"result": 1}, retry=Retry(total=8))
    with pytest.raises(RetryExhausted) as caught:
        engine.call("crm.deal.list", {}, read_only=True)
    assert len(transport.sent) == 3 and clock.now() < 2
    assert caught.value.last_error is boom


def test_a_redirect_is_sent_once_and_a_write_it_answered_is_not_in_doubt() -> None:
    from bitrix_fast.errors import Redirected

    moved = Redirected("moved", method="batch", status=301, location="https://x/")
    engine, transport, *_ = make_engine(moved, moved)
    with pytest.raises(Redirected):
        engine.call("crm.deal.list", {}, read_only=True)
    (outcome,) = engine.batch([Command("c0", "crm.deal.add", {})], read_only=False)
    assert isinstance(outcome.error, Redirected) and not outcome.in_doubt
    assert len(transport.sent) == 2


# -- malformed batch replies -------------------------------------------------------------------

def _adds(count: int) -> List[Command]:
    return [Command(f"c{i}", "crm.deal.add", {"fields": {"TITLE": str(i)}}) for i in range(count)]


def test_writes_missing_from_a_reply_are_in_doubt_and_never_resent() -> None:
    engine, transport, *_ = make_engine(batch_reply(results={"c0": 10, "c2": 12}))
    out = engine.batch(_adds(3), read_only=False)
    assert [o.result for o in out] == [10, None, 12] and out[0].ok and out[2].ok
    assert out[1].in_doubt and isinstance(out[1].error, BadResponse)
    assert len(transport.sent) == 1 and engine.stats.snapshot()["in_doubt"] == 1


@pytest.mark.parametrize("envelope", [{"result": None, "time": {}}, {"result": []},
                                      {"result": "<html>"}, [1, 2], None])
def test_a_batch_reply_without_results_keeps_writes_in_doubt(envelope: Any) -> None:
    engine, transport, *_ = make_engine(envelope)
    out = engine.batch(_adds(2), read_only=False)
    assert all(o.in_doubt and not o.ok for o in out) and len(transport.sent) == 1


def test_reads_missing_from_a_reply_are_read_again_alone() -> None:
    commands = [Command(f"c{i}", "crm.deal.get", {"id": i}) for i in range(3)]
    engine, transport, *_ = make_engine(
        batch_reply(results={"c0": {"ID": "0"}}),        # c1, c2 missing
        {"result": None},                                # then nothing at all
        batch_reply(results={"c1": {"ID": "1"}, "c2": {"ID": "2"}}))
    out = engine.batch(commands, read_only=True)
    assert [o.result["ID"] for o in out] == ["0", "1", "2"] and all(o.ok for o in out)
    assert [list(params["cmd"]) for _, params in transport.sent] == [
        ["c0", "c1", "c2"], ["c1", "c2"], ["c1", "c2"]]


def test_a_read_that_never_comes_back_fails_without_being_in_doubt() -> None:
    engine, transport, *_ = make_engine(*[batch_reply()] * 3, retry=Retry(total=2))
    (outcome,) = engine.batch([Command("c0", "crm.deal.get", {"id": 1})], read_only=True)
    assert not outcome.ok and not outcome.in_doubt and len(transport.sent) == 3


def test_chained_reads_with_a_label_missing_are_sent_again_whole() -> None:
    commands = [Command("c0", "crm.deal.list", {}), Command("c1", "crm.deal.list", {})]
    engine, transport, *_ = make_engine(batch_reply(results={"c0": [1]}),
                                        batch_reply(results={"c0": [1], "c1": [2]}))
    out = engine.batch(commands, read_only=True, resend=False)
    assert [o.result for o in out] == [[1], [2]]
    assert [list(p["cmd"]) for _, p in transport.sent] == [["c0", "c1"], ["c0", "c1"]]


def test_a_write_once_in_doubt_stays_in_doubt_when_resent_and_refused() -> None:
    """With resend_writes a missing write is sent again; if that one is refused until the
    retries run out, the first attempt may still have run it: in doubt, not failed."""
    engine, transport, *_ = make_engine(
        batch_reply(results={"c0": 10}),
        batch_reply(errors={"c1": {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "x"}}),
        retry=Retry(total=1, resend_writes=True))
    first, second = engine.batch(_adds(2), read_only=False)
    assert first.ok and second.in_doubt and isinstance(second.error, RetryExhausted)


def test_a_write_once_in_doubt_stays_in_doubt_when_the_resend_never_leaves() -> None:
    engine, transport, *_ = make_engine(batch_reply(results={"c0": 10}), ConnectError("down"),
                                        retry=Retry(total=1, connect=0, resend_writes=True))
    first, second = engine.batch(_adds(2), read_only=False)
    assert first.ok and second.in_doubt


def test_command_errors_are_redacted() -> None:
    code = HOOK.rstrip("/").rsplit("/", 1)[1]
    reply = batch_reply(errors={"c0": {"error": "ERROR_CORE",
                                       "error_description": f"bad hook {code}"}})
    engine, *_ = make_engine(reply)
    (outcome,) = engine.batch([Command("c0", "crm.deal.get", {"id": 1})], read_only=True)
    assert str(outcome.error) == "crm.deal.get: ERROR_CORE bad hook ***"
