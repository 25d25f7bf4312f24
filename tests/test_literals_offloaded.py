"""Offloaded values: files, directories and structured datasets (parquet).

Remote storage is fsspec's in-memory filesystem (``memory://``), so the
remote paths (lazy download, upload under a remote raw output prefix) run
without a network.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import literals_pb2, types_pb2
from google.protobuf import json_format

from shimtask_core import StorageError, ValueTypeError, make_template
from shimtask_core.context import ExecutionContext, current_context, using_context
from shimtask_core.files import Directory, File
from shimtask_core.literals import (
    InterfaceCodec,
    LiteralType,
    Mismatch,
    decoder_for,
    encoder_for,
    literal_type_of,
)
from shimtask_core.textinput import parse_text_value

FILE = literal_type_of(File)
DIRECTORY = literal_type_of(Directory)


@pytest.fixture
def raw(tmp_path: Path) -> Iterator[Path]:
    """A local raw output prefix, current for the test."""
    prefix = tmp_path / "raw"
    with using_context(ExecutionContext(raw_output_prefix=str(prefix),
                                        working_dir=str(tmp_path))):
        yield prefix


@pytest.fixture
def memory() -> Iterator[str]:
    """A fresh prefix in fsspec's in-memory filesystem."""
    fsspec = pytest.importorskip("fsspec")
    prefix = f"memory://shimtask-tests/{uuid.uuid4().hex}"
    yield prefix
    fs = fsspec.filesystem("memory")
    if fs.exists(prefix):
        fs.rm(prefix, recursive=True)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- files ------------------------------------------------------------------------------


def test_a_local_file_output_is_uploaded_under_the_raw_prefix(raw: Path, tmp_path: Path) -> None:
    source = _write(tmp_path / "report.csv", b"a,b\n1,2\n")
    for value in (str(source), source, File(source)):
        lit = encoder_for(FILE)(value)
        uri = lit.scalar.blob.uri
        folder, name = os.path.split(uri)
        assert name == "report.csv" and os.path.dirname(folder) == str(raw)
        assert len(os.path.basename(folder)) == 32  # uuid4 hex, as flytekit names it
        assert Path(uri).read_bytes() == source.read_bytes()
        assert json_format.MessageToDict(lit.scalar.blob.metadata) == {"type": {}}
    uris = {encoder_for(FILE)(str(source)).scalar.blob.uri for _ in range(3)}
    assert len(uris) == 3  # a unique name every time


def test_a_remote_uri_output_is_written_as_is(raw: Path) -> None:
    lit = encoder_for(FILE)("s3://bucket/key.bin")
    assert lit.scalar.blob.uri == "s3://bucket/key.bin"
    assert not raw.exists()
    passthrough = File.from_uri("s3://bucket/other.bin")
    assert encoder_for(FILE)(passthrough).scalar.blob.uri == "s3://bucket/other.bin"


def test_the_declared_blob_format_is_written(raw: Path, tmp_path: Path) -> None:
    csv = LiteralType(blob=types_pb2.BlobType(format="csv"))
    lit = encoder_for(csv)(str(_write(tmp_path / "x.csv", b"")))
    assert lit.scalar.blob.metadata.type.format == "csv"


@pytest.mark.parametrize(("lt", "value", "needle"), [
    (FILE, "/no/such/file.txt", "'/no/such/file.txt', which does not exist"),
    (FILE, "/tmp", "which is not a file"),
    (FILE, 42, "give a path, a URI or a File"),
    (FILE, Directory("/tmp"), "Directory"),
    (DIRECTORY, "/no/such/dir", "'/no/such/dir', which does not exist"),
    (DIRECTORY, "/etc/hostname", "which is not a directory"),
    (DIRECTORY, File("/etc/hostname"), "File"),
])
def test_wrong_file_values(raw: Path, lt: Any, value: Any, needle: str) -> None:
    with pytest.raises(Mismatch) as info:
        encoder_for(lt)(value)
    assert needle in info.value.got


def test_a_file_input_is_a_path_like_value(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.txt", b"hello")
    lit = literals_pb2.Literal()
    lit.scalar.blob.uri = f"file://{source}"
    value = decoder_for(FILE)(lit)
    assert isinstance(value, File) and isinstance(value, os.PathLike)
    assert value.uri == f"file://{source}" and value.downloaded  # local: nothing to fetch
    assert value.path == str(source) and os.fspath(value) == str(source)
    assert value.read_text() == "hello" and value.name == "in.txt"
    with open(value) as fh:
        assert fh.read() == "hello"
    lit.scalar.blob.metadata.type.dimensionality = types_pb2.BlobType.MULTIPART
    with pytest.raises(Mismatch, match="file"):
        decoder_for(FILE)(lit)


def test_remote_files_download_lazily_through_fsspec(raw: Path, memory: str,
                                                     tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    remote = f"{memory}/data/in.bin"
    fs.pipe_file(remote, b"\x00remote")
    lit = literals_pb2.Literal()
    lit.scalar.blob.uri = remote
    value = decoder_for(FILE)(lit)
    assert value.remote and not value.downloaded
    assert value.read_bytes() == b"\x00remote"
    assert value.downloaded and value.path.startswith(str(tmp_path))
    assert os.path.basename(value.path) == "in.bin"
    assert encoder_for(FILE)(value).scalar.blob.uri == remote  # a passthrough stays remote
    missing = File.from_uri(f"{memory}/nope.bin")
    with pytest.raises(StorageError, match="cannot download"):
        missing.download()


def test_outputs_upload_to_a_remote_raw_prefix(memory: str, tmp_path: Path) -> None:
    import fsspec

    source = _write(tmp_path / "out.txt", b"up")
    tree = tmp_path / "tree"
    _write(tree / "a.txt", b"a")
    _write(tree / "sub" / "b.txt", b"b")
    with using_context(ExecutionContext(raw_output_prefix=memory)):
        file_uri = encoder_for(FILE)(str(source)).scalar.blob.uri
        dir_uri = encoder_for(DIRECTORY)(tree).scalar.blob.uri
    fs = fsspec.filesystem("memory")
    assert file_uri.startswith(memory) and fs.cat_file(file_uri) == b"up"
    assert sorted(p.rsplit("/", 2)[-2:][-1] for p in fs.find(dir_uri)) == ["a.txt", "b.txt"]
    assert fs.cat_file(f"{dir_uri}/sub/b.txt") == b"b"
    with using_context(ExecutionContext(working_dir=str(tmp_path))):
        back = Directory.from_uri(dir_uri)
        assert back.listdir() == ["a.txt", os.path.join("sub", "b.txt")]


def test_directories_round_trip(raw: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    _write(tree / "x" / "y.txt", b"y")
    lit = encoder_for(DIRECTORY)(str(tree))
    assert lit.scalar.blob.metadata.type.dimensionality == types_pb2.BlobType.MULTIPART
    assert os.path.dirname(lit.scalar.blob.uri) == str(raw)
    value = decoder_for(DIRECTORY)(lit)
    assert isinstance(value, Directory) and value.listdir() == [os.path.join("x", "y.txt")]
    with pytest.raises(StorageError, match="inside the directory"), \
            using_context(ExecutionContext(raw_output_prefix=str(tree / "raw"))):
        encoder_for(DIRECTORY)(str(tree))


def test_a_file_inside_a_dataclass_decodes_from_its_dict() -> None:
    lit = literals_pb2.Literal()
    lit.scalar.generic.update({"path": "s3://b/k.txt"})
    assert decoder_for(FILE)(lit) == File.from_uri("s3://b/k.txt")


def test_blob_values_from_text() -> None:
    assert parse_text_value("f", FILE, "s3://b/k") == "s3://b/k"


# --- structured datasets --------------------------------------------------------------

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

DATASET = LiteralType(structured_dataset_type=types_pb2.StructuredDatasetType())
SCHEMA = LiteralType(schema=types_pb2.SchemaType())
ROWS = [{"name": "alice", "age": 34}, {"name": "bob", "age": None}]


def typed_schema() -> Any:
    """``FlyteSchema[kwtypes(name=str, age=int)]``, as the SQLite3Task fixture declares."""
    return json_format.ParseDict({"schema": {"columns": [
        {"name": "name", "type": "STRING"}, {"name": "age"}]}}, LiteralType())


def test_a_schema_output_is_written_as_flytekit_writes_it(raw: Path) -> None:
    for lt in (SCHEMA, typed_schema()):
        lit = encoder_for(lt)(ROWS)
        dataset = lit.scalar.structured_dataset
        assert json_format.MessageToDict(dataset.metadata) == {
            "structuredDatasetType": {"format": "parquet"}}  # no columns, as flytekit
        assert os.path.dirname(dataset.uri) == str(raw)
        assert os.listdir(dataset.uri) == ["00000"]
        table = pq.read_table(os.path.join(dataset.uri, "00000"))
        assert table.to_pylist() == ROWS
        assert decoder_for(lt)(lit).to_pylist() == ROWS


def test_a_structured_dataset_output_keeps_its_declared_type(raw: Path) -> None:
    lt = json_format.ParseDict({"structuredDatasetType": {"columns": [
        {"name": "age", "literalType": {"simple": "INTEGER"}}]}}, LiteralType())
    lit = encoder_for(lt)(pa.Table.from_pylist(ROWS))
    assert json_format.MessageToDict(lit.scalar.structured_dataset.metadata) == {
        "structuredDatasetType": {"format": "parquet", "columns": [
            {"name": "age", "literalType": {"simple": "INTEGER"}}]}}
    assert decoder_for(lt)(lit).column_names == ["age"]  # declared columns only
    assert decoder_for(DATASET)(lit).column_names == ["name", "age"]


def test_declared_columns_must_be_there(raw: Path) -> None:
    with pytest.raises(Mismatch) as info:
        encoder_for(typed_schema())([{"name": "x"}])
    assert "without the declared column(s) 'age'" in info.value.got


def test_an_empty_result_keeps_its_columns_and_declared_types(raw: Path) -> None:
    class Rows(list[dict[str, Any]]):
        columns = ("name", "age")

    table = decoder_for(SCHEMA)(encoder_for(SCHEMA)(Rows()))
    assert table.column_names == ["name", "age"] and table.num_rows == 0
    typed = decoder_for(typed_schema())(encoder_for(typed_schema())([]))
    assert str(typed.schema.field("age").type) == "int64"
    nulls = decoder_for(typed_schema())(encoder_for(typed_schema())(
        [{"name": "a", "age": None}]))
    assert str(nulls.schema.field("age").type) == "int64"


@pytest.mark.parametrize(("value", "needle"), [
    (42, "give a pyarrow.Table"),
    ([1, 2], "record [0] int 1, not a dict"),
    ([{"a": 1}, {"a": "x"}], "records pyarrow cannot make a table of"),
])
def test_wrong_dataset_values(raw: Path, value: Any, needle: str) -> None:
    with pytest.raises(Mismatch) as info:
        encoder_for(DATASET)(value)
    assert needle in info.value.got


def test_a_pandas_dataframe_is_written_as_to_parquet_writes_it(raw: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    lit = encoder_for(DATASET)(frame)
    table = decoder_for(DATASET)(lit)
    assert table.to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert b"pandas" in (table.schema.metadata or {})


def test_datasets_already_written_are_referenced_or_uploaded(raw: Path, tmp_path: Path) -> None:
    part = tmp_path / "given.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), part)
    lit = encoder_for(DATASET)(str(part))
    assert os.path.dirname(lit.scalar.structured_dataset.uri) == str(raw)
    assert decoder_for(DATASET)(lit).to_pylist() == ROWS
    assert encoder_for(DATASET)("s3://b/d").scalar.structured_dataset.uri == "s3://b/d"
    with pytest.raises(Mismatch, match="dataset"):
        encoder_for(DATASET)(str(tmp_path / "missing"))
    assert parse_text_value("d", DATASET, "s3://b/d") == "s3://b/d"


def test_datasets_are_read_from_remote_storage(memory: str) -> None:
    with using_context(ExecutionContext(raw_output_prefix=memory)):
        lit = encoder_for(DATASET)(ROWS)
    assert lit.scalar.structured_dataset.uri.startswith(memory)
    assert decoder_for(DATASET)(lit).to_pylist() == ROWS


# --- streamed datasets: a RecordBatchReader or an iterator of batches ----------------------


def _batches(count: int, rows: int = 100, peak: list[int] | None = None,
             fail: BaseException | None = None) -> Iterator[Any]:
    """``count`` batches of ``rows`` rows; ``peak`` collects Arrow's allocated bytes."""
    for i in range(count):
        if peak is not None:
            peak.append(pa.total_allocated_bytes())
        yield pa.record_batch([pa.array(range(i * rows, (i + 1) * rows)),
                               pa.array([f"row {i}"] * rows)], names=["id", "label"])
    if fail is not None:
        raise fail


def test_a_record_batch_reader_is_written_batch_by_batch(raw: Path) -> None:
    peak: list[int] = []
    schema = pa.schema([("id", pa.int64()), ("label", pa.string())])
    one = pa.record_batch([pa.array(range(50_000)), pa.array(["row 10"] * 50_000)],
                          schema=schema).nbytes
    before = pa.total_allocated_bytes()
    reader = pa.RecordBatchReader.from_batches(schema, _batches(40, 50_000, peak=peak))
    lit = encoder_for(SCHEMA)(reader)
    # Arrow memory while producing batch i never holds the earlier ones: 40 batches
    # written, at most a few alive at any time.
    assert max(peak) - before < 4 * one, (max(peak) - before, one)
    part = os.path.join(lit.scalar.structured_dataset.uri, "00000")
    assert os.path.dirname(lit.scalar.structured_dataset.uri) == str(raw)
    assert pq.ParquetFile(part).metadata.num_row_groups == 40  # one row group per batch
    table = decoder_for(SCHEMA)(lit)
    assert table.num_rows == 2_000_000
    assert table.column("id").to_pylist()[-3:] == [1_999_997, 1_999_998, 1_999_999]


def test_an_iterator_of_batches_is_a_stream_too(raw: Path, memory: str) -> None:
    lit = encoder_for(DATASET)(_batches(3))
    assert decoder_for(DATASET)(lit).num_rows == 300
    with using_context(ExecutionContext(raw_output_prefix=memory)):
        remote = encoder_for(DATASET)(_batches(2))
    assert remote.scalar.structured_dataset.uri.startswith(memory)
    assert decoder_for(DATASET)(remote).column("label").to_pylist()[-1] == "row 1"
    empty = pa.RecordBatchReader.from_batches(pa.schema([("id", pa.int64())]), iter([]))
    table = decoder_for(DATASET)(encoder_for(DATASET)(empty))
    assert table.num_rows == 0 and table.column_names == ["id"]


class _Source:
    """An iterator of batches that says its schema (it may be empty) and records close()."""

    def __init__(self, batches: list[Any]) -> None:
        self.schema = pa.schema([("id", pa.int64()), ("label", pa.string())])
        self._batches = iter(batches)
        self.closed = 0

    def __iter__(self) -> _Source:
        return self

    def __next__(self) -> Any:
        return next(self._batches)

    def close(self) -> None:
        self.closed += 1


def test_a_stream_is_closed_once_written_or_refused(raw: Path) -> None:
    empty = _Source([])
    table = decoder_for(DATASET)(encoder_for(DATASET)(empty))
    assert table.num_rows == 0 and table.column_names == ["id", "label"]
    assert empty.closed == 1
    full = _Source(list(_batches(2)))
    assert decoder_for(DATASET)(encoder_for(DATASET)(full)).num_rows == 200
    assert full.closed == 1
    refused = _Source(list(_batches(2)))
    with pytest.raises(Mismatch):
        encoder_for(typed_schema())(refused)  # no 'name', no 'age' column
    assert refused.closed == 1
    failing = _Source([*_batches(1), "not a batch"])
    with pytest.raises(pa.ArrowTypeError):  # what reading the stream raised
        encoder_for(DATASET)(failing)
    assert failing.closed == 1


@pytest.mark.parametrize(("value", "needle"), [
    (iter([]), "an empty iterator"),
    (iter([{"id": 1}]), "an iterator of dict"),
])
def test_wrong_streams(raw: Path, value: Any, needle: str) -> None:
    with pytest.raises(Mismatch) as info:
        encoder_for(DATASET)(value)
    assert needle in info.value.got


def test_a_stream_without_the_declared_columns_is_refused_before_reading(raw: Path) -> None:
    pulled: list[int] = []

    def batches() -> Iterator[Any]:
        pulled.append(1)
        yield pa.record_batch([pa.array(["x"])], names=["name"])

    reader = pa.RecordBatchReader.from_batches(pa.schema([("name", pa.string())]), batches())
    with pytest.raises(Mismatch) as info:
        encoder_for(typed_schema())(reader)
    assert "without the declared column(s) 'age'" in info.value.got
    assert pulled == [] and not raw.exists()


@pytest.mark.parametrize("fault", [KeyError("the producer's own fault"),
                                   StorageError("db://x", "read", "connection lost")])
def test_what_a_stream_raises_passes_through_and_leaves_no_partial_file(
    raw: Path, fault: BaseException
) -> None:
    with pytest.raises(type(fault)) as info:
        encoder_for(DATASET)(_batches(3, fail=fault))
    assert info.value is fault
    assert not raw.exists() or os.listdir(raw) == []


def test_legacy_schema_and_dataclass_forms_are_read(raw: Path) -> None:
    written = encoder_for(DATASET)(ROWS).scalar.structured_dataset.uri
    legacy = literals_pb2.Literal()
    legacy.scalar.schema.uri = written
    assert decoder_for(SCHEMA)(legacy).to_pylist() == ROWS
    inside = literals_pb2.Literal()
    inside.scalar.generic.update({"uri": written, "file_format": "parquet"})
    assert decoder_for(DATASET)(inside).to_pylist() == ROWS
    csv = literals_pb2.Literal()
    csv.scalar.structured_dataset.uri = written
    csv.scalar.structured_dataset.metadata.structured_dataset_type.format = "csv"
    with pytest.raises(Mismatch, match="only parquet"):
        decoder_for(DATASET)(csv)


def test_a_template_with_a_schema_output_end_to_end(raw: Path) -> None:
    tt = make_template("q", "q", inputs={"n": int}, outputs={"results": typed_schema()})
    codec = InterfaceCodec(tt.interface)
    out = codec.encode_outputs(ROWS)
    assert codec.decode_outputs(out)["results"].to_pylist() == ROWS
    with pytest.raises(ValueTypeError, match="output 'results': expected schema"):
        codec.encode_outputs([{"name": "x"}])
    assert current_context().raw_output_prefix == str(raw)


def test_flytekit_s_sqlite3_task_interface_end_to_end(raw: Path) -> None:
    """The template and inputs.pb that real flytekit wrote (tests/data/flytekit)."""
    from shimtask_core.template import parse_template

    data = Path(__file__).parent / "data" / "flytekit"
    inputs = literals_pb2.LiteralMap()
    inputs.ParseFromString((data / "inputs.pb").read_bytes())
    for name in ("sqlite3_task.pb", "sqlite3_task_typed.pb"):
        codec = InterfaceCodec(parse_template((data / name).read_bytes()).interface)
        assert codec.decode_inputs(inputs) == {"name": "alice", "min_age": 30}
        out = codec.encode_outputs([{"name": "alice", "age": 34}])
        dataset = out.literals["results"].scalar.structured_dataset
        assert dataset.metadata.structured_dataset_type.format == "parquet"
        assert not dataset.metadata.structured_dataset_type.columns
        assert codec.decode_outputs(out)["results"].to_pylist() == [{"name": "alice", "age": 34}]


def test_other_dataset_formats_are_unsupported() -> None:
    from shimtask_core import UnsupportedType

    csv = LiteralType(structured_dataset_type=types_pb2.StructuredDatasetType(format="csv"))
    for build in (encoder_for, decoder_for):
        with pytest.raises(UnsupportedType, match=r"structured dataset\(csv\)"):
            build(csv)
