"""Every example in README.rst and docs/ that is meant to run does run, against a sandbox
portal: an example that rots fails here.

A code block is run when an rst comment ``.. runnable`` precedes it (a comment: neither the
repository host nor Sphinx shows it). Options after a colon, separated by spaces:

* ``key=value`` -- Sandbox arguments for the portal it runs against (``deals=300``);
* ``continued`` -- runs after the block before it, in the same namespace and portal;
* ``pytest`` -- the block is a test file: pytest runs it with the plugin named on the
  command line, as the testing guide tells users to;
* ``oauth`` -- ``CLIENT_ID``, ``CLIENT_SECRET`` and ``stored`` (a token response) are given,
  and the OAuth server is the sandbox's.
* ``app`` -- ``CLIENT_ID``, ``CLIENT_SECRET`` and ``install_post`` (the body of the portal's
  ONAPPINSTALL post) are given, and ``OAuthApp``'s OAuth server is the sandbox's.

Before a block runs, the placeholder addresses become the sandbox's:
``https://example.bitrix24.ru/rest/1/your-webhook-code/`` its webhook and
``https://example.bitrix24.ru/rest/`` its REST endpoint; ``webhook`` is given too. Python
blocks run in this process in a temporary folder; bash blocks in ``bash -e`` with
``BITRIX_WEBHOOK`` set and this interpreter's ``bitrix-fast`` first on PATH.

Every python block must say whether it runs: ``.. runnable`` or ``.. not runnable: why``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import docgen  # noqa: E402

WEBHOOK = "https://example.bitrix24.ru/rest/1/your-webhook-code/"
REST = "https://example.bitrix24.ru/rest/"
SMALL = {"deals": 60, "leads": 10, "contacts": 10, "companies": 5, "tasks": 10, "users": 3}


def pages() -> List[Path]:
    return [ROOT / "README.rst"] + sorted((ROOT / "docs").rglob("*.rst"))


@dataclass
class Block:
    page: str
    line: int
    options: Dict[str, Any]
    flags: Tuple[str, ...]
    language: str
    code: str


@dataclass
class Example:
    """A block and the blocks that continue it."""
    blocks: List[Block] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.blocks[0].page}:{self.blocks[0].line}"


def parse_options(text: str) -> Tuple[Dict[str, Any], Tuple[str, ...]]:
    options: Dict[str, Any] = {}
    flags: List[str] = []
    for token in text.split():
        if "=" in token:
            key, value = token.split("=", 1)
            options[key] = int(value) if value.isdigit() else value
        else:
            flags.append(token)
    unknown = set(flags) - {"continued", "pytest", "oauth", "app"}
    assert not unknown, f"unknown runnable flags {unknown}"
    return options, tuple(flags)


def examples() -> List[Example]:
    found: List[Example] = []
    for path in pages():
        page = str(path.relative_to(ROOT))
        for line, options, language, code in docgen.code_blocks(path.read_text("utf-8")):
            opts, flags = parse_options(options)
            block = Block(page, line, opts, flags, language, code)
            if "continued" in flags:
                assert found and found[-1].blocks[0].page == page, \
                    f"{page}:{line}: 'continued' needs a runnable block before it"
                found[-1].blocks.append(block)
            else:
                found.append(Example([block]))
    return found


EXAMPLES = examples()


def test_the_docs_have_examples_that_run() -> None:
    languages = {b.language for e in EXAMPLES for b in e.blocks}
    assert len(EXAMPLES) >= 25 and {"python", "bash"} <= languages


def test_every_python_block_says_whether_it_runs() -> None:
    unmarked = []
    for path in pages():
        lines = path.read_text("utf-8").splitlines()
        for n, line in enumerate(lines):
            if line.strip() != ".. code-block:: python":
                continue
            before = [x.strip() for x in lines[:n] if x.strip()]
            marker = before[-1] if before else ""
            if not (marker == ".. runnable" or marker.startswith(".. runnable:")
                    or marker.startswith(".. not runnable:")):
                unmarked.append(f"{path.relative_to(ROOT)}:{n + 1}")
    assert not unmarked, "mark these '.. runnable' or '.. not runnable: why': " \
                         + ", ".join(unmarked)


def localise(code: str, sandbox: Any) -> str:
    code = code.replace(WEBHOOK, sandbox.webhook).replace(REST, sandbox.rest_base)
    assert "example.bitrix24.ru" not in code, "a runnable example would reach out"
    return code


@pytest.fixture
def portal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    # Each portal has its own port; a shared bucket file would only add cross-talk.
    monkeypatch.setenv("BITRIX_FAST_STATE_DIR", "off")
    yield tmp_path


def run_python(block: Block, code: str, namespace: Dict[str, Any]) -> None:
    compiled = compile(code, f"{block.page}:{block.line}", "exec")
    with warnings.catch_warnings():  # an example may turn warnings into errors
        exec(compiled, namespace)


def run_bash(block: Block, code: str, sandbox: Any, cwd: Path) -> None:
    env = dict(os.environ, BITRIX_WEBHOOK=sandbox.webhook, BITRIX_FAST_STATE_DIR="off",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{block.page}:{block.line} exited {done.returncode}:\n" \
                                 f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def run_pytest(block: Block, code: str, cwd: Path) -> None:
    test_file = cwd / "test_example.py"
    test_file.write_text(code, encoding="utf-8")
    # While the plugin still loads itself through its entry point, naming it again would
    # register it twice: "no:" unloads that copy (and is a no-op once the plugin is opt-in).
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-p", "no:bitrix_fast", "-p", "bitrix_fast.testing.pytest_plugin",
               str(test_file)]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, BITRIX_FAST_STATE_DIR="off"))
    assert done.returncode == 0, f"{block.page}:{block.line}:\n{done.stdout[-3000:]}"
    assert re.search(r"\b\d+ passed\b", done.stdout)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example_runs(example: Example, portal_env: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    from bitrix_fast.testing.sandbox import Sandbox

    first = example.blocks[0]
    with Sandbox(**{**SMALL, **first.options}) as sandbox:
        namespace: Dict[str, Any] = {"__name__": "__main__", "webhook": sandbox.webhook}
        if "oauth" in first.flags:
            from bitrix_fast import OAuthRefresher

            # The example relies on the default (the cloud's OAuth server): here it is
            # the sandbox's.
            defaults = dict(OAuthRefresher.__init__.__kwdefaults__ or {},
                            endpoint=sandbox.oauth_endpoint)
            monkeypatch.setattr(OAuthRefresher.__init__, "__kwdefaults__", defaults)
            namespace.update(CLIENT_ID=sandbox.client_id, CLIENT_SECRET=sandbox.client_secret,
                             stored=sandbox.issue_tokens())
        if "app" in first.flags:
            from bitrix_fast import OAuthApp

            defaults = dict(OAuthApp.__init__.__kwdefaults__ or {},
                            token_url=sandbox.oauth_endpoint)
            monkeypatch.setattr(OAuthApp.__init__, "__kwdefaults__", defaults)
            namespace.update(CLIENT_ID=sandbox.client_id, CLIENT_SECRET=sandbox.client_secret,
                             install_post=sandbox.install_post())
        for block in example.blocks:
            code = localise(block.code, sandbox)
            if block.language == "python" and "pytest" in block.flags:
                run_pytest(block, code, portal_env)
            elif block.language == "python":
                run_python(block, code, namespace)
            elif block.language == "bash":
                run_bash(block, code, sandbox, portal_env)
            else:
                pytest.fail(f"{block.page}:{block.line}: cannot run {block.language!r}")
