"""``bitrix-fast call METHOD --items FILE.jsonl`` run in this process against an in-memory
sandbox portal on a FakeClock: the CLI's own code (items, journal, side files, exit codes,
messages), the client's real bulk calls, no socket and no sleep."""
from __future__ import annotations

import io
import json

import pytest

from bitrix_fast.cli import main
from bitrix_fast.cli.journal import SideFiles
from bitrix_fast.testing.connect import connect
from bitrix_fast.writes.bulk import Status
from portals_b import serve_clients_from


#: The client flags matching the sandbox's x10 plan (500 at once, 20 per second).
X10 = ["--request-pool-size", "50", "--requests-per-second", "20"]


def write_items(path, items):
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items),
                    encoding="utf-8")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def outcomes(path):
    """A journal's outcome lines (its "sending" write-ahead lines left out)."""
    return [r for r in read_jsonl(path) if "sending" not in r]


@pytest.fixture
def portal(bitrix_portal, monkeypatch):
    """An in-memory portal (``@pytest.mark.bitrix_portal(...)``) that every client the CLI
    builds in this process reaches."""
    serve_clients_from(monkeypatch, bitrix_portal)
    return bitrix_portal


def titles_by_id(portal):
    with connect(portal) as bx:
        return {int(r["ID"]): r["TITLE"] for r in bx.get_all("crm.deal.list",
                                                              {"select": ["ID", "TITLE"]})}


def last_state(journal):
    """index -> (kind, value) of the last line of each index."""
    out = {}
    for record in journal:
        (kind,) = set(record) - {"index"}
        out[record["index"]] = (kind, record[kind])
    return out


@pytest.mark.bitrix_portal(deals=5, plan="x10")
def test_every_item_gets_one_journal_line(portal, tmp_path):
    items, out = tmp_path / "items.jsonl", tmp_path / "results.jsonl"
    write_items(items, [{"fields": {"TITLE": f"Сделка {i}"}} for i in range(230)])
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out),
                 "--webhook", portal.webhook, "--quiet"]) == 0
    results = outcomes(out)
    # One line per item, in the order batches returned.
    assert sorted(r["index"] for r in results) == list(range(230))
    titles = titles_by_id(portal)
    assert all(titles[r["result"]] == f"Сделка {r['index']}" for r in results)
    # Nothing failed: no side files at all, not even empty ones.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.jsonl", "results.jsonl"]


@pytest.mark.bitrix_portal(deals=5, plan="x10")
def test_failed_items_are_written_out_for_a_rerun(portal, tmp_path, capsys):
    items, out = tmp_path / "items.jsonl", tmp_path / "results.jsonl"
    wanted = [{"id": i, "fields": {"TITLE": f"renamed {i}"}} for i in (1, 2, 999, 3, 998)]
    write_items(items, wanted)
    assert main(["call", "crm.deal.update", "--items", str(items), "-o", str(out),
                 "--webhook", portal.webhook, "--quiet"]) == 3
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "3 succeeded, 2 failed" in err
    state = last_state(outcomes(out))
    assert sorted(state) == [0, 1, 2, 3, 4]
    assert [state[i][0] for i in range(5)] == ["result", "result", "error", "result", "error"]
    assert set(state[2][1]) == {"code", "description"}
    failed = tmp_path / "results.failed.jsonl"
    assert read_jsonl(failed) == [wanted[2], wanted[4]]
    assert not (tmp_path / "results.in_doubt.jsonl").exists()
    assert not (tmp_path / "results.not_sent.jsonl").exists()

    # The failed items go again with --items; a new journal for them.
    again = tmp_path / "again.jsonl"
    assert main(["call", "crm.deal.update", "--items", str(failed), "-o", str(again),
                 "--webhook", portal.webhook, "--quiet"]) == 3
    assert len(read_jsonl(tmp_path / "again.failed.jsonl")) == 2


@pytest.mark.bitrix_portal(deals=5, plan="x10", faults="drop=0.05", seed=1)
def test_dropped_connections_leave_items_in_doubt(portal, tmp_path, capsys):
    items, out = tmp_path / "items.jsonl", tmp_path / "results.jsonl"
    wanted = [{"fields": {"TITLE": f"deal {i}"}} for i in range(2000)]
    write_items(items, wanted)
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out),
                 "--webhook", portal.webhook, "--quiet"]) == 3
    assert "in doubt" in capsys.readouterr().err
    assert portal.stats()["faults"].get("drop", 0) > 0
    state = last_state(outcomes(out))
    assert sorted(state) == list(range(2000))
    doubtful = sorted(i for i, (kind, _) in state.items() if kind == "in_doubt")
    assert doubtful and all(isinstance(state[i][1], str) for i in doubtful)
    in_doubt_items = read_jsonl(tmp_path / "results.in_doubt.jsonl")
    assert in_doubt_items == [wanted[i] for i in doubtful]
    # Why they are not resent: the portal did run them before dropping the connection.
    titles = set(titles_by_id(portal).values())
    assert all(item["fields"]["TITLE"] in titles for item in in_doubt_items)
    # Nothing was added twice.
    assert len(titles_by_id(portal)) == 5 + 2000

    # A --resume has nothing to send: in-doubt items are never resent.
    before = portal.stats()["requests"]
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out), "--resume",
                 "--webhook", portal.webhook, "--quiet"]) == 3
    assert portal.stats()["requests"] == before
    assert len(titles_by_id(portal)) == 5 + 2000


@pytest.mark.bitrix_portal(deals=0, plan="x10")
def test_a_wrong_webhook_stops_at_once_and_reports_the_rest_not_sent(portal, tmp_path,
                                                                      capsys):
    items, out = tmp_path / "items.jsonl", tmp_path / "results.jsonl"
    write_items(items, [{"fields": {"TITLE": f"deal {i}"}} for i in range(2600)])
    bad = portal.webhook.replace(portal.credentials.webhook_code, "wrong12345")
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out),
                 "--webhook", bad]) == 3
    assert portal.stats()["requests"] == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "wrong12345" not in err
    assert "INVALID_CREDENTIALS" in err and "nothing more was sent" in err
    assert "2,599 not sent" in err and "1 failed" in err
    state = last_state(outcomes(out))
    kinds = [state[i][0] for i in range(2600)]
    assert kinds[0] == "error" and kinds.count("not_sent") == 2599  # the lone first item
    assert len(read_jsonl(tmp_path / "results.not_sent.jsonl")) == 2599

    # With the right webhook, --resume sends the rest and only the rest.
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out), "--resume",
                 "--webhook", portal.webhook, "--quiet", *X10]) == 3  # 1 still failed
    state = last_state(outcomes(out))
    assert [state[i][0] for i in range(2600)].count("result") == 2599
    assert sorted(titles_by_id(portal).values()) == sorted(f"deal {i}" for i in range(1, 2600))
    assert not (tmp_path / "results.not_sent.jsonl").exists()
    assert len(read_jsonl(tmp_path / "results.failed.jsonl")) == 1


@pytest.mark.bitrix_portal(deals=0, plan="x10")
def test_items_from_stdin(portal, tmp_path, monkeypatch):
    lines = "".join(json.dumps({"fields": {"TITLE": f"in {i}"}}) + "\n" for i in range(120))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    out = tmp_path / "results.jsonl"
    assert main(["call", "crm.deal.add", "--items", "-", "-o", str(out),
                 "--webhook", portal.webhook, "--quiet"]) == 0
    assert sorted(r["index"] for r in outcomes(out)) == list(range(120))
    assert portal.store.count("deal") == 120


@pytest.mark.bitrix_portal(deals=5, plan="x10")
def test_a_bad_line_stops_the_run_before_anything_is_sent(portal, tmp_path, capsys):
    items = tmp_path / "items.jsonl"
    items.write_text('{"fields": {"TITLE": "a"}}\n\n{"fields": {"TITLE": "b"}}\n[1, 2]\n')
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(tmp_path / "r.jsonl"),
                 "--webhook", portal.webhook]) == 2
    err = capsys.readouterr().err
    assert "line 4" in err and "--items" in err and len(err.splitlines()) == 1
    assert portal.stats()["requests"] == 0
    items.write_text('{"fields": {"TITLE": "a"}}\n{"fields": "TITLE"}\n')
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(tmp_path / "r.jsonl"),
                 "--webhook", portal.webhook]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "'fields'" in err
    assert portal.stats()["requests"] == 0


def test_an_existing_journal_is_never_overwritten(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BITRIX_WEBHOOK", "http://127.0.0.1:9/rest/1/secretcode1/")
    items, out = tmp_path / "items.jsonl", tmp_path / "results.jsonl"
    write_items(items, [{"fields": {}}])
    out.write_text('{"index": 0, "in_doubt": "may have run"}\n')
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert out.read_text() == '{"index": 0, "in_doubt": "may have run"}\n'


@pytest.mark.parametrize("journal, message", [
    ('{"index": 7, "result": 1}\n', "item 7 is not in"),
    ('{"index": 0}\n', "not a journal line"),
    ('garbage\n', "not JSON"),
])
def test_resume_refuses_a_journal_of_something_else(tmp_path, capsys, monkeypatch, journal,
                                                    message):
    monkeypatch.setenv("BITRIX_WEBHOOK", "http://127.0.0.1:9/rest/1/secretcode1/")
    items, out = tmp_path / "items.jsonl", tmp_path / "results.jsonl"
    write_items(items, [{"fields": {}}, {"fields": {}}])
    out.write_text(journal)
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(out),
                 "--resume"]) == 2
    err = capsys.readouterr().err
    assert message in err and "--resume" in err and len(err.splitlines()) == 1


def test_usage_errors_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BITRIX_WEBHOOK", "http://127.0.0.1:9/rest/1/secretcode1/")
    with pytest.raises(SystemExit) as stop:
        main(["call", "crm.deal.add"])  # no --items
    assert stop.value.code == 2
    items = tmp_path / "items.jsonl"
    write_items(items, [{"fields": {}}])
    assert main(["call", "crm.deal.add", "--items", str(items), "-o", str(items)]) == 2
    assert main(["call", "crm.deal.add", "--items", str(tmp_path / "nope.jsonl")]) == 2
    assert main(["call", "crm.deal.add", "--items", str(items), "--resume"]) == 2  # no -o
    failed = tmp_path / "r.failed.jsonl"
    write_items(failed, [{"fields": {}}])
    assert main(["call", "crm.deal.add", "--items", str(failed), "-o",
                 str(tmp_path / "r.jsonl")]) == 2  # would overwrite its own input
    monkeypatch.delenv("BITRIX_WEBHOOK")
    assert main(["call", "crm.deal.add", "--items", str(items)]) == 2
    err = capsys.readouterr().err
    assert "secretcode1" not in err
    assert all(line.startswith("bitrix-fast call: ") for line in err.splitlines())


def side_paths(output, items):
    sides = SideFiles(output, items)
    return tuple(sides.path(s) for s in (Status.ERROR, Status.IN_DOUBT, Status.NOT_SENT))


def test_side_file_names():
    assert side_paths("results.jsonl", "x.jsonl") == ("results.failed.jsonl",
                                                      "results.in_doubt.jsonl",
                                                      "results.not_sent.jsonl")
    assert side_paths("out.txt", "x.jsonl") == ("out.txt.failed.jsonl", "out.txt.in_doubt.jsonl",
                                                "out.txt.not_sent.jsonl")
    assert side_paths("-", "data/items.jsonl") == ("data/items.failed.jsonl",
                                                   "data/items.in_doubt.jsonl",
                                                   "data/items.not_sent.jsonl")
    assert side_paths("-", "-")[0] == "stdin.failed.jsonl"
