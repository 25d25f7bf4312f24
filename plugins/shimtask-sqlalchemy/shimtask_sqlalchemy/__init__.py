"""shimtask executor ``sqlalchemy``: one SQL statement against any SQLAlchemy database.

It runs the templates flytekit's ``SQLAlchemyTask`` serializes (type
``sqlalchemy``, ``custom = {query_template, uri, connect_args,
secret_connect_args}``) unchanged, and templates made with
``shimtask_core.make_template(name, "sqlalchemy", custom={...})``.

* **inputs are bound, never pasted**: ``{{ .inputs.x }}`` placeholders become
  parameters of the driver's own paramstyle (``shimtask_core.compile_query``);
  ``'{{ .inputs.name }}'`` binds the value, its quotes dropped; a list in
  ``IN ({{ .inputs.ids }})`` is one parameter per element.
* **connect_args** go to the driver's ``connect()``; **secret_connect_args**
  (``{arg: {group, key}}``) are read as Flyte mounts secrets, the environment
  variable ``_FSEC_<GROUP>_<KEY>`` first, then ``/etc/secrets/<group>/<key>``, and
  never appear in a message, a log or ``error.pb`` (nor does the URI's password).
* **rows stream**: with a declared schema / structured-dataset output the query
  runs behind a server-side cursor and its rows are converted and written to
  parquet ``batch_size`` rows at a time (default 10,000; ``custom["batch_size"]``),
  so memory grows with the batch, not the result. Without outputs the statement
  runs and commits.
* **faults**: the database refusing the statement is the task's error (USER);
  a connection refused or dropped is the environment's (SYSTEM, recoverable).

PostgreSQL works out of the box (``postgresql+psycopg://``, psycopg 3 is a
dependency); other databases need their SQLAlchemy driver installed.
"""

from .executor import QueryConfig, RowBatches, SQLAlchemyExecutor
from .faults import ConnectionRejected, NoRows, QueryError
from .secrets import SecretNotFound, SecretRef

__all__ = [
    "ConnectionRejected",
    "NoRows",
    "QueryConfig",
    "QueryError",
    "RowBatches",
    "SQLAlchemyExecutor",
    "SecretNotFound",
    "SecretRef",
]
__version__ = "0.1.0"
