"""flytekit's own DuckDBQuery templates and inputs, against real flytekit 1.16.31.

flytekit's DuckDBQuery is a Python task: its template has type ``duckdb`` and *no*
custom; the query lives in the task's Python code. So the template alone cannot
run anywhere without that code; run unchanged, ours says so. With the query
written into ``custom["query_template"]`` (nothing else changed: type, interface,
flytekit's own inputs.pb), it runs, and flytekit reads our outputs.pb back to
the rows flytekit itself computes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from flyteidl.core import errors_pb2, execution_pb2, tasks_pb2

pytestmark = pytest.mark.flytekit

HERE = Path(__file__).resolve().parent
SHIMTASK = Path(sys.executable).with_name("shimtask")


@pytest.fixture(scope="module")
def made(flytekit_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from duckdb_testlib import sales_table

    work = tmp_path_factory.mktemp("flytekit-duckdb")
    pq.write_table(sales_table(), work / "sales.parquet")
    done = subprocess.run([flytekit_python, str(HERE / "flytekit_duckdb.py"), "make",
                           str(work), str(work / "sales.parquet")],
                          capture_output=True, text=True, cwd=work, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return work


def _execute(work: Path, tt: tasks_pb2.TaskTemplate, name: str
             ) -> tuple[subprocess.CompletedProcess[str], Path]:
    template = work / f"{name}-ours.pb"
    template.write_bytes(tt.SerializeToString())
    out = work / f"out-{name}"
    done = subprocess.run(
        [str(SHIMTASK), "execute", "--inputs", str(work / "inputs.pb"), "--output-prefix",
         str(out), "--raw-output-data-prefix", str(work / "raw"), "--template", str(template)],
        capture_output=True, text=True, cwd=work, timeout=120, check=False)
    return done, out


def _flytekit_template(work: Path, name: str) -> tasks_pb2.TaskTemplate:
    tt = tasks_pb2.TaskTemplate()
    tt.ParseFromString((work / f"{name}.pb").read_bytes())
    return tt


def test_flytekits_template_alone_is_refused_saying_why(made: Path) -> None:
    tt = _flytekit_template(made, "agg")
    assert tt.type == "duckdb" and not tt.custom.fields  # the query is not in the template
    done, out = _execute(made, tt, "agg-unchanged")
    assert done.returncode != 0
    document = errors_pb2.ErrorDocument()
    document.ParseFromString((out / "error.pb").read_bytes())
    assert document.error.origin == execution_pb2.ExecutionError.USER
    assert "custom['query_template'] is missing" in document.error.message
    assert "DuckDBQuery keeps its query in Python code" in document.error.message


@pytest.mark.parametrize("name", ["agg", "multi"])
def test_with_its_query_it_runs_on_flytekits_inputs_and_flytekit_reads_the_result(
        made: Path, flytekit_python: str, name: str) -> None:
    tt = _flytekit_template(made, name)
    expected: dict[str, Any] = json.loads((made / f"{name}.json").read_text())
    tt.custom.update({"query_template": expected["query"]})  # type "duckdb" names us
    done, out = _execute(made, tt, name)
    assert done.returncode == 0, done.stderr
    read = subprocess.run([flytekit_python, str(HERE / "flytekit_duckdb.py"), "read",
                           str(out / "outputs.pb")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert read.returncode == 0, read.stderr[-3000:]
    assert json.loads(read.stdout.strip().splitlines()[-1]) == expected["rows"]
    assert expected["rows"]  # a real result, not two empty ones
