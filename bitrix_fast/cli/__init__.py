"""The ``bitrix-fast`` command line: one module per subcommand, and the only place in the
package that touches signals and exit codes.

Each subcommand module exposes ``add_parser(subparsers)`` (which sets ``run`` through
``set_defaults``) and ``run(args) -> int``; :mod:`.main` registers them. What they share --
the webhook, the rate flags, exit codes and one-line error messages -- lives in
:mod:`.common`.
"""
from .main import main

__all__ = ["main"]
