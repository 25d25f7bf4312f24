"""Inputs: datasets become views named after them, everything else a bound value.

The executor asks for structured datasets lazily (``lazy_datasets``): a local
parquet file or directory is scanned by DuckDB where it lies, in parallel and
reading only the columns and row groups the query needs; remote data is read
through shimtask's storage layer (fsspec) and handed to DuckDB as Arrow.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shimtask_core import DatasetRef, TemplateError, placeholder_names

if TYPE_CHECKING:
    import duckdb


def split(inputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(views, values)``: the tabular inputs by name, and the values to bind."""
    views: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name, value in inputs.items():
        if is_tabular(value):
            views[name] = value
        else:
            values[name] = bindable(value)
    return views, values


def is_tabular(value: Any) -> bool:
    """Whether DuckDB scans the value as a table: a dataset input, Arrow data, a DataFrame."""
    if isinstance(value, DatasetRef):
        return True
    cls = type(value)
    package = cls.__module__.split(".")[0]
    if package == "pyarrow":
        import pyarrow as pa

        if isinstance(value, (pa.Table, pa.RecordBatch, pa.RecordBatchReader)):
            return True
        dataset = _pyarrow_dataset()
        return dataset is not None and isinstance(value, dataset.Dataset)
    return package == "pandas" and cls.__name__ == "DataFrame"


def _pyarrow_dataset() -> Any:
    """``pyarrow.dataset`` if something already imported it (a Dataset exists only then)."""
    import sys

    return sys.modules.get("pyarrow.dataset")


def bindable(value: Any) -> Any:
    """A value DuckDB binds: files and directories as their local path, enums as their value."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)  # a File or Directory input: downloaded here if remote
    if isinstance(value, enum.Enum):
        return bindable(value.value)
    if isinstance(value, tuple):
        return [bindable(v) for v in value]
    if isinstance(value, list):
        return [bindable(v) for v in value]
    if isinstance(value, dict):
        return {k: bindable(v) for k, v in value.items()}
    return value


def check_placeholders(statements: Sequence[str], views: Mapping[str, Any],
                       source: str | None) -> None:
    """A dataset input is a view to name in SQL, never a ``{{ .inputs.x }}`` value."""
    for statement in statements:
        for name in placeholder_names(statement):
            if name in views:
                raise TemplateError(
                    f"input {name!r} is a structured dataset: the query reads it as the "
                    f"view {name}, so write {name} where a table goes (select ... from "
                    f"{name}), not {{{{ .inputs.{name} }}}}", source=source)


def create_views(con: duckdb.DuckDBPyConnection, views: Mapping[str, Any]) -> None:
    """Make each tabular input visible to the query under its input name."""
    for name, value in views.items():
        if not isinstance(value, DatasetRef):
            con.register(name, value)
        elif value.local_path is None:  # remote: through the storage layer, never httpfs
            con.register(name, value.read_table())
        else:
            _scan_parquet(con, name, value, value.local_path)


def _scan_parquet(con: duckdb.DuckDBPyConnection, name: str, ref: DatasetRef,
                  path: str) -> None:
    """A view over the parquet file(s) at ``path``, by path: nothing loaded up front."""
    import duckdb

    files = parquet_files(path)
    if not files:
        raise FileNotFoundError(f"dataset input {name!r} ({ref.uri}) holds no parquet file")
    try:
        relation = con.read_parquet(files)
        if ref.columns is not None:
            missing = [c for c in ref.columns if c not in relation.columns]
            if missing:
                raise ValueError(
                    f"dataset input {name!r} ({ref.uri}) has no column(s) "
                    f"{', '.join(map(repr, missing))} of its declared type; it has "
                    f"{', '.join(relation.columns)}")
            relation = relation.select(*(duckdb.ColumnExpression(c) for c in ref.columns))
        relation.create_view(name, replace=True)
    except duckdb.Error as exc:
        raise type(exc)(f"{exc}\n(reading dataset input {name!r} at {ref.uri})") from exc


def parquet_files(path: str) -> list[str]:
    """The data files of a dataset: the file itself, or a directory's files (sorted).

    Names starting with ``.`` or ``_`` (``_SUCCESS``, ``.crc`` files) are not data,
    as Arrow's and Spark's readers agree.
    """
    if not os.path.isdir(path):
        return [path] if os.path.exists(path) else []
    found = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        found += [os.path.join(folder, n) for n in names if not n.startswith((".", "_"))]
    return sorted(found)
