"""``bitrix-fast sync``: keep database tables in step with the portal, typed for BI tools.

``sync METHOD --db URL`` keeps one list method's table; ``sync --all-crm --db URL`` every
CRM table (deals, leads, contacts, companies, quotes, every smart process, their product
rows and the dictionaries) in one run; ``sync --config FILE`` the tables a config file lists
(see :mod:`bitrix_fast.mirror.config`). The first run copies each listing into a new table;
each later run applies only what changed on the portal since (see :mod:`bitrix_fast.mirror`).
``--filter`` and ``--select`` read as for ``export``; exit codes are export's, plus 75 when
another run of the same mirror holds the lock.
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List, Optional

from ..mirror.portal import READ_AHEAD
from ..protocol import methods
from ..protocol.params import find_key
from . import common
from .common import UsageError
from .filters import parse_filters, parse_select

#: another run holds the lock: try again later (sysexits' EX_TEMPFAIL)
EXIT_BUSY = 75

EPILOG = """\
db: sqlite:///crm.sqlite (relative), sqlite:////var/lib/crm.sqlite (absolute), a plain
  file path, or postgresql://user:password@host/dbname (pip install 'bitrix_fast[postgres]')
tables: named from the method (crm.deal.list -> crm_deal, crm.item.list with entityTypeId
  1032 -> crm_item_1032); columns are snake_case (STAGE_ID and stageId -> stage_id) and
  typed from the method's *.fields; a value that does not parse stays in <column>__raw
multiple values (PHONE, EMAIL, multiple custom fields): rows of <table>_multi, or with
  --multiple json one JSON column
dictionaries: dict_status, dict_category, dict_user, dict_currency (and with --all-crm
  dict_entity_type), refreshed every run; dict_fields and dict_enum describe every column
product rows: --product-rows (on with --all-crm) keeps <table>_productrow for deals,
  quotes and smart processes, re-reading only the owners that changed
filters: as for export, [OP]FIELD=VALUE, e.g. --filter CATEGORY_ID=0 --filter '>OPPORTUNITY=0'
select: only grows; fields added to --select become columns (and the next run reads the
  whole listing once to fill them)
exit codes: 0 ok, 1 database error, 2 usage (also: the table holds another listing),
  3 portal error, 75 another run of this mirror is under way, 130 Ctrl+C (nothing of the
  interrupted table is kept; it stays as the last complete run left it)
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sync", help="keep database tables in step with the portal (typed, for BI)",
        description="Copy list methods' rows into typed database tables, then, on every\n"
                    "later run, apply only the rows added, changed and deleted since.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("method", metavar="METHOD", nargs="?", help="a list method, e.g. crm.deal.list")
    add("--all-crm", action="store_true",
        help="every CRM table: deals, leads, contacts, companies, quotes, smart processes")
    add("--config", metavar="FILE", help="the tables to keep, from a TOML or JSON file")
    add("--select", metavar="F1,F2,...", help="fields to keep (the ID field is always added)")
    add("--filter", action="append", default=[], metavar="[OP]FIELD=VALUE",
        help="a filter entry; repeat for more (all must hold)")
    add("--params", metavar="JSON", help="other parameters as a JSON object, e.g. "
                                         "'{\"entityTypeId\": 1032}' for crm.item.list")
    add("--db", metavar="URL", help="the database (see below; a config file may name it)")
    add("--table", metavar="NAME", help="the table to keep the listing in")
    add("--multiple", choices=("table", "json"), default=None,
        help="multiple values as child-table rows (default) or one JSON column")
    add("--product-rows", action="store_true", default=None,
        help="keep the product rows of deals, quotes and smart processes too")
    add("--no-product-rows", action="store_false", dest="product_rows")
    add("--no-dictionaries", action="store_true",
        help="do not refresh the dictionary tables this run")
    add("--overlap", type=common.seconds, default=None, metavar="S",
        help="re-read changes from this many seconds before the last run's start "
             "(default 65: one request's 60 s cut, and slack)")
    add("--read-ahead", type=common.positive_int, default=None, metavar="N",
        help="requests' worth of rows (~2,500 each) held while the database catches up: "
             "what bounds the memory (default 3; more for an Enterprise portal's rate)")
    add("--wait", type=common.seconds, default=None, metavar="S",
        help="wait this long for another run of the same mirror to finish (default 0: "
             "exit 75 at once)")
    common.add_connection_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    return common.guarded("sync", lambda: _sync(args), method=args.method or "",
                          webhook=lambda: common.webhook_hint(args))


def _sync(args: argparse.Namespace) -> int:
    from ..mirror import MirrorBusy, MirrorConflict, MirrorError

    chosen = [name for name, on in (("METHOD", bool(args.method)),
                                    ("--all-crm", args.all_crm), ("--config", bool(args.config)))
              if on]
    if len(chosen) != 1:
        raise UsageError("give one of METHOD, --all-crm or --config FILE" if not chosen else
                         f"give only one of {', '.join(chosen)}")
    if not args.method and (args.select or args.filter or args.params or args.table):
        raise UsageError("--select, --filter, --params and --table go with a METHOD "
                         "(a config file lists them per table)")
    webhook = common.resolve_webhook(args)
    try:
        if args.method:
            return _one(args, webhook)
        return _many(args, webhook)
    except (TypeError, ValueError, MirrorConflict) as error:
        raise UsageError(str(error)) from None
    except MirrorBusy as error:
        common.say("sync", str(error), webhook)
        return EXIT_BUSY
    except MirrorError as error:
        common.say("sync", str(error), webhook)
        return common.EXIT_IO


def _one(args: argparse.Namespace, webhook: str) -> int:
    from ..mirror import DEFAULT_OVERLAP, sync

    method = _method(args.method)
    params = _params(args)
    select = parse_select(args.select) if args.select else None
    filter_ = parse_filters(args.filter) if args.filter else None
    if filter_ is not None and find_key(params, "filter") is not None:
        raise UsageError("give the filter either with --filter or in --params, not both")
    if select is not None and find_key(params, "select") is not None:
        raise UsageError("give select either with --select or in --params, not both")
    db = _db(args.db)
    with common.make_client(args, webhook) as bx:
        result = sync(bx, method, db, params=params, filter=filter_, select=select,
                      table=args.table, wait=args.wait or 0.0,
                      overlap=DEFAULT_OVERLAP if args.overlap is None else args.overlap,
                      multiple=args.multiple or "table",
                      product_rows=bool(args.product_rows),
                      dictionaries=not args.no_dictionaries, read_ahead=_read_ahead(args))
    _say_all(args, result.lines())
    return common.EXIT_OK


def _many(args: argparse.Namespace, webhook: str) -> int:
    from ..mirror.config import MirrorConfig, load
    from ..mirror.crm import ENTITY_NAMES, sync_all

    config = load(args.config) if args.config else MirrorConfig(entities=list(ENTITY_NAMES))
    db = _db(args.db or config.db)
    with common.make_client(args, webhook) as bx:
        result = sync_all(
            bx, db, tables=config.tables, entities=config.entities,
            dictionaries=config.dictionaries and not args.no_dictionaries,
            product_rows=config.product_rows if args.product_rows is None
            else args.product_rows,
            multiple=args.multiple or config.multiple,
            overlap=config.overlap if args.overlap is None else args.overlap,
            wait=config.wait if args.wait is None else args.wait,
            read_ahead=_read_ahead(args))
    _say_all(args, result.lines(), force=bool(result.failures))
    kinds = {f.kind for f in result.failures}
    for kind, code in (("portal", common.EXIT_PORTAL), ("database", common.EXIT_IO),
                       ("conflict", common.EXIT_USAGE), ("busy", EXIT_BUSY)):
        if kind in kinds:
            return code
    return common.EXIT_OK


def _read_ahead(args: argparse.Namespace) -> int:
    return READ_AHEAD if args.read_ahead is None else int(args.read_ahead)


def _say_all(args: argparse.Namespace, lines: List[str], force: bool = False) -> None:
    if args.quiet and not force:
        return
    for line in lines:
        common.say("sync", line)


def _db(url: Optional[str]) -> str:
    if not url:
        raise UsageError("no database: pass --db URL (or db = ... in the config file)")
    return url


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
