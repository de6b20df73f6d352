"""``bitrix-fast sandbox``: serve a local portal until SIGINT / SIGTERM.

The first line on stdout is exactly the webhook URL, printed and flushed once the server
is listening (seeding happens before), so a parent process can read it and start work::

    proc = subprocess.Popen(["bitrix-fast", "sandbox", "--port", "0"], stdout=PIPE, text=True)
    webhook = proc.stdout.readline().strip()

Nothing else goes to stdout; a one-line summary without secrets goes to stderr.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

__all__ = ["add_parser", "add_arguments", "module_main", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..testing.sandbox.cost import PRESETS
    from ..testing.sandbox.quirks import KNOWN

    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)")
    for entity, default in (("deals", 0), ("leads", 0), ("contacts", 0), ("companies", 0), ("tasks", 0), ("users", 1)):
        add(f"--{entity}", type=int, default=default, metavar="N", help=f"{entity} to seed (default {default})")
    for rows, method in (("productrows", "crm.productrow.list"), ("elapseditems", "task.elapseditem.getlist"),
                         ("commentitems", "task.commentitem.getlist")):
        add(f"--{rows}", type=int, default=0, metavar="N", help=f"rows of {method} to seed (default 0)")
    add("--id-gaps", default="uniform", choices=("uniform", "sparse", "clustered"), help="shape of the ID space")
    add("--plan", default="standard",
        help="standard (50 burst, 2/s), enterprise (250, 5/s), x10 (time x10) or <plan>-x<N>")
    add("--cost", default="none", choices=tuple(PRESETS), help="server-cost model (default none)")
    add("--quirks", default=None, metavar="NAMES",
        help=f"comma-separated misbehaviours of real portals' lists: {', '.join(KNOWN)}")
    add("--joined-every", type=int, default=7, metavar="N",
        help="joined_pages doubles the rows whose ID is divisible by N (default 7)")
    add("--workers", type=int, default=None, metavar="N",
        help="at most N requests execute at once, the rest wait (default: no cap)")
    add("--faults", default=None, metavar="SPEC", help="e.g. 500=0.05,502=0.03,drop=0.01,slow=0.02")
    add("--slow-seconds", type=float, default=2.0, help="delay of a 'slow' fault (default 2)")
    add("--churn", type=float, default=0.0, metavar="OPS_PER_S", help="rows inserted/deleted per second")
    add("--token-ttl", type=float, default=3600.0, metavar="SECONDS", help="OAuth access-token lifetime")
    add("--db", default=None, metavar="PATH", help="SQLite file (default: in memory)")
    add("--seed", type=int, default=0, help="random seed for data and faults")
    add("--batch-billing", default="own", choices=("own", "batch"),
        help="bill batch commands to their own methods (docs) or to 'batch' (b24jssdk PR #539)")
    add("--operating-limit", type=float, default=None, metavar="SECONDS", help="override the time budget")
    add("--count-factor", type=float, default=1.0, metavar="X",
        help="every COUNT costs X times the cost model's figure (default 1)")
    add("--time-fields", default="full", choices=("full", "no_operating", "none"),
        help="time blocks in replies: full (cloud), no_operating (self-hosted) or none")
    add("--cut", type=float, default=60.0, metavar="SECONDS",
        help="requests are cut (504) after this much server time; 0: never (default 60)")
    add("--batch-length", type=int, default=50, metavar="N",
        help="commands a batch runs; the rest fail ERROR_BATCH_LENGTH_EXCEEDED (default 50)")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sandbox",
        help="serve a local Bitrix24-compatible portal",
        description="Serve a local Bitrix24-compatible portal; the first line printed is its webhook URL.",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..testing.sandbox.portal import Sandbox

    try:
        sandbox = Sandbox(
            deals=args.deals, leads=args.leads, contacts=args.contacts, companies=args.companies,
            tasks=args.tasks, users=args.users, productrows=args.productrows,
            elapseditems=args.elapseditems, commentitems=args.commentitems,
            id_gaps=args.id_gaps, plan=args.plan, cost=args.cost,
            quirks=args.quirks, joined_every=args.joined_every, workers=args.workers,
            faults=args.faults, slow_seconds=args.slow_seconds, churn=args.churn, token_ttl=args.token_ttl,
            db=args.db, seed=args.seed, host=args.host, port=args.port, batch_billing=args.batch_billing,
            operating_limit=args.operating_limit, count_factor=args.count_factor,
            time_fields=args.time_fields, cut=args.cut or None, batch_length=args.batch_length,
        )
    except ValueError as error:
        print(f"bitrix-fast sandbox: {error}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            sandbox.start()
        except OSError as error:
            print(f"bitrix-fast sandbox: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
            return 1
        print(sandbox.webhook, flush=True)
        print(
            f"bitrix-fast sandbox: serving {sandbox.base_url} plan={args.plan} cost={args.cost}"
            f"{' quirks=' + ','.join(sorted(sandbox.quirks)) if sandbox.quirks else ''}; "
            "Ctrl+C to stop",
            file=sys.stderr, flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def module_main() -> int:
    """``python -m bitrix_fast.sandbox ...``: the same as ``bitrix-fast sandbox ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m bitrix_fast.sandbox",
        description="Serve a local Bitrix24-compatible portal; the first line printed is its "
                    "webhook URL.",
    )
    add_arguments(parser)
    return run(parser.parse_args())
