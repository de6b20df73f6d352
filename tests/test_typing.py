"""The public API is typed for users: ``py.typed`` ships, and mypy sees real signatures
through the package's lazy imports. mypy checks a user's script (which must pass) and a
script of wrong calls (each of which must be reported, so the types are not ``Any``)."""
from __future__ import annotations

import configparser
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "typecheck"


def test_py_typed_ships_with_the_package():
    assert (ROOT / "bitrix_fast" / "py.typed").is_file()
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert "py.typed" in config["options.package_data"]["bitrix_fast"].split()


def test_bitrix_async_takes_exactly_the_arguments_of_bitrix():
    from bitrix_fast import Bitrix, BitrixAsync

    ours = inspect.signature(BitrixAsync.__init__).parameters
    theirs = inspect.signature(Bitrix.__init__).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == \
        [(p.name, p.kind, p.default) for p in theirs.values()]


def test_every_public_method_of_bitrix_async_has_a_docstring():
    from bitrix_fast import BitrixAsync

    public = [name for name, _ in inspect.getmembers(BitrixAsync, callable)
              if not name.startswith("_") or name in ("__aenter__",)]
    assert public and all(getattr(BitrixAsync, name).__doc__ for name in public)
    assert BitrixAsync.__doc__


def test_mypy_accepts_a_users_script_and_reports_every_wrong_call(tmp_path):
    try:
        import mypy  # noqa: F401
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("mypy is missing: pip install -e '.[test]'", pytrace=False)
    user, wrong = SCRIPTS / "user_script.py", SCRIPTS / "wrong_script.py"
    # The checkout is what is checked, wherever the package is installed; its own errors
    # are not the user's business (mypy silences an installed package's the same way).
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary",
         "--show-error-codes", "--cache-dir", str(tmp_path / "cache"), str(user), str(wrong)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    reported = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"(.+?):(\d+): error: (.*)", line)
        if match:
            reported.setdefault((Path(match[1]).name, int(match[2])), []).append(match[3])
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert not [key for key in reported if key[0] == user.name], proc.stdout

    expected = {}
    for number, text in enumerate(wrong.read_text(encoding="utf-8").splitlines(), 1):
        if "# error: " in text:
            expected[(wrong.name, number)] = text.split("# error: ", 1)[1].strip()
    assert len(expected) >= 8
    assert set(reported) == set(expected), proc.stdout
    for key, fragment in expected.items():
        assert any(fragment in message for message in reported[key]), (key, reported[key])
