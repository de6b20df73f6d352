"""README is short and leads with what a newcomer needs; its benchmark numbers are the
benchmarks page's (both come from docs/benchmarks/data/, which benchmarks/charts.py
writes), and every data file has its figure, its machine and its date."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import docgen  # noqa: E402

README = (ROOT / "README.rst").read_text("utf-8")
DATA = ROOT / "docs" / "benchmarks" / "data"
FIGURES = {"export": "export-compare.svg", "latency": "latency-compare.svg",
           "write": "write-compare.svg", "timeline": "export-timeline.svg",
           "limits": "limits-compare.svg"}


def test_readme_is_at_most_200_lines() -> None:
    assert len(README.splitlines()) <= 200


def test_the_first_screen_has_install_export_and_tests() -> None:
    first = "\n".join(README.splitlines()[:40])
    assert "pip install -e ." in first
    assert re.search(r'\.get_all\("crm\.deal\.list"', first)
    assert "python -m pytest" in first
    assert "bitrix-fast demo" in first


def test_readme_links_the_site_and_both_languages() -> None:
    assert "https://bitrix-fast.readthedocs.io/" in README
    for page in ("docs/getting-started.rst", "docs/ru/getting-started.rst",
                 "docs/ru/migration.rst", "docs/migration.rst", "docs/benchmarks.rst"):
        assert f"<{page}>`_" in README
    for target in re.findall(r"<(docs/[^>]+)>`_", README):
        assert (ROOT / target).exists(), f"README links {target}, which does not exist"


def test_readme_numbers_are_the_benchmarks_pages() -> None:
    table = docgen.readme_bench_table()
    assert table in README, "README's benchmark table differs from docs/benchmarks/data; " \
                            f"paste this:\n\n{table}"


def test_the_benchmarks_page_shows_every_data_file_and_figure() -> None:
    page = (ROOT / "docs" / "benchmarks.rst").read_text("utf-8")
    for name, figure in FIGURES.items():
        data = json.loads((DATA / f"{name}.json").read_text("utf-8"))
        meta = data["meta"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", meta["date"]) and "cores" in meta["machine"]
        assert (ROOT / "docs" / "benchmarks" / "figures" / figure).exists()
        assert f"benchmarks/figures/{figure}" in page
        assert f".. bitrix-bench-measured:: {name}" in page


def test_every_figure_states_its_machine_and_date() -> None:
    for name, figure in FIGURES.items():
        meta = json.loads((DATA / f"{name}.json").read_text("utf-8"))["meta"]
        svg = (ROOT / "docs" / "benchmarks" / "figures" / figure).read_text("utf-8")
        assert meta["date"] in svg and meta["machine"].split(",")[0] in svg, figure


def test_the_benchmark_tables_render() -> None:
    export = docgen.bench_table("export")
    assert export.count("     - bitrix_fast") >= 5
    for part in ("x10", "enterprise"):
        assert "fast_bitrix24" in docgen.bench_table("latency", part)
    assert "in doubt" in docgen.bench_table("write")
