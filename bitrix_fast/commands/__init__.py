"""The ``bitrix-fast`` subcommands that move data: ``export``, ``call`` and ``demo``.

Each module exposes ``add_parser(subparsers)`` (which sets ``run`` through ``set_defaults``)
and ``run(args) -> int``; :mod:`bitrix_fast.cli` registers them. What they share -- the
webhook, the rate flags, exit codes and one-line error messages -- lives in :mod:`.common`.
"""
