"""The package's public names, and what importing it costs."""
import subprocess
import sys

import bitrix_fast


def test_public_names_resolve():
    for name in bitrix_fast.__all__:
        assert getattr(bitrix_fast, name) is not None


def test_pytest_plugin_import_stays_light():
    """Enabling the plugin must not make a test run heavier: it must not pull in requests."""
    code = ("import sys, bitrix_fast.testing.pytest_plugin; "
            "print(sorted(m for m in ('requests', 'sqlite3', 'bitrix_fast.client') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
