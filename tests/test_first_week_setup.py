"""``make run`` installs only what the server runs on: the runtime dependencies, not the
test tools; and everything the server imports comes with those."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_PACKAGES = ("workspace", "plugins", "storage_backends", "migrations")


def dry_run(target: str, venv: Path) -> str:
    """The commands ``make <target>`` would run on a machine with no virtualenv yet."""
    done = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_make_run_installs_the_runtime_dependencies_only(tmp_path):
    commands = dry_run("run", tmp_path / "venv")
    assert "pip install --quiet -e ." in commands
    assert "[test]" not in commands
    assert "workspace serve" in commands


def test_make_test_adds_the_test_tools(tmp_path):
    commands = dry_run("test", tmp_path / "venv")
    assert "pip install --quiet -e '.[test]'" in commands


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: list[str]) -> set[str]:
    """The distributions installing ``names`` brings in (extras' own extras left aside)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def _runtime_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = [_name(r) for r in project["dependencies"]]
    # uvicorn[standard] and markdown-it-py[linkify]: the extras the runtime asks for.
    extras = ["httptools", "uvloop", "watchfiles", "websockets", "python-dotenv", "pyyaml"]
    return _closure(direct + extras + ["linkify-it-py"])


def _imported_modules() -> set[str]:
    found: set[str] = set()
    for package in SERVER_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found


def test_every_module_the_server_imports_comes_with_the_runtime_dependencies():
    runtime = _runtime_distributions()
    providers = metadata.packages_distributions()
    missing = {}
    for module in _imported_modules() - set(SERVER_PACKAGES) - set(sys.stdlib_module_names):
        dists = {_name(d) for d in providers.get(module, [])}
        if not dists & runtime:
            missing[module] = sorted(dists) or "not installed"
    assert missing == {}
