"""The sqlite plugin as issue 14 (finding 21) found it: import cost, scratch space,
sqlite's error codes, and the one-statement rule its docstring now states."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from shimtask_core import ExecutorFailed, ExecutorRegistry, make_template, run_template
from shimtask_core.literals import InterfaceCodec
from shimtask_sqlite3 import SQLite3Executor

#: What only archives and downloads need.
SCRATCH_MODULES = ("tempfile", "tarfile", "zipfile", "shutil")

REPORT = """
import json, sys
argv = json.loads(sys.argv[1])
if argv:
    from shimtask_core.cli import main
    status = main(argv)
else:
    import shimtask_sqlite3
    status = 0
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def loaded(argv: list[str], env: dict[str, str]) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", REPORT, json.dumps(argv)], env=env,
                          capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["status"], set(report["modules"])


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIMTASK_")}
    return {**env, "TMPDIR": str(tmpdir), "SHIMTASK_CACHE_DIR": str(tmp_path / "cache")}


def make_db(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.execute("create table people (name text, age integer)")
        con.execute("insert into people values ('alice', 34)")
    con.close()
    return path


def test_importing_the_plugin_loads_nothing_for_archives_or_downloads(
    environ: dict[str, str]
) -> None:
    status, modules = loaded([], environ)
    assert status == 0 and "shimtask_sqlite3" in modules
    assert sorted(modules & set(SCRATCH_MODULES)) == []


def test_a_local_query_makes_no_temporary_directory(tmp_path: Path,
                                                    environ: dict[str, str]) -> None:
    db = make_db(tmp_path / "people.db")
    tt = make_template("q", "sqlite", inputs={"min_age": int}, outputs={"rows": list[dict]},
                       custom={"query_template": "select name from people where age >= "
                                                 "{{ .inputs.min_age }}",
                               "uri": str(db), "compressed": False})
    (tmp_path / "t.pb").write_bytes(tt.SerializeToString())
    (tmp_path / "in.pb").write_bytes(InterfaceCodec(tt.interface).encode_inputs({"min_age": 1})
                                     .SerializeToString())
    status, modules = loaded(["execute", "--inputs", str(tmp_path / "in.pb"),
                              "--output-prefix", str(tmp_path / "out"),
                              "--template", str(tmp_path / "t.pb")], environ)
    assert status == 0 and (tmp_path / "out" / "outputs.pb").exists()
    assert "shimtask_sqlite3" in modules
    assert sorted(modules & set(SCRATCH_MODULES)) == []
    assert list(Path(environ["TMPDIR"]).iterdir()) == []


@pytest.fixture
def registry() -> ExecutorRegistry:
    reg = ExecutorRegistry()
    reg.register("sqlite", SQLite3Executor, replace=True)
    return reg


def query(db: Path, sql: str) -> object:
    return make_template("q", "sqlite", outputs={"rows": list[dict]},
                         custom={"query_template": sql, "uri": str(db), "compressed": False})


def test_sqlite_errors_keep_their_type_and_error_code(tmp_path: Path,
                                                      registry: ExecutorRegistry) -> None:
    db = make_db(tmp_path / "people.db")
    sql = "select nme from people"
    with pytest.raises(sqlite3.OperationalError) as direct:
        sqlite3.connect(db).execute(sql)
    with pytest.raises(ExecutorFailed) as caught:
        run_template(query(db, sql), registry=registry)
    cause = caught.value.cause
    assert type(cause) is sqlite3.OperationalError
    assert str(cause).startswith("no such column: nme (database ") and f"query: {sql}" in str(
        cause)
    if sys.version_info >= (3, 11):  # sqlite3 has error codes since 3.11
        assert (cause.sqlite_errorcode, cause.sqlite_errorname) == (
            direct.value.sqlite_errorcode, direct.value.sqlite_errorname) == (1, "SQLITE_ERROR")


def test_two_statements_are_refused_with_the_way_to_write_them(
    tmp_path: Path, registry: ExecutorRegistry
) -> None:
    db = make_db(tmp_path / "people.db")
    with pytest.raises(ExecutorFailed) as caught:
        run_template(query(db, "create temp table t as select name from people; "
                               "select * from t"), registry=registry)
    assert "one statement at a time" in str(caught.value)
    assert "a template runs one statement: use WITH ... SELECT" in str(caught.value)
    with_cte = "with t as (select name from people) select * from t"
    assert run_template(query(db, with_cte), registry=registry) == [{"name": "alice"}]
    doc = sys.modules["shimtask_sqlite3"].__doc__ or ""  # it promised temporary tables
    assert "Temporary tables are allowed" not in doc and "one statement" in doc
