"""The typed mirror against a tiny fake portal (no HTTP): a field added on the portal becomes
a column on the next run without a rebuild, and the config file is checked before anything
is sent."""
from __future__ import annotations

import sqlite3
from typing import Any, Dict, List, NamedTuple, Optional

import pytest

from bitrix_fast.errors import ApiError, BatchError, MethodNotFound
from bitrix_fast.mirror import sync
from bitrix_fast.mirror.config import load, parse
from bitrix_fast.mirror.crm import sync_all


class Page(NamedTuple):
    rows: List[Any]
    total: Optional[int]
    next: Optional[int] = None


class FakePortal:
    """crm.deal.list over a dict of rows, its fields description, and server.time."""

    def __init__(self):
        self.fields: Dict[str, Any] = {
            "ID": {"type": "integer"}, "TITLE": {"type": "string"},
            "DATE_MODIFY": {"type": "datetime"}, "OPPORTUNITY": {"type": "double"}}
        self.rows = {i: {"ID": str(i), "TITLE": f"deal {i}", "OPPORTUNITY": f"{i}00.00",
                         "DATE_MODIFY": "2025-01-01T09:00:00+03:00"} for i in range(1, 6)}
        self.now = "2025-01-01T10:00:00+03:00"
        self.calls: List[str] = []

    def call(self, method, items=None, raw=False):
        self.calls.append(method)
        if method == "server.time":
            return self.now
        if method == "crm.deal.fields":
            return {"result": self.fields}
        raise AssertionError(method)

    def call_batch(self, params):
        """As a webhook answers the clock read with the event bindings: the time, and
        ``event.get`` refused (deletions are then counted)."""
        self.calls.append("batch")
        assert set(params["cmd"].values()) == {"server.time", "event.get"}
        raise BatchError("batch", results={"time": self.now}, errors={
            "events": ApiError("WRONG_AUTH_TYPE", "Current authorization type is denied for "
                               "this method", method="event.get")})

    def iter_all(self, method, params=None, *, read_ahead=None):
        self.calls.append(method)
        if method == "crm.type.list":  # an older on-premise portal: no smart processes
            raise MethodNotFound("ERROR_METHOD_NOT_FOUND", "Method not found!", status=404,
                                 method=method)
        since = (params or {}).get("filter", {}).get(">=DATE_MODIFY")
        for _, row in sorted(self.rows.items()):
            if since is None or row["DATE_MODIFY"] >= since:
                yield dict(row)

    def first_pages(self, method, params_list):
        pages = []
        for params in params_list:
            f = params["filter"]
            ids = [i for i in sorted(self.rows) if f.get(">=ID", 0) <= i < f.get("<ID", 1 << 60)]
            pages.append(Page([{"ID": str(i)} for i in ids[:50]], len(ids)))
        return pages

    def stats(self):
        return {"requests": len(self.calls)}


def test_a_field_added_on_the_portal_becomes_a_column_without_a_rebuild(tmp_path):
    url = str(tmp_path / "m.sqlite")
    portal = FakePortal()
    assert sync(portal, "crm.deal.list", url).added == 5
    portal.fields["UF_CRM_9"] = {"type": "integer", "isDynamic": True, "listLabel": "Seats"}
    portal.now = "2025-01-02T10:00:00+03:00"
    portal.rows[2].update(UF_CRM_9="12", DATE_MODIFY="2025-01-02T09:00:00+03:00")
    later = sync(portal, "crm.deal.list", url)
    assert (later.mode, later.added, later.changed, later.deleted) == ("changes", 0, 1, 0)
    with sqlite3.connect(url) as con:
        types = {r[1]: r[2] for r in con.execute("PRAGMA table_info(crm_deal)")}
        assert types["uf_crm_9"] == "INTEGER"
        assert dict(con.execute("SELECT id, uf_crm_9 FROM crm_deal")) == {
            1: None, 2: 12, 3: None, 4: None, 5: None}
        assert con.execute("SELECT title FROM dict_fields WHERE column_name = 'uf_crm_9'"
                           ).fetchall() == [("Seats",)]


def test_config_files_toml_and_json(tmp_path):
    toml = tmp_path / "mirror.toml"
    toml.write_text('db = "sqlite:///crm.sqlite"\nentities = ["deal", "smart_processes"]\n'
                    'multiple = "json"\n\n[[table]]\nmethod = "crm.deal.list"\n'
                    'table = "deals_won"\nfilter = { STAGE_ID = "WON" }\n')
    config = load(str(toml))
    assert (config.db, config.entities, config.multiple, config.product_rows) == (
        "sqlite:///crm.sqlite", ["deal", "smart_processes"], "json", True)
    assert config.tables[0].listing().table == "deals_won"
    assert parse({"entities": "all"}).entities[-1] == "smart_processes"
    for bad, message in [
        ({}, "nothing to mirror"), ({"entities": ["deals"]}, "unknown entities deals"),
        ({"entities": ["deal"], "colour": 1}, "unknown settings colour"),
        ({"table": [{"method": "crm.deal.list", "order": {}}]}, "unknown keys order"),
        ({"table": [{"method": "crm.deal.list", "params": {"order": {"ID": "ASC"}}}]},
         "reads in its own order"),
        ({"entities": ["deal"], "overlap": -1}, "overlap must be"),
        ({"entities": ["deal"], "multiple": "csv"}, "multiple must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        load(str(broken))
    with pytest.raises(ValueError, match="No such file"):
        load(str(tmp_path / "missing.json"))


def test_a_table_made_before_typed_columns_keeps_its_layout(tmp_path):
    url = str(tmp_path / "old.sqlite")
    with sqlite3.connect(url) as con:  # what the untyped mirror left behind
        con.execute('CREATE TABLE crm_deal ("ID" INTEGER PRIMARY KEY, "TITLE" TEXT, '
                    '"DATE_MODIFY" DATETIME)')
        con.executemany("INSERT INTO crm_deal VALUES (?, ?, ?)",
                        [(i, f"deal {i}", "2025-01-01T09:00:00+03:00") for i in range(1, 6)])
        con.execute("CREATE TABLE bitrix_fast_mirror (table_name TEXT PRIMARY KEY, method TEXT, "
                    "params TEXT, filter TEXT, select_fields TEXT, columns TEXT, cutoff TEXT, "
                    "runs INTEGER, row_count INTEGER, synced_at TEXT)")
        con.execute("INSERT INTO bitrix_fast_mirror VALUES ('crm_deal', 'crm.deal.list', '{}', "
                    "'{}', NULL, ?, '2025-01-01T09:30:00+03:00', 1, 5, NULL)",
                    ('{"ID": ["ID", "int"], "TITLE": ["TITLE", "text"], '
                     '"DATE_MODIFY": ["DATE_MODIFY", "datetime"]}',))
    portal = FakePortal()
    portal.rows[2].update(TITLE="renamed", DATE_MODIFY="2025-01-01T09:45:00+03:00")
    result = sync(portal, "crm.deal.list", url)
    assert (result.mode, result.changed, result.deleted) == ("changes", 1, 0)
    with sqlite3.connect(url) as con:
        assert con.execute('SELECT "TITLE", "OPPORTUNITY" FROM crm_deal WHERE "ID" = 2'
                           ).fetchone() == ("renamed", 200.0)
        types = {r[1]: r[2] for r in con.execute("PRAGMA table_info(crm_deal)")}
        assert types["OPPORTUNITY"] == "REAL"  # the old writer's kinds and names
        assert "dict_fields" not in {r[0] for r in con.execute(
            "SELECT name FROM sqlite_master")}


def test_a_portal_without_smart_processes_mirrors_the_rest(tmp_path):
    portal = FakePortal()
    result = sync_all(portal, str(tmp_path / "m.sqlite"), entities=["deal", "smart_processes"],
                      dictionaries=False, product_rows=False)
    assert [t.table for t in result.tables] == ["crm_deal"] and not result.failures
    assert portal.calls.count("batch") == 1  # one clock read (with the event bindings)
    assert "server.time" not in portal.calls
