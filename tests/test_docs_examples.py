"""The plugin-author guide's code, taken from the page itself, works as a real plugin.

The blocks of docs/plugin-guide.md are extracted by their first-line file name
comments, built into distributions with their own pyproject.toml, pip-installed
into a fresh venv and run through the CLI: if the guide drifts from the
product, this fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pluginenv import REPO, PluginVenv, build_wheel, wheel_from_source
from shimtask_core import make_template, template_to_json

GUIDE = REPO / "docs" / "plugin-guide.md"


def _blocks() -> dict[str, str]:
    """Fenced code blocks of the guide, keyed by their first-line ``# file`` comment."""
    blocks = {}
    for body in re.findall(r"```(?:python|toml)\n(.*?)```", GUIDE.read_text(), re.DOTALL):
        first, _, rest = body.partition("\n")
        if first.startswith("# ") and "." in first:
            blocks[first[2:].strip()] = rest
    return blocks


@pytest.fixture(scope="module")
def guide_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    blocks = _blocks()
    root = tmp_path_factory.mktemp("guide")
    source = root / "shimtask-greet"
    (source / "my_executor").mkdir(parents=True)
    (source / "my_executor" / "__init__.py").write_text(blocks["my_executor/__init__.py"])
    (source / "pyproject.toml").write_text(blocks["pyproject.toml"])
    timing = build_wheel(root / "timing", "shimtask-timing",
                         modules={"my_timing.py": blocks["my_timing.py"]},
                         plugins={"timing": "my_timing"})
    env = PluginVenv(root / "env")
    env.install(wheel_from_source(root / "wheels", source, "shimtask-greet"), timing)
    return env


def test_the_guides_plugin_is_listed_without_being_imported(guide_venv: PluginVenv) -> None:
    entries = json.loads(guide_venv.shimtask("plugins", "list", "--json").stdout)
    assert [(e["name"], e["dist"], e["value"]) for e in entries] == [
        ("greet", "shimtask-greet", "my_executor:GreetExecutor")]


def test_the_guides_template_runs_and_the_timing_hook_sees_it(
    guide_venv: PluginVenv, tmp_path: Path
) -> None:
    tt = make_template("hello", "greet", inputs={"name": str},
                       outputs={"greeting": str, "length": int}, custom={"greeting": "Hello"})
    template = tmp_path / "hello.json"
    template.write_text(template_to_json(tt))
    result = guide_venv.shimtask("run", str(template), "-i", "name=Ada", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "Hello, Ada!", "length": 3}
    assert re.fullmatch(r"hello took \d+\.\d{3}s", result.stderr.strip()), result.stderr


def test_the_guides_declared_template_versions_are_enforced(
    guide_venv: PluginVenv, tmp_path: Path
) -> None:
    tt = make_template("hello", "greet", inputs={"name": str},
                       outputs={"greeting": str, "length": int}, custom={"greeting": "Hi"},
                       task_type_version=7)
    template = tmp_path / "hello.json"
    template.write_text(template_to_json(tt))
    result = guide_venv.shimtask("run", str(template), "-i", "name=Ada")
    assert result.returncode == 1
    assert "task_type_version" in result.stderr and "Traceback" not in result.stderr
