"""The ``bitrix-fast`` command line: one subcommand per job.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; this module only dispatches.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, NoReturn, Optional

from ..__version__ import __version__


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line naming the argument, not a usage block: the line
    ends up in cron mails and CI logs (subcommands inherit the class)."""

    def error(self, message: str) -> "NoReturn":
        if message.startswith("argument "):
            message = message[len("argument "):]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="bitrix-fast",
        description="Move data in and out of a Bitrix24 portal at the portal's limits.",
    )
    parser.add_argument("--version", action="version", version=f"bitrix-fast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from . import call, demo, export, sync, upsert
    from . import sandbox as sandbox_cli

    export.add_parser(sub)
    call.add_parser(sub)
    upsert.add_parser(sub)
    demo.add_parser(sub)
    sync.add_parser(sub)
    sandbox_cli.add_parser(sub)
    for command in sub.choices.values():
        command.set_defaults(command_parser=command)  # to blame the right one for extras
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        getattr(args, "command_parser", parser).error(
            f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
