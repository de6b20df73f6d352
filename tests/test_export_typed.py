"""Typed exports: ``--format parquet`` (schema from ``*.fields``, read back with pyarrow and,
where installed, pandas), ``--typed`` csv and jsonl, and ``typed_rows`` for Python callers."""
from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta, timezone

import pytest

from bitrix_fast import Bitrix
from bitrix_fast.cli import main
from bitrix_fast.typed import load_fields, typed_rows

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
MSK = timezone(timedelta(hours=3))


def export(sb, *args):
    return main(["export", "crm.deal.list", "--webhook", sb.webhook, "--quiet", *args])


@pytest.mark.bitrix_sandbox(deals=900, users=5, plan="x10")
def test_parquet_columns_are_typed_from_the_fields(bitrix_sandbox, tmp_path):
    out = str(tmp_path / "deals.parquet")
    assert export(bitrix_sandbox, "--select", "*,UF_*", "-o", out) == 0
    table = pq.read_table(out)
    schema = {f.name: f.type for f in table.schema}
    assert table.num_rows == 900
    assert (schema["ID"], schema["OPPORTUNITY"], schema["CLOSED"], schema["BEGINDATE"],
            schema["ASSIGNED_BY_ID"], schema["STAGE_ID"], schema["UF_CRM_1700000006__currency"]
            ) == (pa.int64(), pa.float64(), pa.bool_(), pa.date32(), pa.int64(), pa.string(),
                  pa.string())
    assert schema["DATE_CREATE"] == pa.timestamp("us", tz="+03:00")
    assert schema["UF_CRM_1700000005"] == pa.list_(pa.int64())
    first = table.slice(0, 1).to_pylist()[0]
    with bitrix_sandbox.store.locked() as con:
        title, amount = con.execute('SELECT "TITLE", "OPPORTUNITY" FROM deal WHERE "ID" = 1'
                                    ).fetchone()
    assert (first["ID"], first["TITLE"], first["_unparsed"]) == (1, title, None)
    assert first["OPPORTUNITY"] == pytest.approx(round(amount, 2))
    assert first["DATE_CREATE"].utcoffset() == timedelta(hours=3)
    pd = pytest.importorskip("pandas")
    frame = pd.read_parquet(out)
    assert str(frame["OPPORTUNITY"].dtype) == "float64" and str(frame["CLOSED"].dtype) == "bool"
    assert str(frame["ID"].dtype) == "int64"
    assert str(frame["DATE_CREATE"].dtype).startswith("datetime64[") and \
        "+03:00" in str(frame["DATE_CREATE"].dtype)


@pytest.mark.bitrix_sandbox(deals=120, plan="x10")
def test_values_that_do_not_parse_go_to_unparsed_and_are_counted(bitrix_sandbox, tmp_path,
                                                                   capsys):
    with bitrix_sandbox.store.locked() as con:
        con.execute("""UPDATE deal SET "UF_CRM_1700000006" = '12,5 rub' WHERE "ID" = 4""")
    out = str(tmp_path / "deals.parquet")
    assert main(["export", "crm.deal.list", "--webhook", bitrix_sandbox.webhook, "--select",
                 "ID,TITLE,UF_CRM_1700000006", "-o", out]) == 0
    assert "1 value did not parse as typed and was kept as sent" in capsys.readouterr().err
    rows = {r["ID"]: r for r in pq.read_table(out).to_pylist()}
    assert rows[4]["UF_CRM_1700000006"] is None
    assert json.loads(rows[4]["_unparsed"]) == {"UF_CRM_1700000006": "12,5 rub"}
    assert rows[5]["_unparsed"] is None and len(rows) == 120


@pytest.mark.bitrix_sandbox(deals=60, plan="x10")
def test_typed_csv_and_jsonl(bitrix_sandbox, tmp_path):
    select = "ID,OPPORTUNITY,CLOSED,DATE_CREATE,BEGINDATE,UF_CRM_1700000005"
    jsonl, csv_path = str(tmp_path / "d.jsonl"), str(tmp_path / "d.csv")
    assert export(bitrix_sandbox, "--select", select, "--typed", "-o", jsonl) == 0
    assert export(bitrix_sandbox, "--select", select, "--typed", "-o", csv_path) == 0
    row = json.loads(open(jsonl, encoding="utf-8").readline())
    assert isinstance(row["ID"], int) and isinstance(row["OPPORTUNITY"], float)
    assert isinstance(row["CLOSED"], bool) and isinstance(row["UF_CRM_1700000005"], list)
    assert datetime.fromisoformat(row["DATE_CREATE"]).utcoffset() == timedelta(hours=3)
    assert date.fromisoformat(row["BEGINDATE"])
    with open(csv_path, encoding="utf-8", newline="") as stream:
        first = next(csv.DictReader(stream))
    assert first["CLOSED"] in ("true", "false") and first["BEGINDATE"] == row["BEGINDATE"]
    assert float(first["OPPORTUNITY"]) == row["OPPORTUNITY"]


@pytest.mark.bitrix_sandbox(deals=5, plan="x10")
def test_parquet_needs_a_file_and_cannot_resume(bitrix_sandbox, tmp_path, capsys):
    assert export(bitrix_sandbox, "--format", "parquet") == 2
    assert "needs --output FILE" in capsys.readouterr().err
    assert export(bitrix_sandbox, "-o", str(tmp_path / "d.parquet"), "--resume") == 2


@pytest.mark.bitrix_sandbox(deals=300, plan="x10")
def test_typed_rows_for_get_all(bitrix_sandbox):
    with Bitrix(bitrix_sandbox.webhook, verbose=False) as bx:
        fields = load_fields(bx, "crm.deal.list")
        rows = list(typed_rows(bx.get_all("crm.deal.list", {"select": ["ID", "OPPORTUNITY",
                                                                      "CLOSED", "DATE_CREATE"]}),
                               fields))
    assert len(rows) == 300 and all(isinstance(r["ID"], int) for r in rows)
    assert isinstance(rows[0]["OPPORTUNITY"], float) and isinstance(rows[0]["CLOSED"], bool)
    assert rows[0]["DATE_CREATE"].tzinfo is not None
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(rows)
    assert str(frame["OPPORTUNITY"].dtype) == "float64" and str(frame["CLOSED"].dtype) == "bool"
