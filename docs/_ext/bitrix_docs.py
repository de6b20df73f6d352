"""Sphinx directives that render text generated from the code (see :mod:`docgen`).

``.. bitrix-cli::``
    the ``bitrix-fast`` reference, from ``bitrix_fast.cli.main.build_parser()``;
``.. bitrix-differences::`` (option ``:language: ru``)
    the migration table, from tests/differential_data.py; a missing or stale Russian row
    is a build warning, so ``-W`` fails;
``.. bitrix-bench-table:: NAME`` (option ``:part: x10|enterprise``)
    a benchmark table from docs/benchmarks/data/NAME.json;
``.. bitrix-bench-measured:: NAME``
    the sentence saying when, where and how often that benchmark was run.

Each directive inserts reStructuredText into the page being parsed, so generated sections
and tables are ordinary document content (titles, cross-references, search).
"""
from __future__ import annotations

from typing import Any, Dict, List

from docutils.parsers.rst import directives  # type: ignore[import-untyped]
from docutils.statemachine import StringList  # type: ignore[import-untyped]
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

import docgen

log = logging.getLogger(__name__)


class _Generated(SphinxDirective):
    """Base: subclasses return reStructuredText; it is parsed in place."""

    def text(self) -> str:
        raise NotImplementedError

    def run(self) -> List[Any]:
        source = self.state_machine.get_source_and_line(self.lineno)[0]
        lines = StringList(self.text().splitlines(), source=source)
        self.state_machine.insert_input(lines, source)
        return []


class CliReference(_Generated):
    def text(self) -> str:
        from bitrix_fast.cli.main import build_parser

        return docgen.cli_reference(build_parser())


class Differences(_Generated):
    option_spec = {"language": directives.unchanged}

    def text(self) -> str:
        language = self.options.get("language", "en")
        if language == "ru":
            for problem in docgen.translation_problems():
                log.warning(f"migration table (ru): {problem}",
                            location=(self.env.docname, self.lineno))
        return docgen.differences_table(language)


class BenchTable(_Generated):
    required_arguments = 1
    option_spec = {"part": directives.unchanged}

    def text(self) -> str:
        return docgen.bench_table(self.arguments[0], self.options.get("part", ""))


class BenchMeasured(_Generated):
    required_arguments = 1

    def text(self) -> str:
        return docgen.measured_on(docgen.load_bench(self.arguments[0])) + "\n"


def setup(app: Sphinx) -> Dict[str, Any]:
    app.add_directive("bitrix-cli", CliReference)
    app.add_directive("bitrix-differences", Differences)
    app.add_directive("bitrix-bench-table", BenchTable)
    app.add_directive("bitrix-bench-measured", BenchMeasured)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
