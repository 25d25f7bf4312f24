"""Fixtures of the duckdb plugin's tests: a small sales dataset, registries, flytekit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from duckdb_testlib import sales_table

from shimtask_core import ExecutorRegistry
from shimtask_duckdb import DuckDBExecutor


@pytest.fixture
def sales() -> Any:
    return sales_table()


@pytest.fixture
def sales_dir(tmp_path: Path, sales: Any) -> Path:
    """The sales rows as flytekit writes a dataset: a directory holding one file, 00000."""
    folder = tmp_path / "sales"
    folder.mkdir()
    pq.write_table(sales, folder / "00000")
    return folder


@pytest.fixture
def registry() -> ExecutorRegistry:
    reg = ExecutorRegistry(path=[])
    reg.register("duckdb", DuckDBExecutor)
    return reg
