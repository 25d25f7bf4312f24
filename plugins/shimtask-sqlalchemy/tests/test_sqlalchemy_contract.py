"""The sqlalchemy executor keeps the executor contract (shimtask_core.testing's suite).

Runs against the installed distribution (its real entry point, a real
``shimtask execute``) and the real PostgreSQL server of ``conftest``, with
templates shaped as flytekit's SQLAlchemyTask writes them; a SQLite file through
SQLAlchemy's built-in dialect (positional ``qmark`` parameters) is a second database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import types_pb2

from conftest import reader_url
from pgserver import PostgresServer
from shimtask_core import make_template
from shimtask_core.testing import ExecutorContractSuite, FailingSample, Sample

SCHEMA = types_pb2.LiteralType(schema=types_pb2.SchemaType())
BY_NAME = ("select id, name, age from people where name = '{{ .inputs.name }}' "
           "and age >= {{ .inputs.min_age }} order by id")


def template(uri: str, query: str = BY_NAME) -> Any:
    """As flytekit's SQLAlchemyTask serializes it: type sqlalchemy, no executor_type."""
    tt = make_template("people_query", "sqlalchemy", inputs={"name": str, "min_age": int},
                       outputs={"results": SCHEMA},
                       custom={"query_template": query, "uri": uri, "connect_args": {},
                               "secret_connect_args": None})
    del tt.custom.fields["executor_type"]
    return tt


def rows_are(expected: list[dict[str, Any]]) -> Any:
    def check(outputs: dict[str, Any]) -> None:
        table = outputs["results"]
        rows = table.to_pylist() if hasattr(table, "to_pylist") else table.to_dict("records")
        assert rows == expected

    return check


def sqlite_people(workdir: Path) -> Path:
    path = workdir / "people.db"
    if not path.exists():
        with sqlite3.connect(path) as con:
            con.execute("create table people (id integer, name text, age integer)")
            con.executemany("insert into people values (?, ?, ?)",
                            [(1, "alice", 34), (2, "bob", 27)])
        con.close()
    return path


class TestSQLAlchemyContract(ExecutorContractSuite):
    executor_type = "sqlalchemy"
    distribution = "shimtask-sqlalchemy"

    url: str = ""

    @pytest.fixture(autouse=True)
    def _database(self, postgres: PostgresServer, db: Any) -> None:
        """The suite's checks take no fixtures: keep the server's URL on the instance."""
        self.url = reader_url(postgres)

    def samples(self, workdir: Path) -> list[Sample]:
        return [
            Sample(template(self.url), {"name": "alice", "min_age": 30},
                   check=rows_are([{"id": 1, "name": "alice", "age": 34}]),
                   id="postgresql"),
            Sample(template(self.url), {"name": "x' OR '1'='1", "min_age": 0},
                   check=rows_are([]), id="an injection attempt stays a value"),
            Sample(template(f"sqlite:///{sqlite_people(workdir)}"), {"name": "bob", "min_age": 0},
                   check=rows_are([{"id": 2, "name": "bob", "age": 27}]), id="sqlite file"),
        ]

    def failing_samples(self, workdir: Path) -> list[FailingSample]:
        return [
            *super().failing_samples(workdir),
            FailingSample(template(self.url, "select nope from people"),
                          {"name": "a", "min_age": 1}, message="nope", id="unknown column"),
        ]
