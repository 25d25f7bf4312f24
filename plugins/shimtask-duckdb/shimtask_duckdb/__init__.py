"""shimtask executor ``duckdb``: SQL over structured datasets, files and bound values.

A template names it with ``custom = {"executor_type": "duckdb", "query_template": ...}``
(or type ``duckdb`` and no ``executor_type``). ``query_template`` is one SQL
statement, or a list of statements run in order on one in-memory database; the
last one's rows are the result.

* **structured-dataset inputs are views** named after the input
  (``select ... from sales`` for an input ``sales``); local parquet is scanned
  by DuckDB where it lies, remote data comes through shimtask's storage layer
  (fsspec), never through DuckDB's own network access or credentials;
* **file and directory inputs** (parquet, CSV, ... blobs) are bound as their local
  path: ``read_csv({{ .inputs.f }})``;
* **every other input is a bound parameter** (``{{ .inputs.x }}``, quoted
  string placeholders included, through ``shimtask_core.compile_query``); a
  value is never pasted into SQL;
* **the result** is the last statement's rows: a parquet structured dataset
  streamed batch by batch from DuckDB's Arrow reader when the template declares
  one dataset output, or, when it declares other outputs, the columns of the
  first row named after them, checked against their declared types.

A DuckDB error (syntax, unknown table or column, a failed cast) is the user's:
it carries DuckDB's message and the statement. See docs/plugins/duckdb.md.
"""

from __future__ import annotations

from ._executor import DuckDBExecutor

__all__ = ["DuckDBExecutor"]
__version__ = "0.1.0"
