"""``bitrix-fast export METHOD``: every row of a list method into a JSON Lines, CSV or Parquet
file (typed from the method's ``*.fields`` with ``--typed``, always for Parquet: see
:mod:`.typedfiles`).

Rows are written as they arrive from :meth:`Bitrix.iter_all` (so memory stays flat however big
the table) and flushed about twice a second, into ``FILE.part``; only a complete export is
renamed over ``FILE`` (see :mod:`.files`). A run that fails (a wrong webhook: exit 3) or is
stopped (Ctrl+C or SIGTERM: exit 130) leaves an existing ``FILE`` byte for byte as it was,
and keeps the rows it got in ``FILE.part``, which ``--resume`` continues (see :mod:`.resume`
for why that is by the set of IDs already written, not by the largest one). Output to stdout
is streamed as before. ``--filter`` syntax is in :mod:`.filters`, file formats in
:mod:`.writers`, exit codes in :mod:`.common`.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import warnings
from typing import Any, Dict, List, Optional

from ..protocol import methods
from ..errors import BitrixError
from ..listing import row_id
from ..protocol.params import check_list_params, find_key
from ..run.progress import interactive, make_bar
from . import checkpoint, common, files, resume
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
--typed (csv, jsonl) and parquet: values typed from the method's *.fields: numbers,
  true/false, ISO dates and moments with the portal's offset; a value that does not parse
  is kept as sent (parquet: in the _unparsed column) and counted in the summary
parquet: pip install 'bitrix_fast[parquet]'; needs --output FILE; cannot be resumed
files: rows go to FILE.part, renamed to FILE when the export is complete; a failed or
  interrupted run leaves FILE untouched and keeps FILE.part
--resume: run the same command again; it continues FILE.part: rows whose ID is already there
  are skipped, a cut-off last line is dropped; works whatever order the first run wrote rows in
exit codes: 0 ok, 1 write failed, 2 usage, 3 portal error (one line on stderr),
  130 interrupted (Ctrl+C or SIGTERM)
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="export every row of a list method to jsonl or csv",
        description="Export every row of a list method (crm.deal.list, crm.item.list,\n"
                    "tasks.task.list, ...) to a file, streaming, at the portal's limits.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    common.add_listing_arguments(parser, "fields to export (the ID field is always added)",
                                 '{"entityTypeId": 2}')
    add("--format", choices=("jsonl", "csv", "parquet"), default=None,
        help="default: from the --output suffix (.csv, .parquet), else jsonl")
    add("--typed", action="store_true",
        help="numbers, booleans and dates typed from the method's *.fields (parquet always)")
    add("--output", "-o", default="-", metavar="FILE",
        help="file to write (through FILE.part, renamed when complete); - for stdout (default)")
    add("--resume", action="store_true",
        help="continue the interrupted export in FILE.part: skip rows already there")
    common.add_connection_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    def body() -> int:
        try:
            return _export(args)
        except _Reported as reported:
            return reported.code

    return common.guarded("export", body, method=args.method,
                          webhook=lambda: common.webhook_hint(args))


def _export(args: argparse.Namespace) -> int:
    method = _method(args.method)
    facts = methods.list_facts(method)
    fmt = _format(args)
    params = _params(args, facts, method)
    to_stdout = args.output == "-"
    if fmt == "parquet" and (to_stdout or args.resume):
        raise UsageError("--format parquet needs --output FILE and cannot --resume (a "
                         "Parquet file is written whole)")
    if args.resume and to_stdout:
        raise UsageError("--resume needs --output FILE (it reads what the file already holds)")
    webhook = common.resolve_webhook(args)
    if not to_stdout and os.path.isdir(args.output):
        raise UsageError(f"cannot write {args.output}: it is a directory")
    part = files.part_of(args.output)

    found = resume.scan(part, fmt, facts) if args.resume else resume.Existing()
    # The ID intervals an interrupted run has on disk in full: not read again.
    skip = checkpoint.load(part, method, params) if args.resume else []
    if args.resume and not os.path.exists(part) and not args.quiet:
        common.say("export", f"note: no {part} to resume; exporting every row")
    columns = _columns(params.get("select"), found, fmt, part)
    pool, _ = common.rate_settings(args)
    # The client first: a malformed webhook must not cost the user anything on disk.
    with common.make_client(args, webhook, progress=_bar(args, pool)) as bx:
        if found.dropped:
            resume.cut(part, found.size)
        typer = _typer(bx, method, params, facts) if args.typed or fmt == "parquet" else None
        stream = _open(args.output if to_stdout else part, append=args.resume,
                       binary=fmt == "parquet")
        rows = bx.iter_all(method, params, skip=skip)

        def record(_count: int = 0) -> None:
            # Called once the rows are fsynced: what the listing has handed out in full is
            # on disk, and a resume need not read it again.
            checkpoint.save(part, method, params, sorted(set(skip) | set(rows.covered())))

        if not to_stdout and not args.resume:
            checkpoint.remove(part)  # a new export: an old record describes another .part
        writer = _writer(fmt, stream, columns, typer, header_written=found.columns is not None,
                         on_sync=None if to_stdout or fmt == "parquet" else record)
        started = time.monotonic()
        written = skipped = 0
        stop = _GracefulStop(rows)
        try:
            with common.signals(stop.handler):
                for row in rows:
                    if found.rows and row_id(row, facts) in found.ids:
                        skipped += 1
                        continue
                    writer.write(row)
                    written += 1
                stop.raise_if_stopped()
                writer.finish()
        except BaseException as error:
            if not to_stdout:
                _checkpoint_now(writer, stream, record)
            _close(stream, to_stdout)
            if not to_stdout:
                _keep_part(part, found.rows + written, error, args, method)
            raise
        if to_stdout:
            _close(stream, to_stdout)
        else:
            files.sync_and_close(stream)
            files.commit(part, args.output)
            checkpoint.remove(part)
    if not args.quiet:
        _summary(method, args.output, written, skipped, found, time.monotonic() - started,
                 typer.unparsed if typer is not None else 0)
    return common.EXIT_OK


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    lowered = args.output.lower()
    return "csv" if lowered.endswith(".csv") else (
        "parquet" if lowered.endswith(".parquet") else "jsonl")


def _typer(bx: Any, method: str, params: Dict[str, Any], facts: methods.MethodFacts) -> Any:
    """Typing by the method's ``*.fields`` (one request; none known: everything is text)."""
    from ..typed import RowTyper, load_fields

    return RowTyper(load_fields(bx, method, params), id_field=facts.id_field)


def _writer(fmt: str, stream: Any, columns: Optional[List[str]], typer: Any, *,
            header_written: bool, on_sync: Any) -> Any:
    if fmt == "parquet":
        from .typedfiles import ParquetRows

        return ParquetRows(stream, typer, columns)
    writer = make_writer(fmt, stream, columns, header_written=header_written, on_sync=on_sync)
    if typer is None:
        return writer
    from .typedfiles import TypedRows

    return TypedRows(writer, typer)


class _GracefulStop:
    """Ctrl+C / SIGTERM during an export: the first stops the listing -- nothing more is
    sent; replies already received, and those landing within ``GRACE`` s, are written and
    recorded, so a resume reads as little as possible -- then the export ends as
    interrupted; a second one ends it at once.

    Sending nothing new and not waiting for a whole batch are reconciled by the grace: no
    request leaves after the stop (those still waiting for a token give up), and the replies
    already on the wire -- paid for, and read again by a resume if dropped -- get ``GRACE``
    seconds to land. On a portal whose batches take 1.5 s nearly all of them do, and the
    process still ends within 2 s."""

    #: Seconds the replies on the wire get to land after a stop.
    GRACE = 1.5

    def __init__(self, rows: Any) -> None:
        self._rows = rows
        self.stopped = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.stopped:
            raise KeyboardInterrupt
        self.stopped = True
        self._rows.stop(self.GRACE)

    def raise_if_stopped(self) -> None:
        if self.stopped:
            raise KeyboardInterrupt


def _checkpoint_now(writer: Any, stream: Any, record: Any) -> None:
    """On the way out of a failed or interrupted run: flush and fsync what was written, then
    record what is complete, so the resume reads as little as possible."""
    try:
        writer.flush()
        os.fsync(stream.fileno())
        record()
    except (OSError, ValueError):
        pass  # the record of the last timed flush stands


def _keep_part(part: str, rows: int, error: BaseException, args: argparse.Namespace,
               method: str) -> None:
    """After a failed or interrupted run: the old output is untouched; say what is in the
    .part and how to go on (or drop a .part that holds nothing)."""
    if rows == 0 and not args.resume:
        files.remove_if_empty(part)
    if isinstance(error, KeyboardInterrupt):
        what = "interrupted"
    elif isinstance(error, BitrixError):
        what = common.error_message(method, error)
    else:
        return  # a local failure; guarded() reports it
    if _format(args) == "parquet":
        files.remove_if_empty(part)
        where = f"; {part} is incomplete (a Parquet file cannot be resumed)" if \
            os.path.exists(part) else ""
    elif rows and os.path.exists(part):
        where = (f"; {common.plural(rows, 'row')} kept in {part}, "
                 f"--resume goes on from there")
    else:
        where = ""
    untouched = f"; {args.output} is untouched" if os.path.exists(args.output) else ""
    common.say("export", f"{what}{untouched}{where}", common.webhook_hint(args))
    raise _Reported(common.EXIT_INTERRUPTED if isinstance(error, KeyboardInterrupt)
                    else common.EXIT_PORTAL) from None


class _Reported(Exception):
    """The failure is already on stderr; exit with this code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _bar(args: argparse.Namespace, burst: int) -> Any:
    """The library's bar, told the burst of this plan so its ETA skips it."""
    if args.quiet or not interactive():
        return False
    return lambda description, total: make_bar(description, total, "rows", burst=burst)


def _method(text: str) -> str:
    try:
        method = methods.normalize(text)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if method == "batch":
        raise UsageError("export takes a list method, not batch")
    return method


def _params(args: argparse.Namespace, facts: methods.MethodFacts,
            method: str) -> Dict[str, Any]:
    params: Dict[str, Any] = {}
    if args.params:
        try:
            params = json.loads(args.params)
        except ValueError as error:
            raise UsageError(f"--params is not JSON: {error}") from None
        if not isinstance(params, dict):
            raise UsageError(f"--params must be a JSON object, not {_json_kind(params)}")
        _check(params, method, "--params")
    if args.filter:
        if find_key(params, "filter") is not None:
            raise UsageError("give the filter either with --filter or in --params, not both")
        params[facts.filter_key] = parse_filters(args.filter)
    if args.select:
        if find_key(params, "select") is not None:
            raise UsageError("give select either with --select or in --params, not both")
        fields = parse_select(args.select)
        # The ID is what --resume and every check recognise a row by.
        if facts.id_field not in fields and "*" not in fields:
            fields.insert(0, facts.id_field)
        params["select"] = fields
    if find_key(params, "start") is not None:
        raise UsageError("export pages by itself; remove 'start' from --params")
    _check(params, method, "--params")
    return params


def _check(params: Dict[str, Any], method: str, where: str) -> None:
    """The library's parameter checks, as a usage error naming the argument; its warnings
    (e.g. 'limit' is ignored) as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_list_params(params, method)
        except (TypeError, ValueError) as error:
            text = str(error)
            if text.startswith(f"{method}: "):
                text = text[len(method) + 2:]
            raise UsageError(f"{where}: {text}") from None
    for warning in caught:
        common.say("export", f"note: {warning.message}")


def _json_kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


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


def _open(path: str, *, append: bool, binary: bool = False) -> Any:
    if path == "-":
        return io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        if binary:
            return open(path, "wb")
        return open(path, "a" if append else "w", encoding="utf-8", newline="")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def _close(stream: Any, to_stdout: bool) -> None:
    try:
        stream.flush()
    finally:
        if to_stdout:
            stream.detach()  # leave sys.stdout itself open
        else:
            stream.close()


def _summary(method: str, output: str, written: int, skipped: int, found: resume.Existing,
             seconds: float, unparsed: int = 0) -> None:
    where = "stdout" if output == "-" else output
    rate = written / seconds if seconds > 0 else 0.0
    text = (f"{method}: {common.plural(written, 'row')} to {where} in {seconds:.1f} s "
            f"({rate:,.0f} rows/s)")
    if found.rows:
        text += (f"; resumed after {common.plural(found.rows, 'row')} already there "
                 f"({skipped:,} skipped)")
    if found.dropped:
        text += f"; dropped a cut-off last record ({common.plural(found.dropped, 'byte')})"
    if unparsed:
        text += (f"; {common.plural(unparsed, 'value')} did not parse as typed and "
                 f"{'was' if unparsed == 1 else 'were'} kept as sent")
    common.say("export", text)
