"""The sqlite executor keeps the executor contract (shimtask_core.testing's suite).

Runs against the installed distribution: its real entry point, a real
``shimtask execute``; the samples include flytekit's own serialized SQLite3Task,
whose schema output is a parquet file under the raw output prefix.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from shimtask_core import make_template, parse_template
from shimtask_core.testing import ExecutorContractSuite, FailingSample, Sample

FLYTEKIT_TEMPLATE = (Path(__file__).resolve().parents[3] / "tests" / "data" / "flytekit"
                     / "sqlite3_task_typed.pb")
QUERY = ("select name, age from people "
         "where name = '{{ .inputs.name }}' and age >= {{ .inputs.min_age }}")


def people_db(workdir: Path) -> Path:
    path = workdir / "people.db"
    if not path.exists():
        with sqlite3.connect(path) as con:
            con.execute("create table people (name text, age integer)")
            con.executemany("insert into people values (?, ?)",
                            [("alice", 34), ("bob", 27), ("carol", 41)])
        con.close()
    return path


def query_template(db: Path, query: str = QUERY) -> Any:
    return make_template("people_by_name", "sqlite", inputs={"name": str, "min_age": int},
                         outputs={"results": list[dict]},
                         custom={"query_template": query, "uri": str(db), "compressed": False})


def check_dataset(outputs: dict[str, Any]) -> None:
    table = outputs["results"]
    rows = table.to_pylist() if hasattr(table, "to_pylist") else table.to_dict("records")
    assert rows == [{"name": "alice", "age": 34}]


class TestSQLite3Contract(ExecutorContractSuite):
    executor_type = "sqlite"
    distribution = "shimtask-sqlite3"

    def samples(self, workdir: Path) -> list[Sample]:
        db = people_db(workdir)
        flytekit = parse_template(FLYTEKIT_TEMPLATE.read_bytes())
        flytekit.custom.update({"uri": str(db)})  # its uri is relative to flytekit's cwd
        return [
            Sample(query_template(db), {"name": "alice", "min_age": 30},
                   expected={"results": [{"name": "alice", "age": 34}]}),
            Sample(query_template(db), {"name": "x' OR '1'='1", "min_age": 0},
                   expected={"results": []}, id="injection attempt stays a value"),
            Sample(flytekit, {"name": "alice", "min_age": 30}, check=check_dataset,
                   id="flytekit SQLite3Task, schema output"),
        ]

    def failing_samples(self, workdir: Path) -> list[FailingSample]:
        db = people_db(workdir)
        return [
            *super().failing_samples(workdir),
            FailingSample(query_template(db, "select nme from people"), {"name": "a",
                                                                          "min_age": 1},
                          code="ExecutorFailed", message="no such column: nme"),
            FailingSample(query_template(workdir / "missing.db"), {"name": "a", "min_age": 1},
                          code="ExecutorFailed", message="does not exist"),
        ]
