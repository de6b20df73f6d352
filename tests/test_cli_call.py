"""``bitrix-fast call METHOD --items FILE.jsonl`` against the sandbox portal."""
from __future__ import annotations

import json

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.cli import main
from bitrix_fast.commands.call import side_paths


def write_items(path, items):
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items),
                    encoding="utf-8")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def titles_by_id(webhook):
    with Bitrix(webhook, verbose=False) as bx:
        return {int(r["ID"]): r["TITLE"] for r in bx.get_all("crm.deal.list",
                                                              {"select": ["ID", "TITLE"]})}


@pytest.mark.bitrix_sandbox(deals=5, plan="x10")
def test_results_in_input_order(bitrix_sandbox, tmp_path):
    items, out = tmp_path / "items.jsonl", tmp_path / "results.jsonl"
    write_items(items, [{"fields": {"TITLE": f"Сделка {i}"}} for i in range(230)])
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out),
                 "--webhook", bitrix_sandbox.webhook, "--quiet"]) == 0
    results = read_jsonl(out)
    assert [r["index"] for r in results] == list(range(230))
    titles = titles_by_id(bitrix_sandbox.webhook)
    assert all(titles[r["result"]] == f"Сделка {r['index']}" for r in results)
    assert (tmp_path / "results.failed.jsonl").read_text() == ""
    assert (tmp_path / "results.in_doubt.jsonl").read_text() == ""


@pytest.mark.bitrix_sandbox(deals=5, plan="x10")
def test_failed_items_are_written_out_for_a_rerun(bitrix_sandbox, tmp_path, capsys):
    items, out = tmp_path / "items.jsonl", tmp_path / "results.jsonl"
    wanted = [{"id": i, "fields": {"TITLE": f"renamed {i}"}} for i in (1, 2, 999, 3, 998)]
    write_items(items, wanted)
    assert main(["call", "crm.deal.update", "--items", str(items), "-o", str(out),
                 "--webhook", bitrix_sandbox.webhook, "--quiet"]) == 3
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "3 succeeded, 2 failed" in err
    results = read_jsonl(out)
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [("result" in r) for r in results] == [True, True, False, True, False]
    assert set(results[2]["error"]) == {"code", "description"}
    failed = tmp_path / "results.failed.jsonl"
    assert read_jsonl(failed) == [wanted[2], wanted[4]]

    # The rerun reads the previous run's side file, which it also rewrites.
    again = tmp_path / "again.jsonl"
    assert main(["call", "crm.deal.update", "--items", str(failed), "-o", str(again),
                 "--webhook", bitrix_sandbox.webhook, "--quiet"]) == 3
    assert len(read_jsonl(tmp_path / "again.failed.jsonl")) == 2


@pytest.mark.bitrix_sandbox(deals=5, plan="x10", faults="drop=0.05", seed=1)
def test_dropped_connections_leave_items_in_doubt(bitrix_sandbox, tmp_path, capsys):
    items, out = tmp_path / "items.jsonl", tmp_path / "results.jsonl"
    wanted = [{"fields": {"TITLE": f"deal {i}"}} for i in range(2000)]
    write_items(items, wanted)
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out),
                 "--webhook", bitrix_sandbox.webhook, "--quiet"]) == 3
    assert "in doubt" in capsys.readouterr().err
    assert bitrix_sandbox.stats()["faults"].get("drop", 0) > 0
    results = read_jsonl(out)
    assert [r["index"] for r in results] == list(range(2000))
    doubtful = [r["index"] for r in results if "in_doubt" in r]
    assert doubtful and all(isinstance(r["in_doubt"], str) for r in results if "in_doubt" in r)
    in_doubt_items = read_jsonl(tmp_path / "results.in_doubt.jsonl")
    assert in_doubt_items == [wanted[i] for i in doubtful]
    # Why they are not resent: the portal did run them before dropping the connection.
    titles = set(titles_by_id(bitrix_sandbox.webhook).values())
    assert all(item["fields"]["TITLE"] in titles for item in in_doubt_items)
    # Nothing was added twice.
    assert len(titles_by_id(bitrix_sandbox.webhook)) == 5 + 2000


@pytest.mark.bitrix_sandbox(deals=5, plan="x10")
def test_a_bad_line_stops_the_run_before_anything_is_sent(bitrix_sandbox, tmp_path, capsys):
    items = tmp_path / "items.jsonl"
    items.write_text('{"fields": {"TITLE": "a"}}\n\n{"fields": {"TITLE": "b"}}\n[1, 2]\n')
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(tmp_path / "r.jsonl"),
                 "--webhook", bitrix_sandbox.webhook]) == 2
    assert "line 4" in capsys.readouterr().err
    assert bitrix_sandbox.stats()["requests"] == 0


def test_usage_errors_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BITRIX_WEBHOOK", "http://127.0.0.1:9/rest/1/secretcode1/")
    with pytest.raises(SystemExit) as stop:
        main(["call", "crm.deal.add"])  # no --items
    assert stop.value.code == 2
    items = tmp_path / "items.jsonl"
    write_items(items, [{"fields": {}}])
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(items)]) == 2
    assert main(["call", "crm.deal.add", "--items", str(tmp_path / "nope.jsonl")]) == 2
    monkeypatch.delenv("BITRIX_WEBHOOK")
    assert main(["call", "crm.deal.add", "--items", str(items)]) == 2
    assert "secretcode1" not in capsys.readouterr().err


def test_side_file_names():
    assert side_paths("results.jsonl", "x.jsonl") == ("results.failed.jsonl",
                                                      "results.in_doubt.jsonl")
    assert side_paths("out.txt", "x.jsonl") == ("out.txt.failed.jsonl", "out.txt.in_doubt.jsonl")
    assert side_paths("-", "data/items.jsonl") == ("data/items.failed.jsonl",
                                                   "data/items.in_doubt.jsonl")
