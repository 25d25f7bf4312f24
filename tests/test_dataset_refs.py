"""Executors with ``lazy_datasets = True`` get DatasetRefs (nothing read), others Tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from shimtask_core import (
    DatasetRef,
    ExecutorRegistry,
    ShimTaskExecutor,
    make_template,
    run_template,
)

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SEEN: list[Any] = []


class Eager(ShimTaskExecutor[Any]):
    def execute_from_model(self, tt: Any, **inputs: Any) -> Any:
        SEEN.append(inputs["data"])
        return inputs["data"]


class Lazy(Eager):
    lazy_datasets: ClassVar[bool] = True

    def execute_from_model(self, tt: Any, **inputs: Any) -> Any:
        ref = inputs["data"]
        SEEN.append(ref)
        return ref.read_table()


@pytest.fixture
def registry() -> ExecutorRegistry:
    SEEN.clear()
    reg = ExecutorRegistry(path=[])
    reg.register("eager", Eager)
    reg.register("lazy", Lazy)
    return reg


def _template(executor: str) -> Any:
    return make_template("t", executor, inputs={"data": pa.Table, "n": int},
                         outputs={"out": pa.Table})


def test_a_lazy_executor_gets_a_reference_and_reads_when_it_asks(
        registry: ExecutorRegistry) -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    out = run_template(_template("lazy"), registry=registry, data=table, n=1)
    (ref,) = SEEN
    assert isinstance(ref, DatasetRef)
    assert ref.columns is None
    assert ref.local_path is not None and Path(ref.local_path).exists()
    assert pq.read_table(ref.local_path).equals(table)  # where the input literal points
    # the output is still decoded to a Table for the caller: only inputs are lazy
    assert isinstance(out, pa.Table) and out.equals(table)


def test_other_executors_still_get_tables(registry: ExecutorRegistry) -> None:
    table = pa.table({"a": [1, 2]})
    run_template(_template("eager"), registry=registry, data=table, n=1)
    (value,) = SEEN
    assert isinstance(value, pa.Table) and value.equals(table)


def test_a_reference_keeps_the_declared_columns_and_reads_only_them(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1], "b": [2.5], "c": ["z"]}), tmp_path / "part.parquet")
    ref = DatasetRef(str(tmp_path / "part.parquet"), ["c", "a"])
    assert ref.columns == ("c", "a")
    assert ref.read_table().column_names == ["c", "a"]
    assert ref == DatasetRef(str(tmp_path / "part.parquet"), ("c", "a"))
    assert "columns=['c', 'a']" in repr(ref)


def test_a_remote_reference_has_no_local_path_and_reads_through_fsspec() -> None:
    fsspec = pytest.importorskip("fsspec")
    table = pa.table({"k": ["a", "b"]})
    with fsspec.open("memory://refs/t/00000", "wb") as fh:
        pq.write_table(table, fh)
    ref = DatasetRef("memory://refs/t")
    assert ref.local_path is None
    assert ref.read_table().equals(table)
