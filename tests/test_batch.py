"""Packing commands and unpacking real batch replies, command by command."""
import json
from pathlib import Path

import pytest

from bitrix_fast.protocol.batch import MAX_COMMANDS, Command, labels, pack, unpack
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
    """With halt=1 the commands after the failed one were not run: not executed, no error."""
    reply = {"result": {"a": 1}, "result_error": {"b": {"error": "X", "error_description": "x"}},
             "result_total": [], "result_next": [], "result_time": []}
    a, b, c = unpack(reply, [Command("a", "m.get"), Command("b", "m.get"), Command("c", "m.get")],
                     halt=True)
    assert a.ok and not b.ok and b.executed and not c.executed and c.error is None
    assert not c.in_doubt


def test_a_label_missing_from_a_reply_is_in_doubt_not_unexecuted():
    """Without halt (and before the failed command with it) a missing label is a malformed
    reply: the command may have run, so it comes back in doubt, never as "not executed"."""
    reply = {"result": {"a": 1, "c": 3}, "result_error": [], "result_time": []}
    commands = [Command("a", "m.add"), Command("b", "m.add"), Command("c", "m.add")]
    a, b, c = unpack(reply, commands)
    assert a.ok and c.ok and (a.result, c.result) == (1, 3)
    assert b.in_doubt and b.executed and not b.ok and isinstance(b.error, BadResponse)
    assert str(b.error).startswith("m.add: the portal's batch reply holds no result")
    halted = {"result": {"c": 3}, "result_error": {"c0": {"error": "X"}}}
    first, failed = unpack(halted, [Command("a", "m.add"), Command("c0", "m.add")], halt=True)
    assert first.in_doubt and not failed.in_doubt  # missing before the failure: malformed


@pytest.mark.parametrize("reply", [None, [], [1, 2], "garbage", 7, {"result": None},
                                   {"result": [1, 2]}, {"result": "x", "result_error": 5},
                                   {"no": "groups"}])
def test_a_reply_that_is_not_a_batch_leaves_every_command_in_doubt(reply):
    """A null, list or garbage ``result`` raises nothing and loses nothing: each command is
    in doubt (a read is read again, a write is never resent)."""
    out = unpack(reply, [Command("a", "x.get"), Command("b", "x.add")])
    assert [o.in_doubt for o in out] == [True, True]
    assert all(isinstance(o.error, BadResponse) and o.error.status == 200 for o in out)
    assert all("garbage" not in str(o.error) for o in out)  # the reply is never quoted


def test_secrets_in_a_command_error_are_redacted():
    reply = {"result": [], "result_error": {"a": {
        "error": "ERROR_CORE", "error_description": "hook s3cr3tc0de is wrong",
        "argument": {"url": "/rest/1/s3cr3tc0de/"}}}}
    (a,) = unpack(reply, [Command("a", "x.get")],
                  hide=lambda text: text.replace("s3cr3tc0de", "***"))
    assert str(a.error) == "x.get: ERROR_CORE hook *** is wrong"
    assert "s3cr3tc0de" not in repr(vars(a.error))


def test_refusals_inside_a_batch_get_their_classes_and_statuses():
    reply = {"result": [], "result_error": {
        "a": {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"},
        "b": {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"}}}
    a, b = unpack(reply, [Command("a", "crm.deal.add"), Command("b", "crm.deal.add")])
    assert isinstance(a.error, RateLimited) and a.error.status == 503
    assert isinstance(b.error, OperationTimeLimit) and b.error.status == 429
    assert b.error.command_label == "b"
