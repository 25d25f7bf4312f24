"""The executor: statements in order on one in-memory database, the last one's rows out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from shimtask_core import (
    OutputMismatch,
    ShimTaskExecutor,
    TemplateError,
    custom_of,
    interruptible,
)

from . import _inputs, _results

if TYPE_CHECKING:
    import duckdb
    from flyteidl.core.tasks_pb2 import TaskTemplate

#: DuckDB never downloads an extension while a task runs (httpfs and friends stay out:
#: remote data comes through shimtask's storage layer).
_CONFIG: dict[str, Any] = {"autoinstall_known_extensions": False}


class DuckDBExecutor(ShimTaskExecutor[Any]):
    """Runs ``custom["query_template"]`` (a statement or a list of them) in DuckDB."""

    task_type_versions: ClassVar[frozenset[int] | None] = None
    #: Dataset inputs arrive unread (DatasetRef): DuckDB scans local parquet by path.
    lazy_datasets: ClassVar[bool] = True

    def execute_from_model(self, tt: TaskTemplate, /, **kwargs: Any) -> Any:
        import duckdb  # here, not at import: listing or resolving executors stays cheap

        source = tt.id.name or None
        statements = statements_of(custom_of(tt), source)
        outputs = tt.interface.outputs.variables
        mode = _results.mode_of(outputs, source)
        views, values = _inputs.split(kwargs)
        _inputs.check_placeholders(statements, views, source)

        con = duckdb.connect(":memory:", config=_CONFIG)
        try:
            with interruptible(con.interrupt):  # a time limit or SIGTERM stops a query
                _inputs.create_views(con, views)
                relation = _run(con, statements, values, mode != "none", source)
                if mode == "none":
                    con.close()
                    return None
                if relation is None:
                    raise OutputMismatch(
                        f"{source or 'the template'}: the last statement returns no rows, "
                        f"but the template declares output(s) {', '.join(sorted(outputs))}; "
                        f"end query_template with a query", declared=sorted(outputs))
                try:  # DuckDB may run the query here, when its rows are first asked for
                    if mode == "row":
                        row = _results.first_row(relation, outputs, statements[-1])
                        con.close()
                        return row
                    # the dataset: the stream owns the connection and closes it when read
                    return _results.stream(con, relation, statements[-1])
                except duckdb.Error as exc:
                    raise _explained(exc, len(statements), len(statements),
                                     statements[-1]) from exc
        except BaseException:
            con.close()
            raise


def statements_of(custom: Mapping[str, Any], source: str | None) -> list[str]:
    """``custom["query_template"]`` as a non-empty list of statements."""
    query = custom.get("query_template")
    if isinstance(query, str) and query.strip():
        return [query]
    if (isinstance(query, list) and query
            and all(isinstance(q, str) and q.strip() for q in query)):
        return list(query)
    if query is None:
        hint = (" flytekit's DuckDBQuery keeps its query in Python code, not in the "
                "template: serialize the query into custom['query_template'] (see the "
                "shimtask-duckdb docs)" if not custom else "")
        raise TemplateError(
            f"custom['query_template'] is missing: a duckdb template holds its SQL there, "
            f"as one statement or a list of statements.{hint}", source=source)
    raise TemplateError(
        f"custom['query_template'] must be a non-empty string or a non-empty list of "
        f"non-empty strings (statements run in order), got {query!r}", source=source)


def _run(con: duckdb.DuckDBPyConnection, statements: list[str], values: Mapping[str, Any],
         want_result: bool, source: str | None) -> duckdb.DuckDBPyRelation | None:
    """Run every statement; the last one's relation when there are outputs to fill."""
    import duckdb

    from shimtask_core import compile_query

    relation = None
    count = len(statements)
    for number, statement in enumerate(statements, 1):
        sql, params = compile_query(statement, values, "qmark", source=source)
        try:
            if number == count and want_result:
                relation = con.sql(sql, params=params or None)
            else:
                con.execute(sql, params)
        except duckdb.Error as exc:
            raise _explained(exc, number, count, statement) from exc
    return relation


def _explained(exc: duckdb.Error, number: int, count: int, statement: str) -> duckdb.Error:
    """DuckDB's own exception and message, and which statement it came from."""
    where = f"statement {number} of {count}" if count > 1 else "the query"
    message = f"{exc}\n({where}: {statement.strip()})"
    if "only supported for the last statement" in str(exc):
        message += ("\nGive query_template as a list of statements: each one then binds "
                    "its own parameters.")
    try:
        return type(exc)(message)
    except TypeError:  # pragma: no cover - every duckdb exception takes a message today
        return exc
