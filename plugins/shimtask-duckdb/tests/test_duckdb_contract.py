"""The duckdb executor keeps the executor contract (shimtask_core.testing's suite).

Runs against the installed distribution (its real entry point, a real
``shimtask execute``): scalar outputs by name, a parquet dataset output under
the raw output prefix, and a dataset input read as a view.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from duckdb_testlib import sales_table, template

from shimtask_core.testing import ExecutorContractSuite, FailingSample, Sample

AGGREGATE = ("select count(*) as n, max(quantity) as most from sales "
             "where value > {{ .inputs.min_value }}")


def check_books(outputs: dict[str, Any]) -> None:
    table = outputs["result"]
    assert table.column_names == ["category", "n"]
    assert table.to_pylist() == [{"category": "books", "n": 100}]


class TestDuckDBContract(ExecutorContractSuite):
    executor_type = "duckdb"
    distribution = "shimtask-duckdb"

    def samples(self, workdir: Path) -> list[Sample]:
        sales = sales_table()
        expected = sales.filter(pc.greater(sales["value"], 50.0))
        return [
            Sample(template(AGGREGATE, inputs={"sales": pa.Table, "min_value": float},
                            outputs={"n": int, "most": int}),
                   {"sales": sales, "min_value": 50.0},
                   expected={"n": expected.num_rows,
                             "most": pc.max(expected["quantity"]).as_py()},
                   id="scalar outputs from a dataset input"),
            Sample(template("select category, count(*) as n from sales "
                            "where category = '{{ .inputs.category }}' group by category",
                            inputs={"sales": pa.Table, "category": str}),
                   {"sales": sales, "category": "books"}, check=check_books,
                   id="dataset output"),
        ]

    def failing_samples(self, workdir: Path) -> list[FailingSample]:
        sales = sales_table(10)
        return [
            *super().failing_samples(workdir),
            FailingSample(template("select nope from sales", inputs={"sales": pa.Table}),
                          {"sales": sales}, message="nope", id="unknown column"),
            FailingSample(template("selec 1"), {}, message="selec", id="syntax error"),
        ]
