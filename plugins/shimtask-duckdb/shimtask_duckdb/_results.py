"""Results: the last statement's rows as a streamed dataset, or its first row by output name."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from flyteidl.core import types_pb2

from shimtask_core import (
    ExecutorFailed,
    OutputMismatch,
    TemplateError,
    import_pyarrow,
    interruptible,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from flyteidl.core.interface_pb2 import Variable

Mode = Literal["none", "dataset", "row"]

_DATASET_KINDS = frozenset({"structured_dataset_type", "schema"})
#: Rows per Arrow batch: DuckDB's row-group size, so each batch is one parquet row group.
BATCH_ROWS = 122_880
_UTC = dt.timezone.utc


def mode_of(outputs: Mapping[str, Variable], source: str | None) -> Mode:
    """What the declared outputs ask for: nothing, the rows as a dataset, or one row."""
    if not outputs:
        return "none"
    datasets = sorted(n for n, v in outputs.items() if v.type.WhichOneof("type") in _DATASET_KINDS)
    if not datasets:
        return "row"
    if len(outputs) > 1:
        raise TemplateError(
            f"the template declares the dataset output(s) {', '.join(datasets)} beside other "
            f"outputs ({', '.join(sorted(set(outputs) - set(datasets)))}); a duckdb template "
            f"has either one structured dataset output (the rows) or outputs that are "
            f"columns of the first row", source=source)
    return "dataset"


def stream(con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation,
           statement: str) -> pa.RecordBatchReader:
    """The rows as an Arrow reader that pulls from DuckDB batch by batch.

    The reader owns the connection: it is closed when the last batch has been read
    (or the reader is dropped). A failure while rows are produced (a cast that fails
    on row 500,000) is the query's fault, so it is raised as the executor's.
    """
    arrow = import_pyarrow()  # before DuckDB imports it: the core chooses Arrow's memory pool

    reader = relation.to_arrow_reader(BATCH_ROWS)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            with interruptible(con.interrupt):  # read by the output writer: still stoppable
                yield from reader
        except Exception as exc:
            raise ExecutorFailed("duckdb", type(exc)(
                f"{exc}\n(while reading the rows of: {statement.strip()})")) from exc
        finally:
            con.close()

    reader_class: type[pa.RecordBatchReader] = arrow.RecordBatchReader
    return reader_class.from_batches(reader.schema, batches())


def first_row(relation: duckdb.DuckDBPyRelation, outputs: Mapping[str, Variable],
              statement: str) -> Any:
    """The outputs from the first row's columns of the same names (one output: its value)."""
    columns = list(relation.columns)
    declared = sorted(outputs)
    missing = [n for n in declared if n not in columns]
    ambiguous = [n for n in declared if columns.count(n) > 1]
    if missing or ambiguous:
        problem = (f"no column named {', '.join(map(repr, missing))} for the output(s) of "
                   f"that name" if missing else
                   f"more than one column named {', '.join(map(repr, ambiguous))}")
        rows_wanted = any(outputs[n].type.WhichOneof("type") == "collection_type"
                          for n in missing)  # list[dict]: the rows, as the sqlite executor
        hint = (" For all the rows, declare one structured-dataset output (pyarrow.Table in "
                "make_template) instead." if rows_wanted else "")
        raise OutputMismatch(
            f"the query returns {problem}; its columns are: {', '.join(columns) or 'none'}. "
            f"Outputs {', '.join(declared)} are taken from the first row's columns of the "
            f"same names (name them with AS).{hint} Query: {statement.strip()}",
            declared=declared)
    rows = relation.limit(1).fetchall()
    if not rows:
        raise OutputMismatch(
            f"the query returned no rows; outputs {', '.join(declared)} are taken from its "
            f"first row. Query: {statement.strip()}", declared=declared)
    row = rows[0]
    values = {name: python_value(row[columns.index(name)], outputs[name].type)
              for name in declared}
    return values[declared[0]] if len(declared) == 1 else values


def python_value(value: Any, lt: types_pb2.LiteralType) -> Any:
    """DuckDB's Python value, widened where the declared type has a plain equivalent.

    ``1.5`` and ``sum(decimal)`` are DECIMAL in DuckDB; a DATE is a ``date``; a UUID
    a ``uuid.UUID``. Anything else goes to the core's type check unchanged, which
    names the output when the value does not fit.
    """
    simple = _simple_types(lt)
    if isinstance(value, decimal.Decimal):
        if types_pb2.FLOAT in simple:
            return float(value)
        if types_pb2.INTEGER in simple and value == value.to_integral_value():
            return int(value)
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        if types_pb2.DATETIME in simple:
            return dt.datetime(value.year, value.month, value.day, tzinfo=_UTC)
    elif isinstance(value, uuid.UUID) and types_pb2.STRING in simple:
        return str(value)
    return value


def _simple_types(lt: types_pb2.LiteralType) -> set[int]:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return {lt.simple}
    if kind == "union_type":
        return {v.simple for v in lt.union_type.variants if v.WhichOneof("type") == "simple"}
    return set()
