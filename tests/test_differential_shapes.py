"""fast_bitrix24's shapes as pure functions (bitrix_fast/compat.py), the errors' fast_bitrix24
catch clauses, and webhooks of any path -- unit tests, plus the few client paths that wire
them (warnings pointing at the caller's line, a bulk call refused as a whole)."""
import logging
import warnings

from bitrix_fast.protocol.params import Params

import pytest

import bitrix_fast
from bitrix_fast import compat
from bitrix_fast.net.credentials import Webhook
from bitrix_fast.errors import (ApiError, AuthError, BatchError, BitrixError, ErrorInServerResponseException,
    MethodNotFound, RateLimited, RetryExhausted, TransportError)
from bitrix_fast.testing.clock import FakeClock
from bitrix_fast.testing.sandbox import Sandbox


# -- unwrapping: by method, never by the number of keys alone ------------------------------

@pytest.mark.parametrize("result, expected", [
    ({"items": [1, 2]}, [1, 2]),
    ({"item": {"id": 1, "title": "x"}}, {"id": 1, "title": "x"}),
    ({"products": []}, []),
    ({"ID": "1", "TITLE": "x"}, {"ID": "1", "TITLE": "x"}),
    ([{"ID": "1"}], [{"ID": "1"}]),
    (True, True),
    ({}, {}),
])
def test_one_key_results_are_unwrapped(result, expected):
    assert compat.unwrap("crm.item.list", result) == expected


@pytest.mark.parametrize("method", ["crm.duplicate.findbycomm", "im.user.list.get",
                                    "user.option.get", "app.option.get"])
def test_a_data_key_is_kept(method):
    assert compat.unwrap(method, {"CONTACT": [4, 5]}) == {"CONTACT": [4, 5]}
    assert compat.call_many(method, [{"CONTACT": [4]}, {"LEAD": [7]}]) == \
        ({"CONTACT": [4]}, {"LEAD": [7]})


# -- call with a list ------------------------------------------------------------------------

def test_plain_results_of_a_list_are_a_tuple_in_input_order():
    assert compat.call_many("crm.deal.add", [61, 62, 63]) == (61, 62, 63)
    deals = [{"ID": "1", "TITLE": "a"}, {"ID": "2", "TITLE": "b"}]
    assert compat.call_many("crm.deal.get", deals) == tuple(deals)
    assert compat.call_many("crm.deal.update", [True]) == (True,)


def test_wrapped_results_are_a_list_of_what_they_wrap():
    out = compat.call_many("crm.item.add", [{"item": {"id": 1}}, {"item": {"id": 2}}])
    assert out == [{"id": 1}, {"id": 2}] and type(out) is list


def test_pages_of_a_list_method_are_flattened_into_rows():
    pages = [[{"ID": "1"}, {"ID": "2"}], [], [{"ID": "9"}]]
    assert compat.call_many("crm.deal.list", pages) == [{"ID": "1"}, {"ID": "2"}, {"ID": "9"}]
    wrapped = [{"tasks": [{"id": "1"}]}, {"tasks": [{"id": "2"}]}]
    assert compat.call_many("tasks.task.list", wrapped) == [{"id": "1"}, {"id": "2"}]
    assert compat.call_many("crm.item.delete", [[], []]) == []


def test_results_that_are_not_all_lists_are_not_flattened():
    """fast_bitrix24 would splice the task's keys in as rows; nothing is garbled here."""
    task = {"task": {"id": "2", "title": "t"}}
    assert compat.call_many("tasks.task.get", [[], task]) == [[], {"id": "2", "title": "t"}]


def test_no_items_no_results():
    assert compat.call_many("crm.deal.add", []) == []


# -- get_by_ID -----------------------------------------------------------------------------

@pytest.mark.parametrize("ID, label", [(5, "5"), ("5", "5"), ("abc", "abc"), (True, "true"),
                                       (2.5, "2.5"), (None, "null"), (-1, "-1")])
def test_ids_are_keyed_as_the_batch_reply_prints_them(ID, label):
    assert compat.id_label(ID) == label


def test_ids_that_no_json_key_can_hold_are_refused():
    with pytest.raises(TypeError, match="get_by_ID"):
        compat.id_label((1, 2))


def test_by_id_answers():
    deal = {"ID": "5", "TITLE": "x"}
    assert compat.by_id({"5": deal, "6": [deal]}) == {"5": deal, "6": [deal]}
    assert compat.by_id({"5": deal}) == deal
    assert compat.by_id({"5": [deal]}) == deal            # a one-element list: its element
    assert compat.by_id({"5": [deal, deal]}) == [deal, deal]
    assert compat.by_id({"5": []}) == []
    assert compat.by_id({"5": {"item": deal}}) == {"item": deal}  # not unwrapped
    assert compat.by_id({}) == {}


# -- warnings ------------------------------------------------------------------------------

def _warned(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*args)
    return [(w.category, str(w.message)) for w in caught]


def _get_all_warned(method, params):
    return _warned(compat.warn_get_all, Params(method, params))


def test_get_all_warnings():
    assert _get_all_warned("crm.deal.list", {"select": ["ID"]}) == []
    assert _get_all_warned("user.get", None) == []
    (category, text), = _get_all_warned("server.time", None)
    assert category is UserWarning and "list methods" in text
    (category, text), = _get_all_warned("crm.deal.list", {"SELECT": ["*", "UF_*"]})
    assert "'*'" in text and "no filter" in text
    assert _get_all_warned("crm.deal.list", {"select": ["*"], "Filter": {">ID": 1}}) == []
    (category, text), = _get_all_warned("crm.deal.list", {"filter": {"COMPANY_ID": None}})
    assert "None" in text


def test_call_warns_on_list_methods_only():
    assert _warned(compat.warn_call, "crm.deal.get") == []
    assert _warned(compat.warn_call, "crm.deal.add") == []
    for method in ("crm.deal.list", "task.elapseditem.getlist", "crm.deal.fields"):
        (category, text), = _warned(compat.warn_call, method)
        assert category is UserWarning and "get_all()" in text


def test_list_and_get_is_deprecated():
    (category, text), = _warned(compat.warn_list_and_get)
    assert category is DeprecationWarning and "get_all()" in text


@pytest.fixture(scope="module")
def portal():
    """In memory, on a FakeClock: the tests below are about the client, not about HTTP."""
    with Sandbox(deals=80, users=3, plan="x10", http=False, clock=FakeClock()) as sb:
        yield sb


def client(portal, webhook=None, **options):
    return bitrix_fast.Bitrix(webhook or portal.webhook, verbose=False,
                              transport=portal.transport(), clock=portal.clock, **options)


def test_warnings_point_at_the_callers_line(portal):
    with client(portal, requests_per_second=20) as bx:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bx.get_all("server.time")
            bx.call("crm.deal.list", [{"select": ["ID"]}])
            bx.get_by_ID("crm.deal.get", [1, 2], params={"filter": {"X": None}})
            bx.list_and_get("crm.deal")
    assert len(caught) == 4
    assert {w.filename for w in caught} == {__file__}


# -- errors, caught the fast_bitrix24 way ---------------------------------------------------

def test_every_error_is_a_runtime_error_and_server_answers_are_error_in_server_response():
    for cls in (BitrixError, TransportError, RetryExhausted, ApiError, BatchError):
        assert issubclass(cls, RuntimeError)
    for cls in (ApiError, AuthError, MethodNotFound, RateLimited, BatchError):
        assert issubclass(cls, ErrorInServerResponseException) and issubclass(cls, BitrixError)
    assert not issubclass(TransportError, ErrorInServerResponseException)
    assert bitrix_fast.ErrorInServerResponseException is ErrorInServerResponseException
    try:
        raise BatchError("crm.deal.add", errors={0: ApiError("", "Not found", status=400)})
    except ErrorInServerResponseException as caught:
        assert caught.errors[0].description == "Not found"


def test_a_bulk_call_refused_for_its_credentials_raises_auth_error(portal):
    wrong = portal.webhook.rstrip("/") + "x/"
    with client(portal, wrong) as bx:
        with pytest.raises(AuthError) as caught:
            bx.call("crm.deal.add", [{"fields": {"TITLE": "a"}}, {"fields": {"TITLE": "b"}}])
        assert caught.value.status == 401 and isinstance(caught.value.__cause__, BatchError)
        with pytest.raises(AuthError):
            bx.get_by_ID("crm.deal.get", [1, 2])


def test_partial_failures_keep_their_batch_error_keyed_as_the_answer_would_be(portal):
    with client(portal) as bx:
        with pytest.raises(BatchError) as caught:
            bx.get_by_ID("crm.deal.get", [1, 10 ** 6, 2])
        assert set(caught.value.results) == {"1", "2"} and list(caught.value.errors) == ["1000000"]
        with pytest.raises(BatchError) as caught:
            bx.call("crm.item.get", [{"entityTypeId": 2, "id": 1},
                                     {"entityTypeId": 2, "id": 10 ** 6}])
        assert caught.value.results[0]["id"] == 1  # unwrapped, as the answer would have been


# -- webhooks of any path -------------------------------------------------------------------

SECRET = "gw7Hq2Lx9pRt"


def test_any_webhook_looking_path_is_accepted_and_its_parts_kept_secret():
    hook = Webhook(f"https://crm.example.com/gateway/{SECRET}")
    assert hook.url("crm.deal.list") == f"https://crm.example.com/gateway/{SECRET}/crm.deal.list"
    assert SECRET in hook.secrets and f"gateway/{SECRET}" in hook.secrets
    assert SECRET not in repr(hook) and SECRET not in hook.display
    standard = Webhook(f"https://portal.example/b24/rest/7/{SECRET}/")
    assert standard.secrets == (SECRET,) and standard.display.endswith("/rest/7/***/")
    assert Webhook("https://portal.example/").url("profile") == "https://portal.example/profile"
    assert Webhook("https://portal.example/rest/").secrets == ()
    for bad in ("https://portal.example", "portal.example/rest/1/x/", "mailto:a@b.c"):
        with pytest.raises(ValueError):
            Webhook(bad)


@pytest.mark.bitrix_sandbox(deals=1)
def test_a_gateway_path_stays_out_of_errors_reprs_and_log_lines(bitrix_sandbox, caplog):
    """Over HTTP: urllib3's own DEBUG lines are among what is checked."""
    caplog.set_level(logging.DEBUG)
    url = f"{bitrix_sandbox.base_url}/gateway/{SECRET}/"
    with bitrix_fast.Bitrix(url, verbose=False, retry=0) as bx:
        with pytest.raises(BitrixError) as caught:
            bx.get_all("crm.deal.list")
        texts = [repr(bx), caplog.text]
    error = caught.value
    while error is not None:
        texts += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    assert any("gateway" not in t and "***" in t for t in texts[:1])
    assert not [t for t in texts if SECRET in t]
