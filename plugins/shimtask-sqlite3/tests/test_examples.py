"""The repository's examples/ and flytekit's own SQLite3Task template, run by the plugin."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import pytest

from shimtask_core import (
    ExecutorRegistry,
    make_template,
    parse_template,
    run_template,
    template_to_json,
)
from shimtask_sqlite3 import SQLite3Executor

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
FLYTEKIT_FIXTURES = REPO / "tests" / "data" / "flytekit"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding examples/data/example.db, as the repository root does."""
    make_example_db = runpy.run_path(str(EXAMPLES / "make_example_db.py"))["make_example_db"]
    make_example_db(tmp_path / "examples" / "data" / "example.db")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def registry() -> ExecutorRegistry:
    reg = ExecutorRegistry()
    reg.register("sqlite", SQLite3Executor, replace=True)
    return reg


def test_committed_template_is_what_make_templates_writes() -> None:
    templates: dict[str, Any] = runpy.run_path(str(EXAMPLES / "make_templates.py"))["templates"]()
    for name, tt in templates.items():
        assert (EXAMPLES / name).read_text() == template_to_json(tt) + "\n", (
            f"examples/{name} is stale: run python examples/make_templates.py")


def test_the_demo(workdir: Path, registry: ExecutorRegistry) -> None:
    tt = parse_template((EXAMPLES / "sqlite_query.json").read_bytes())
    inputs = json.loads((EXAMPLES / "inputs.json").read_text())
    assert run_template(tt, registry=registry, **inputs) == [
        {"name": "Tokyo", "population": 13_960_000},
        {"name": "Yokohama", "population": 3_770_000},
        {"name": "Osaka", "population": 2_750_000},
        {"name": "Nagoya", "population": 2_330_000},
    ]
    rows = run_template(tt, registry=registry, country="Portugal", min_population=0)
    assert [row["name"] for row in rows] == ["Lisbon", "Porto", "Braga"]
    assert run_template(tt, registry=registry, country="Japan' OR '1'='1",
                        min_population=0) == []


@pytest.mark.parametrize("stem", ["sqlite3_task", "sqlite3_task_typed"])
def test_flytekit_serialized_template_runs_unchanged(workdir: Path, stem: str) -> None:
    # Made by flytekit 1.16.31 itself: type "sqlite", custom without executor_type,
    # a quoted string placeholder, and a schema output (kept as rows here; writing a
    # schema literal is the codec's job).
    for suffix in (".json", ".pb"):
        tt = parse_template((FLYTEKIT_FIXTURES / f"{stem}{suffix}").read_bytes())
        assert "executor_type" not in tt.custom.fields
        assert ExecutorRegistry().executor_type_of(tt) == "sqlite"
        rows = SQLite3Executor().execute_from_model(tt, name="alice", min_age=30)
        assert rows == [{"name": "alice", "age": 34}]
        assert rows.columns == ("name", "age")


def test_the_docs_page_examples_run(workdir: Path, registry: ExecutorRegistry) -> None:
    page = (REPO / "docs" / "plugins" / "sqlite.md").read_text()
    custom = json.loads(re.findall(r"```json\n(.*?)```", page, re.DOTALL)[0])
    tt = make_template("big_cities", "sqlite", inputs={"country": str, "min_population": int},
                       outputs={"results": list[dict]}, custom=custom)
    expected = [{"name": "Tokyo", "population": 13_960_000},
                {"name": "Yokohama", "population": 3_770_000},
                {"name": "Osaka", "population": 2_750_000},
                {"name": "Nagoya", "population": 2_330_000}]
    assert run_template(tt, registry=registry, country="Japan",
                        min_population=2_000_000) == expected
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", page, re.DOTALL)
               if "make_template" in b]
    code = code.replace("run_template(tt, ", "result = run_template(tt, registry=registry, ")
    namespace: dict[str, Any] = {"registry": registry}
    exec(compile(code, "docs/plugins/sqlite.md", "exec"), namespace)
    assert namespace["result"] == expected
