"""``bitrix-fast call METHOD --items FILE.jsonl``: one call per line, batched 50 per request.

Each line of the items file is one JSON object of parameters (blank lines are skipped;
``index`` counts items from 0). The output gets one line per item, in input order::

    {"index": 0, "result": 123}
    {"index": 1, "error": {"code": "...", "description": "..."}}
    {"index": 2, "in_doubt": "crm.deal.add: connection dropped ..."}

Items that failed, and items whose fate is unknown (the request may have run: the library
never resends those), are also written -- as the original lines -- to ``<stem>.failed.jsonl``
and ``<stem>.in_doubt.jsonl`` next to the output (``results.jsonl`` -> ``results.failed.jsonl``;
with output to stdout, next to the items file). So a rerun picks them up::

    bitrix-fast call crm.deal.update --items results.failed.jsonl --output results.jsonl

Check in-doubt items before resending them: an ``add`` that did run would be duplicated.
Both side files are rewritten on every run (empty when nothing failed), so what is on disk
describes the last run; they are written under a temporary name and renamed at the end (also
after Ctrl+C), which lets ``--items`` be the previous run's side file.

The items file is read twice: first every line is checked, so that a bad line 90,000 stops
the run before anything is sent rather than half-way; then items go out in chunks of
:data:`CHUNK`, so memory does not grow with the file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack, nullcontext
from typing import Any, ContextManager, Dict, Iterator, List, TextIO, Tuple

from ..errors import BatchError, BitrixError
from ..params import check_method, check_params
from ..progress import make_progress
from . import common
from .common import UsageError

#: Items per bx.call(): 100 batch requests, enough to keep every worker busy between chunks.
CHUNK = 5000


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "call", help="call a method once per line of a jsonl file (bulk writes)",
        description="Call METHOD once per item of a JSON Lines file, 50 items per batch "
                    "request, at the portal's limits; results in input order.",
        epilog="exit codes: 0 all succeeded, 2 usage, 3 any item failed or is in doubt "
               "(see the .failed.jsonl / .in_doubt.jsonl files), 130 Ctrl+C",
    )
    add = parser.add_argument
    add("method", metavar="METHOD", help="e.g. crm.deal.add, crm.deal.update")
    add("--items", required=True, metavar="FILE.jsonl",
        help="one JSON object of parameters per line")
    add("--output", "-o", default="-", metavar="FILE",
        help="results, one line per item in input order; - for stdout (default)")
    common.add_connection_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    return common.guarded("call", lambda: _call(args), method=args.method,
                          webhook=lambda: common.webhook_hint(args))


def side_paths(output: str, items: str) -> Tuple[str, str]:
    """(failed, in_doubt) file names for this output (or items file, if output is stdout)."""
    base = items if output == "-" else output
    stem = base[: -len(".jsonl")] if base.endswith(".jsonl") else base
    return f"{stem}.failed.jsonl", f"{stem}.in_doubt.jsonl"


def _call(args: argparse.Namespace) -> int:
    try:
        method = check_method(args.method)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    total = _check_items(args.items, method)
    failed_path, doubt_path = side_paths(args.output, args.items)
    if args.output != "-" and _same_file(args.output, args.items):
        raise UsageError("--output must not be the --items file (it is read while written)")
    webhook = common.resolve_webhook(args)
    shared = _Shared()
    counts = {"result": 0, "error": 0, "in_doubt": 0}
    with common.make_client(args, webhook, progress=lambda _desc, _total: shared) as bx, \
            ExitStack() as files:
        out = files.enter_context(_open(args.output))
        sides = {"error": files.enter_context(_SideFile(failed_path)),
                 "in_doubt": files.enter_context(_SideFile(doubt_path))}
        shared.progress = files.enter_context(
            make_progress(None, not args.quiet, method, total=total, unit="items"))
        for chunk in _chunks(args.items):
            for index, line, kind, value in _outcomes(bx, method, chunk):
                out.write(json.dumps({"index": index, kind: value}, ensure_ascii=False) + "\n")
                counts[kind] += 1
                if kind in sides:
                    sides[kind].write(line + "\n")
            out.flush()
    return _report(method, counts, failed_path, doubt_path, args.quiet)


def _outcomes(bx: Any, method: str, chunk: List[Tuple[int, str, Dict[str, Any]]]
              ) -> Iterator[Tuple[int, str, str, Any]]:
    """(index, original line, "result" | "error" | "in_doubt", value) per item, in order."""
    try:
        results = dict(enumerate(bx.call(method, [item for _, _, item in chunk])))
        errors: Dict[int, Any] = {}
        doubts: Dict[int, Any] = {}
    except BatchError as error:
        results, errors, doubts = error.results, error.errors, error.in_doubt
    except BitrixError as error:
        # Not a per-item report: we cannot tell which items ran, so none is claimed to.
        results, errors, doubts = {}, {}, {n: error for n in range(len(chunk))}
    for position, (index, line, _) in enumerate(chunk):
        if position in results:
            yield index, line, "result", results[position]
        elif position in errors:
            yield index, line, "error", _error_body(errors[position])
        else:
            reason = doubts.get(position, "no result came back")
            yield index, line, "in_doubt", common.one_line(str(reason))


def _error_body(error: Any) -> Dict[str, Any]:
    code = getattr(error, "code", None)
    if code is None:  # a transport failure that provably never reached the portal
        return {"code": type(error).__name__, "description": common.one_line(str(error))}
    return {"code": code, "description": getattr(error, "description", "") or str(error)}


def _check_items(path: str, method: str) -> int:
    count = 0
    for number, line in _lines(path):
        try:
            item = json.loads(line)
        except ValueError as error:
            raise UsageError(f"{path} line {number}: not JSON ({error})") from None
        if not isinstance(item, dict):
            raise UsageError(f"{path} line {number}: expected a JSON object of parameters")
        try:
            check_params(item, method)
        except (TypeError, ValueError) as error:
            raise UsageError(f"{path} line {number}: {error}") from None
        count += 1
    return count


def _chunks(path: str) -> Iterator[List[Tuple[int, str, Dict[str, Any]]]]:
    chunk: List[Tuple[int, str, Dict[str, Any]]] = []
    for index, (_, line) in enumerate(_lines(path)):
        chunk.append((index, line, json.loads(line)))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _lines(path: str) -> Iterator[Tuple[int, str]]:
    """(line number, text) of every non-blank line."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, line.strip()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read --items {path}: "
                         f"{getattr(error, 'strerror', None) or error}") from None


def _open(path: str) -> ContextManager[TextIO]:
    if path == "-":
        return nullcontext(sys.stdout)
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


class _SideFile:
    """A side file written under ``<path>.tmp`` and renamed over ``path`` when closed -- also
    after Ctrl+C, so it always lists what is known so far."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._stream = _open(path + ".tmp")

    def write(self, text: str) -> None:
        self._stream.write(text)

    def __enter__(self) -> "_SideFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stream.close()
        os.replace(self._path + ".tmp", self._path)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _report(method: str, counts: Dict[str, int], failed: str, doubt: str, quiet: bool) -> int:
    text = f"{method}: {counts['result']:,} succeeded"
    if counts["error"]:
        text += f", {counts['error']:,} failed (items in {failed})"
    if counts["in_doubt"]:
        text += (f", {counts['in_doubt']:,} in doubt: may have run, check before resending "
                 f"(items in {doubt})")
    if counts["error"] or counts["in_doubt"]:
        common.say("call", text)
        return common.EXIT_PORTAL
    if not quiet:
        common.say("call", text)
    return common.EXIT_OK


class _Shared:
    """The bar the library draws into for each chunk: every chunk feeds one bar for the file."""

    def __init__(self) -> None:
        self.progress: Any = None
        self.total = None

    def update(self, count: int) -> None:
        if self.progress is not None:
            self.progress.update(count)

    def close(self) -> None:
        pass
