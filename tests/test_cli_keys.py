"""``bitrix-fast call ... --key`` and ``bitrix-fast upsert`` against the sandbox portal,
in-process: the journal, the side files, the summary and the exit codes of ``call``."""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from bitrix_fast.cli import main
from bitrix_fast.testing.sandbox import Sandbox

X10 = ["--request-pool-size", "50", "--requests-per-second", "20", "--quiet"]


def write_items(path, items: List[Dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")


def journal(path) -> List[Dict[str, Any]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if "sending" not in r]


def held(portal: Sandbox) -> Dict[str, List[int]]:
    out: Dict[str, List[int]] = {}
    with portal.store.locked() as db:
        for ident, origin in db.execute('SELECT "ID", "ORIGIN_ID" FROM deal ORDER BY "ID"'):
            out.setdefault(origin, []).append(ident)
    return out


@pytest.mark.bitrix_sandbox(deals=0, plan="x10", faults="drop=0.1,504=0.1", seed=11)
def test_call_with_a_key_creates_each_item_once_through_drops_and_504s(bitrix_sandbox,
                                                                       tmp_path):
    items, out = tmp_path / "items.jsonl", tmp_path / "out.jsonl"
    write_items(items, [{"fields": {"TITLE": f"o{n}", "ORIGIN_ID": f"ext-{n}"}}
                        for n in range(400)])
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out), "--key",
                 "ORIGIN_ID", "--webhook", bitrix_sandbox.webhook, *X10]) == 0
    records = held(bitrix_sandbox)
    assert len(records) == 400 and all(len(ids) == 1 for ids in records.values())
    results = {r["index"]: r["result"] for r in journal(out)}
    assert results == {n: records[f"ext-{n}"][0] for n in range(400)}
    assert sum(bitrix_sandbox.stats()["faults"].values()) >= 1


@pytest.mark.parametrize("lines,words", [
    ([{"fields": {"ORIGIN_ID": "a"}}, {"fields": {"ORIGIN_ID": "a"}}],
     "lines 1 and 2 hold the same key 'a'"),
    ([{"fields": {"TITLE": "x"}}], "line 1: crm.deal.add: its fields hold no 'ORIGIN_ID'"),
])
def test_call_refuses_items_without_their_own_key_before_sending(tmp_path, capsys, lines,
                                                                 words):
    items = tmp_path / "items.jsonl"
    write_items(items, lines)
    assert main(["call", "crm.deal.add", "--items", str(items), "--key", "ORIGIN_ID",
                 "--webhook", "https://example.invalid/rest/1/abcd/", "--quiet"]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.bitrix_sandbox(deals=0, plan="x10")
def test_upsert_adds_then_updates_only_what_changed(bitrix_sandbox, tmp_path, capsys):
    items, out = tmp_path / "orders.jsonl", tmp_path / "out.jsonl"
    write_items(items, [{"ORIGIN_ID": f"ext-{n}", "TITLE": f"o{n}"} for n in range(120)])
    args = ["upsert", "crm.deal", "--items", str(items), "--key", "ORIGIN_ID",
            "--webhook", bitrix_sandbox.webhook, "--request-pool-size", "50",
            "--requests-per-second", "20"]
    assert main(args + ["-o", str(out)]) == 0
    assert "120 succeeded (120 added, 0 updated, 0 unchanged)" in capsys.readouterr().err
    write_items(items, [{"ORIGIN_ID": f"ext-{n}", "TITLE": f"o{n}" + ("!" if n < 12 else "")}
                        for n in range(120)])
    again = tmp_path / "again.jsonl"
    assert main(args + ["-o", str(again)]) == 0
    assert "120 succeeded (0 added, 12 updated, 108 unchanged)" in capsys.readouterr().err
    records = held(bitrix_sandbox)
    assert len(records) == 120
    lines = {r["index"]: r["result"] for r in journal(again)}
    assert lines[0] == {"id": records["ext-0"][0], "action": "updated"}
    assert lines[50] == {"id": records["ext-50"][0], "action": "unchanged"}


@pytest.mark.bitrix_sandbox(deals=0, plan="x10")
def test_a_key_held_twice_fails_its_line_and_the_others_are_written(bitrix_sandbox,
                                                                      tmp_path, capsys):
    bitrix_sandbox.store.insert("deal", {"TITLE": "a", "ORIGIN_ID": "ext-1"})
    bitrix_sandbox.store.insert("deal", {"TITLE": "b", "ORIGIN_ID": "ext-1"})
    items, out = tmp_path / "orders.jsonl", tmp_path / "out.jsonl"
    lines = [{"ORIGIN_ID": f"ext-{n}", "TITLE": f"o{n}"} for n in range(3)]
    write_items(items, lines)
    assert main(["upsert", "crm.deal", "--items", str(items), "--key", "ORIGIN_ID", "-o",
                 str(out), "--webhook", bitrix_sandbox.webhook, *X10]) == 3
    assert "2 succeeded (2 added, 0 updated, 0 unchanged), 1 failed" in \
        capsys.readouterr().err
    failed = [json.loads(line) for line in
              (tmp_path / "out.failed.jsonl").read_text().splitlines()]
    assert failed == [lines[1]]
    (record,) = [r for r in journal(out) if r["index"] == 1]
    assert record["error"]["code"] == "KeyConflict" and "IDs 1, 2" in \
        record["error"]["description"]


def test_upsert_checks_its_arguments_before_sending(tmp_path, capsys):
    items = tmp_path / "items.jsonl"
    write_items(items, [{"originId": "a"}])
    hook = ["--webhook", "https://example.invalid/rest/1/abcd/", "--quiet"]
    assert main(["upsert", "crm.item", "--items", str(items), "--key", "originId"] + hook) == 2
    assert "entityTypeId" in capsys.readouterr().err
    assert main(["upsert", "crm.deal", "--items", str(items), "--key", "origin_id"] + hook) == 2
    assert "UPPER_CASE" in capsys.readouterr().err
    assert main(["upsert", "crm.deal", "--items", str(items), "--key", "ORIGIN_ID"] + hook) == 2
    assert "line 1" in capsys.readouterr().err
