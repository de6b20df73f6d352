"""``bitrix-fast export METHOD``: every row of a list method into a JSON Lines or CSV file.

Rows are written as they arrive from :meth:`Bitrix.iter_all` (so memory stays flat however big
the table) and flushed about twice a second; a killed export can be continued with
``--resume`` (see :mod:`.resume` for why that is by the set of IDs already written, not by
the largest one). ``--filter`` syntax is in :mod:`.filters`, file formats in :mod:`.writers`,
exit codes in :mod:`.common`.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from typing import Any, Dict, List, Optional, TextIO

from .. import methods
from ..listing import row_id
from . import common, resume
from .common import UsageError
from .filters import parse_filters, parse_select
from .writers import EXTRA, make_writer

EPILOG = """\
filters: [OP]FIELD=VALUE, where OP is one of = ! != > >= < <= % =% %= !% @ !@ >< !><
  the operator run ends at the field name; the value is everything after the next '='
  @ !@ >< !>< take comma-separated lists:   --filter @STAGE_ID=NEW,WON
  --filter '>=DATE_CREATE=2024-01-01' --filter CATEGORY_ID=0
csv: header from --select (or the first row), plus an _extra column holding, as JSON, any
  field a row has outside the header; nested values are JSON-encoded in their cells
--resume: run the same command again; rows whose ID is already in the file are skipped, a
  cut-off last line is dropped; works whatever order the first run wrote rows in
exit codes: 0 ok, 1 write failed, 2 usage, 3 portal error (one line on stderr), 130 Ctrl+C
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export", help="export every row of a list method to jsonl or csv",
        description="Export every row of a list method (crm.deal.list, crm.item.list,\n"
                    "tasks.task.list, ...) to a file, streaming, at the portal's limits.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("method", metavar="METHOD", help="a list method, e.g. crm.deal.list")
    add("--select", metavar="F1,F2,...", help="fields to export (the ID field is always added)")
    add("--filter", action="append", default=[], metavar="[OP]FIELD=VALUE",
        help="a filter entry; repeat for more (all must hold)")
    add("--params", metavar="JSON", help='other parameters as a JSON object, e.g. '
                                         '\'{"entityTypeId": 2}\' for crm.item.list')
    add("--format", choices=("jsonl", "csv"), default=None,
        help="default: from the --output suffix (.csv), else jsonl")
    add("--output", "-o", default="-", metavar="FILE", help="file to write, - for stdout (default)")
    add("--resume", action="store_true",
        help="continue an interrupted export into --output: skip rows already there")
    common.add_connection_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    return common.guarded("export", lambda: _export(args), method=args.method,
                          webhook=lambda: common.webhook_hint(args))


def _export(args: argparse.Namespace) -> int:
    method = _method(args.method)
    facts = methods.list_facts(method)
    fmt = args.format or ("csv" if args.output.lower().endswith(".csv") else "jsonl")
    params = _params(args, facts)
    to_stdout = args.output == "-"
    if args.resume and to_stdout:
        raise UsageError("--resume needs --output FILE (it reads what the file already holds)")
    webhook = common.resolve_webhook(args)

    found = resume.scan(args.output, fmt, facts) if args.resume else resume.Existing()
    columns = _columns(params.get("select"), found, fmt, args.output)
    # The client first: a malformed webhook must not cost the user an existing output file.
    with common.make_client(args, webhook) as bx:
        if found.dropped:
            resume.cut(args.output, found.size)
        stream = _open(args.output, append=args.resume)
        writer = make_writer(fmt, stream, columns, header_written=found.columns is not None)
        started = time.monotonic()
        written = skipped = 0
        try:
            for row in bx.iter_all(method, params):
                if found.rows and row_id(row, facts) in found.ids:
                    skipped += 1
                    continue
                writer.write(row)
                written += 1
            writer.finish()
        finally:
            _close(stream, to_stdout)
    if not args.quiet:
        _summary(method, args.output, written, skipped, found, time.monotonic() - started)
    return common.EXIT_OK


def _method(text: str) -> str:
    try:
        method = methods.normalize(text)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if method == "batch":
        raise UsageError("export takes a list method, not batch")
    return method


def _params(args: argparse.Namespace, facts: methods.MethodFacts) -> Dict[str, Any]:
    params: Dict[str, Any] = {}
    if args.params:
        try:
            params = json.loads(args.params)
        except ValueError as error:
            raise UsageError(f"--params is not JSON: {error}") from None
        if not isinstance(params, dict):
            raise UsageError("--params must be a JSON object")
    lowered = {key.lower() for key in params}
    if args.filter:
        if "filter" in lowered:
            raise UsageError("give the filter either with --filter or in --params, not both")
        params[facts.filter_key] = parse_filters(args.filter)
    if args.select:
        if "select" in lowered:
            raise UsageError("give select either with --select or in --params, not both")
        fields = parse_select(args.select)
        # The ID is what --resume and every check recognise a row by.
        if facts.id_field not in fields and "*" not in fields:
            fields.insert(0, facts.id_field)
        params["select"] = fields
    if "start" in lowered:
        raise UsageError("export pages by itself; remove 'start' from --params")
    return params


def _columns(select: Any, found: resume.Existing, fmt: str, path: str) -> Optional[List[str]]:
    """The CSV header: the file's own when resuming, else --select without wildcards."""
    if fmt != "csv":
        return None
    wanted = None
    if isinstance(select, list) and not any("*" in str(f) for f in select):
        wanted = [str(f) for f in select]
    if found.columns is None:
        return wanted
    have = [c for c in found.columns if c != EXTRA]
    if wanted is not None and wanted != have:
        raise UsageError(f"--resume: {path} has the columns {','.join(have)}, but --select "
                         f"asks for {','.join(wanted)}; run the same command as before")
    return found.columns


def _open(path: str, *, append: bool) -> TextIO:
    if path == "-":
        return io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        return open(path, "a" if append else "w", encoding="utf-8", newline="")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def _close(stream: TextIO, to_stdout: bool) -> None:
    try:
        stream.flush()
    finally:
        if to_stdout:
            stream.detach()  # leave sys.stdout itself open
        else:
            stream.close()


def _summary(method: str, output: str, written: int, skipped: int, found: resume.Existing,
             seconds: float) -> None:
    where = "stdout" if output == "-" else output
    rate = written / seconds if seconds > 0 else 0.0
    text = f"{method}: {written:,} rows to {where} in {seconds:.1f} s ({rate:,.0f} rows/s)"
    if found.rows:
        text += f"; resumed after {found.rows:,} rows already there ({skipped:,} skipped)"
    if found.dropped:
        text += f"; dropped a cut-off last record ({found.dropped} bytes)"
    common.say("export", text)
