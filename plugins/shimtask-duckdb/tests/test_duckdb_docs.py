"""docs/plugins/duckdb.md: its templates and its Python example run as written, and give
what the page says they give (issue 14, finding 22: examples in docs/ are run)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from shimtask_core import ExecutorRegistry, make_template, run_template

PAGE = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "duckdb.md"
SALES = pa.table({"category": ["books", "games", "books", "music"],
                  "value": [5.0, 70.0, 90.0, 20.0]})


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), re.DOTALL)


def test_the_pages_templates_run(registry: ExecutorRegistry) -> None:
    one, many, first_row = (json.loads(b) for b in blocks("json"))
    assert one["executor_type"] == many["executor_type"] == first_row["executor_type"] == "duckdb"
    tt = make_template("t", "duckdb", inputs={"sales": pa.Table, "min_value": float},
                       outputs={"result": pa.Table}, custom=one)
    assert run_template(tt, registry=registry, sales=SALES, min_value=10.0).to_pylist() == [
        {"category": "books", "n": 1, "total": 90.0},
        {"category": "games", "n": 1, "total": 70.0},
        {"category": "music", "n": 1, "total": 20.0}]
    # "a list of statements run in order on one database; the last one's rows are the result"
    tt = make_template("t", "duckdb", inputs={"sales": pa.Table, "cut": float, "skip": str},
                       outputs={"result": pa.Table}, custom=many)
    result = run_template(tt, registry=registry, sales=SALES, cut=20.0, skip="music")
    assert result.to_pylist() == [{"category": "books", "n": 1}, {"category": "games", "n": 1}]
    # "with outputs n: int, total: float": the columns of the first row
    tt = make_template("t", "duckdb", inputs={"sales": pa.Table},
                       outputs={"n": int, "total": float}, custom=first_row)
    assert run_template(tt, registry=registry, sales=SALES) == {"n": 4, "total": 185.0}


def test_the_pages_python_example_runs(registry: ExecutorRegistry) -> None:
    (code,) = [b for b in blocks("python") if "run_template(tt" in b]
    module = ast.parse(code)
    last = module.body.pop()  # run_template(tt, ...)   # a pyarrow.Table: books 1, games 1
    assert isinstance(last, ast.Expr)
    namespace: dict[str, Any] = {}
    exec(compile(module, str(PAGE), "exec"), namespace)
    call = ast.unparse(last.value).replace("run_template(tt, ", "run_template(tt, registry="
                                                                "registry, ")
    table = eval(call, {**namespace, "registry": registry})
    assert isinstance(table, pa.Table)
    assert sorted(table.to_pylist(), key=lambda r: r["category"]) == [
        {"category": "books", "n": 1}, {"category": "games", "n": 1}]
