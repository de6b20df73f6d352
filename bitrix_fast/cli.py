"""The ``bitrix-fast`` command line: one subcommand per job.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; this module only dispatches.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .__version__ import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bitrix-fast",
        description="Move data in and out of a Bitrix24 portal at the portal's limits.",
    )
    parser.add_argument("--version", action="version", version=f"bitrix-fast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from .commands import call, demo, export
    from .sandbox import cli as sandbox_cli

    export.add_parser(sub)
    call.add_parser(sub)
    demo.add_parser(sub)
    __import__("bitrix_fast.commands.sync", fromlist=["sync"]).add_parser(sub)
    sandbox_cli.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
