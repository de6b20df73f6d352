"""``bitrix-fast upsert crm.deal --items FILE.jsonl --key ORIGIN_ID -o journal.jsonl``: make
the portal hold each line's record, found by its key -- the nightly push from another system,
run again as often as it likes.

Each line of the items file is one JSON object of fields (``{"ORIGIN_ID": "A-17", "TITLE":
"..."}``), each with its own value of the key field; every line is checked before anything is
sent. Records are looked up by key (2,500 keys a request), then updated if they differ,
added if absent (as keyed adds: settled when in doubt), and left alone if they already hold
the line's values (:meth:`bitrix_fast.Bitrix.iter_upsert`). ``--params`` goes with every add
and update (``'{"entityTypeId": 1036}'`` for ``crm.item``).

Progress, journal, side files, ``--resume`` and exit codes are those of ``bitrix-fast call``
(:mod:`.call`); a journal's results read ``{"id": 17, "action": "updated"}``, and the
summary counts what was added, updated and left unchanged. A line whose key several records
hold is failed (nothing is written for it), with its records' IDs in the journal.
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from ..protocol import methods
from ..protocol.params import check_params, find_key
from ..writes.bulk import BulkCall
from ..writes.safe.keys import KeySpec
from . import common
from .call import run_items
from .common import UsageError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "upsert", help="update or add one record per line of a jsonl file, found by a key",
        description="Make the portal hold one record per line of a JSON Lines file of "
                    "fields: found by --key, updated when it differs, added when absent, "
                    "left alone when it already holds the line's values. Running it again "
                    "adds nothing.",
        epilog="files, --resume and exit codes: as for 'bitrix-fast call' (0 all written or "
               "unchanged, 2 usage, 3 an item failed, is in doubt or was not sent, 130 "
               "interrupted); a key held by several records fails its line.",
    )
    add = parser.add_argument
    add("entity", metavar="ENTITY", help="a method family: crm.deal, crm.lead, crm.contact, "
                                         "crm.company, or crm.item with --params")
    add("--items", required=True, metavar="FILE.jsonl",
        help="one JSON object of fields per line; - reads stdin")
    add("--key", required=True, metavar="FIELD",
        help="the field holding each record's ID in your system: ORIGIN_ID, a user field "
             "such as UF_CRM_1700000001, originId for crm.item")
    add("--params", metavar="JSON",
        help="parameters for every add and update, e.g. '{\"entityTypeId\": 1036}'")
    add("--output", "-o", default="-", metavar="FILE",
        help="the journal: one line per item outcome; - for stdout (default)")
    add("--resume", action="store_true",
        help="go on with the run whose journal is --output: send only what it did not")
    common.add_connection_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    return common.guarded("upsert", lambda: _upsert(args), method=f"{args.entity}.upsert",
                          webhook=lambda: common.webhook_hint(args))


def _upsert(args: argparse.Namespace) -> int:
    try:
        family = methods.normalize(args.entity)
        spec = KeySpec.of(family, args.key)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    params = _params(args.params, family)
    scope = spec.scope(params)

    def check(item: Dict[str, Any], where: str) -> Optional[Tuple[Any, str]]:
        check_params({**params, "fields": item}, spec.update)
        return scope, spec.value({"fields": item}, where)

    def start(bx: Any, source: Iterator[Dict[str, Any]],
              on_send: Callable[[Tuple[int, ...]], None]) -> BulkCall:
        call: BulkCall = bx.iter_upsert(family, list(source), args.key, params,
                                        on_send=on_send)
        return call

    return run_items(args, "upsert", f"{family}.upsert", check, start)


def _params(text: Optional[str], family: str) -> Dict[str, Any]:
    if text is None:
        params: Any = {}
    else:
        try:
            params = json.loads(text)
        except ValueError as error:
            raise UsageError(f"--params is not JSON: {error}") from None
    if not isinstance(params, dict):
        raise UsageError("--params must be a JSON object")
    if family == "crm.item" and find_key(params, "entityTypeId") is None:
        raise UsageError("crm.item needs --params '{\"entityTypeId\": N}'")
    if find_key(params, "fields") is not None or find_key(params, "id") is not None:
        raise UsageError("--params must not hold 'fields' or 'id': they come from each line")
    return params
