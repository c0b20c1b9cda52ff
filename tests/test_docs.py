"""Documentation that must not fall behind the code: hooks and settings."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from workspace import hookspecs
from workspace.settings import Settings

ROOT = Path(__file__).parent.parent
HOOKS = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "workspace_spec")]
SETTINGS = [f.name for f in dataclasses.fields(Settings) if f.init]


def test_hooks_exist():
    assert "register_field_types" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section(hook):
    text = (ROOT / "docs" / "plugin_hooks.md").read_text()
    assert re.search(rf"^## {hook}\(", text, re.MULTILINE), f"docs/plugin_hooks.md lacks {hook}"


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_the_readme(name):
    text = (ROOT / "README.md").read_text()
    assert f"WORKSPACE_{name.upper()}" in text, (
        f"README.md does not document WORKSPACE_{name.upper()}"
    )
