"""REST 3.0 on the wire, sans-I/O: its error shape turned into our errors, its address, its
keys; and the new error classes' messages."""
from __future__ import annotations

import json
import pickle

import pytest

from bitrix_fast.errors import (ApiError, AuthError, BadResponse, IdempotencyKeyReused,
                                KeyConflict, MethodNotFound, RateLimited, UpsertError,
                                ValidationError)
from bitrix_fast.net.v3 import v3_url
from bitrix_fast.protocol import v3
from bitrix_fast.writes.safe.result import UpsertResult


def parse(status, body, hide=str):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return v3.parse("tasks.task.add", status, content, hide)


def v3_error(code, message="m", **more):
    return {"error": {"code": code, "message": message, **more}}


def test_a_success_is_the_envelope():
    assert parse(200, {"result": {"item": {"id": 5}}}) == {"result": {"item": {"id": 5}}}


@pytest.mark.parametrize("status,code,cls", [
    (400, "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION", ValidationError),
    (400, "BITRIX_REST_V3_EXCEPTION_INVALIDIDEMPOTENCYKEYEXCEPTION", ValidationError),
    (422, "BITRIX_REST_V3_EXCEPTION_IDEMPOTENCYKEYREUSEDEXCEPTION", IdempotencyKeyReused),
    (404, "ERROR_METHOD_NOT_FOUND", MethodNotFound),
    (404, "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION", MethodNotFound),
    (401, "BITRIX_REST_V3_EXCEPTION_SOMETHINGNEW", AuthError),
    (400, "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION", ApiError),
    (503, "QUERY_LIMIT_EXCEEDED", RateLimited),
])
def test_v3_errors_become_the_typed_errors(status, code, cls):
    with pytest.raises(ApiError) as caught:
        parse(status, v3_error(code, "Text"))
    assert type(caught.value) is cls
    assert caught.value.code == code and caught.value.status == status
    assert str(caught.value) == f"tasks.task.add: {code} ({status}) Text"


def test_a_validation_error_lists_its_fields():
    with pytest.raises(ValidationError) as caught:
        parse(400, v3_error("BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION",
                            validation=[{"field": "title", "message": "Required"}, "junk"]))
    assert caught.value.validation == [{"field": "title", "message": "Required"}]


def test_the_old_error_shape_and_pages_that_are_no_envelope_still_parse():
    with pytest.raises(RateLimited):
        parse(503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
    with pytest.raises(BadResponse):
        parse(504, b"<html>504 Gateway Time-out</html>")


def test_secrets_in_a_v3_error_are_hidden():
    with pytest.raises(ApiError) as caught:
        parse(400, v3_error("X", "bad token s3cr3t", validation=[{"field": "auth",
                                                                   "message": "s3cr3t"}]),
              hide=lambda text: text.replace("s3cr3t", "***"))
    assert "s3cr3t" not in str(caught.value) and "s3cr3t" not in repr(caught.value.extra)


def test_the_v3_address_puts_api_after_rest():
    assert v3_url("https://p.bitrix24.ru/rest/1/abc/", "tasks.task.add") == \
        "https://p.bitrix24.ru/rest/api/1/abc/tasks.task.add"
    assert v3_url("https://p.bitrix24.ru/rest/", "tasks.task.add") == \
        "https://p.bitrix24.ru/rest/api/tasks.task.add"
    assert v3_url("https://p.bitrix24.ru/rest/api/1/abc/", "m") == \
        "https://p.bitrix24.ru/rest/api/1/abc/m"
    with pytest.raises(ValueError, match="/rest/"):
        v3_url("https://proxy.example/hook/abc/", "m")


def test_which_v3_methods_read_and_which_keys_are_good():
    assert v3.is_read_only("tasks.task.list") and v3.is_read_only("main.eventlog.tail")
    assert v3.is_read_only("tasks.task.field.list") and v3.is_read_only("documentation")
    assert not v3.is_read_only("tasks.task.add") and not v3.is_read_only("mail.message.send")
    key = v3.new_key()
    assert v3.check_key(key) == key and key != v3.new_key()
    for bad in ("", "a b", "x" * 256, 17, None, "ключ"):
        with pytest.raises(ValueError):
            v3.check_key(bad)


def test_key_conflict_and_upsert_error_name_what_was_not_written():
    conflict = KeyConflict("crm.deal.upsert", "ORIGIN_ID", "A-1", [3, 7], item=4)
    assert str(conflict) == ("crm.deal.upsert: item 4: 2 records hold ORIGIN_ID 'A-1' "
                             "(IDs 3, 7); nothing was written for this item")
    result = UpsertResult(ids=[10, None, 11], added=1, updated=1)
    error = UpsertError("crm.deal.upsert", result, conflicts={"A-1": [3, 7]},
                        results={0: 10, 2: 11}, errors={1: conflict})
    text = str(error)
    assert text.startswith("crm.deal.upsert: 2 succeeded, 1 failed (")
    assert "1 key held by several records, nothing written for them: 'A-1' (IDs 3, 7)" in text
    copy = pickle.loads(pickle.dumps(error))
    assert copy.result == result and copy.conflicts == error.conflicts and str(copy) == text
    assert pickle.loads(pickle.dumps(conflict)).ids == [3, 7]
