"""fast_bitrix24 1.8 and bitrix_fast side by side: the same calls against fresh, identically
seeded sandbox portals, compared deeply (values and types: tuple vs list, key types, order
where fast_bitrix24 guarantees one), with the warnings each gives and the exceptions each
raises. fast_bitrix24's portal is served over loopback (aiohttp needs a socket); bitrix_fast's
is in memory on a FakeClock (the same routing and the same bytes, no socket). A case that
differs must name its entry in ``differential_data.DIFFERENCES`` (the list the docs'
migration table is rendered from: tests/test_docs_migration.py), and that entry's claim is
checked.

Orders: ``exact`` compares order too -- fast_bitrix24 keeps it within one batch (up to 50
items); ``unordered`` compares the top-level list or dict as a multiset -- fast_bitrix24's
``get_all`` is unordered, and results spanning several batches arrive as batches finish.
"""
from __future__ import annotations

import asyncio
import builtins
import contextlib
import importlib.metadata
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Tuple

import aiohttp
import fast_bitrix24
import icontract
import pytest
import requests
from beartype.roar import BeartypeCallHintParamViolation

import bitrix_fast
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox import Sandbox
from differential_data import BY_KEY, CATCH, DEFAULT_DATA, DIFFERENCES, ExtendedStore

#: The sandbox's ``x10`` plan: 50 requests at once, then 20 per second, 48 s of server time
#: per method per minute. Both clients are told (fast_bitrix24's own default, 2/s, would make
#: the suite ten times slower; its budget window is ten minutes, so 48 s there is stricter).
BURST, RATE, BUDGET = 50, 20.0, 48
LIMITS = dict(request_pool_size=BURST, requests_per_second=RATE, operating_time_limit=BUDGET)
ROOT = Path(__file__).resolve().parent.parent
#: The version whose answers the difference list describes (setup.cfg's test extra pins it).
FAST_BITRIX24 = "1.8"


# -- running one side -------------------------------------------------------------------------


@dataclass
class Side:
    """What one library did: a value or an exception, and the gists of its warnings."""

    value: Any = None
    error: Optional[BaseException] = None
    warned: FrozenSet[Tuple[str, str]] = frozenset()


def make_theirs(webhook: str, **kwargs: Any) -> Any:
    return fast_bitrix24.Bitrix(webhook, verbose=False, **{**LIMITS, **kwargs})


def make_ours(webhook: str, **kwargs: Any) -> Any:
    return bitrix_fast.Bitrix(webhook, verbose=False, **{**LIMITS, **kwargs})


def make_theirs_async(webhook: str, **kwargs: Any) -> Any:
    return fast_bitrix24.BitrixAsync(webhook, verbose=False, **{**LIMITS, **kwargs})


def make_ours_async(webhook: str, **kwargs: Any) -> Any:
    return bitrix_fast.BitrixAsync(webhook, verbose=False, **{**LIMITS, **kwargs})


OURS = (make_ours, make_ours_async)


def routed(make: Callable[..., Any], sandbox: Sandbox) -> Callable[..., Any]:
    """``make`` for this portal: ours reach the in-memory portal through its transport, on
    its clock (any webhook: a wrong one is refused by the portal, as over HTTP)."""
    if make not in OURS:
        return make

    def ours(webhook: str, **kwargs: Any) -> Any:
        return make(webhook, **{**reach(sandbox), **kwargs})
    return ours


def reach(sandbox: Sandbox) -> Dict[str, Any]:
    """The keywords that take a bitrix_fast client to ``sandbox``: none over HTTP."""
    if sandbox.http:
        return {}
    return {"transport": sandbox.transport(), "clock": sandbox.clock}


class Swapped:
    """The store behind the one HTTP portal fast_bitrix24 talks to: a fresh, seeded store per
    case is swapped in (starting and stopping a server per case cost more than the cases)."""

    def __init__(self) -> None:
        self.current: Optional[ExtendedStore] = None

    def knows(self, method: str) -> bool:
        assert self.current is not None
        return self.current.knows(method)

    def call(self, method: str, params: Dict[str, Any], ctx: Any) -> Any:
        assert self.current is not None
        return self.current.call(method, params, ctx)

    def ids(self, entity: str) -> Any:
        assert self.current is not None
        return self.current.ids(entity)


@pytest.fixture(scope="module")
def served() -> Iterator[Tuple[Sandbox, Swapped]]:
    swapped = Swapped()
    with Sandbox(store=swapped, plan="x10") as sandbox:
        yield sandbox, swapped


@contextlib.contextmanager
def portal(make: Callable[..., Any], served: Tuple[Sandbox, Swapped], seed: int = 7,
           inflate_total: int = 0, **data: int) -> Iterator[Sandbox]:
    """A fresh portal, seeded the same way every time it is asked for the same data: in
    memory for bitrix_fast; for fast_bitrix24 the HTTP portal with a fresh store and its
    limits and counters back at zero."""
    store = ExtendedStore(inflate_total=inflate_total)
    try:
        store.seed(**{**DEFAULT_DATA, **data}, seed=seed)
        if make in OURS:
            with Sandbox(store=store, plan="x10", http=False, clock=FakeClock()) as sandbox:
                yield sandbox
            return
        sandbox, swapped = served
        swapped.current = store
        sandbox.bucket.reset()
        sandbox.ledger.reset()
        sandbox.reset_stats()
        try:
            yield sandbox
        finally:
            swapped.current = None
    finally:
        store.close()


#: Warnings that are neither library's message to the user (event-loop housekeeping).
_NOISE = re.compile(r"There is no current event loop|Unclosed|was never awaited")
#: message -> gist; the two libraries word the same warning differently.
_GISTS = [
    ("get_all-not-a-list", re.compile(r"get_all\(\) (should be used only|is meant for list)")),
    ("call-on-a-list", re.compile(r"better to use get_all|get_all\(\) is better for list")),
    ("limit-ignored", re.compile(r"LIMIT|'limit'")),
    ("select-star", re.compile(r"all fields")),
    ("none-in-filter", re.compile(r"None as (a )?filter value")),
    ("list_and_get-deprecated", re.compile(r"list_and_get\(\) is deprecated")),
    ("fewer-rows-than-total", re.compile(r"total", re.IGNORECASE)),
]


def builtin_category(category: type) -> str:
    """The first built-in warning class a category derives from: ours may be a subclass
    (IncompleteListWarning is a RuntimeWarning, as fast_bitrix24's, and a UserWarning)."""
    import builtins

    return next(c.__name__ for c in category.__mro__ if getattr(builtins, c.__name__, None) is c)


def gist(message: str) -> str:
    for name, pattern in _GISTS:
        if pattern.search(message):
            return name
    return message  # unknown: compared word for word, so it cannot pass unnoticed


def run_side(make: Callable[..., Any], case: "Case",
             served: Tuple[Sandbox, Swapped]) -> Side:
    side = Side()
    with portal(make, served, **case.data) as sandbox:
        plan = sandbox.plan
        assert (plan.burst, plan.rate, plan.operating_limit) == (BURST, RATE, BUDGET)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = None
            try:
                client = (case.make or (lambda mk, sb: mk(sb.webhook)))(routed(make, sandbox),
                                                                        sandbox)
                side.value = case.run(client, sandbox)
            except Exception as error:  # compared below
                side.error = error
            finally:
                close = getattr(client, "close", None)
                if close is not None:
                    done = close()
                    if asyncio.iscoroutine(done):
                        asyncio.run(done)
        side.warned = frozenset((builtin_category(w.category), gist(str(w.message)))
                                for w in caught if not _NOISE.search(str(w.message)))
    return side


# -- comparing --------------------------------------------------------------------------------

#: Timestamps of rows written during a run: the two portals run seconds apart.
_VOLATILE = {"createdTime", "updatedTime", "movedTime", "lastActivityTime", "DATE_CREATE",
             "DATE_MODIFY", "createdDate", "changedDate", "activityDate", "statusChangedDate"}


def stable(value: Any) -> Any:
    """``value`` without write timestamps, and with every ``time`` block reduced to its keys."""
    if isinstance(value, dict):
        return type(value)((k, ("time keys", sorted(v)) if k in ("time", "result_time")
                            and isinstance(v, dict) else stable(v))
                           for k, v in value.items() if k not in _VOLATILE)
    if isinstance(value, (list, tuple)):
        return type(value)(stable(v) for v in value)
    return value


def assert_same(theirs: Any, ours: Any, ordered: bool, path: str = "result") -> None:
    """Deep equality with types: tuple is not list, ``"5"`` is not ``5``, True is not 1."""
    assert type(ours) is type(theirs), \
        f"{path}: fast_bitrix24 gives {type(theirs).__name__}, bitrix_fast {type(ours).__name__}"
    if isinstance(theirs, dict):
        if ordered:
            assert list(ours) == list(theirs), f"{path}: keys {list(ours)} != {list(theirs)}"
        else:
            assert set(ours) == set(theirs), f"{path}: keys differ"
        for key in theirs:
            assert_same(theirs[key], ours[key], True, f"{path}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), f"{path}: {len(ours)} items != {len(theirs)}"
        if not ordered:
            theirs, ours = sorted(theirs, key=_canonical), sorted(ours, key=_canonical)
        for n, (a, b) in enumerate(zip(theirs, ours)):
            assert_same(a, b, True, f"{path}[{n}]")
    else:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def catch_rule(error: BaseException) -> Tuple[Tuple[str, ...], Optional[str]]:
    """How ``except`` must name bitrix_fast's error to catch where fast_bitrix24's
    ``error`` is caught, and the difference entry when it is not the same clause."""
    for cls in type(error).__mro__:
        rule = CATCH.get(f"{cls.__module__}.{cls.__qualname__}")
        if rule is not None:
            return rule
    raise AssertionError(f"fast_bitrix24 raised {type(error).__module__}."
                         f"{type(error).__qualname__}, which CATCH does not know: {error}")


def assert_caught_alike(theirs: BaseException, ours: BaseException) -> Optional[str]:
    names, difference = catch_rule(theirs)
    classes = tuple(getattr(bitrix_fast, n, None) or getattr(builtins, n) for n in names)
    assert isinstance(ours, classes), \
        f"fast_bitrix24 raised {type(theirs).__name__} ({theirs}); bitrix_fast raised " \
        f"{type(ours).__name__} ({ours}), which `except {' / '.join(names)}` does not catch"
    if isinstance(theirs, aiohttp.ClientResponseError):
        assert ours.status == theirs.status, "ApiError.status must be the HTTP status"
    return difference


# -- the cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[Any, Any], Any]
    order: str = "exact"  # or "unordered": see the module docstring
    #: the DIFFERENCES entry this case shows, and the check of what that entry says
    differs: Optional[str] = None
    check: Optional[Callable[[Side, Side], None]] = None
    data: Dict[str, Any] = field(default_factory=dict)
    #: build the client from (make, sandbox); default ``make(sandbox.webhook)``
    make: Optional[Callable[[Callable[..., Any], Any], Any]] = None
    asynchronous: bool = False
    xfail: Optional[str] = None


def raises(theirs_type: type, ours_type: type) -> Callable[[Side, Side], None]:
    def check(theirs: Side, ours: Side) -> None:
        assert isinstance(theirs.error, theirs_type), theirs.error
        assert isinstance(ours.error, ours_type), ours.error
    return check


def theirs_raise_ours_return(theirs_type: type, ours_check: Callable[[Any], bool]
                             ) -> Callable[[Side, Side], None]:
    def check(theirs: Side, ours: Side) -> None:
        assert isinstance(theirs.error, theirs_type), theirs.error or theirs.value
        assert ours.error is None, ours.error
        assert ours_check(ours.value), ours.value
    return check


def first_row(theirs: Side, ours: Side) -> None:
    """The entry: fast_bitrix24 returns only the first element of the list bitrix_fast returns."""
    assert isinstance(ours.value, list) and len(ours.value) > 1
    assert_same(theirs.value, ours.value[0], True)
    assert theirs.warned == ours.warned


def by_label(theirs: Side, ours: Side) -> None:
    assert_same(theirs.value, {"order0000000000": ours.value}, True)


def check_51(theirs: Side, ours: Side) -> None:
    assert isinstance(ours.value, tuple) and sorted(ours.value) == list(range(61, 112))
    assert theirs.error is not None or len(theirs.value) < 51


def check_by_id_51(theirs: Side, ours: Side) -> None:
    labels = [str(n) for n in range(1, 52)]
    assert list(ours.value) == labels
    assert set(theirs.value) != set(labels) and "TITLE" in theirs.value


def check_mixed(theirs: Side, ours: Side) -> None:
    missing, task = ours.value
    assert missing == [] and task["id"] == "2"
    assert theirs.value == list(task)  # the task's keys, spliced in as rows


def check_echo_order(theirs: Side, ours: Side) -> None:
    assert ours.value == ({"a": "x", "n": "1"}, {"a": "y", "n": "2"})
    assert theirs.value == ({"a": "x", "n": "1", "__order": "order0000000000"},
                            {"a": "y", "n": "2", "__order": "order0000000001"})


def check_echo_bool(theirs: Side, ours: Side) -> None:
    assert [item["flag"] for item in theirs.value] == ["False", "True"]  # both truthy in PHP
    assert [item["flag"] for item in ours.value] == ["0", "1"]


def check_echo_none(theirs: Side, ours: Side) -> None:
    assert theirs.value[0]["v"] == "None"
    assert ours.value[0]["v"] is None and ours.value[1]["v"] == "x"


def check_no_star_warning(theirs: Side, ours: Side) -> None:
    assert_same(theirs.value, ours.value, False)
    assert theirs.warned == {("UserWarning", "select-star")} and ours.warned == frozenset()


def check_findbycomm_one(theirs: Side, ours: Side) -> None:
    assert ours.value == {"CONTACT": [3, 8]} and theirs.value == 3


def check_findbycomm_list(theirs: Side, ours: Side) -> None:
    assert ours.value == ({"CONTACT": [3, 8]}, {"COMPANY": [4]})
    assert theirs.value == [3, 8, 4]


def check_one_item(theirs: Side, ours: Side) -> None:
    assert ours.value == (61,) and theirs.value == 61


def check_running_loop(theirs: Side, ours: Side) -> None:
    assert isinstance(theirs.value, asyncio.Task)
    assert [row["ID"] for row in ours.value] == ["1", "2", "3", "4"]


def check_sync_token(theirs: Side, ours: Side) -> None:
    assert isinstance(theirs.error, ValueError) and "async" in str(theirs.error)
    assert ours.error is None and len(ours.value) == 4


def envelope(value: Any) -> Any:
    return stable(value)


DEAL_GET = lambda bx, sb: bx.call("crm.deal.get", {"ID": 3})  # noqa: E731
SMALL = {"select": ["ID", "TITLE"], "filter": {"<ID": 5}}


async def _async_calls(bx: Any) -> Any:
    rows = await bx.get_all("crm.deal.list", SMALL)
    by_id = await bx.get_by_ID("crm.deal.get", [1, 2])
    added = await bx.call("crm.deal.add", [{"fields": {"TITLE": "a"}}, {"fields": {"TITLE": "b"}}])
    one = await bx.call("crm.deal.update", {"ID": 1, "fields": {"TITLE": "async"}})
    batch = await bx.call_batch({"halt": 0, "cmd": {"x": "crm.deal.get?ID=1"}})
    return sorted(rows, key=lambda r: int(r["ID"])), by_id, added, one, batch


async def _async_task_rows(bx: Any) -> Any:
    rows = await bx.get_all("tasks.task.list", {"select": ["ID", "TITLE"]})
    return (sorted(rows, key=lambda r: int(r["id"])),
            await bx.call("tasks.task.get", [{"taskId": 1}, {"taskId": 2}]))


async def _async_error(bx: Any) -> Any:
    return await bx.call("crm.deal.get", [{"ID": 1}, {"ID": 10 ** 6}])


def _in_running_loop(bx: Any, sb: Any) -> Any:
    async def main() -> Any:
        return bx.get_all("crm.deal.list", SMALL)
    return asyncio.run(main())


def _oauth(make: Callable[..., Any], sb: Any) -> Any:
    async def token() -> str:
        return sb.issue_tokens()["access_token"]
    return make(sb.rest_base, token_func=token)


def _oauth_sync(make: Callable[..., Any], sb: Any) -> Any:
    return make(sb.rest_base, token_func=lambda: sb.issue_tokens()["access_token"])


def _wrong_webhook(make: Callable[..., Any], sb: Any) -> Any:
    return make(sb.webhook.rstrip("/") + "wrong/")


def _with_slow(n: Optional[int]) -> Callable[[Any, Any], Any]:
    def run(bx: Any, sb: Any) -> Any:
        with (bx.slow() if n is None else bx.slow(n)) as flag:
            return flag, sorted(bx.get_all("crm.lead.list", {"select": ["ID"]}),
                                key=lambda r: int(r["ID"]))
    return run


def _update_then_read(bx: Any, sb: Any) -> Any:
    done = bx.call("crm.deal.update", {"ID": 1, "fields": {"TITLE": "renamed"}})
    return done, bx.call("crm.deal.get", [{"ID": 1}, {"ID": 2}])


def _add_then_read(bx: Any, sb: Any) -> Any:
    new = bx.call("crm.deal.add", [{"fields": {"TITLE": f"n{i}"}} for i in range(3)])
    back = bx.get_by_ID("crm.deal.get", list(new))
    return new, {key: value["TITLE"] for key, value in back.items()}


def _delete_then_ids(bx: Any, sb: Any) -> Any:
    return bx.call("crm.deal.delete", [{"ID": 1}, {"ID": 2}]), sorted(sb.store.ids("deal"))


def _raw_none_then_read(bx: Any, sb: Any) -> Any:
    env = bx.call("crm.deal.update", {"ID": 2, "fields": {"COMMENTS": None}}, raw=True)
    return envelope(env), bx.call("crm.deal.get", [{"ID": 2}, {"ID": 3}])[0]["COMMENTS"]


CASES: List[Case] = [
    # get_all: every method shape
    Case("get_all classic list, several pages",
         lambda bx, sb: bx.get_all("crm.deal.list", {"select": ["ID", "TITLE", "OPPORTUNITY"]}),
         order="unordered"),
    Case("get_all with a filter",
         lambda bx, sb: bx.get_all("crm.deal.list", {"select": ["ID", "STAGE_ID"],
                                                     "filter": {"CLOSED": "N"}}),
         order="unordered"),
    Case("get_all without params", lambda bx, sb: bx.get_all("crm.lead.list"),
         order="unordered"),
    Case("get_all {tasks}", lambda bx, sb: bx.get_all("tasks.task.list",
                                                      {"select": ["ID", "TITLE"]}),
         order="unordered"),
    Case("get_all user.get", lambda bx, sb: bx.get_all("user.get"), order="unordered"),
    Case("get_all user.get FILTER",
         lambda bx, sb: bx.get_all("user.get", {"FILTER": {"ACTIVE": True}}),
         order="unordered"),
    Case("get_all {products}, several pages",
         lambda bx, sb: bx.get_all("catalog.product.list", {"select": ["id", "name"]}),
         order="unordered"),
    Case("get_all {items} crm.item.list",
         lambda bx, sb: bx.get_all("crm.item.list", {"entityTypeId": 2,
                                                     "select": ["id", "title"]}),
         differs="get-all-engine-order",
         check=theirs_raise_ours_return(aiohttp.ClientResponseError,
                                        lambda v: [r["id"] for r in v] == list(range(1, 61)))),
    Case("get_all a dict result (*.fields)", lambda bx, sb: bx.get_all("crm.deal.fields")),
    Case("get_all a *.get", lambda bx, sb: bx.get_all("crm.deal.get", {"ID": 1})),
    Case("get_all a method that is not a list warns",
         lambda bx, sb: type(bx.get_all("server.time"))),
    Case("get_all nothing matches",
         lambda bx, sb: bx.get_all("crm.deal.list", {"filter": {">ID": 10 ** 6}})),
    Case("get_all limit warns",
         lambda bx, sb: bx.get_all("crm.lead.list", {"select": ["ID"], "limit": 5}),
         order="unordered"),
    Case("get_all select * warns",
         lambda bx, sb: bx.get_all("crm.lead.list", {"select": ["*"]}), order="unordered"),
    Case("get_all select * with a filter",
         lambda bx, sb: bx.get_all("crm.lead.list", {"select": ["*"], "filter": {">ID": 20}}),
         differs="select-star-filter", check=check_no_star_warning),
    Case("get_all None in a filter warns",
         lambda bx, sb: bx.get_all("crm.deal.list", {"select": ["ID"],
                                                     "filter": {"COMMENTS": None}}),
         order="unordered"),
    Case("get_all with an order",
         lambda bx, sb: bx.get_all("crm.deal.list", {"select": ["ID"],
                                                     "order": {"ID": "DESC"}}),
         differs="get-all-order",
         check=theirs_raise_ours_return(icontract.ViolationError,
                                        lambda v: [int(r["ID"]) for r in v]
                                        == list(range(60, 0, -1)))),
    Case("get_all with start", lambda bx, sb: bx.get_all("crm.deal.list", {"start": 50}),
         differs="contract-errors"),
    Case("get_all select not a list",
         lambda bx, sb: bx.get_all("crm.deal.list", {"select": "ID"})),
    Case("get_all unknown method", lambda bx, sb: bx.get_all("crm.nothing.list"),
         differs="http-errors"),
    Case("get_all fewer rows than total warns",
         lambda bx, sb: bx.get_all("crm.deal.list", {"select": ["ID"]}),
         order="unordered", data={"deals": 120, "inflate_total": 3}),
    Case("get_all wrong webhook", lambda bx, sb: bx.get_all("crm.deal.list"),
         make=_wrong_webhook, differs="http-errors"),

    # get_by_ID
    Case("get_by_ID int IDs", lambda bx, sb: bx.get_by_ID("crm.deal.get", [1, 2, 3])),
    Case("get_by_ID str IDs", lambda bx, sb: bx.get_by_ID("crm.deal.get", ["4", "5"])),
    Case("get_by_ID one ID", lambda bx, sb: bx.get_by_ID("crm.deal.get", [5])),
    Case("get_by_ID crm.item.get with params",
         lambda bx, sb: bx.get_by_ID("crm.item.get", [1, 2], "id", {"entityTypeId": 2})),
    Case("get_by_ID tasks.task.get one ID",
         lambda bx, sb: bx.get_by_ID("tasks.task.get", [1], "taskId")),
    Case("get_by_ID a list per ID",
         lambda bx, sb: bx.get_by_ID("crm.deal.contact.items.get", [1, 2, 3], "id")),
    Case("get_by_ID one ID, a one-element list",
         lambda bx, sb: bx.get_by_ID("crm.deal.contact.items.get", [1], "id")),
    Case("get_by_ID 120 IDs, three batches",
         lambda bx, sb: bx.get_by_ID("crm.deal.get", list(range(1, 121))),
         order="unordered", data={"deals": 130}),
    Case("get_by_ID 51 IDs", lambda bx, sb: bx.get_by_ID("crm.deal.get", list(range(1, 52))),
         differs="get-by-id-51", check=check_by_id_51),
    Case("get_by_ID repeated IDs, 5 and \"5\" alike",
         lambda bx, sb: bx.get_by_ID("crm.deal.get", [2, 1, 2, "1"])),
    Case("get_by_ID IDs from a generator",
         lambda bx, sb: bx.get_by_ID("crm.lead.get", (n for n in (3, 4)))),
    Case("get_by_ID an ID not found",
         lambda bx, sb: bx.get_by_ID("crm.deal.get", [1, 10 ** 6])),
    Case("get_by_ID no IDs", lambda bx, sb: bx.get_by_ID("crm.deal.get", []),
         differs="get-by-id-empty",
         check=theirs_raise_ours_return(icontract.ViolationError, lambda v: v == {})),
    Case("get_by_ID ID in params",
         lambda bx, sb: bx.get_by_ID("crm.deal.get", [1], params={"ID": 2}),
         differs="contract-errors"),

    # call with one dict
    Case("call one dict, a dict result", DEAL_GET, differs="call-one-dict-label",
         check=by_label),
    Case("call one dict, add", lambda bx, sb: (bx.call("crm.deal.add",
                                                       {"fields": {"TITLE": "x"}}),
                                               sorted(sb.store.ids("deal"))[-1])),
    Case("call one dict, update then read", _update_then_read),
    Case("call one dict, {item} crm.item.get",
         lambda bx, sb: bx.call("crm.item.get", {"entityTypeId": 2, "id": 3})),
    Case("call one dict, {item} crm.item.add",
         lambda bx, sb: bx.call("crm.item.add", {"entityTypeId": 2,
                                                 "fields": {"title": "x"}})),
    Case("call one dict, {task} tasks.task.add",
         lambda bx, sb: bx.call("tasks.task.add", {"fields": {"TITLE": "t",
                                                              "RESPONSIBLE_ID": 1}})),
    Case("call one dict, {product}",
         lambda bx, sb: bx.call("catalog.product.get", {"id": 7})),
    Case("call one dict, a list method",
         lambda bx, sb: bx.call("crm.deal.list", {"select": ["ID"], "filter": {"<ID": 4}}),
         differs="call-one-dict-first-row", check=first_row),
    Case("call one dict, {items} crm.item.list",
         lambda bx, sb: bx.call("crm.item.list", {"entityTypeId": 2, "select": ["id"],
                                                  "filter": {"<id": 4}}),
         differs="call-one-dict-first-row", check=first_row),
    Case("call one dict, a bare list result",
         lambda bx, sb: bx.call("crm.deal.contact.items.get", {"id": 2}),
         differs="call-one-dict-first-row", check=first_row),
    Case("call one dict, a data-keyed result",
         lambda bx, sb: bx.call("crm.duplicate.findbycomm",
                                {"type": "PHONE", "values": ["+79000000001"]}),
         differs="data-keyed", check=check_findbycomm_one),
    Case("call one dict, a data-keyed result with two keys",
         lambda bx, sb: bx.call("crm.duplicate.findbycomm",
                                {"type": "PHONE", "values": ["+79000000002"]}),
         differs="call-one-dict-label", check=by_label),
    Case("call one dict, not found", lambda bx, sb: bx.call("crm.deal.get", {"ID": 10 ** 6})),
    Case("call one dict, unknown method",
         lambda bx, sb: bx.call("crm.nothing.get", {"ID": 1})),
    Case("call one dict, a missing parameter",
         lambda bx, sb: bx.call("crm.item.get", {"id": 1})),
    Case("call one dict, a clause of the wrong type",
         lambda bx, sb: bx.call("crm.deal.add", {"fields": "x"}),
         differs="params-checked",
         check=raises(fast_bitrix24.server_response.ErrorInServerResponseException,
                      TypeError)),
    Case("call without params", lambda bx, sb: bx.call("server.time"),
         differs="call-no-params",
         check=theirs_raise_ours_return(BeartypeCallHintParamViolation,
                                        lambda v: isinstance(v, str))),

    # call with a list
    Case("call list, dict results",
         lambda bx, sb: bx.call("crm.deal.get", [{"ID": 1}, {"ID": 2}, {"ID": 3}])),
    Case("call list, adds then read back", _add_then_read),
    Case("call a tuple of items",
         lambda bx, sb: bx.call("crm.lead.get", ({"ID": 1}, {"ID": 2}))),
    Case("call list, 120 adds", lambda bx, sb: bx.call(
        "crm.deal.add", [{"fields": {"TITLE": f"n{i}"}} for i in range(120)]),
        order="unordered"),
    Case("call list, 51 adds", lambda bx, sb: bx.call(
        "crm.deal.add", [{"fields": {"TITLE": f"n{i}"}} for i in range(51)]),
        differs="call-51", check=check_51),
    Case("call list of one item",
         lambda bx, sb: bx.call("crm.deal.add", [{"fields": {"TITLE": "one"}}]),
         differs="call-one-item", check=check_one_item),
    Case("call list, updates", lambda bx, sb: bx.call(
        "crm.deal.update", [{"ID": i, "fields": {"TITLE": "u"}} for i in (1, 2, 3)])),
    Case("call list, deletes", _delete_then_ids),
    Case("call list, {item} adds", lambda bx, sb: bx.call(
        "crm.item.add", [{"entityTypeId": 2, "fields": {"title": t}} for t in "xy"])),
    Case("call list, crm.item.delete", lambda bx, sb: bx.call(
        "crm.item.delete", [{"entityTypeId": 2, "id": 1}, {"entityTypeId": 2, "id": 2}])),
    Case("call list, {task} gets",
         lambda bx, sb: bx.call("tasks.task.get", [{"taskId": 1}, {"taskId": 2}])),
    Case("call list, a missing task first",
         lambda bx, sb: bx.call("tasks.task.get", [{"taskId": 10 ** 6}, {"taskId": 2}]),
         differs="flatten-mixed", check=check_mixed),
    Case("call list, a list method: rows flattened",
         lambda bx, sb: bx.call("crm.deal.list", [
             {"select": ["ID"], "filter": {"<ID": 4}},
             {"select": ["ID"], "filter": {">ID": 57}}])),
    Case("call list, {items} crm.item.list flattened",
         lambda bx, sb: bx.call("crm.item.list", [
             {"entityTypeId": 2, "select": ["id"], "filter": {"<id": 3}},
             {"entityTypeId": 1, "select": ["id"], "filter": {"<id": 3}}])),
    Case("call list of one, {tasks} tasks.task.list",
         lambda bx, sb: bx.call("tasks.task.list", [{"select": ["ID"],
                                                     "filter": {"<ID": 4}}])),
    Case("call list, {product} gets",
         lambda bx, sb: bx.call("catalog.product.get", [{"id": 1}, {"id": 2}])),
    Case("call list, data-keyed results",
         lambda bx, sb: bx.call("crm.duplicate.findbycomm", [
             {"type": "PHONE", "values": ["+79000000001"]},
             {"type": "PHONE", "values": ["+79000000003"]}]),
         differs="data-keyed", check=check_findbycomm_list),
    Case("call list, one not found",
         lambda bx, sb: bx.call("crm.deal.get", [{"ID": 1}, {"ID": 10 ** 6}])),
    Case("call list, wrong webhook",
         lambda bx, sb: bx.call("crm.deal.add", [{"fields": {"TITLE": "x"}}] * 2),
         make=_wrong_webhook, differs="http-errors"),
    Case("call an empty list", lambda bx, sb: bx.call("crm.deal.get", []),
         differs="call-empty",
         check=theirs_raise_ours_return(icontract.ViolationError, lambda v: v == [])),
    Case("call list, what the portal receives",
         lambda bx, sb: bx.call("probe.echo", [{"a": "x", "n": 1}, {"a": "y", "n": 2}]),
         differs="sends-order-key", check=check_echo_order),
    Case("call list, booleans received",
         lambda bx, sb: bx.call("probe.echo", [{"flag": False, "n": 1},
                                                {"flag": True, "n": 2}]),
         differs="sends-booleans", check=check_echo_bool),
    Case("call list, None received",
         lambda bx, sb: bx.call("probe.echo", [{"v": None, "n": 1}, {"v": "x", "n": 2}]),
         differs="sends-none", check=check_echo_none),

    # raw=True and "batch"
    Case("call raw, a get",
         lambda bx, sb: envelope(bx.call("crm.deal.get", {"ID": 1}, raw=True))),
    Case("call raw, start=-1",
         lambda bx, sb: envelope(bx.call("crm.deal.list", {"select": ["ID"], "start": -1},
                                         raw=True))),
    Case("call raw, None clears a field", _raw_none_then_read),
    Case("call raw, batch",
         lambda bx, sb: envelope(bx.call("batch", {"halt": 0, "cmd": {
             "a": "crm.deal.get?ID=1", "b": "crm.deal.list?select[]=ID&filter[<ID]=3"}},
             raw=True))),
    Case("call raw, batch with a failed command",
         lambda bx, sb: envelope(bx.call("batch", {"halt": 0, "cmd": {
             "a": "crm.deal.get?ID=1", "b": "crm.deal.get?ID=1000000"}}, raw=True))),
    Case("call raw, an HTTP 400",
         lambda bx, sb: bx.call("crm.deal.get", {"ID": 10 ** 6}, raw=True),
         differs="http-errors"),
    Case("call batch without raw",
         lambda bx, sb: bx.call("batch", {"halt": 0, "cmd": {"a": "crm.deal.get?ID=1"}}),
         differs="contract-errors"),

    # call_batch
    Case("call_batch dict cmd", lambda bx, sb: bx.call_batch({"halt": 0, "cmd": {
        "a": "crm.deal.get?ID=1", "b": "crm.deal.list?select[]=ID&filter[<ID]=3"}})),
    Case("call_batch list cmd", lambda bx, sb: bx.call_batch({"halt": 0, "cmd": [
        "crm.deal.get?ID=1", "crm.deal.get?ID=2"]})),
    Case("call_batch $result reference", lambda bx, sb: bx.call_batch({"halt": 0, "cmd": {
        "deal": "crm.deal.get?ID=2", "again": "crm.deal.get?ID=$result[deal][ID]"}})),
    Case("call_batch a failed command", lambda bx, sb: bx.call_batch({"halt": 0, "cmd": {
        "a": "crm.deal.get?ID=1", "b": "crm.deal.get?ID=1000000"}})),
    Case("call_batch halt", lambda bx, sb: bx.call_batch({"halt": 1, "cmd": {
        "a": "crm.deal.get?ID=1000000", "b": "crm.deal.get?ID=1"}})),

    # list_and_get
    Case("list_and_get", lambda bx, sb: bx.list_and_get("crm.company"), order="unordered"),
    Case("list_and_get rows without the ID field",
         lambda bx, sb: bx.list_and_get("tasks.task")),
    Case("list_and_get a method name", lambda bx, sb: bx.list_and_get("crm.deal.list"),
         differs="contract-errors"),

    # slow()
    Case("slow(2)", _with_slow(2)),
    Case("slow()", _with_slow(None)),
    Case("slow(0)", lambda bx, sb: bx.slow(0).__enter__(), differs="contract-errors"),

    # the constructor
    Case("constructor, positional arguments",
         lambda bx, sb: bx.get_all("crm.deal.list", SMALL), order="unordered",
         make=lambda mk, sb: (fast_bitrix24.Bitrix(sb.webhook, None, False, True, BURST, RATE,
                                                   50, BUDGET) if mk is make_theirs else
                              bitrix_fast.Bitrix(sb.webhook, None, False, True, BURST, RATE,
                                                 50, BUDGET, **reach(sb)))),
    Case("constructor, webhook without the trailing slash",
         lambda bx, sb: bx.call("crm.deal.update", {"ID": 1, "fields": {"TITLE": "t"}}),
         make=lambda mk, sb: mk(sb.webhook.rstrip("/"))),
    Case("constructor, any webhook-looking path", lambda bx, sb: "constructed",
         make=lambda mk, sb: mk("https://portal.example.com/any/path/x1y2z3w4/")),
    Case("constructor, not a URL", lambda bx, sb: "constructed",
         make=lambda mk, sb: mk("portal.example.com")),
    Case("constructor, an int rate", lambda bx, sb: bx.call("crm.deal.get", [{"ID": 1}] * 2),
         make=lambda mk, sb: (fast_bitrix24.Bitrix(sb.webhook, verbose=False,
                                                   requests_per_second=20)
                              if mk is make_theirs else
                              bitrix_fast.Bitrix(sb.webhook, verbose=False,
                                                 requests_per_second=20, **reach(sb))),
         differs="int-rate",
         check=theirs_raise_ours_return(BeartypeCallHintParamViolation, lambda v: len(v) == 2)),
    Case("constructor, OAuth with an async token_func",
         lambda bx, sb: bx.get_all("crm.deal.list", SMALL), order="unordered", make=_oauth),
    Case("constructor, OAuth with a plain token_func",
         lambda bx, sb: bx.get_all("crm.deal.list", SMALL), make=_oauth_sync,
         differs="sync-token-func", check=check_sync_token),
    Case("sync client inside a running event loop", _in_running_loop,
         differs="running-loop", check=check_running_loop),

    # BitrixAsync against fast_bitrix24's BitrixAsync
    Case("async get_all, get_by_ID, call, call_batch",
         lambda bx, sb: asyncio.run(_async_calls(bx)), asynchronous=True),
    Case("async {tasks}", lambda bx, sb: asyncio.run(_async_task_rows(bx)),
         asynchronous=True),
    Case("async failed item", lambda bx, sb: asyncio.run(_async_error(bx)),
         asynchronous=True),
]


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_side_by_side(case: Case, served: Tuple[Sandbox, Swapped]) -> None:
    if case.asynchronous:
        theirs = run_side(make_theirs_async, case, served)
        ours = run_side(make_ours_async, case, served)
    else:
        theirs, ours = run_side(make_theirs, case, served), run_side(make_ours, case, served)

    if case.check is not None:  # a listed difference: what its entry says must be so
        assert case.differs in BY_KEY, f"{case.id}: unknown difference {case.differs!r}"
        case.check(theirs, ours)
        return
    if theirs.error is not None or ours.error is not None:
        assert theirs.error is not None, f"bitrix_fast raised {ours.error!r}; " \
                                         f"fast_bitrix24 returned {theirs.value!r}"[:800]
        assert ours.error is not None, f"fast_bitrix24 raised {theirs.error!r}; " \
                                       f"bitrix_fast returned {ours.value!r}"[:800]
        difference = assert_caught_alike(theirs.error, ours.error)
        assert case.differs == difference, \
            f"{case.id}: caught differently, so the case must name {difference!r}"
    else:
        assert case.differs is None, f"{case.id}: no difference seen, yet {case.differs!r} " \
                                     f"is claimed"
        assert_same(stable(theirs.value), stable(ours.value), case.order == "exact")
    assert ours.warned == theirs.warned


def test_the_version_compared_is_fast_bitrix24_1_8() -> None:
    version = importlib.metadata.version("fast_bitrix24")
    assert version.split(".")[:2] == FAST_BITRIX24.split("."), \
        f"fast_bitrix24 {version} is installed; the difference list describes " \
        f"{FAST_BITRIX24}.x: install fast_bitrix24=={FAST_BITRIX24}.* (setup.cfg, test extra)"


def test_the_suite_has_at_least_forty_distinct_cases() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 40 and len(ids) == len(set(ids))


def test_every_difference_is_shown_by_a_case_or_a_named_test() -> None:
    shown = {c.differs for c in CASES}
    for entry in DIFFERENCES:
        assert entry.kind in ("internals", "error"), entry.key
        if entry.tested_by is None:
            assert entry.key in shown, f"{entry.key}: no case shows it"
            continue
        path, _, name = entry.tested_by.partition("::")
        assert re.search(rf"^def {re.escape(name)}\(", (ROOT / path).read_text(),
                         re.MULTILINE), f"{entry.key}: {entry.tested_by} does not exist"
    named = {rule[1] for rule in CATCH.values()} | shown
    assert named - {None} <= set(BY_KEY)


def test_error_details_differ_as_listed(served: Tuple[Sandbox, Swapped]) -> None:
    """``error-args``: fast_bitrix24's args[0] is the raw result_error keyed by its labels;
    ours keeps per-item errors with their codes, and the successes."""
    case = Case("", lambda bx, sb: bx.call("crm.deal.get", [{"ID": 1}, {"ID": 10 ** 6}]))
    theirs, ours = run_side(make_theirs, case, served), run_side(make_ours, case, served)
    assert theirs.error.args[0] == {"order0000000001": {"error": "",
                                                        "error_description": "Not found"}}
    assert isinstance(ours.error, bitrix_fast.ErrorInServerResponseException)
    assert list(ours.error.errors) == [1] and ours.error.errors[1].description == "Not found"
    assert ours.error.results[0]["ID"] == "1"
    assert "error-args" in BY_KEY


def test_client_is_a_requests_session() -> None:
    """``client-session``: an aiohttp session (fast_bitrix24's kind) is refused with a hint."""
    async def build() -> Any:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(TypeError, match="requests.Session"):
                bitrix_fast.Bitrix("https://portal.example/rest/1/abcd1234/", client=session)
            return bitrix_fast.Bitrix("https://portal.example/rest/1/abcd1234/",
                                      client=requests.Session())
    asyncio.run(build()).close()
