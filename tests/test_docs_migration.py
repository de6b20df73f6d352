"""The migration pages show the difference list the differential suite checks
(tests/differential_data.py), in English and in Russian, generated when the pages are built
so they cannot drift; the Russian rows are complete and translated from the current text."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import docgen  # noqa: E402
from differential_data import DIFFERENCES, render_table  # noqa: E402


def test_the_migration_page_renders_the_difference_list() -> None:
    text = (ROOT / "docs" / "migration.rst").read_text("utf-8")
    assert text.count(".. bitrix-differences::") == 1
    assert docgen.differences_table("en") == render_table()
    for name in ("ErrorInServerResponseException", "RuntimeError"):
        assert name in text


def test_the_russian_page_renders_it_in_russian() -> None:
    text = (ROOT / "docs" / "ru" / "migration.rst").read_text("utf-8")
    assert ".. bitrix-differences::\n   :language: ru" in text
    assert docgen.translation_problems() == []
    table = docgen.differences_table("ru")
    assert table.count("   * - ") == len(DIFFERENCES) + 1  # a row each, and the header


def test_a_changed_entry_shows_as_a_stale_translation() -> None:
    entry = DIFFERENCES[0]
    changed = dataclasses.replace(entry, why=entry.why + " Changed.")
    assert docgen.fingerprint(changed) != docgen.fingerprint(entry)
