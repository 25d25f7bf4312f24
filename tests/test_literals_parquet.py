"""The parquet writer datasets are written with, and the Arrow memory pool they use.

``shimtask_core.literals.parquet`` calls the writer class ``pyarrow.parquet`` wraps,
without importing ``pyarrow.parquet`` (and ``pyarrow.fs`` with every file system
pyarrow ships). These tests hold it to writing the same file, byte for byte, as
``pyarrow.parquet.write_table`` and ``pyarrow.parquet.ParquetWriter`` do, for the
installed pyarrow: when pyarrow is upgraded they say whether the new release can be
added to ``VERIFIED_MAJORS``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from shimtask_core.literals import parquet  # noqa: E402

UTC = dt.timezone.utc


def tables() -> dict[str, Any]:
    return {
        "sqlite rows": pa.Table.from_pydict({"name": ["alice", "bob", "alice", None],
                                             "age": [34, 27, None, 41]}),
        "types": pa.table({
            "i": pa.array([1, None, 3], pa.int32()),
            "f": [0.5, float("nan"), -1.0],
            "b": [True, False, None],
            "s": ["x", "é", ""],
            "raw": [b"\x00", None, b"abc"],
            "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None,
                            dt.datetime(1970, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "ns": pa.array([1000, 2000, None], pa.timestamp("ns")),
            "d": pa.array([dt.timedelta(seconds=1), None, dt.timedelta(0)], pa.duration("us")),
            "l": [[1, 2], [], None],
            "m": [{"k": 1}, None, {"k": 2}],
        }),
        "many rows": pa.table({"n": pa.array(range(200_000)),
                               "cat": pa.array([f"c{i % 7}" for i in range(200_000)])}),
        "empty": pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())}),
        "no columns": pa.table({}),
    }


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer class itself, whatever release of pyarrow is installed."""
    major = int(pa.__version__.split(".")[0])
    monkeypatch.setattr(parquet, "VERIFIED_MAJORS", frozenset({major}))


@pytest.mark.parametrize("name", list(tables()))
@pytest.mark.parametrize("options", [{}, {"coerce_timestamps": "us",
                                          "allow_truncated_timestamps": False}],
                         ids=["default", "as DataFrame.to_parquet"])
def test_a_table_is_written_as_pyarrow_parquet_writes_it(
    lean: None, tmp_path: Path, name: str, options: dict[str, Any]
) -> None:
    table = tables()[name]
    parquet.write_table(table, str(tmp_path / "ours"), **options)
    pq.write_table(table, str(tmp_path / "theirs"), **options)
    assert (tmp_path / "ours").read_bytes() == (tmp_path / "theirs").read_bytes()
    with open(tmp_path / "to-a-file-object", "wb") as fh:  # what an fsspec upload gets
        parquet.write_table(table, fh, **options)
    assert (tmp_path / "to-a-file-object").read_bytes() == (tmp_path / "theirs").read_bytes()
    assert pq.read_table(tmp_path / "ours").num_rows == table.num_rows


def test_a_stream_is_written_batch_by_batch_as_the_wrapper_writes_it(
    lean: None, tmp_path: Path
) -> None:
    table = tables()["many rows"]
    batches = table.to_batches(max_chunksize=30_000)
    with parquet.ParquetWriter(str(tmp_path / "ours"), table.schema) as writer:
        assert not writer.wrapped
        for batch in batches:
            writer.write_batch(batch)
    with pq.ParquetWriter(str(tmp_path / "theirs"), table.schema) as theirs:
        for batch in batches:
            theirs.write_batch(batch)
    assert (tmp_path / "ours").read_bytes() == (tmp_path / "theirs").read_bytes()
    assert pq.ParquetFile(tmp_path / "ours").metadata.num_row_groups == len(batches)


def test_the_wrappers_defaults_are_the_ones_passed() -> None:
    """What WRAPPER_DEFAULTS passes is what pyarrow.parquet.ParquetWriter passes (it
    hard-codes the engine version and turns a None int96 switch off)."""
    wrapper = inspect.signature(pq.ParquetWriter.__init__).parameters
    for name, value in parquet.WRAPPER_DEFAULTS.items():
        if name == "writer_engine_version":
            assert "engine_version = 'V2'" in inspect.getsource(pq.ParquetWriter.__init__)
        elif name == "use_deprecated_int96_timestamps":
            assert wrapper[name].default is None  # None -> False without a spark flavor
        else:
            assert wrapper[name].default == value, name


def test_another_pyarrow_release_uses_the_wrapper(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(parquet, "VERIFIED_MAJORS", frozenset())
    table = tables()["sqlite rows"]
    with parquet.ParquetWriter(str(tmp_path / "ours"), table.schema) as writer:
        assert writer.wrapped
        writer.write_table(table)
    pq.write_table(table, str(tmp_path / "theirs"))
    assert (tmp_path / "ours").read_bytes() == (tmp_path / "theirs").read_bytes()


def test_a_failed_write_leaves_no_file(lean: None, tmp_path: Path) -> None:
    """The file is created before the schema is refused (a union has no parquet type)."""
    union = pa.UnionArray.from_sparse(pa.array([0, 1], pa.int8()),
                                      [pa.array([1, 2]), pa.array(["a", "b"])])
    target = tmp_path / "part"
    with pytest.raises(pa.ArrowNotImplementedError):
        parquet.write_table(pa.table({"u": union}), str(target))
    assert not target.exists()


# --- in a fresh process: what writing a dataset imports, and the pool ------------------

WRITE = """
import json, os, sys, tempfile
from shimtask_core.context import ExecutionContext, using_context
from shimtask_core.literals import InterfaceCodec, LiteralType
from shimtask_core import make_template
tt = make_template("t", "t", outputs={"rows": LiteralType(structured_dataset_type={})})
codec = InterfaceCodec(tt.interface)
with using_context(ExecutionContext(raw_output_prefix=tempfile.mkdtemp())):
    codec.outputs["rows"].encode([{"name": "alice", "age": 34}])
import pyarrow
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.startswith("pyarrow")),
    "pool": pyarrow.default_memory_pool().backend_name,
    "env": os.environ.get("ARROW_DEFAULT_MEMORY_POOL"),
    "mimalloc_peak": pyarrow.mimalloc_memory_pool().max_memory(),
}))
"""


def _write_in_a_fresh_process(env: dict[str, str] | None = None) -> dict[str, Any]:
    environ = {k: v for k, v in os.environ.items() if k != parquet.POOL_ENV}
    environ.update(env or {})
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(WRITE)], env=environ,
                          capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_writing_a_dataset_loads_neither_pyarrow_parquet_nor_its_file_systems() -> None:
    major = int(pa.__version__.split(".")[0])
    if major not in parquet.VERIFIED_MAJORS:
        pytest.skip(f"pyarrow {pa.__version__} is written through pyarrow.parquet")
    modules = _write_in_a_fresh_process()["modules"]
    assert "pyarrow._parquet" in modules
    assert not [m for m in modules if m.startswith(("pyarrow.parquet", "pyarrow.fs",
                                                    "pyarrow._fs", "pyarrow._s3fs"))]


def test_datasets_use_the_system_allocator_and_leave_the_environment_alone() -> None:
    result = _write_in_a_fresh_process()
    assert result["pool"] == "system"
    assert result["mimalloc_peak"] == 0  # nor Arrow's C++ default, which the writer also uses
    assert result["env"] is None  # set for pyarrow's import only: children do not inherit it


def test_an_explicit_arrow_default_memory_pool_is_obeyed() -> None:
    if not hasattr(pa, "mimalloc_memory_pool"):
        pytest.skip("this pyarrow has no mimalloc")
    try:
        pa.mimalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow was built without mimalloc")
    result = _write_in_a_fresh_process({parquet.POOL_ENV: "mimalloc"})
    assert result["pool"] == "mimalloc"
    assert result["env"] == "mimalloc"
