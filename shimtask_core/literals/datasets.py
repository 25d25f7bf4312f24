"""Structured datasets: parquet data behind a URI, as ``pyarrow.Table`` values.

pyarrow is optional (``pip install 'shimtask-core[arrow]'``) and imported only
when a dataset is converted. Written exactly as flytekit writes them:

* the literal is ``scalar.structured_dataset`` with ``uri = <raw output
  prefix>/<32 hex>`` (a directory) and the declared type in its metadata, with
  format ``parquet``;
* the data is the single parquet file ``<uri>/00000``;
* a declared legacy ``schema`` output (flytekit's ``FlyteSchema``, as its
  ``SQLite3Task`` declares) is written the same way, with a bare
  ``StructuredDatasetType(format="parquet")`` and no columns, as flytekit does.

Output values: a ``pyarrow.Table`` (or ``RecordBatch``), a ``pandas.DataFrame``
(written as ``DataFrame.to_parquet`` writes it) or a list of dict records
(the columns are the union of the records' keys in the order first met, after
``.columns`` when the list has one, so an empty result keeps its columns; a
record without a key has null there: nothing is dropped). A ``pyarrow.RecordBatchReader`` or
an iterator of ``RecordBatch``es (with a ``schema`` attribute if it may be empty) is
a stream: it is written batch by batch, never held whole, so a query result larger
than memory can be an output; errors the stream raises pass through as they are,
and it is closed (``close()``) once written or refused, so the executor's
connection or cursor ends then. Declared columns must be present.
A ``str`` or ``os.PathLike`` is parquet data already written: a remote URI is
referenced as is, a local file or directory is uploaded first.
Inputs read the whole dataset, or only the declared columns when there are any;
an executor with ``lazy_datasets = True`` gets a :class:`DatasetRef` instead (the
URI and the declared columns, nothing read), so it can scan the data where it lies.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, final

from flyteidl.core import literals_pb2, types_pb2

from .. import storage
from ..context import current_context
from ..errors import ShimTaskError, StorageError, UnsupportedType
from . import parquet
from .base import Decoder, Filler, LiteralType, Mismatch, got, is_dataframe_type, literal_kind
from .structs import dict_of
from .types import describe

PARQUET: Final = "parquet"
#: The name of the one parquet file under a dataset's URI (flytekit's ``f"{0:05}"``).
PART_NAME: Final = "00000"

_SDT = types_pb2.StructuredDatasetType


def _pyarrow(description: str) -> Any:
    """``pyarrow`` (its memory pool chosen by :mod:`.parquet`), or UnsupportedType saying
    what to install."""
    try:
        return parquet.arrow()
    except ImportError:
        raise UnsupportedType(
            f"{description}: structured datasets need pyarrow; "
            f"pip install 'shimtask-core[arrow]'") from None


def import_pyarrow() -> Any:
    """``pyarrow``, imported as datasets use it: with the memory pool that
    :mod:`shimtask_core.literals.parquet` chooses (the system allocator unless
    ``ARROW_DEFAULT_MEMORY_POOL`` says otherwise). An executor that makes Arrow data, or
    calls a library that imports pyarrow (DuckDB's ``to_arrow_reader``), calls this
    first: Arrow's C++ default pool is chosen when pyarrow is first imported.
    Raises UnsupportedType naming the extra to install when pyarrow is missing."""
    return _pyarrow("structured datasets")


def _parquet_reader(description: str) -> Any:
    """``pyarrow.parquet``, for reading (writing needs less: :mod:`.parquet`)."""
    _pyarrow(description)
    import pyarrow.parquet

    return pyarrow.parquet


def table_type(description: str = "structured dataset") -> Any:
    """``pyarrow.Table`` (importing pyarrow)."""
    return _pyarrow(description).Table


def _declared(lt: types_pb2.LiteralType) -> tuple[types_pb2.StructuredDatasetType,
                                                  list[tuple[str, types_pb2.LiteralType | None]]]:
    """The dataset type to write in the literal, and the declared columns."""
    if lt.WhichOneof("type") == "schema":
        columns = [(c.name, _schema_column_type(c.type)) for c in lt.schema.columns]
        return _SDT(format=PARQUET), columns  # flytekit does not copy schema columns
    if lt.structured_dataset_type.format not in ("", PARQUET):
        raise UnsupportedType(f"{describe(lt)} (only parquet datasets are supported)")
    sdt = _SDT()
    sdt.CopyFrom(lt.structured_dataset_type)
    sdt.format = PARQUET
    return sdt, [(c.name, c.literal_type) for c in sdt.columns]


def _schema_column_type(column_type: int) -> types_pb2.LiteralType | None:
    simple = {
        types_pb2.SchemaType.SchemaColumn.INTEGER: types_pb2.INTEGER,
        types_pb2.SchemaType.SchemaColumn.FLOAT: types_pb2.FLOAT,
        types_pb2.SchemaType.SchemaColumn.STRING: types_pb2.STRING,
        types_pb2.SchemaType.SchemaColumn.BOOLEAN: types_pb2.BOOLEAN,
        types_pb2.SchemaType.SchemaColumn.DATETIME: types_pb2.DATETIME,
        types_pb2.SchemaType.SchemaColumn.DURATION: types_pb2.DURATION,
    }.get(column_type)
    return None if simple is None else types_pb2.LiteralType(simple=simple)


def _arrow_type(pa: Any, lt: types_pb2.LiteralType | None) -> Any:
    if lt is None or lt.WhichOneof("type") != "simple":
        return None
    return {
        types_pb2.INTEGER: pa.int64(),
        types_pb2.FLOAT: pa.float64(),
        types_pb2.STRING: pa.string(),
        types_pb2.BOOLEAN: pa.bool_(),
        types_pb2.DATETIME: pa.timestamp("us", tz="UTC"),
        types_pb2.DURATION: pa.duration("us"),
    }.get(lt.simple)


def _to_table(value: Any, expected: str, columns: list[tuple[str, Any]],
              description: str) -> tuple[Any, dict[str, Any]]:
    """A pyarrow Table for an output value, and the parquet writer options."""
    pa = _pyarrow(description)
    if isinstance(value, pa.Table):
        return value, {}
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value]), {}
    if is_pandas_dataframe(type(value)):
        # what DataFrame.to_parquet does, with the options flytekit passes it
        return (pa.Table.from_pandas(value),
                {"coerce_timestamps": "us", "allow_truncated_timestamps": False})
    if isinstance(value, (list, tuple)):
        return _records_table(pa, value, expected, columns), {}
    raise Mismatch(expected, f"{got(value)} (give a pyarrow.Table, a pandas.DataFrame or a "
                             f"list of dict records)")


def is_pandas_dataframe(cls: type) -> bool:
    """Whether ``cls`` is pandas' DataFrame, without importing pandas."""
    return cls.__name__ == "DataFrame" and cls.__module__.split(".")[0] == "pandas"


def _records_table(pa: Any, records: Any, expected: str, columns: list[tuple[str, Any]]) -> Any:
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise Mismatch(expected, f"record [{index}] {got(record)}, not a dict")
    # Every key of every record (pyarrow's from_pylist would keep the first record's only).
    keys = list(dict.fromkeys([*getattr(records, "columns", ()),
                               *(key for record in records for key in record)]))
    names = [str(k) for k in keys]
    declared = dict(columns)
    for name in names:
        declared.setdefault(name, None)
    try:
        if not records:
            return pa.table({n: pa.array([], type=_arrow_type(pa, declared.get(n)) or pa.null())
                             for n in (names or list(declared))})
        table = pa.Table.from_pydict({name: [record.get(key) for record in records]
                                      for key, name in zip(keys, names, strict=True)})
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise Mismatch(expected, f"records pyarrow cannot make a table of ({exc})") from None
    for name, lt in columns:  # all-None columns get their declared type
        target = _arrow_type(pa, lt)
        if target is not None and name in table.column_names:
            index = table.column_names.index(name)
            if pa.types.is_null(table.schema.field(index).type):
                table = table.set_column(index, name, table.column(index).cast(target))
    return table


def dataset_filler(lt: types_pb2.LiteralType, *, by_reference: bool = False) -> Filler:
    """The filler of a structured dataset or schema type: writes parquet, then the literal
    (``by_reference``: local parquet data keeps its absolute path, nothing is copied)."""
    expected = describe(lt)
    sdt, columns = _declared(lt)
    names = [name for name, _ in columns]

    def fill(value: Any, target: literals_pb2.Literal) -> None:
        if isinstance(value, (str, os.PathLike)):
            uri = _existing_dataset_uri(os.fspath(value), expected, by_reference)
        else:
            uri = _write_table(value)
        dataset = target.scalar.structured_dataset
        dataset.uri = uri
        dataset.metadata.structured_dataset_type.CopyFrom(sdt)

    def _write_table(value: Any) -> str:
        with contextlib.ExitStack() as cleanup:
            if isinstance(value, Iterator) or type(value).__name__ == "RecordBatchReader":
                cleanup.callback(_close, value)  # a stream ends here, written or not
            stream = _as_stream(value, expected)
            if stream is None:
                table, options = _to_table(value, expected, columns, expected)
            present = (table.schema if stream is None else stream.schema).names
            missing = [n for n in names if n not in present]
            if missing:
                raise Mismatch(expected, f"a table without the declared column(s) "
                                         f"{', '.join(map(repr, missing))} (it has "
                                         f"{', '.join(present) or 'no columns'})")
            # a local prefix made absolute: the URI is read from other directories
            uri = storage.join(storage.absolute(current_context().raw_output_prefix),
                               uuid.uuid4().hex)
            if stream is None:
                _write(table, uri, options, expected)
            else:
                _write_stream(stream, uri, expected)
            return uri

    return fill


def _existing_dataset_uri(text: str, expected: str, by_reference: bool = False) -> str:
    """Parquet data already written: a remote URI is used as is, local data is uploaded
    (``by_reference``: referenced where it is)."""
    local = storage.local_path(text)
    if local is None:
        return text
    if not os.path.exists(local):
        raise Mismatch(expected, f"{text!r}, {storage.missing(local)}")
    if by_reference:
        return os.path.abspath(local)
    uri = storage.join(storage.absolute(current_context().raw_output_prefix), uuid.uuid4().hex)
    if os.path.isdir(local):
        storage.put(local, uri, recursive=True)
    else:
        storage.put(local, storage.join(uri, PART_NAME))
    return uri


def _as_stream(value: Any, expected: str) -> Any:
    """A ``RecordBatchReader`` for a streamed value (a reader or an iterator of batches)."""
    if not isinstance(value, Iterator) and type(value).__name__ != "RecordBatchReader":
        return None  # (decided without importing pyarrow)
    pa = _pyarrow(expected)
    if isinstance(value, pa.RecordBatchReader):
        return value
    if not isinstance(value, Iterator):
        return None
    schema = getattr(value, "schema", None)
    if isinstance(schema, pa.Schema):
        return pa.RecordBatchReader.from_batches(schema, value)
    first = next(value, None)
    if not isinstance(first, pa.RecordBatch):
        what = "an empty iterator" if first is None else f"an iterator of {got(first)}"
        raise Mismatch(expected, f"{what} (an iterator must yield pyarrow.RecordBatch; give a "
                                 f"pyarrow.RecordBatchReader for a stream that may be empty)")
    return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], value))


def _close(stream: Any) -> None:
    """End a stream's source (a generator's ``finally``, an executor's connection).

    A failing close neither undoes a written dataset nor hides the error that
    ended the stream early, so it is ignored.
    """
    close = getattr(stream, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


def _write(table: Any, uri: str, options: dict[str, Any], description: str) -> None:
    _pyarrow(description)
    part = storage.join(uri, PART_NAME)
    local = storage.local_path(part)
    try:
        if local is not None:
            os.makedirs(os.path.dirname(local), exist_ok=True)
            parquet.write_table(table, local, **options)
            return
        with storage.open_uri(part, "wb") as fh:
            parquet.write_table(table, fh, **options)
    except ShimTaskError:  # StorageError, MissingDependency
        raise
    except Exception as exc:
        raise StorageError(part, "write", exc) from exc


def _write_stream(reader: Any, uri: str, description: str) -> None:
    """Write a RecordBatchReader to ``<uri>/00000`` one batch at a time (a row group each).

    What the reader raises passes through unchanged (its producer's fault, not
    storage's); any failure removes the partial file.
    """
    _pyarrow(description)
    part = storage.join(uri, PART_NAME)
    local = storage.local_path(part)
    reading = False
    try:
        with contextlib.ExitStack() as stack:
            if local is not None:
                os.makedirs(os.path.dirname(local), exist_ok=True)
                sink: Any = local
            else:
                sink = stack.enter_context(storage.open_uri(part, "wb"))
            writer = stack.enter_context(parquet.ParquetWriter(sink, reader.schema))
            while True:
                reading = True
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                reading = False
                writer.write_batch(batch)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            storage.remove(part)
            if local is not None:
                os.rmdir(os.path.dirname(local))
        if reading or isinstance(exc, ShimTaskError) or not isinstance(exc, Exception):
            raise
        raise StorageError(part, "write", exc) from exc


def dataset_decoder(lt: types_pb2.LiteralType, *, lazy: bool = False) -> Decoder:
    """The decoder of a structured dataset or schema type: the literal -> a pyarrow.Table
    (a :class:`DatasetRef` with ``lazy``, reading nothing)."""
    expected = describe(lt)
    _, declared = _declared(lt)
    columns = [name for name, _ in declared] or None

    def decode(lit: literals_pb2.Literal) -> Any:
        uri = _dataset_uri(lit, expected)
        if lazy:
            return DatasetRef(uri, columns)
        return read_table(uri, columns, expected)

    return decode


def _dataset_uri(lit: literals_pb2.Literal, expected: str) -> str:
    """Where a dataset literal's parquet data is."""
    scalar = lit.scalar
    kind = scalar.WhichOneof("value")
    if kind == "structured_dataset":
        fmt = scalar.structured_dataset.metadata.structured_dataset_type.format
        if fmt not in ("", PARQUET):
            raise Mismatch(expected, f"a {fmt!r} dataset (only parquet is read)")
        return str(scalar.structured_dataset.uri)
    if kind == "schema":
        return str(scalar.schema.uri)
    fields = dict_of(lit)  # a dataset inside a dataclass: {"uri": ..., "file_format": ...}
    if fields is not None and isinstance(fields.get("uri"), str):
        fmt = fields.get("file_format") or PARQUET
        if fmt != PARQUET:
            raise Mismatch(expected, f"a {fmt!r} dataset (only parquet is read)")
        return str(fields["uri"])
    raise Mismatch(expected, literal_kind(lit))


@final
class DatasetRef:
    """A structured-dataset input that has not been read: its URI and declared columns.

    Executors that scan data where it lies (a SQL engine reading parquet by path)
    declare ``lazy_datasets = True`` and get this instead of a ``pyarrow.Table``:
    nothing is downloaded or decoded until they ask.
    """

    __slots__ = ("columns", "uri")

    def __init__(self, uri: str, columns: Sequence[str] | None = None) -> None:
        self.uri = uri
        #: The declared columns to read, or None for all of them.
        self.columns: tuple[str, ...] | None = tuple(columns) if columns else None

    @property
    def local_path(self) -> str | None:
        """The parquet file or directory on this machine, or None when it is remote."""
        return storage.local_path(self.uri)

    def read_table(self) -> Any:
        """The data as a ``pyarrow.Table`` (through fsspec when remote), declared columns only."""
        return read_table(self.uri, list(self.columns) if self.columns else None,
                          "structured dataset")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DatasetRef):
            return NotImplemented
        return (self.uri, self.columns) == (other.uri, other.columns)

    def __hash__(self) -> int:
        return hash((self.uri, self.columns))

    def __repr__(self) -> str:
        columns = f", columns={list(self.columns)!r}" if self.columns else ""
        return f"DatasetRef({self.uri!r}{columns})"


def read_table(uri: str, columns: list[str] | None = None,
               description: str = "structured dataset") -> Any:
    """Read the parquet file or directory at ``uri`` (a path or any fsspec URI)."""
    pa = _pyarrow(description)
    pq = _parquet_reader(description)
    local = storage.local_path(uri)
    try:
        if local is not None:
            return pq.read_table(local, columns=columns)
        fs, remote = storage.filesystem(uri)
        return pq.read_table(remote, columns=columns, filesystem=fs)
    except ShimTaskError:  # StorageError, MissingDependency
        raise
    except (pa.ArrowInvalid, KeyError) as exc:
        if columns and "column" in str(exc).lower():
            raise Mismatch(description, f"a dataset without column(s) of {columns}: {exc}"
                           ) from None
        raise StorageError(uri, "read", exc) from exc
    except Exception as exc:
        raise StorageError(uri, "read", exc) from exc


class _Datasets:
    """The converter of structured dataset and schema types (``types.EXTERNAL_KINDS``)."""

    __slots__ = ()

    def python_type(self, lt: types_pb2.LiteralType) -> Any:
        return table_type(describe(lt))

    filler = staticmethod(dataset_filler)
    decoder = staticmethod(dataset_decoder)  # lazy: a DatasetRef, nothing read

    def literal_type(self, py_type: type) -> types_pb2.LiteralType | None:
        if is_dataframe_type(py_type):
            return LiteralType(structured_dataset_type=_SDT())
        return None

    def value_kinds(self, value: Any) -> tuple[str, ...] | None:
        return ("dataset",) if is_dataframe_type(type(value)) else None


DATASETS: Final = _Datasets()
