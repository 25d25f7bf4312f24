"""Templates serialized by real flytekit run unchanged, and flytekit reads what we write.

tests/data/flytekit/ holds a SQLite3Task template and its inputs.pb, made by
flytekit 1.16.31 itself (make_fixtures.py). Its custom has no executor_type, so
the template's type, ``sqlite``, names the executor. sqlite3_task_spec.pb is the
file ``pyflyte package`` writes, a ``flyteidl.admin.TaskSpec`` around the same
template: it runs as its template (a user has these files before a cluster does).
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from flyteidl.core import literals_pb2

from pluginenv import REPO, PluginVenv, repo_plugin_venv

FIXTURES = REPO / "tests" / "data" / "flytekit"
PEOPLE = [("alice", 34), ("bob", 27), ("alice", 29), ("carol", 41)]


@pytest.fixture(scope="module")
def sqlite_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("sqlite-venv")
    return repo_plugin_venv(root, "shimtask-sqlite3")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory where the template's relative uri finds a people table."""
    db = tmp_path / "examples" / "data" / "example.db"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("create table people (name text, age integer)")
        conn.executemany("insert into people values (?, ?)", PEOPLE)
    return tmp_path


def _execute(venv: PluginVenv, template: str, workdir: Path) -> Path:
    out = workdir / "out"
    result = venv.shimtask(
        "execute", "--inputs", str(FIXTURES / "inputs.pb"), "--output-prefix", str(out),
        "--raw-output-data-prefix", str(workdir / "raw"), "--resolver",
        "flytekit.core.python_customized_container_task.default_task_template_resolver",
        "--", str(FIXTURES / template), "flytekit.extras.sqlite3.task.SQLite3TaskExecutor",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return out / "outputs.pb"


@pytest.mark.parametrize("template", ["sqlite3_task.pb", "sqlite3_task.json",
                                      "sqlite3_task_typed.pb", "sqlite3_task_spec.pb"])
def test_flytekit_sqlite_template_runs_unchanged(
    sqlite_venv: PluginVenv, workdir: Path, template: str
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    outputs = literals_pb2.LiteralMap()
    outputs.ParseFromString(_execute(sqlite_venv, template, workdir).read_bytes())
    literal = outputs.literals["results"]
    # A declared (legacy) schema output is written as a structured dataset, as flytekit does.
    assert literal.scalar.WhichOneof("value") == "structured_dataset"
    dataset = literal.scalar.structured_dataset
    assert dataset.metadata.structured_dataset_type.format == "parquet"
    assert dataset.uri.startswith(str(workdir / "raw"))
    table = pq.read_table(dataset.uri)
    assert table.to_pylist() == [{"name": "alice", "age": 34}]


@pytest.mark.flytekit
def test_flytekit_reads_our_outputs(
    sqlite_venv: PluginVenv, workdir: Path, flytekit_python: str
) -> None:
    outputs_pb = _execute(sqlite_venv, "sqlite3_task.pb", workdir)
    script = """
import sys
import pandas as pd
from flyteidl.core import literals_pb2
from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap

lm = literals_pb2.LiteralMap()
lm.ParseFromString(open(sys.argv[1], "rb").read())
ctx = FlyteContextManager.current_context()
literal = LiteralMap.from_flyte_idl(lm).literals["results"]
df = TypeEngine.to_python_value(ctx, literal, pd.DataFrame)
print(df.to_dict(orient="records"))
"""
    result = subprocess.run([flytekit_python, "-c", script, str(outputs_pb)],
                            capture_output=True, text=True, timeout=120, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[{'name': 'alice', 'age': 34}]"


def test_a_pyflyte_package_task_spec_runs_with_shimtask_run(
    sqlite_venv: PluginVenv, workdir: Path
) -> None:
    import json

    from flyteidl.admin import task_pb2
    from google.protobuf import json_format

    spec = task_pb2.TaskSpec.FromString((FIXTURES / "sqlite3_task_spec.pb").read_bytes())
    (workdir / "spec.json").write_text(json_format.MessageToJson(spec))
    for template in (FIXTURES / "sqlite3_task_spec.pb", workdir / "spec.json"):
        result = sqlite_venv.shimtask("run", str(template), "-i", "name=alice", "-i",
                                      "min_age=30", "--json", cwd=workdir)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"results": [{"name": "alice", "age": 34}]}
