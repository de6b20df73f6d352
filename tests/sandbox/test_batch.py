"""``batch``: command forms, halt, limits, references, result shapes (unit and over HTTP)."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

from bitrix_fast.testing.sandbox.batch import encode_group, php_bool, run_batch, substitute


class Echo:
    """An ``execute`` that returns its params as the result (or fails on method 'fail')."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Dict[str, Any]]] = []

    def __call__(self, method: str, params: Dict[str, Any]) -> Dict[str, Any]:
        self.calls.append((method, params))
        if method == "fail":
            return {"error": "BAD", "error_description": "it failed"}
        entry: Dict[str, Any] = {"result": params, "time": {"duration": 0.5}}
        if method == "page":
            entry.update(next=50, total=120)
        return entry


# -- unit: parameters, halt, slots ---------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    (None, False), ("", False), ("0", False), ("false", True), ("1", True), ("0.0", True), (0, False),
    (1, True), (True, True), (False, False), (0.0, False), ([], False), ({"a": 1}, True),
])
def test_halt_is_a_php_bool_cast(value, expected):
    assert php_bool(value) is expected


def test_cmd_and_halt_keys_are_case_insensitive():
    echo = Echo()
    out = run_batch({"CMD": {"a": "x?v=1", "b": "fail", "c": "x"}, "Halt": "1"}, echo)
    assert [m for m, _ in echo.calls] == ["x", "fail"]
    assert out["result"] == {"a": {"v": "1"}} and list(out["result_error"]) == ["b"]


def test_list_cmd_gives_lists_when_gap_free_and_objects_with_gaps():
    echo = Echo()
    out = run_batch({"cmd": ["x?a=1", "x?a=2"]}, echo)
    assert out["result"] == [{"a": "1"}, {"a": "2"}]
    assert out["result_time"] == [{"duration": 0.5}, {"duration": 0.5}]
    assert out["result_error"] == [] and out["result_next"] == [] and out["result_total"] == []
    out = run_batch({"cmd": ["x?a=1", "fail", "page"]}, echo)
    assert out["result"] == {"0": {"a": "1"}, "2": {}}
    assert out["result_error"] == {"1": {"error": "BAD", "error_description": "it failed"}}
    assert out["result_next"] == {"2": 50} and out["result_total"] == {"2": 120}


def test_non_string_commands_are_skipped_but_use_a_slot():
    echo = Echo()
    cmd = {str(i): "x?i=%d" % i for i in range(50)}
    cmd["3"] = 42
    cmd["extra"] = "x?i=extra"
    out = run_batch({"cmd": cmd}, echo)
    assert len(echo.calls) == 49
    assert "3" not in out["result"] and "3" not in out["result_error"]
    assert out["result_error"] == {"extra": {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                                             "error_description": "Max batch length exceeded"}}


def test_more_than_50_commands():
    echo = Echo()
    out = run_batch({"cmd": ["x?i=%d" % i for i in range(53)]}, echo)
    assert len(echo.calls) == 50 and len(out["result"]) == 50
    assert set(out["result_error"]) == {"50", "51", "52"}
    assert all(e["error"] == "ERROR_BATCH_LENGTH_EXCEEDED" for e in out["result_error"].values())
    out = run_batch({"cmd": ["x"] * 51, "halt": 1}, Echo())
    assert list(out["result_error"]) == ["50"]


def test_nested_batch_download_upload_are_not_allowed():
    echo = Echo()
    out = run_batch({"cmd": {"a": "batch?cmd[0]=x", "b": "Download", "c": "upload?x=1", "d": "x"}}, echo)
    assert [m for m, _ in echo.calls] == ["x"]
    assert {k: e["error"] for k, e in out["result_error"].items()} == dict.fromkeys("abc", "ERROR_BATCH_METHOD_NOT_ALLOWED")


def test_empty_or_odd_cmd():
    for params in ({}, {"cmd": "crm.deal.list"}, {"cmd": []}, {"cmd": {}}, {"halt": 1}):
        assert run_batch(params, Echo()) == {
            "result": [], "result_error": [], "result_total": [], "result_next": [], "result_time": []}


def test_encode_group():
    assert encode_group({}) == [] and encode_group({"0": 1, "1": 2}) == [1, 2]
    assert encode_group({"1": 1, "0": 2}) == {"1": 1, "0": 2} and encode_group({"a": 1}) == {"a": 1}


# -- unit: references ----------------------------------------------------------------------------
ACC = {
    "result": {"list": [{"ID": "7", "N": None, "NUM": 5, "F": 2.5, "FLAG": True}, {"ID": "8"}],
               "one": {"ID": "3", "EMAIL": [{"VALUE": "a@b"}], "IDS": [1, 2]}},
    "next": {"list": 50},
    "total": {"list": 120},
    "time": {"list": {"duration": 0.25}},
    "error": {"bad": {"error": "NOT_FOUND", "error_description": "Not found"}},
}


@pytest.mark.parametrize("text,expected", [
    ("$result[list][0][ID]", "7"),
    ("$result[one][IDS]", [1, 2]),                       # whole value: arrays pass through
    ("$result[one]", ACC["result"]["one"]),
    ("$result[list][0][NUM]", 5),                        # whole value keeps the type
    ("$next[list]", 50),
    ("$total[list]", 120),
    ("$time[list][duration]", 0.25),
    ("$error[bad][error]", "NOT_FOUND"),
    ("x$result[list][1][ID]y", "x8"),                    # embedded: the match runs to whitespace
    ("id $result[list][1][ID] ok", "id 8 ok"),
    ("n=$result[list][0][NUM] f=$result[list][0][F]", "n=5 f=2.5"),
    ("$result[list][0][MISSING]", ACC["result"]["list"][0]),  # stop at the last level found
    ("$result[list][0][N]", ACC["result"]["list"][0]),        # isset() is false for null
    ("$result[nope][x]", ACC["result"]),                   # ... even if that is the whole group
    ("a $result[one][IDS] b", "a $result[one][IDS] b"),      # arrays are not spliced into text
    ("a $result[list][0][FLAG] b", "a $result[list][0][FLAG] b"),
    ("$RESULT[list][0][ID]", None),                          # PHP looks the name up as typed
    ("a $RESULT[list][0][ID]", "a $RESULT[list][0][ID]"),
    ("$result", "$result"),
    ("$result[one][ID][0]", "3"),                            # PHP string offsets
    ("price is $5", "price is $5"),
])
def test_reference_substitution(text, expected):
    assert substitute({"v": text}, ACC)["v"] == expected


def test_references_inside_nested_params_and_not_in_keys():
    params = {"filter": {">ID": "$result[list][1][ID]", "$result[list][0][ID]": "k"}, "select": {"0": "ID"}}
    assert substitute(params, ACC) == {"filter": {">ID": "8", "$result[list][0][ID]": "k"}, "select": {"0": "ID"}}


def test_only_earlier_commands_are_visible():
    echo = Echo()
    out = run_batch({"cmd": {"a": "x?v=$result[b][v]", "b": "x?v=2", "c": "x?v=$result[b][v]&w=$result[a][v]"}}, echo)
    assert out["result"]["a"] == {"v": []}  # PHP: the (then empty) group of results
    assert out["result"]["c"] == {"v": "2", "w": []}


def test_references_are_resolved_after_url_decoding():
    echo = Echo()
    out = run_batch({"cmd": {"a": "x?v=9", "b": "x?filter%5B%3EID%5D=%24result%5Ba%5D%5Bv%5D"}}, echo)
    assert out["result"]["b"] == {"filter": {">ID": "9"}}


# -- over HTTP, with the real store ---------------------------------------------------------------
def test_batch_over_http_with_chained_cursor(bitrix_sandbox, http):
    cmd = {"p0": "crm.deal.list?order[ID]=ASC&start=-1&select[]=ID"}
    for i in range(1, 3):
        cmd[f"p{i}"] = f"crm.deal.list?order[ID]=ASC&start=-1&select[]=ID&filter[>ID]=$result[p{i-1}][49][ID]"
    reply = http.post(bitrix_sandbox.webhook + "batch", json={"halt": 0, "cmd": cmd})
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"result", "time"} and "next" not in body and "total" not in body
    pages = body["result"]["result"]
    ids = [int(row["ID"]) for key in ("p0", "p1", "p2") for row in pages[key]]
    assert ids == list(range(1, 121))
    assert body["result"]["result_error"] == [] and body["result"]["result_next"] == []
    assert set(body["result"]["result_time"]) == {"p0", "p1", "p2"}
    assert set(body["result"]["result_time"]["p0"]) >= {"start", "finish", "duration", "operating", "operating_reset_at"}


def test_batch_over_http_form_encoded_and_errors(bitrix_sandbox, http):
    form = {"cmd[0]": "crm.deal.get?id=1", "cmd[1]": "crm.deal.get?id=999999", "cmd[2]": "no.method",
            "cmd[3]": "crm.deal.list?select[]=ID&start=100", "halt": "0"}
    body = http.post(bitrix_sandbox.webhook + "batch", data=form).json()["result"]
    assert body["result"]["0"]["ID"] == "1" and len(body["result"]["3"]) == 20
    assert set(body["result_error"]) == {"1", "2"}
    assert body["result_error"]["2"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert body["result_total"] == {"3": 120} and body["result_next"] == []
    stats = bitrix_sandbox.stats()
    assert stats["requests"] == 1 and stats["commands"] == 2


def test_halt_over_http(bitrix_sandbox, http):
    cmd = ["crm.deal.get?id=1", "crm.deal.get?id=0", "crm.deal.get?id=2"]
    body = http.post(bitrix_sandbox.webhook + "batch", json={"halt": "true", "cmd": cmd}).json()["result"]
    assert [row["ID"] for row in body["result"]] == ["1"] and list(body["result_error"]) == ["1"]
    body = http.post(bitrix_sandbox.webhook + "BATCH.json", json={"HALT": "0", "CMD": cmd}).json()["result"]
    assert set(body["result"]) == {"0", "2"}


def test_batch_writes_and_references_to_new_ids(bitrix_sandbox, http):
    before = bitrix_sandbox.store.count("deal")
    cmd = {"add": "crm.deal.add?fields[TITLE]=Chained",
           "get": "crm.deal.get?id=$result[add]"}
    body = http.post(bitrix_sandbox.webhook + "batch", json={"cmd": cmd}).json()["result"]
    assert body["result_error"] == []
    assert body["result"]["get"]["TITLE"] == "Chained" and body["result"]["get"]["ID"] == str(body["result"]["add"])
    assert bitrix_sandbox.store.count("deal") == before + 1


def test_nested_batch_and_51_commands_over_http(bitrix_sandbox, http):
    cmd = ["batch?cmd[0]=server.time"] + ["crm.deal.get?id=%d" % (i + 1) for i in range(50)]
    body = http.post(bitrix_sandbox.webhook + "batch", json={"cmd": cmd}).json()["result"]
    assert body["result_error"]["0"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert body["result_error"]["50"]["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"
    assert len(body["result"]) == 49
    assert bitrix_sandbox.stats()["commands"] == 49
