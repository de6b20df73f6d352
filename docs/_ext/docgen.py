"""Text the documentation generates from the code, as reStructuredText.

Pure functions, no Sphinx: the Sphinx glue (:mod:`bitrix_docs`) parses what they return,
and the tests (tests/test_docs_*.py) call them to check the pages and README.

* :func:`cli_reference` -- every ``bitrix-fast`` subcommand, from the argument parser itself;
* :func:`differences_table` -- the migration table, from tests/differential_data.py (the list
  the differential suite checks), in English or Russian;
* :func:`bench_table` / :func:`readme_bench_table` -- the benchmark tables, from the JSON
  that ``benchmarks/charts.py`` writes.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BENCH_DATA = DOCS / "benchmarks" / "data"


# -- the command line ------------------------------------------------------------------------

def _subcommands(parser: argparse.ArgumentParser) -> Dict[str, argparse.ArgumentParser]:
    # argparse has no public way to walk a parser's arguments; ``_actions`` is what its own
    # help formatter reads, and what every argparse-to-docs tool reads.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _invocation(action: argparse.Action) -> str:
    if not action.option_strings:
        return str(action.metavar or action.dest.upper())
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    if action.metavar is not None:
        value = str(action.metavar)
    elif action.choices is not None:
        value = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        value = action.dest.upper()
    return ", ".join(f"{option} {value}" for option in action.option_strings)


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {**vars(action), "prog": prog}
    return _plain(text)


def _plain(text: str) -> str:
    """Terminal help as reStructuredText that shows exactly those characters: ``*.fields``
    or ``UF_*`` in a help text must not open an emphasis or a reference."""
    text = " ".join(text.split())
    return re.sub(r"([\\*`|_\[\]])", r"\\\1", text)


def _literal(text: str) -> List[str]:
    return [".. code-block:: text", ""] + [f"   {line}".rstrip() for line in
                                           text.rstrip("\n").splitlines()] + [""]


def cli_reference(parser: argparse.ArgumentParser) -> str:
    """One section per subcommand: what it does, its usage line, every argument with its
    help, and its epilog (exit codes, file rules) as the command prints them."""
    out: List[str] = []
    out += _literal(parser.format_usage().replace("usage: ", ""))
    for name, sub in _subcommands(parser).items():
        title = f"bitrix-fast {name}"
        out += [title, "-" * len(title), ""]
        if sub.description:
            out += [_plain(sub.description), ""]
        out += _literal(sub.format_usage().replace("usage: ", ""))
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            out += [f"``{_invocation(action)}``"]
            out += [f"    {_help(action, sub.prog) or '(no help text)'}", ""]
        if sub.epilog:
            out += _literal(sub.epilog)
    return "\n".join(out) + "\n"


# -- the migration table ---------------------------------------------------------------------

def load_module(path: Path, name: str) -> ModuleType:
    """A module by file path (tests/ is not a package); its folder goes on ``sys.path``
    so its own imports resolve."""
    if name in sys.modules:
        return sys.modules[name]
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def differential_data() -> ModuleType:
    return load_module(ROOT / "tests" / "differential_data.py", "differential_data")


def fingerprint(entry: Any) -> str:
    """A short hash of an English entry: a translation records the one it was made from, so
    a changed entry shows as a stale translation instead of silently drifting."""
    text = "\x1f".join((entry.call, entry.fast_bitrix24, entry.bitrix_fast, entry.why))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def russian_entries() -> Mapping[str, Any]:
    return dict(load_module(DOCS / "ru" / "differences_ru.py", "differences_ru").ENTRIES)


def translation_problems() -> List[str]:
    """Entries without a Russian row, Russian rows for no entry, and rows made from an
    older English text; an empty list when the Russian table is complete and current."""
    english = {d.key: d for d in differential_data().DIFFERENCES}
    russian = russian_entries()
    problems = [f"{key}: no Russian row (docs/ru/differences_ru.py)"
                for key in english if key not in russian]
    problems += [f"{key}: a Russian row for an entry that no longer exists"
                 for key in russian if key not in english]
    problems += [f"{key}: translated from an older text (fingerprint {russian[key][0]}, "
                 f"now {fingerprint(english[key])}): update the Russian row"
                 for key in english if key in russian
                 and russian[key][0] != fingerprint(english[key])]
    return problems


HEADER_RU = ("Вызов", "fast_bitrix24", "bitrix_fast", "Почему")


def differences_table(language: str = "en") -> str:
    """The migration table: tests/differential_data.py's ``render_table()`` in English; the
    same rows from docs/ru/differences_ru.py in Russian."""
    data = differential_data()
    if language == "en":
        return str(data.render_table())
    russian = russian_entries()
    rows = [HEADER_RU] + [tuple(russian[d.key][1:]) for d in data.DIFFERENCES
                          if d.key in russian]
    return _list_table(rows, widths="26 24 24 26")


def _list_table(rows: Sequence[Sequence[str]], widths: str = "") -> str:
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {widths}")
    lines.append("")
    for row in rows:
        for n, cell in enumerate(row):
            lines.append(("   * - " if n == 0 else "     - ") + (str(cell) or "-"))
    return "\n".join(lines) + "\n"


# -- benchmark tables ------------------------------------------------------------------------

def load_bench(name: str, folder: Path = BENCH_DATA) -> Dict[str, Any]:
    return dict(json.loads((folder / f"{name}.json").read_text(encoding="utf-8")))


def measured_on(data: Mapping[str, Any]) -> str:
    meta = data.get("meta", {})
    runs = ("a quick run: a tenth of the rows, one run per client" if meta.get("quick")
            else "one run per client" if meta.get("repeats") == 1
            else f"the median of {meta.get('repeats', 3)} runs per client")
    return f"Measured on {meta.get('date', '?')} on {meta.get('machine', '?')}; {runs}."


def _floor(requests: int, burst: int, rate: float, latency: float = 0.0) -> float:
    return max(0.0, (requests - burst) / rate) + latency


def export_rows(results: Mapping[str, Mapping[str, Mapping[str, Any]]], *, burst: int,
                rate: float) -> List[Tuple[str, ...]]:
    """The rows of the export table; the same rules as benchmarks/_harness.markdown_table."""
    rows: List[Tuple[str, ...]] = [(
        "scenario", "client", "seconds (median)", "rows/s", "requests", "rows/request",
        "503", "429", "correct?", "vs floor", "time vs fast_bitrix24")]
    for name, by_lib in results.items():
        peer = by_lib.get("fast_bitrix24")
        for lib, r in by_lib.items():
            if r.get("error") and not r.get("rows"):
                verdict = "died: " + str(r["error"]).split(":")[0]
            else:
                verdict = "yes" if r.get("all_correct") else f"no ({r.get('problem', '')})"
            floor = r.get("floor") or _floor(r["requests"], burst, rate)
            vs_floor = f"{r['seconds'] / floor:.2f}x" if floor > 0 and r["correct"] else "-"
            ratio = "-"
            if lib == "bitrix_fast" and peer and peer["correct"] and r["correct"]:
                ratio = f"{r['seconds'] / peer['seconds']:.2f}"
            got = r.get("rows") or r.get("ok") or 0
            rows.append((name, lib, f"{r['seconds']:.2f}", f"{got / r['seconds']:,.0f}",
                         str(r["requests"]), f"{got / max(1, r['requests']):,.0f}",
                         str(r["max_503"]), str(r["max_429"]), verdict, vs_floor, ratio))
    return rows


def write_rows(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> List[Tuple[str, ...]]:
    """The rows of the bulk-write table; the same rules as benchmarks/bench_write.table."""
    rows: List[Tuple[str, ...]] = [(
        "scenario", "client", "seconds (median)", "items/s", "requests", "503", "created",
        "duplicates", "in doubt", "lost", "correct?")]
    for name, by_lib in results.items():
        for lib, r in by_lib.items():
            lost = max(0, r["items"] - r["created"] - (r.get("in_doubt") or 0)
                       - (r.get("failed") or 0))
            verdict = "yes" if r["duplicates"] == 0 and lost == 0 else "no"
            if r.get("error") and not r.get("in_doubt"):
                verdict += f" ({str(r['error']).split(':')[0]})"
            per_run = r["created"] / r["runs"]
            rows.append((name, lib, f"{r['seconds']:.2f}", f"{per_run / r['seconds']:,.0f}",
                         str(r["requests"]), str(r["refused_503"]), f"{r['created']:,}",
                         str(r["duplicates"]), str(r.get("in_doubt") or 0), str(lost),
                         verdict))
    return rows


def bench_table(name: str, part: str = "", folder: Path = BENCH_DATA) -> str:
    """A benchmark table as the page shows it: ``export``, ``write``, ``limits``, or
    ``latency`` with ``part`` ``x10`` or ``enterprise``."""
    data = load_bench(name, folder)
    if name == "export":
        rows = export_rows(data["results"], burst=50, rate=20.0)
    elif name == "latency":
        burst, rate = (250, 5.0) if part == "enterprise" else (50, 20.0)
        rows = export_rows(data[part or "x10"], burst=burst, rate=rate)
    elif name == "limits":
        rows = export_rows(data["results"], burst=250, rate=5.0)
    elif name == "write":
        rows = write_rows(data["results"])
    else:
        raise ValueError(f"no benchmark table called {name!r}")
    return _list_table(rows)


#: README's table: these export scenarios (names start so; quick runs have other row counts)
README_SCENARIOS = ("contiguous, light", "heavy cost", "churn", "30k rows, joined pages")


def readme_bench_table(folder: Path = BENCH_DATA) -> str:
    """README's small table: time and requests of both clients for the standard-plan
    export and a few of the export benchmark's scenarios, with the same numbers as the
    benchmarks page (tests/test_docs_bench.py holds README to it)."""
    rows: List[Tuple[str, ...]] = [("export", "bitrix_fast", "fast_bitrix24")]
    line = load_bench("timeline", folder)
    rows.append((f"{line['rows']:,} deals, standard plan",
                  _cell(line["runs"].get("bitrix_fast")),
                  _cell(line["runs"].get("fast_bitrix24"))))
    if (folder / "limits.json").exists():
        big = load_bench("limits", folder)["results"].get("real-big, 300k")
        if big:
            rows.append(("300,000 deals, Enterprise plan, a batch takes 4.9 s",
                         _cell(big.get("bitrix_fast")), _cell(big.get("fast_bitrix24"))))
    results = load_bench("export", folder)["results"]
    for prefix in README_SCENARIOS:
        for name, by_lib in results.items():
            if name.startswith(prefix):
                rows.append((f"{name}, x10 plan", _cell(by_lib.get("bitrix_fast")),
                             _cell(by_lib.get("fast_bitrix24"))))
    return _list_table(rows)


def _cell(r: Any) -> str:
    if r is None:
        return "-"
    text = f"{r['seconds']:.1f} s, {r['requests']} requests"
    if r.get("error") and not r.get("rows"):
        return f"{text}: died ({str(r['error']).split(':')[0]})"
    if not r.get("all_correct", r.get("correct")):
        return f"{text}: {r.get('problem') or 'wrong result'}"
    return text


def code_blocks(text: str) -> Iterable[Tuple[int, str, str, str]]:
    """``(line, marker options, language, code)`` for every code block preceded by a
    ``.. runnable`` comment: the examples the test suite runs against the sandbox."""
    lines = text.splitlines()
    for n, line in enumerate(lines):
        stripped = line.strip()
        if not (stripped == ".. runnable" or stripped.startswith(".. runnable:")):
            continue
        options = stripped[len(".. runnable"):].lstrip(":").strip()
        indent = len(line) - len(line.lstrip())
        k = n + 1
        while k < len(lines) and not lines[k].strip():
            k += 1
        head = lines[k].strip() if k < len(lines) else ""
        if not head.startswith(".. code-block::"):
            raise ValueError(f"line {n + 1}: '.. runnable' must precede a code-block")
        language = head.split("::", 1)[1].strip()
        body: List[str] = []
        k += 1
        while k < len(lines) and (not lines[k].strip() or lines[k].startswith(" " * (indent + 1))):
            body.append(lines[k])
            k += 1
        code = _dedent(body)
        yield n + 1, options, language, code


def _dedent(body: List[str]) -> str:
    # Directive options (``:caption:``) come before the blank line that opens the body.
    while body and body[0].strip().startswith(":"):
        body = body[1:]
    text = "\n".join(body).strip("\n")
    widths = [len(x) - len(x.lstrip()) for x in text.splitlines() if x.strip()]
    cut = min(widths) if widths else 0
    return "\n".join(x[cut:] for x in text.splitlines()) + "\n"
