"""Packing commands and unpacking real batch replies, command by command."""
import json
from pathlib import Path

import pytest

from bitrix_fast.batch import MAX_COMMANDS, Command, labels, pack, unpack
from bitrix_fast.errors import ApiError, BadResponse, OperationTimeLimit, RateLimited

FIXTURES = Path(__file__).parent / "fixtures" / "real_responses"


def fixture(name):
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data.get("response", data)


def test_labels_are_stable_and_sort_in_input_order():
    assert labels(3) == ["c0000", "c0001", "c0002"]
    assert sorted(labels(120)) == labels(120)


def test_pack_encodes_each_command():
    payload = pack([Command("a", "crm.deal.get", {"id": 1}),
                    Command("b", "crm.deal.list", {"filter": {">ID": 5}})], halt=True)
    assert payload == {"halt": 1, "cmd": {"a": "crm.deal.get?id=1",
                                          "b": "crm.deal.list?filter%5B%3EID%5D=5"}}


def test_pack_refuses_more_than_the_server_runs_and_duplicate_labels():
    with pytest.raises(ValueError):
        pack([Command(f"c{i}", "server.time") for i in range(MAX_COMMANDS + 1)])
    with pytest.raises(ValueError):
        pack([Command("x", "server.time"), Command("x", "server.time")])


def test_unpack_successes_with_times():
    """Two adds (real reply): results in command order, each with its time block."""
    reply = fixture("lists_element_add_batch")["result"]
    commands = [Command("order0000000000", "lists.element.add"),
                Command("order0000000001", "lists.element.add")]
    out = unpack(reply, commands)
    assert [o.result for o in out] == [53, 55]
    assert all(o.ok and o.time["operating_reset_at"] for o in out)


def test_unpack_mixed_success_and_errors_keeps_everything():
    """Real reply with one success and two errors listed as a JSON list: nothing is lost."""
    reply = fixture("crm_get_batch_mix_success_and_errors")["result"]
    commands = [Command("35943", "crm.deal.get"), Command("0", "crm.deal.get"),
                Command("1", "crm.deal.get")]
    ok, bad_id, missing = unpack(reply, commands)
    assert ok.ok and ok.result == {"ID": "35943"}
    assert isinstance(bad_id.error, ApiError) and bad_id.error.code == ""
    assert "ID is not defined" in str(bad_id.error) and "crm.deal.get" in str(bad_id.error)
    assert missing.error.description == "Not found"


def test_unpack_list_style_groups_and_totals():
    """Labels 0..n-1 make PHP send lists; an empty page keeps its total of 0."""
    reply = fixture("crm_dealcategory_stage_list_batch_of_one")["result"]
    (out,) = unpack(reply, [Command("0", "crm.dealcategory.stage.list")])
    assert out.ok and out.result[0]["STATUS_ID"] == "NEW"
    empty = fixture("batch_list_empty")["result"]
    (page,) = unpack(empty, [Command("order0000000000", "crm.deal.list")])
    assert page.result == [] and page.total == 0 and page.next is None


def test_unpack_marks_commands_halt_skipped():
    reply = {"result": {"a": 1}, "result_error": {"b": {"error": "X", "error_description": "x"}},
             "result_total": [], "result_next": [], "result_time": []}
    a, b, c = unpack(reply, [Command("a", "m.get"), Command("b", "m.get"), Command("c", "m.get")])
    assert a.ok and not b.ok and b.executed and not c.executed and c.error is None


def test_refusals_inside_a_batch_get_their_classes_and_statuses():
    reply = {"result": [], "result_error": {
        "a": {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"},
        "b": {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"}}}
    a, b = unpack(reply, [Command("a", "crm.deal.add"), Command("b", "crm.deal.add")])
    assert isinstance(a.error, RateLimited) and a.error.status == 503
    assert isinstance(b.error, OperationTimeLimit) and b.error.status == 429
    assert b.error.command_label == "b"


def test_unpack_rejects_a_reply_that_is_not_a_batch():
    with pytest.raises(BadResponse):
        unpack([1, 2], [Command("a", "x.get")])
