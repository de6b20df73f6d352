"""``bitrix_fast.mirror.sync`` against the sandbox portal, into SQLite and PostgreSQL: every
kind of change made on the portal behind the client's back, interrupted and concurrent
runs, filters, select growth, and what each run costs in requests. (The typed columns,
dictionaries, product rows and many-table runs are in test_mirror_bi.py; these runs leave
the dictionaries out, so their request counts are the listing's own.)"""
from __future__ import annotations

import json
import random
import sqlite3
import threading
import time

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.mirror import MirrorBusy, MirrorConflict, MirrorError
from bitrix_fast.mirror import sync as mirror_sync
from mirror_pg import postgres_db, postgres_url  # noqa: F401  (fixtures)

SELECT = ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "CATEGORY_ID", "DATE_MODIFY", "CLOSED"]


class Db:
    """A mirror database as a test sees it: rows, state, column types."""

    def __init__(self, kind, url):
        self.kind = kind
        self.url = url

    def _query(self, sql):
        if self.kind == "sqlite":
            with sqlite3.connect(self.url) as con:
                cursor = con.execute(sql)
                names = [d[0] for d in cursor.description]
                return names, cursor.fetchall()
        import psycopg

        with psycopg.connect(self.url) as con:
            cursor = con.execute(sql)
            return [d.name for d in cursor.description], cursor.fetchall()

    def rows(self, table, id_column="id"):
        names, rows = self._query(f'SELECT * FROM "{table}"')
        out = {}
        for row in rows:
            record = dict(zip(names, row))
            out[record[id_column]] = record
        return out

    def ids(self, table, id_column="id"):
        return set(self.rows(table, id_column))

    def state(self, table):
        names, rows = self._query(f"SELECT * FROM bitrix_fast_mirror WHERE table_name = '{table}'")
        return dict(zip(names, rows[0])) if rows else None

    def tables(self):
        if self.kind == "sqlite":
            _, rows = self._query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            _, rows = self._query("SELECT table_name FROM information_schema.tables "
                                  "WHERE table_schema = current_schema()")
        return {r[0] for r in rows}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    if request.param == "sqlite":
        return Db("sqlite", str(tmp_path / "mirror.sqlite"))
    return Db("postgres", request.getfixturevalue("postgres_db"))


@pytest.fixture
def bx(bitrix_sandbox):
    with Bitrix(bitrix_sandbox.webhook, verbose=False) as client:
        yield client


def sync(bx, method, db, **kwargs):
    kwargs.setdefault("dictionaries", False)
    return mirror_sync(bx, method, db, **kwargs)


def titles(sb, ids):
    with sb.store.locked() as con:
        return {i: t for i, t in con.execute('SELECT "ID", "TITLE" FROM deal')
                if i in ids}


# -- the first run ------------------------------------------------------------------------------

@pytest.mark.bitrix_sandbox(deals=3000, plan="x10")
def test_first_run_copies_the_listing_with_typed_columns(bitrix_sandbox, bx, db):
    result = sync(bx, "crm.deal.list", db.url, select=SELECT)
    assert (result.mode, result.added, result.changed, result.deleted, result.rows) == (
        "first", 3000, 0, 0, 3000)
    assert result.table == "crm_deal" and result.requests <= 5  # time, fields, 3 reads
    rows = db.rows("crm_deal")
    assert set(rows) == bitrix_sandbox.store.ids("deal")
    portal = {int(r["ID"]): r for r in bx.get_all("crm.deal.list", {"select": SELECT})}
    for id_, row in list(rows.items())[:50]:
        assert row["title"] == portal[id_]["TITLE"]
        assert float(row["opportunity"]) == pytest.approx(float(portal[id_]["OPPORTUNITY"]))
        assert row["category_id"] == int(portal[id_]["CATEGORY_ID"])
        assert row["closed"] in (True, False, 1, 0)
    state = db.state("crm_deal")
    assert state["method"] == "crm.deal.list" and state["filter"] == "{}"
    assert json.loads(state["select_fields"] if db.kind == "sqlite" else
                      state["select_fields"]) == SELECT
    columns = json.loads(state["columns"])
    assert columns["OPPORTUNITY"][:2] == ["opportunity", "numeric"]
    assert columns["DATE_MODIFY"][:2] == ["date_modify", "datetime"]
    assert columns["CATEGORY_ID"][:2] == ["category_id", "category"]
    assert json.loads(state["extra"])["layout"] == "typed"


@pytest.mark.bitrix_sandbox(deals=0, plan="x10")
def test_an_empty_listing_then_rows_arrive(bitrix_sandbox, bx, db):
    assert sync(bx, "crm.deal.list", db.url, select=SELECT).rows == 0
    new = [bitrix_sandbox.store.insert("deal", {"TITLE": f"n{i}"}) for i in range(3)]
    result = sync(bx, "crm.deal.list", db.url, select=SELECT)
    assert (result.added, result.rows) == (3, 3) and db.ids("crm_deal") == set(new)


# -- later runs: each kind of change -------------------------------------------------------------

@pytest.mark.bitrix_sandbox(deals=5000, plan="x10")
def test_every_kind_of_change_is_applied(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    sync(bx, "crm.deal.list", db.url, select=SELECT)
    ids = sorted(sb.store.ids("deal"))
    rnd = random.Random(3)
    changed = rnd.sample(ids[:-1], 20)
    for i in changed:
        sb.store.update("deal", i, {"TITLE": f"changed {i}"})
    deleted = rnd.sample([i for i in ids[:-1] if i not in changed], 15) + [ids[-1]]
    for i in deleted:  # the highest ID among them
        sb.store.delete("deal", i)
    # one row deleted and another added in the same range: the new row lands in the last
    # range together with the deleted highest ID
    added = [sb.store.insert("deal", {"TITLE": f"new {n}"}) for n in range(10)]

    result = sync(bx, "crm.deal.list", db.url, select=SELECT)
    assert (result.mode, result.added, result.changed, result.deleted) == ("changes", 10, 20, 16)
    rows = db.rows("crm_deal")
    assert set(rows) == sb.store.ids("deal")
    for i, title in titles(sb, set(changed) | set(added)).items():
        assert rows[i]["title"] == title
    assert result.requests <= 8

    again = sync(bx, "crm.deal.list", db.url, select=SELECT)
    assert (again.added, again.changed, again.deleted) == (0, 0, 0)  # re-read, nothing new
    assert again.requests <= 3


@pytest.mark.bitrix_sandbox(deals=2000, plan="x10")
def test_a_listing_that_becomes_empty(bitrix_sandbox, bx, db):
    sync(bx, "crm.deal.list", db.url, select=SELECT)
    for i in bitrix_sandbox.store.ids("deal"):
        bitrix_sandbox.store.delete("deal", i)
    result = sync(bx, "crm.deal.list", db.url, select=SELECT)
    assert (result.deleted, result.rows) == (2000, 0) and db.ids("crm_deal") == set()
    assert result.requests <= 3


@pytest.mark.bitrix_sandbox(deals=20_000, plan="x10")
def test_what_later_runs_cost_on_20k_rows(bitrix_sandbox, bx, tmp_path):
    sb, url = bitrix_sandbox, str(tmp_path / "m.sqlite")
    sync(bx, "crm.deal.list", url, select=SELECT)
    assert sync(bx, "crm.deal.list", url, select=SELECT).requests <= 3
    ids = sorted(sb.store.ids("deal"))
    rnd = random.Random(11)
    touched = rnd.sample(ids, 80)
    for i in touched[:50]:
        sb.store.update("deal", i, {"TITLE": "changed"})
    for i in touched[50:]:
        sb.store.delete("deal", i)
    for n in range(50):
        sb.store.insert("deal", {"TITLE": f"new {n}"})
    result = sync(bx, "crm.deal.list", url, select=SELECT)
    assert (result.added, result.changed, result.deleted) == (50, 50, 30)
    assert result.requests <= 10
    assert Db("sqlite", url).ids("crm_deal") == sb.store.ids("deal")


# -- filters, tables, select -------------------------------------------------------------------

@pytest.mark.bitrix_sandbox(deals=1500, plan="x10")
def test_rows_leaving_and_entering_the_filter(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    sync(bx, "crm.deal.list", db.url, select=SELECT, filter={"CATEGORY_ID": 0})
    with sb.store.locked() as con:
        in_zero = [r[0] for r in con.execute('SELECT "ID" FROM deal WHERE "CATEGORY_ID" = 0')]
        other = [r[0] for r in con.execute('SELECT "ID" FROM deal WHERE "CATEGORY_ID" != 0')]
    assert db.ids("crm_deal") == set(in_zero)
    sb.store.update("deal", in_zero[5], {"CATEGORY_ID": 1})   # leaves the filter
    sb.store.update("deal", other[7], {"CATEGORY_ID": 0})     # enters it
    result = sync(bx, "crm.deal.list", db.url, select=SELECT, filter={"CATEGORY_ID": 0})
    assert (result.added, result.deleted) == (1, 1)
    assert db.ids("crm_deal") == set(in_zero) - {in_zero[5]} | {other[7]}


@pytest.mark.bitrix_sandbox(deals=300, plan="x10")
def test_another_filter_into_the_same_table_is_refused(bitrix_sandbox, bx, db):
    sync(bx, "crm.deal.list", db.url, filter={"CATEGORY_ID": 0})
    with pytest.raises(MirrorConflict, match="own table"):
        sync(bx, "crm.deal.list", db.url, filter={"CATEGORY_ID": 1})
    other = sync(bx, "crm.deal.list", db.url, filter={"CATEGORY_ID": 1}, table="deals_c1")
    assert other.table == "deals_c1" and db.ids("deals_c1").isdisjoint(db.ids("crm_deal"))


@pytest.mark.bitrix_sandbox(deals=50, plan="x10")
def test_a_table_that_is_not_a_mirror_is_left_alone(bitrix_sandbox, bx, tmp_path):
    url = str(tmp_path / "m.sqlite")
    with sqlite3.connect(url) as con:
        con.execute('CREATE TABLE crm_deal ("ID" INTEGER, mine TEXT)')
        con.execute("INSERT INTO crm_deal VALUES (1, 'keep')")
    with pytest.raises(MirrorConflict, match="not a mirror"):
        sync(bx, "crm.deal.list", url)
    assert Db("sqlite", url).rows("crm_deal", "ID") == {1: {"ID": 1, "mine": "keep"}}


@pytest.mark.bitrix_sandbox(deals=800, plan="x10")
def test_select_that_grows_adds_columns_and_fills_them(bitrix_sandbox, bx, db):
    sync(bx, "crm.deal.list", db.url, select=["ID", "TITLE"])
    grown = sync(bx, "crm.deal.list", db.url, select=["ID", "TITLE", "COMMENTS", "PROBABILITY"])
    assert grown.mode == "full" and (grown.added, grown.deleted) == (0, 0)
    rows = db.rows("crm_deal")
    with bitrix_sandbox.store.locked() as con:
        want = dict(con.execute('SELECT "ID", "PROBABILITY" FROM deal'))
    assert {i: r["probability"] for i, r in rows.items()} == want
    narrower = sync(bx, "crm.deal.list", db.url, select=["ID", "TITLE"])
    assert narrower.mode == "changes"  # a select only grows: the columns stay filled


@pytest.mark.bitrix_sandbox(deals=400, plan="x10")
def test_crm_item_and_tasks_mirrors(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    item = sync(bx, "crm.item.list", db.url, params={"entityTypeId": 2},
                select=["id", "title", "updatedTime"])
    assert item.table == "crm_item_2" and db.ids("crm_item_2", "id") == sb.store.ids("deal")
    gone = sorted(sb.store.ids("deal"))[100]
    sb.store.delete("deal", gone)
    again = sync(bx, "crm.item.list", db.url, params={"entityTypeId": 2},
                 select=["id", "title", "updatedTime"])
    assert again.deleted == 1 and gone not in db.ids("crm_item_2", "id")
    tasks = sync(bx, "tasks.task.list", db.url, select=["ID", "TITLE", "CHANGED_DATE"])
    assert tasks.table == "tasks_task" and db.ids("tasks_task", "id") == sb.store.ids("task")


@pytest.mark.bitrix_sandbox(users=40, plan="x10")
def test_a_method_without_a_modification_field_is_read_whole(bitrix_sandbox, bx, db):
    sync(bx, "user.get", db.url)
    victim = sorted(bitrix_sandbox.store.ids("user"))[-1]
    bitrix_sandbox.store.delete("user", victim)
    bitrix_sandbox.store.update("user", 1, {"NAME": "Renamed"})
    result = sync(bx, "user.get", db.url)
    assert (result.mode, result.changed, result.deleted) == ("full", 1, 1)
    assert db.rows("user")[1]["name"] == "Renamed"
    assert db.ids("user") == bitrix_sandbox.store.ids("user")


# -- safety ----------------------------------------------------------------------------------

class Meddling:
    """A client that does ``action`` once, after ``after`` rows of a listing were read."""

    def __init__(self, bx, after, action):
        self._bx = bx
        self._after = after
        self._action = action

    def iter_all(self, method, params=None, **kwargs):
        for n, row in enumerate(self._bx.iter_all(method, params, **kwargs)):
            if n == self._after and self._action is not None:
                action, self._action = self._action, None
                action()
            yield row

    def __getattr__(self, name):
        return getattr(self._bx, name)


def interrupt():
    raise KeyboardInterrupt


@pytest.mark.bitrix_sandbox(deals=3000, plan="x10")
def test_an_interrupted_first_run_leaves_nothing_behind(bitrix_sandbox, bx, db):
    with pytest.raises(KeyboardInterrupt):
        sync(Meddling(bx, 2500, interrupt), "crm.deal.list", db.url, select=SELECT)
    assert "crm_deal" not in db.tables()
    assert sync(bx, "crm.deal.list", db.url, select=SELECT).added == 3000


@pytest.mark.bitrix_sandbox(deals=1000, plan="x10")
def test_an_interrupted_later_run_keeps_the_last_complete_one(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    sync(bx, "crm.deal.list", db.url, select=SELECT)
    before, state = db.rows("crm_deal"), db.state("crm_deal")
    ids = sorted(sb.store.ids("deal"))
    for i in ids[:30]:
        sb.store.update("deal", i, {"TITLE": "changed"})
    sb.store.delete("deal", ids[500])
    with pytest.raises(KeyboardInterrupt):
        sync(Meddling(bx, 20, interrupt), "crm.deal.list", db.url, select=SELECT)
    assert db.rows("crm_deal") == before and db.state("crm_deal") == state
    result = sync(bx, "crm.deal.list", db.url, select=SELECT)
    assert (result.changed, result.deleted) == (30, 1)


@pytest.mark.bitrix_sandbox(deals=3000, plan="x10")
def test_rows_changed_during_a_run_are_caught_by_the_next(bitrix_sandbox, bx, db):
    sb = bitrix_sandbox
    ids = sorted(sb.store.ids("deal"))
    added = []

    def meddle():  # rows the run has most likely read already, changed behind its back
        sb.store.update("deal", ids[0], {"TITLE": "changed during the run"})
        sb.store.delete("deal", ids[1])
        added.append(sb.store.insert("deal", {"TITLE": "added during the run"}))

    sync(Meddling(bx, 2900, meddle), "crm.deal.list", db.url, select=SELECT)
    result = sync(bx, "crm.deal.list", db.url, select=SELECT)
    rows = db.rows("crm_deal")
    assert set(rows) == sb.store.ids("deal") and added[0] in rows
    assert rows[ids[0]]["title"] == "changed during the run"
    assert result.deleted == 1


@pytest.mark.bitrix_sandbox(deals=2000, plan="x10")
def test_two_runs_at_once_do_not_interleave(bitrix_sandbox, bx, db):
    sync(bx, "crm.deal.list", db.url, select=SELECT)
    bitrix_sandbox.store.update("deal", 5, {"TITLE": "changed"})
    holding, release = threading.Event(), threading.Event()

    def hold():
        holding.set()
        release.wait(30)

    outcome = {}

    def first():
        outcome["first"] = sync(Meddling(bx, 0, hold), "crm.deal.list", db.url, select=SELECT)

    runner = threading.Thread(target=first)
    runner.start()
    try:
        assert holding.wait(30)
        started = time.monotonic()
        with pytest.raises(MirrorBusy, match="another sync"):
            sync(bx, "crm.deal.list", db.url, select=SELECT)
        assert time.monotonic() - started < 5  # wait=0: at once, not after the first run
        threading.Timer(0.5, release.set).start()
        second = sync(bx, "crm.deal.list", db.url, select=SELECT, wait=30)
    finally:
        release.set()
        runner.join(30)
    assert outcome["first"].changed == 1 and second.changed == 0  # one after the other
    assert db.rows("crm_deal")[5]["title"] == "changed"


@pytest.mark.bitrix_sandbox(deals=20, plan="x10")
def test_a_database_that_cannot_be_opened_is_a_store_error(bitrix_sandbox, bx, tmp_path):
    with pytest.raises(MirrorError, match="database error"):
        sync(bx, "crm.deal.list", str(tmp_path / "no" / "such" / "dir.sqlite"))
