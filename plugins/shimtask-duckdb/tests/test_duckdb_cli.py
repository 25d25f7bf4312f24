"""The installed plugin as Flyte runs it: `shimtask execute` in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from duckdb_testlib import template
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2, types_pb2

from shimtask_core import template_to_json

SHIMTASK = Path(sys.executable).with_name("shimtask")


def _installed() -> bool:
    return any(ep.value == "shimtask_duckdb:DuckDBExecutor"
               for ep in entry_points(group="shimtask.executors", name="duckdb"))


pytestmark = pytest.mark.skipif(not _installed() or not SHIMTASK.exists(),
                                reason="pip install -e plugins/shimtask-duckdb first")


def _shimtask(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SHIMTASK), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False)


def _dataset_literal(uri: str) -> literals_pb2.Literal:
    """A dataset input as Flyte passes it: a URI to parquet data, nothing inline."""
    lit = literals_pb2.Literal()
    lit.scalar.structured_dataset.uri = uri
    lit.scalar.structured_dataset.metadata.structured_dataset_type.format = "parquet"
    return lit


def _write(tmp_path: Path, tt: Any, literals: dict[str, literals_pb2.Literal]) -> tuple[Path, Path]:
    template_path = tmp_path / "task.pb"
    template_path.write_bytes(tt.SerializeToString())
    inputs = literals_pb2.LiteralMap()
    for name, lit in literals.items():
        inputs.literals[name].CopyFrom(lit)
    inputs_path = tmp_path / "inputs.pb"
    inputs_path.write_bytes(inputs.SerializeToString())
    return template_path, inputs_path


def _int(value: int) -> literals_pb2.Literal:
    lit = literals_pb2.Literal()
    lit.scalar.primitive.integer = value
    return lit


def test_plugins_list_shows_the_distribution(tmp_path: Path) -> None:
    done = _shimtask("plugins", "list", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = {r["name"]: r for r in json.loads(done.stdout)}
    assert records["duckdb"]["dist"] == "shimtask-duckdb"
    assert records["duckdb"]["value"] == "shimtask_duckdb:DuckDBExecutor"


def test_execute_streams_the_rows_to_a_parquet_dataset(tmp_path: Path, sales_dir: Path,
                                                       sales: Any) -> None:
    tt = template("select id, value from sales where quantity <= {{ .inputs.q }} order by id",
                  inputs={"sales": pa.Table, "q": int})
    template_path, inputs_path = _write(
        tmp_path, tt, {"sales": _dataset_literal(str(sales_dir)), "q": _int(3)})
    done = _shimtask("execute", "--inputs", inputs_path, "--output-prefix", tmp_path / "out",
                     "--raw-output-data-prefix", tmp_path / "raw", "--template", template_path,
                     cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    outputs = literals_pb2.LiteralMap()
    outputs.ParseFromString((tmp_path / "out" / "outputs.pb").read_bytes())
    dataset = outputs.literals["result"].scalar.structured_dataset
    assert dataset.metadata.structured_dataset_type.format == "parquet"
    assert dataset.uri.startswith(str(tmp_path / "raw"))
    expected = [{"id": r["id"], "value": r["value"]} for r in sales.to_pylist()
                if r["quantity"] <= 3]
    assert pq.read_table(dataset.uri).to_pylist() == expected and expected
    assert not (tmp_path / "out" / "error.pb").exists()


def test_execute_writes_scalar_outputs(tmp_path: Path, sales_dir: Path) -> None:
    tt = template("select count(*) as n, max(category) as top from sales",
                  inputs={"sales": pa.Table}, outputs={"n": int, "top": str})
    template_path, inputs_path = _write(tmp_path, tt,
                                        {"sales": _dataset_literal(str(sales_dir))})
    done = _shimtask("execute", "--inputs", inputs_path, "--output-prefix", tmp_path / "out",
                     "--", template_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    outputs = literals_pb2.LiteralMap()
    outputs.ParseFromString((tmp_path / "out" / "outputs.pb").read_bytes())
    assert outputs.literals["n"].scalar.primitive.integer == 400
    assert outputs.literals["top"].scalar.primitive.string_value == "tools"


def test_a_query_error_is_a_user_error_document(tmp_path: Path, sales_dir: Path) -> None:
    tt = template("select * from sales where nosuchcolumn > 1", inputs={"sales": pa.Table})
    template_path, inputs_path = _write(tmp_path, tt,
                                        {"sales": _dataset_literal(str(sales_dir))})
    done = _shimtask("execute", "--inputs", inputs_path, "--output-prefix", tmp_path / "out",
                     "--template", template_path, cwd=tmp_path)
    assert done.returncode != 0
    document = errors_pb2.ErrorDocument()
    document.ParseFromString((tmp_path / "out" / "error.pb").read_bytes())
    error = document.error
    assert error.origin == execution_pb2.ExecutionError.USER
    assert error.kind == errors_pb2.ContainerError.NON_RECOVERABLE
    assert 'Binder Error: Referenced column "nosuchcolumn" not found' in error.message
    assert not (tmp_path / "out" / "outputs.pb").exists()
    assert "Traceback" not in done.stderr


def test_run_prints_the_rows(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.csv"
    budgets.write_text("category,budget\nbooks,10\nmusic,20\n")
    csv = types_pb2.LiteralType(blob=types_pb2.BlobType(format="csv"))
    tt = template("select sum(budget) as total from read_csv({{ .inputs.f }})",
                  inputs={"f": csv}, outputs={"total": int})
    (tmp_path / "q.json").write_text(template_to_json(tt))
    done = _shimtask("run", "q.json", "-i", f"f={budgets}", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"total": 30}


def test_importing_the_plugin_loads_neither_duckdb_nor_pyarrow(tmp_path: Path) -> None:
    # the registry's doctor imports every plugin; only running a template needs the engine
    done = subprocess.run(
        [sys.executable, "-c", "import sys, shimtask_duckdb; "
         "print(sorted(m for m in ('duckdb', 'pyarrow') if m in sys.modules))"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_dataset_result_is_written_with_the_system_allocator(tmp_path: Path,
                                                               sales_dir: Path) -> None:
    """DuckDB imports pyarrow when the rows are first read as Arrow; the executor imports
    it through the core first, so Arrow's memory pool is the core's choice (pyarrow's
    mimalloc would hold ~20 MB more at the peak of a 100,000-row result)."""
    tt = template("select id, value from sales where quantity <= 3", inputs={"sales": pa.Table})
    template_path, inputs_path = _write(tmp_path, tt,
                                        {"sales": _dataset_literal(str(sales_dir))})
    code = (
        "import json, sys\n"
        "from shimtask_core.cli import main\n"
        f"status = main(['execute', '--inputs', {str(inputs_path)!r}, '--output-prefix', "
        f"{str(tmp_path / 'out')!r}, '--template', {str(template_path)!r}])\n"
        "import pyarrow\n"
        "print(json.dumps([status, pyarrow.default_memory_pool().backend_name,\n"
        "                  pyarrow.mimalloc_memory_pool().max_memory()]))\n")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    status, pool, mimalloc_peak = json.loads(done.stdout.splitlines()[-1])
    assert (status, pool) == (0, "system")
    assert mimalloc_peak == 0  # nor Arrow's C++ default, which the parquet writer also uses
    assert (tmp_path / "out" / "outputs.pb").exists()


# --- a stop reaches a query running in DuckDB's C++ ------------------------------------

ENDLESS = "SELECT count(*) AS n FROM range(100000000000) a"  # hours of work in C++


@pytest.mark.parametrize("outputs", [{"n": int}, {"result": pa.Table}],
                         ids=["row", "dataset"])
def test_a_query_past_the_time_limit_is_interrupted(tmp_path: Path,
                                                    outputs: dict[str, Any]) -> None:
    """The time limit stops a query DuckDB runs in C++, in a row and while the dataset
    is streamed out (DuckDB checks for pending signals itself; the executor's
    interruptible block is what shimtask serve's time limits and deletes use)."""
    query = ENDLESS if "n" in outputs else (
        "SELECT x FROM range(100000000000) t(x) ORDER BY x DESC")  # no row before the sort
    template_path, inputs_path = _write(tmp_path, template(query, outputs=outputs), {})
    done = _shimtask("execute", "--inputs", inputs_path, "--output-prefix", tmp_path / "out",
                     "--raw-output-data-prefix", tmp_path / "raw", "--timeout", "1",
                     "--template", template_path, cwd=tmp_path)  # _shimtask: 120 s at most
    assert done.returncode == 1, done.stderr
    document = errors_pb2.ErrorDocument()
    document.ParseFromString((tmp_path / "out" / "error.pb").read_bytes())
    assert document.error.code == "Timeout", document.error.message
    assert not (tmp_path / "out" / "outputs.pb").exists()


def test_sigterm_during_a_query_stops_it(tmp_path: Path) -> None:
    import signal
    import time

    template_path, inputs_path = _write(tmp_path, template(ENDLESS, outputs={"n": int}), {})
    proc = subprocess.Popen([str(SHIMTASK), "execute", "--inputs", str(inputs_path),
                             "--output-prefix", str(tmp_path / "out"), "--template",
                             str(template_path)], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(2)  # imported, and deep in the query
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    document = errors_pb2.ErrorDocument()
    document.ParseFromString((tmp_path / "out" / "error.pb").read_bytes())
    assert document.error.code == "Terminated"
