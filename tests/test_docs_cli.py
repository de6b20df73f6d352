"""The CLI reference is generated from the argument parser into reStructuredText; a help
text such as ``UF_*`` or ``*.fields`` must reach the page as typed, not open an emphasis
that breaks the docs build (which treats warnings as errors)."""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import List

import docutils.core
import docutils.utils

from bitrix_fast.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import docgen  # noqa: E402


def problems(text: str) -> List[str]:
    """Every docutils message at warning level or above, for a text in plain reST."""
    stream = io.StringIO()
    docutils.core.publish_doctree(text, settings_overrides={
        "report_level": docutils.utils.Reporter.WARNING_LEVEL,
        "halt_level": docutils.utils.Reporter.SEVERE_LEVEL + 1,
        "warning_stream": stream})
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def test_the_cli_reference_parses_without_a_warning() -> None:
    assert problems(docgen.cli_reference(build_parser())) == []


def test_markup_characters_in_help_reach_the_page_as_typed() -> None:
    parser = argparse.ArgumentParser(prog="bitrix-fast")
    sub = parser.add_subparsers(dest="command").add_parser(
        "probe", description="reads *.fields and `UF_*` fields | pipes")
    sub.add_argument("--select", help="ID,TITLE,UF_* or [all] of crm.*.fields_")
    text = docgen.cli_reference(parser)
    assert problems(text) == []
    tree = docutils.core.publish_doctree(text)
    shown = tree.astext()
    assert "reads *.fields and `UF_*` fields | pipes" in shown
    assert "ID,TITLE,UF_* or [all] of crm.*.fields_" in shown


def test_an_unescaped_help_would_have_been_caught() -> None:
    # The check itself must see the failure the docs build saw.
    assert problems("``--typed``\n    typed from the method's *.fields (parquet always)\n")


def test_readme_parses_without_a_warning() -> None:
    assert problems((ROOT / "README.rst").read_text("utf-8")) == []
