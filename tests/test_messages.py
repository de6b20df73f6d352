"""What users read: one test per message. No internal batch labels, no "(no code)", plurals
that agree, the method named once, and the item the caller passed rather than our label."""
from __future__ import annotations

import pickle

import pytest

from bitrix_fast import BatchError, Bitrix
from bitrix_fast.testing.connect import connect
from bitrix_fast.testing.sandbox import Sandbox
from bitrix_fast.errors import (ApiError, AuthError, BadResponse, ConnectError, Redirected,
                                ResponseTimeout, RetryExhausted, api_error, with_item,
                                with_method)


def test_an_api_error_reads_method_code_status_description() -> None:
    error = api_error("INVALID_CREDENTIALS", "Invalid request credentials", status=401,
                      method="crm.deal.list")
    assert str(error) == "crm.deal.list: INVALID_CREDENTIALS (401) Invalid request credentials"


def test_an_empty_code_shows_the_status_and_text_only() -> None:
    assert str(ApiError("", "Not found", status=400, method="crm.deal.get")) == \
        "crm.deal.get: Not found (HTTP 400)"
    assert str(ApiError("", "Not found", method="crm.deal.get")) == "crm.deal.get: Not found"
    assert str(ApiError("", "", status=400, method="crm.deal.get")) == \
        "crm.deal.get: the portal reported an error without a code (HTTP 400)"
    assert "no code" not in str(ApiError(None or "", "x"))


def test_internal_batch_labels_never_show() -> None:
    error = api_error("ERROR_CORE", "oops", method="crm.deal.add", command_label="c0007")
    assert str(error) == "crm.deal.add: ERROR_CORE oops"
    assert error.command_label == "c0007"  # still there for whoever needs it


def test_the_callers_item_is_named_instead() -> None:
    error = with_item(api_error("ERROR_CORE", "oops", method="crm.deal.add",
                                command_label="c0007"), 7)
    assert isinstance(error, ApiError)
    assert str(error) == "crm.deal.add: item 7: ERROR_CORE oops" and error.item == 7
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_a_batch_error_counts_and_shows_the_first_failure_once() -> None:
    first = with_item(ApiError("", "Not found", method="crm.deal.get"), 1)
    error = BatchError("crm.deal.get", results={0: {"ID": "1"}}, errors={1: first},
                       in_doubt={2: ResponseTimeout("no answer", method="crm.deal.get")})
    assert str(error) == ("crm.deal.get: 1 succeeded, 1 failed (Not found; first: "
                          "crm.deal.get: item 1: Not found), 1 in doubt (may have been "
                          "executed; check before resending)")


def test_a_batch_error_keyed_by_the_callers_labels_names_the_label() -> None:
    error = BatchError("batch", errors={"deal": api_error("", "Not found", method="crm.deal.get",
                                                          command_label="deal")})
    assert str(error) == "batch: 0 succeeded, 1 failed (Not found; first: item 'deal': " \
                         "crm.deal.get: Not found)"


@pytest.mark.parametrize("attempts, word", [(1, "attempt"), (2, "attempts"), (9, "attempts")])
def test_retry_exhausted_agrees_in_number_and_names_the_method_once(attempts: int,
                                                                   word: str) -> None:
    last = ConnectError("could not connect to portal.example: Connection refused",
                        method="crm.deal.list")
    error = RetryExhausted("crm.deal.list", attempts, last)
    assert str(error) == (f"crm.deal.list: gave up after {attempts} {word}; last error: "
                          f"could not connect to portal.example: Connection refused")


def test_retry_exhausted_says_why_it_stopped_early() -> None:
    error = RetryExhausted("x.get", 3, ResponseTimeout("no answer within 5 s", method="x.get"),
                           "no answer 3 times")
    assert str(error) == "x.get: gave up after 3 attempts (no answer 3 times); last error: " \
                         "no answer within 5 s"
    assert pickle.loads(pickle.dumps(error)).reason == "no answer 3 times"


def test_errors_renamed_to_the_method_keep_their_class_and_fields() -> None:
    moved = Redirected("the portal redirects", method="batch", status=301, location="https://x/")
    renamed = with_method(moved, "crm.deal.add")
    assert type(renamed) is Redirected and renamed.location == "https://x/"
    assert str(renamed) == "crm.deal.add: the portal redirects (HTTP 301)"
    cert = with_method(ConnectError("untrusted", method="batch", retryable=False), "x.get")
    assert isinstance(cert, ConnectError)
    assert cert.retryable is False and str(cert) == "x.get: untrusted"
    auth = with_method(AuthError("INVALID_CREDENTIALS", "bad", status=401), "crm.deal.list")
    assert str(auth) == "crm.deal.list: INVALID_CREDENTIALS (401) bad"


def test_transport_errors_pickle_with_their_fields() -> None:
    page = BadResponse("html", method="x.get", status=502, snippet="<h1>502</h1>")
    copy = pickle.loads(pickle.dumps(page))
    assert (type(copy), str(copy), copy.status, copy.snippet) == (
        BadResponse, str(page), 502, "<h1>502</h1>")


def test_a_failed_item_of_call_is_named_by_its_position(bitrix_portal: Sandbox) -> None:
    items = [{"id": 1}, {"id": 10 ** 9}, {"id": 2}]
    with connect(bitrix_portal) as bx:
        with pytest.raises(BatchError) as caught:
            bx.call("crm.deal.get", items)
    error = caught.value
    failed = error.errors[1]
    assert list(error.errors) == [1] and isinstance(failed, ApiError) and failed.item == 1
    assert "c0001" not in str(error) and "[c" not in str(error)
    assert str(error.errors[1]).startswith("crm.deal.get: item 1: ")


def test_a_method_name_that_could_change_the_url_is_refused_by_name() -> None:
    with Bitrix("https://portal.example/rest/1/abcdefgh/", verbose=False) as bx:
        for bad in ("..", "crm.deal/../../x", "crm.deal.list?x=1", "crm..deal.list", "a#b", ""):
            with pytest.raises(ValueError, match="is not a REST method name"):
                bx.call(bad, {})
