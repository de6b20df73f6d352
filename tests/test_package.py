"""The package's public names, and what importing it does to the host process (nothing)."""
import inspect
import os
import subprocess
import sys

import bitrix_fast


def test_every_public_name_is_defined_documented_and_ours():
    assert len(bitrix_fast.__all__) == len(set(bitrix_fast.__all__))
    for name in bitrix_fast.__all__:
        assert name in vars(bitrix_fast), f"{name} is in __all__ but not defined"
        value = vars(bitrix_fast)[name]
        if name == "__version__":
            assert isinstance(value, str) and value.count(".") == 2
            continue
        assert value.__module__.startswith("bitrix_fast."), name
        assert inspect.getdoc(value), f"{name} has no docstring"


def test_importing_the_package_changes_nothing_in_the_host_process(tmp_path):
    """No signal handler, no file anywhere (the cache directory included), no logging
    handler on anything but the library's own logger (a NullHandler)."""
    code = (
        "import logging, signal, sys\n"
        "before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))\n"
        "roots = list(logging.getLogger().handlers)\n"
        "import bitrix_fast\n"
        "after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))\n"
        "assert before == after, (before, after)\n"
        "assert logging.getLogger().handlers == roots\n"
        "ours = logging.getLogger('bitrix_fast').handlers\n"
        "assert [type(h).__name__ for h in ours] == ['NullHandler'], ours\n"
        "print('clean')\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path),
           "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "clean", done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_pytest_plugin_loads_neither_the_sandbox_nor_sqlite():
    """The plugin is opt-in, and loading it stays cheap: the sandbox portal (and SQLite with
    it) is imported only when one of its fixtures is used."""
    code = ("import sys, bitrix_fast.testing.pytest_plugin; "
            "print(sorted(m for m in ('sqlite3', 'bitrix_fast.testing.sandbox.portal', "
            "'bitrix_fast.testing.sandbox.store') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
