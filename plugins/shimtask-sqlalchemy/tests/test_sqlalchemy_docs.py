"""The docs page's template and Python example run as written (only the server differs)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conftest import DATABASE, READER, READER_PASSWORD, REPO
from pgserver import PostgresServer
from shimtask_core import ExecutorRegistry, make_template, run_template

PAGE = REPO / "docs" / "plugins" / "sqlalchemy.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), re.DOTALL)


def our_server(uri: str, postgres: PostgresServer) -> str:
    """The page's URI pointed at the test server (same user-less-password form)."""
    assert uri.startswith("postgresql+psycopg://reader@")
    return f"postgresql+psycopg://{READER}@{postgres.host}:{postgres.port}/{DATABASE}"


def test_the_page_s_template_runs(postgres: PostgresServer, db: Any, registry: ExecutorRegistry,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from flyteidl.core import types_pb2

    custom = json.loads(blocks("json")[0])
    custom["uri"] = our_server(custom["uri"], postgres)
    monkeypatch.setenv("_FSEC_PG_PASSWORD", READER_PASSWORD)
    tt = make_template("people_by_name", "sqlalchemy", inputs={"name": str, "min_age": int},
                       outputs={"results": types_pb2.LiteralType(schema=types_pb2.SchemaType())},
                       custom=custom)
    del tt.custom.fields["executor_type"]  # as flytekit writes it
    table = run_template(tt, registry=registry, name="alice", min_age=30)
    assert table.to_pylist() == [{"id": 1, "name": "alice", "age": 34}]


def test_the_page_s_python_example_runs(postgres: PostgresServer, db: Any,
                                        registry: ExecutorRegistry,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (code,) = [b for b in blocks("python") if "make_template" in b]
    code = code.replace("postgresql+psycopg://reader@127.0.0.1:5432/shop",
                        f"postgresql+psycopg://{READER}@127.0.0.1:{postgres.port}/{DATABASE}")
    code = code.replace("run_template(tt, ", "result = run_template(tt, registry=registry, ")
    monkeypatch.setenv("_FSEC_PG_PASSWORD", READER_PASSWORD)
    namespace: dict[str, Any] = {"registry": registry}
    exec(compile(code, str(PAGE), "exec"), namespace)
    assert namespace["result"].to_pylist() == [{"id": 1, "name": "alice", "age": 34}]
