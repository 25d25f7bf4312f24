"""Writing parquet with pyarrow's own writer, and the Arrow memory pool datasets use.

Why not ``pyarrow.parquet`` for writing: importing it imports ``pyarrow.fs``, and with it
every file system pyarrow ships (S3, GCS, Azure, HDFS: ``libarrow_s3``, OpenSSL), and
``inspect``, ``json`` and ``pathlib``: about 10 MB of a cold process's peak memory and
~15 ms, none of which writing to a local path or to an fsspec file object needs.
``pyarrow.parquet.ParquetWriter`` is a thin wrapper around the writer class of
``pyarrow._parquet``; here that class is called with the wrapper's own defaults
(:data:`WRAPPER_DEFAULTS`), so the file is the one ``pyarrow.parquet.write_table``
writes, byte for byte (``tests/test_literals_parquet.py`` compares them). That is
verified for the pyarrow releases in :data:`VERIFIED_MAJORS`; under any other release,
or if the class is missing, the wrapper is used.

The memory pool: pyarrow's default allocator (mimalloc) keeps freed memory for reuse.
A ``shimtask execute`` writes its datasets once and exits, so what it keeps is only a
higher peak (4 MB for the first array of a SQLite3Task's rows, ~15 MB while a
100,000-row DuckDB result is written). Datasets therefore use the system allocator,
unless ``ARROW_DEFAULT_MEMORY_POOL`` (pyarrow's own variable: ``mimalloc``,
``jemalloc`` or ``system``) chooses one, which is then left as pyarrow set it.
"""

from __future__ import annotations

import contextlib
import os
import threading  # protobuf has imported it: free here
from typing import Any, Final

#: pyarrow's own variable choosing its default memory pool; when set, it is obeyed.
POOL_ENV: Final = "ARROW_DEFAULT_MEMORY_POOL"

#: The arguments ``pyarrow.parquet.ParquetWriter`` passes its writer class where that
#: class's own defaults differ (the others are equal in both).
WRAPPER_DEFAULTS: Final[dict[str, Any]] = {
    "version": "2.6",
    "use_dictionary": True,
    "compression": "snappy",
    "write_statistics": True,
    "use_deprecated_int96_timestamps": False,
    "writer_engine_version": "V2",
    "data_page_version": "1.0",
    "use_compliant_nested_type": True,
    "store_schema": True,
}
#: pyarrow major releases whose wrapper defaults are the table above (checked by tests).
VERIFIED_MAJORS: Final = frozenset({26})

_arrow: Any = None
_choosing = threading.Lock()  # serve's workers may ask for it first at the same time


def arrow() -> Any:
    """``pyarrow``, with the memory pool chosen once (raises ImportError without it)."""
    global _arrow
    if _arrow is None:
        with _choosing:
            if _arrow is None:
                if os.environ.get(POOL_ENV, "").strip():
                    import pyarrow  # the user's choice, applied by pyarrow itself
                else:
                    pyarrow = _import_with_system_pool()
                    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
                _arrow = pyarrow
    return _arrow


def _import_with_system_pool() -> Any:
    """Import pyarrow with ``ARROW_DEFAULT_MEMORY_POOL=system`` for the import only.

    Arrow's C++ default pool (what the parquet writer uses inside, besides the pool
    it is given) is chosen from that variable when pyarrow is imported; it is removed
    again at once, so that no child process inherits it. If pyarrow was imported
    already (by an executor), only the pool pyarrow hands out is set, by the caller.
    """
    import sys

    if "pyarrow" in sys.modules:
        import pyarrow

        return pyarrow
    os.environ[POOL_ENV] = "system"
    try:
        import pyarrow
    finally:
        os.environ.pop(POOL_ENV, None)
    return pyarrow


def _writer_class(pa: Any) -> Any | None:
    """pyarrow's own parquet writer class, where its use is verified; else None."""
    try:
        major = int(str(pa.__version__).split(".", 1)[0])
    except ValueError:
        return None
    if major not in VERIFIED_MAJORS:
        return None
    try:
        from pyarrow._parquet import ParquetWriter
    except ImportError:  # pragma: no cover - a pyarrow built without parquet
        return None
    return ParquetWriter


class ParquetWriter:
    """A parquet file being written to ``where`` (a local path or a binary file object),
    with ``options`` as ``pyarrow.parquet.ParquetWriter`` takes them."""

    def __init__(self, where: Any, schema: Any, **options: Any) -> None:
        pa = arrow()
        cls = _writer_class(pa)
        #: True when pyarrow.parquet (the wrapper) is writing.
        self.wrapped = cls is None
        if cls is None:
            import pyarrow.parquet

            self._writer = pyarrow.parquet.ParquetWriter(where, schema, **options)
        else:
            self._writer = cls(where, schema, **{**WRAPPER_DEFAULTS, **options})
        self._table_from_batches = pa.Table.from_batches
        self._open = True

    def write_table(self, table: Any) -> None:
        """One table: row groups of at most 1024 * 1024 rows, as the wrapper writes them."""
        self._writer.write_table(table, row_group_size=None)

    def write_batch(self, batch: Any) -> None:
        """One record batch as a row group (as ``ParquetWriter.write_batch``)."""
        self.write_table(self._table_from_batches([batch], batch.schema))

    def close(self) -> None:
        if self._open:
            self._open = False
            self._writer.close()

    def __enter__(self) -> ParquetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_table(table: Any, where: Any, **options: Any) -> None:
    """``pyarrow.parquet.write_table(table, where, **options)``; a local file left by a
    failure is removed, as that function does."""
    try:
        with ParquetWriter(where, table.schema, **options) as writer:
            writer.write_table(table)
    except Exception:
        if isinstance(where, (str, os.PathLike)):
            with contextlib.suppress(OSError):
                os.remove(where)
        raise


__all__ = ["POOL_ENV", "VERIFIED_MAJORS", "WRAPPER_DEFAULTS", "ParquetWriter", "arrow",
           "write_table"]
