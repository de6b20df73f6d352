"""``bitrix-fast call METHOD --items FILE.jsonl -o results.jsonl``: one call per line, batched
50 per request, with a journal that is always on disk.

Each line of the items file (``-`` reads stdin) is one JSON object of parameters; blank lines
are skipped and ``index`` counts the others from 0. Every line is checked before anything is
sent, so a bad line 90,000 stops the run before the first request rather than half-way
(stdin is first copied to a temporary file for that).

The journal (``-o``, see :mod:`.journal` for its lines) gets a ``sending`` line for each
batch just before it leaves, and each item's outcome as soon as its batch returns, flushed:
a result, an error, ``in_doubt`` (the request may have run: the library never resends those)
or ``not_sent``. So even after ``kill -9`` every item that may have run is on record. Ctrl+C or SIGTERM stops sending at once, waits
for the requests in flight, writes their outcomes and ``not_sent`` for the rest, and exits 130
(a second Ctrl+C exits at once; what was in flight is then written as in doubt). An
authentication error (a wrong webhook) stops the same way, after one refused batch: exit 3.

At the end of every run the side files ``<stem>.failed.jsonl``, ``<stem>.in_doubt.jsonl`` and
``<stem>.not_sent.jsonl`` hold the items file's own lines of the items in those states (next
to the journal; with ``-o -``, next to the items file), and only exist when they have lines.

To go on after an interruption, run the same command with ``--resume``: items whose last
journal line is a result, an error or in doubt are skipped; the rest (not sent, or never
reached) are sent, and their lines are appended to the same journal. In-doubt items are never
resent: check them on the portal (``<stem>.in_doubt.jsonl``) and send those that did not run
with ``--items``. A journal that exists is never overwritten: without ``--resume`` the run
refuses to start.

``--key FIELD`` (adds of ``crm.deal / lead / contact / company / item``): every line's
``fields`` hold their own value of FIELD (``ORIGIN_ID``, a ``UF_*`` field, ``originId``),
checked with the rest before anything is sent; an add whose fate is unknown is read back by
its key and resent only when it is certainly not there, so items end in doubt only when the
portal could not be asked. ``bitrix-fast upsert`` (:mod:`.upsert`) runs on the same journal.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
from contextlib import ExitStack
from typing import IO, Any, Callable, Dict, Iterator, Optional, TextIO, Tuple

from ..errors import AuthError, Stopped
from ..protocol.params import check_method, check_params
from ..run.progress import make_progress
from ..writes.bulk import BulkCall, Status
from ..writes.safe.keys import KeySpec
from . import common, journal
from .common import UsageError
from .journal import SideFiles, States

#: Checks one item (TypeError / ValueError naming ``where``); returns where its record lives
#: and its key, for the uniqueness check (None: no key).
Check = Callable[[Dict[str, Any], str], Optional[Tuple[Any, str]]]
#: Starts the call: (client, the items to send, on_send) -> its outcomes.
Start = Callable[[Any, Iterator[Dict[str, Any]], Callable[[Tuple[int, ...]], None]], BulkCall]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "call", help="call a method once per line of a jsonl file (bulk writes)",
        description="Call METHOD once per item of a JSON Lines file, 50 items per batch "
                    "request, at the portal's limits, recording each outcome as its batch "
                    "returns.",
        epilog="files: the journal (-o) gets one line per item as batches return; at the "
               "end FILE.failed.jsonl, FILE.in_doubt.jsonl and FILE.not_sent.jsonl hold the "
               "items in those states (only when there are any). "
               "--resume: run the same command again to send what was not sent; in-doubt "
               "items are never resent. "
               "exit codes: 0 all succeeded, 2 usage (nothing sent), 3 an item failed, is in "
               "doubt or was not sent (e.g. a wrong webhook), 130 interrupted (Ctrl+C, "
               "SIGTERM)",
    )
    add = parser.add_argument
    add("method", metavar="METHOD", help="e.g. crm.deal.add, crm.deal.update")
    add("--items", required=True, metavar="FILE.jsonl",
        help="one JSON object of parameters per line; - reads stdin")
    add("--output", "-o", default="-", metavar="FILE",
        help="the journal: one line per item outcome; - for stdout (default)")
    add("--resume", action="store_true",
        help="go on with the run whose journal is --output: send only what it did not")
    add("--key", metavar="FIELD",
        help="adds only: the field of each line's fields holding its own ID in your system "
             "(ORIGIN_ID, a user field such as UF_CRM_1700000001, originId for "
             "crm.item.add); an add in doubt is read back by it and resent only when it is "
             "certainly not there")
    common.add_connection_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    return common.guarded("call", lambda: _call(args), method=args.method,
                          webhook=lambda: common.webhook_hint(args))


class ItemsFile:
    """The ``--items`` file, read once per pass: a path, or stdin copied to a temporary file."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._spool: Optional[IO[bytes]] = None
        if name == "-":
            self._spool = tempfile.TemporaryFile()
            shutil.copyfileobj(sys.stdin.buffer, self._spool)

    def lines(self) -> Iterator[Tuple[int, int, str]]:
        """(index, line number, text) of every non-blank line."""
        try:
            handle = self._open()
            try:
                index = 0
                for number, raw in enumerate(handle, 1):
                    text = raw.decode("utf-8").strip()
                    if text:
                        yield index, number, text
                        index += 1
            finally:
                if self._spool is None:
                    handle.close()
        except UnicodeDecodeError:
            raise UsageError(f"--items {self.name}: not UTF-8 text") from None
        except OSError as error:
            raise UsageError(f"cannot read --items {self.name}: "
                             f"{error.strerror or error}") from None

    def _open(self) -> IO[bytes]:
        if self._spool is not None:
            self._spool.seek(0)
            return self._spool
        return open(self.name, "rb")

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


def _call(args: argparse.Namespace) -> int:
    try:
        method = check_method(args.method)
        spec = KeySpec.for_add(method, args.key) if args.key is not None else None
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None

    def check(item: Dict[str, Any], where: str) -> Optional[Tuple[Any, str]]:
        check_params(item, method)
        return None if spec is None else (spec.scope(item), spec.value(item, where))

    def start(bx: Any, source: Iterator[Dict[str, Any]],
              on_send: Callable[[Tuple[int, ...]], None]) -> BulkCall:
        call: BulkCall = bx.iter_call(method, source, on_send=on_send, key=args.key)
        return call

    return run_items(args, "call", method, check, start)


def run_items(args: argparse.Namespace, prog: str, method: str, check: Check,
              start: Start) -> int:
    """Check the items file, then send its items through ``start`` with the journal, the
    side files, the progress bar and the exit codes of ``call`` (``upsert`` uses it too)."""
    if args.resume and args.output == "-":
        raise UsageError("--resume needs --output FILE: the journal it goes on with")
    with ExitStack() as stack:
        items = ItemsFile(args.items)
        stack.callback(items.close)
        sides = SideFiles(args.output, args.items)
        _check_paths(args, sides)
        total = _check_items(items, method, check)
        states, prior = States(total), 0
        if args.resume:
            states = journal.load(args.output, total, args.items)
            prior = sum(1 for index in range(total) if states.done(index))
        elif args.output != "-" and _non_empty(args.output):
            raise UsageError(f"--output {args.output} holds the journal of an earlier run: "
                             f"go on with it with --resume, or choose another file")
        webhook = common.resolve_webhook(args)
        return _send(args, prog, method, items, states, prior, sides, webhook, start)


def _send(args: argparse.Namespace, prog: str, method: str, items: ItemsFile, states: States,
          prior: int, sides: SideFiles, webhook: str, start: Start) -> int:
    pool, _ = common.rate_settings(args)
    todo = sum(1 for index in range(len(states)) if not states.done(index))
    origin: Dict[int, int] = {}     # the call's index -> the items file's index, while open
    stopping = threading.Event()
    state: Dict[str, Any] = {"calls": None, "reason": None, "forced": False}
    actions: Dict[str, int] = {}   # an upsert's results: added / updated / unchanged
    out: Any = None

    def source() -> Iterator[Dict[str, Any]]:
        position = 0
        for index, _, text in items.lines():
            if states.done(index):
                continue
            origin[position] = index
            position += 1
            # After a stop the rest is only counted as not sent: no need to parse it.
            yield {} if stopping.is_set() else json.loads(text)

    def on_send(positions: Tuple[int, ...]) -> None:
        # In a worker thread, right before the batch leaves: after a kill -9 these items are
        # in doubt, not "never sent", so a --resume cannot send them twice.
        indexes = [origin[position] for position in positions]
        out.write(journal.sending_line(indexes), flush=True)
        for index in indexes:
            states.set(index, Status.IN_DOUBT)

    def on_signal(signum: int, frame: Any) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt  # a second one: stop waiting
        stopping.set()
        if state["calls"] is not None:
            state["calls"].stop(Stopped(f"{method}: interrupted before this item was sent"))

    with ExitStack() as stack:
        out = stack.enter_context(_Journal(args.output, append=args.resume))
        stack.callback(lambda: sides.write(states, journal.numbered(items.lines())))
        bx = stack.enter_context(common.make_client(args, webhook, progress=False))
        bar = stack.enter_context(make_progress(None, not args.quiet, method, total=todo,
                                                unit="items", burst=pool))
        stack.enter_context(common.signals(on_signal))
        calls = state["calls"] = start(bx, source(), on_send)
        if stopping.is_set():
            calls.stop(Stopped(f"{method}: interrupted before this item was sent"))
        unreported = 0
        try:
            for outcome in calls:
                index = origin.pop(outcome.index)
                out.write(journal.line(index, outcome))
                states.set(index, outcome.status)
                if outcome.status is Status.NOT_SENT and isinstance(outcome.error, AuthError):
                    state["reason"] = outcome.error
                if outcome.status is Status.RESULT and isinstance(outcome.result, dict) \
                        and isinstance(outcome.result.get("action"), str):
                    name = outcome.result["action"]
                    actions[name] = actions.get(name, 0) + 1
                unreported += 1
                if not calls.buffered and outcome.status is not Status.NOT_SENT:
                    out.flush()  # the batch is on disk before the next reply is awaited
                    bar.update(unreported)
                    unreported = 0
        except KeyboardInterrupt:
            # A second Ctrl+C: what was handed over and has no outcome is in doubt (its
            # "sending" line says so), what was never handed over is not sent.
            state["forced"] = True
    return _report(args, prog, method, states, prior, sides,
                   stopping.is_set() or state["forced"], state["reason"], actions)


class _Journal:
    """The journal: a file (flushed per batch, fsynced at the end) or stdout."""

    def __init__(self, path: str, *, append: bool) -> None:
        self._lock = threading.Lock()
        self._stdout = path == "-"
        if self._stdout:
            self._stream: TextIO = sys.stdout
            return
        try:
            self._stream = open(path, "a" if append else "w", encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {path}: {error.strerror or error}") from None

    def write(self, text: str, *, flush: bool = False) -> None:
        with self._lock:  # outcome lines from the main thread, "sending" from workers
            self._stream.write(text)
            if flush:
                self._stream.flush()

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()

    def __enter__(self) -> "_Journal":
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            if self._stdout:
                self._stream.flush()
                return
            try:
                self._stream.flush()
                os.fsync(self._stream.fileno())
            finally:
                self._stream.close()


def _check_items(items: ItemsFile, method: str, check: Check) -> int:
    count = 0
    keys: Dict[Tuple[Any, str], int] = {}
    for _, number, text in items.lines():
        try:
            item = json.loads(text)
        except ValueError as error:
            raise UsageError(f"--items {items.name} line {number}: not JSON ({error})") from None
        if not isinstance(item, dict):
            raise UsageError(f"--items {items.name} line {number}: expected a JSON object of "
                             f"parameters")
        try:
            key = check(item, method)
        except (TypeError, ValueError) as error:
            raise UsageError(f"--items {items.name} line {number}: {error}") from None
        if key is not None:
            if key in keys:
                raise UsageError(f"--items {items.name} lines {keys[key]} and {number} hold "
                                 f"the same key {key[1]!r}; each item needs its own")
            keys[key] = number
        count += 1
    return count


def _check_paths(args: argparse.Namespace, sides: SideFiles) -> None:
    if args.items != "-" and not os.path.isfile(args.items):
        raise UsageError(f"cannot read --items {args.items}: no such file")
    if args.output != "-" and args.items != "-" and _same_file(args.output, args.items):
        raise UsageError("--output must not be the --items file (it is read while written)")
    if args.output != "-" and os.path.isdir(args.output):
        raise UsageError(f"cannot write {args.output}: it is a directory")
    for status, path in sides.paths.items():
        if args.items != "-" and _same_file(path, args.items):
            raise UsageError(f"--items {args.items} is where this run writes its "
                             f"{status.value.replace('_', '-')} items: copy it to another "
                             f"name first, or choose another --output")


def _report(args: argparse.Namespace, prog: str, method: str, states: States, prior: int,
            sides: SideFiles, interrupted: bool, reason: Optional[BaseException],
            actions: Dict[str, int]) -> int:
    ok, failed = states.count(Status.RESULT), states.count(Status.ERROR)
    doubt = states.count(Status.IN_DOUBT)
    unsent = states.count(Status.NOT_SENT) + states.count(None)
    text = f"{ok:,} succeeded"
    if actions:
        text += " (" + ", ".join(f"{actions.get(name, 0):,} {name}"
                                 for name in ("added", "updated", "unchanged")) + ")"
    if failed:
        text += f", {failed:,} failed (items in {sides.path(Status.ERROR)})"
    if doubt:
        text += (f", {doubt:,} in doubt: may have run, check before resending "
                 f"(items in {sides.path(Status.IN_DOUBT)})")
    if unsent:
        again = ("run again with --resume to send them" if args.output != "-" else
                 f"send them with --items {sides.path(Status.NOT_SENT)}")
        text += f", {unsent:,} not sent (items in {sides.path(Status.NOT_SENT)}; {again})"
    if prior:
        text += f" (resumed: {common.plural(prior, 'item')} had been sent before)"
    if reason is not None:
        text = f"{common.error_message(method, reason)}; nothing more was sent: {text}"
    else:
        text = f"{method}: {text}"
    if interrupted:
        common.say(prog, f"interrupted: {text}", common.webhook_hint(args))
        return common.EXIT_INTERRUPTED
    if failed or doubt or unsent:
        common.say(prog, text, common.webhook_hint(args))
        return common.EXIT_PORTAL
    if not args.quiet:
        common.say(prog, text)
    return common.EXIT_OK


def _non_empty(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
