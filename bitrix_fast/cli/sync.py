"""``bitrix-fast sync METHOD --db URL``: keep a database table in step with a list method.

The first run copies the listing into a new table; each later run applies only what
changed on the portal since the previous one (see :mod:`bitrix_fast.mirror`). ``--filter``
and ``--select`` read as for ``export``; exit codes are export's, plus 75 when another run
of the same mirror holds the lock.
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Dict

from ..protocol import methods
from . import common
from .common import UsageError
from .filters import parse_filters, parse_select

#: another run holds the lock: try again later (sysexits' EX_TEMPFAIL)
EXIT_BUSY = 75

EPILOG = """\
db: sqlite:///crm.sqlite (relative), sqlite:////var/lib/crm.sqlite (absolute), a plain
  file path, or postgresql://user:password@host/dbname (pip install 'bitrix_fast[postgres]')
table: named from the method (crm.deal.list -> crm_deal, crm.item.list with entityTypeId
  1032 -> crm_item_1032); a listing with another filter needs its own --table
filters: as for export, [OP]FIELD=VALUE, e.g. --filter CATEGORY_ID=0 --filter '>OPPORTUNITY=0'
select: only grows; fields added to --select become columns (and the next run reads the
  whole listing once to fill them)
exit codes: 0 ok, 1 database error, 2 usage (also: the table holds another listing),
  3 portal error, 75 another run of this mirror is under way, 130 Ctrl+C (nothing of the
  interrupted run is kept; the table stays as the last complete run left it)
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sync", help="keep a database table in step with a list method",
        description="Copy a list method's rows into a database table, then, on every later\n"
                    "run, apply only the rows added, changed and deleted since.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    common.add_listing_arguments(parser, "fields to keep (the ID field is always added)",
                                 '{"entityTypeId": 1032}')
    add("--db", required=True, metavar="URL", help="the database (see below)")
    add("--table", metavar="NAME", help="the table to keep the listing in")
    add("--overlap", type=common.seconds, default=None, metavar="S",
        help="re-read changes from this many seconds before the last run's start "
             "(default 65: one request's 60 s cut, and slack)")
    add("--wait", type=common.seconds, default=0.0, metavar="S",
        help="wait this long for another run of the same mirror to finish (default 0: "
             "exit 75 at once)")
    common.add_connection_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    return common.guarded("sync", lambda: _sync(args), method=args.method,
                          webhook=lambda: common.webhook_hint(args))


def _sync(args: argparse.Namespace) -> int:
    from ..mirror import DEFAULT_OVERLAP, MirrorBusy, MirrorConflict, MirrorError, sync

    method = _method(args.method)
    params = _params(args)
    select = parse_select(args.select) if args.select else None
    filter_ = parse_filters(args.filter) if args.filter else None
    if filter_ is not None and any(k.lower() == "filter" for k in params):
        raise UsageError("give the filter either with --filter or in --params, not both")
    if select is not None and any(k.lower() == "select" for k in params):
        raise UsageError("give select either with --select or in --params, not both")
    webhook = common.resolve_webhook(args)
    with common.make_client(args, webhook) as bx:
        try:
            result = sync(bx, method, args.db, params=params, filter=filter_, select=select,
                          table=args.table, wait=args.wait,
                          overlap=DEFAULT_OVERLAP if args.overlap is None else args.overlap)
        except (TypeError, ValueError, MirrorConflict) as error:
            raise UsageError(str(error)) from None
        except MirrorBusy as error:
            common.say("sync", str(error), webhook)
            return EXIT_BUSY
        except MirrorError as error:
            common.say("sync", str(error), webhook)
            return common.EXIT_IO
    if not args.quiet:
        common.say("sync", result.summary())
    return common.EXIT_OK


def _method(text: str) -> str:
    try:
        method = methods.normalize(text)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if method == "batch":
        raise UsageError("sync takes a list method, not batch")
    return method


def _params(args: argparse.Namespace) -> Dict[str, Any]:
    if not args.params:
        return {}
    try:
        params = json.loads(args.params)
    except ValueError as error:
        raise UsageError(f"--params is not JSON: {error}") from None
    if not isinstance(params, dict):
        raise UsageError("--params must be a JSON object")
    return params
