"""``python -m bitrix_fast.testing.sandbox ...``: the same as ``bitrix-fast sandbox ...``."""
from __future__ import annotations

import argparse
import sys

from ...cli.sandbox import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bitrix_fast.testing.sandbox",
        description="Serve a local Bitrix24-compatible portal; the first line printed is its webhook URL.",
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
