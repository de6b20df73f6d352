"""The API reference and the troubleshooting pages name every public thing: a name added to
an ``__all__`` or an error class added to bitrix_fast/errors.py without a page fails here."""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import List, Set

import pytest

import bitrix_fast
import bitrix_fast.app
import bitrix_fast.errors
import bitrix_fast.mirror
import bitrix_fast.testing.sandbox
import bitrix_fast.tokens

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api"
#: autodoc directives and the names they document
DIRECTIVE = re.compile(r"^\.\. (?:auto(?:class|exception|function|data|module)|module|py:\w+)"
                       r":: ([\w.]+)", re.MULTILINE)


def documented() -> Set[str]:
    names: Set[str] = set()
    for page in API.glob("*.rst"):
        names.update(DIRECTIVE.findall(page.read_text("utf-8")))
    return names


def error_classes() -> List[str]:
    return sorted(name for name, value in vars(bitrix_fast.errors).items()
                  if isinstance(value, type) and issubclass(value, BaseException)
                  and value.__module__ == "bitrix_fast.errors" and not name.startswith("_"))


def shared_all() -> List[str]:
    pytest.importorskip("redis")  # the module itself needs it; the test extra installs it
    return list(importlib.import_module("bitrix_fast.pacing.shared").__all__)


@pytest.mark.parametrize("module, names", [
    ("bitrix_fast", bitrix_fast.__all__),
    ("bitrix_fast.mirror", bitrix_fast.mirror.__all__),
    ("bitrix_fast.app", bitrix_fast.app.__all__),
    ("bitrix_fast.tokens", bitrix_fast.tokens.__all__),
    ("bitrix_fast.testing.sandbox", bitrix_fast.testing.sandbox.__all__),
])
def test_every_public_name_has_an_api_entry(module: str, names: List[str]) -> None:
    missing = [n for n in names if f"{module}.{n}" not in documented()]
    assert not missing, f"docs/api/*.rst lacks {module}: {missing}"


def test_the_shared_limiter_is_documented() -> None:
    missing = [n for n in shared_all()
               if f"bitrix_fast.pacing.shared.{n}" not in documented()]
    assert not missing, f"docs/api/shared.rst lacks {missing}"


def test_every_error_class_has_an_api_entry() -> None:
    names = documented()
    missing = [n for n in error_classes()
               if f"bitrix_fast.{n}" not in names and f"bitrix_fast.errors.{n}" not in names]
    assert not missing, f"docs/api/errors.rst lacks {missing}"


def test_the_pytest_fixtures_are_documented() -> None:
    names = documented()
    for fixture in ("bitrix_sandbox", "bitrix_sandbox_factory"):
        assert f"bitrix_fast.testing.pytest_plugin.{fixture}" in names


def test_documented_names_exist() -> None:
    """A page naming something that is gone would build with a warning; catch it here."""
    for name in documented():
        module, _, attr = name.rpartition(".")
        if name.startswith("bitrix_fast.pacing.shared"):
            continue  # needs redis: covered by the build with mocked imports
        try:
            importlib.import_module(name)
            continue
        except ImportError:
            pass
        assert hasattr(importlib.import_module(module), attr), name


@pytest.mark.parametrize("page", ["docs/troubleshooting.rst", "docs/ru/troubleshooting.rst"])
def test_troubleshooting_explains_every_error_class(page: str) -> None:
    text = (ROOT / page).read_text("utf-8")
    headings = set(re.findall(r"^(\w+)\n    \S", text, re.MULTILINE))
    missing = [n for n in error_classes() if n not in headings]
    assert not missing, f"{page} has no entry for {missing}"
