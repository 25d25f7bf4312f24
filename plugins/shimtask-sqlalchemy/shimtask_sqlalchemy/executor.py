"""The ``sqlalchemy`` executor: one statement against any SQLAlchemy database URI."""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from shimtask_core import (
    ExecutorFailed,
    ShimTaskError,
    ShimTaskExecutor,
    TemplateError,
    compile_query,
    custom_of,
    interruptible,
)

from .arrow import BatchMaker, ColumnTypeError, Hint, postgres_hints
from .faults import NoRows, Phase, translate
from .redaction import Redactor, mask_uri
from .secrets import SecretRef, parse_secret_connect_args, read_secret

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate
    from flyteidl.core.types_pb2 import LiteralType
    from sqlalchemy.engine import Connection, Engine

__all__ = ["QueryConfig", "RowBatches", "SQLAlchemyExecutor"]

EXECUTOR_TYPE = "sqlalchemy"
#: Rows fetched from the server and converted per batch (custom["batch_size"] overrides).
DEFAULT_BATCH_ROWS = 10_000
#: How many first batches may be read to find the type of a column that is all NULL so far.
_LOOKAHEAD_BATCHES = 8

_DATASET_KINDS = frozenset({"schema", "structured_dataset_type"})
# Statements PostgreSQL (and others) can run behind a server-side cursor: queries.
_LEADING_NOISE = re.compile(r"(\s+|--[^\n]*\n?|/\*.*?\*/|\()*", re.DOTALL)
_QUERY_WORDS = frozenset({"select", "with", "values", "table"})


@dataclass(frozen=True)
class QueryConfig:
    """``custom`` as flytekit's ``SQLAlchemyTask`` writes it (plus an optional batch size)."""

    query_template: str
    uri: str
    connect_args: dict[str, Any]
    secret_connect_args: dict[str, SecretRef]
    batch_size: int = DEFAULT_BATCH_ROWS

    @classmethod
    def from_template(cls, tt: TaskTemplate) -> QueryConfig:
        source = tt.id.name or None
        custom = custom_of(tt)
        strings = {}
        for key in ("query_template", "uri"):
            value = custom.get(key)
            if not isinstance(value, str) or not value.strip():
                raise TemplateError(
                    f"custom[{key!r}] must be a non-empty string (a SQLAlchemyTask template has "
                    f"query_template, uri, connect_args and secret_connect_args), got "
                    f"{type(value).__name__}", source=source)
            strings[key] = value
        connect_args = custom.get("connect_args") or {}
        if not isinstance(connect_args, Mapping):
            raise TemplateError(f"custom['connect_args'] must be a mapping, got "
                                f"{type(connect_args).__name__}", source=source)
        batch_size = custom.get("batch_size", DEFAULT_BATCH_ROWS)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise TemplateError(f"custom['batch_size'] must be a positive integer, got "
                                f"{batch_size!r}", source=source)
        return cls(strings["query_template"], strings["uri"], dict(connect_args),
                   parse_secret_connect_args(custom.get("secret_connect_args"), source=source),
                   batch_size)


class SQLAlchemyExecutor(ShimTaskExecutor[Any]):
    """Runs ``custom["query_template"]`` on the database at ``custom["uri"]``.

    With a declared output (a schema or structured dataset) the rows stream into
    parquet; without one the statement runs and commits, and nothing is returned.
    """

    task_type_versions: ClassVar[frozenset[int] | None] = None

    def execute_from_model(self, tt: TaskTemplate, /, **kwargs: Any) -> Any:
        source = tt.id.name or None
        config = QueryConfig.from_template(tt)
        output = _dataset_output(tt, source)
        secrets = {arg: read_secret(ref, arg) for arg, ref in config.secret_connect_args.items()}
        redact = Redactor.for_connection(config.uri, config.connect_args, secrets.values())
        database = redact(mask_uri(config.uri))
        engine = _engine(config.uri, {**config.connect_args, **secrets}, database, redact,
                         source)
        sql, params = compile_query(config.query_template, kwargs, engine.dialect.paramstyle,
                                    source=source)
        run = _Run(engine, sql, params, database, redact)
        if output is None:
            run.statement()
            return None
        return run.rows(config.batch_size, output)


def _dataset_output(tt: TaskTemplate, source: str | None) -> dict[str, Any] | None:
    """The declared columns' Arrow types of the one dataset output; None without outputs."""
    outputs = tt.interface.outputs.variables
    if not outputs:
        return None
    if len(outputs) > 1:
        raise TemplateError(
            f"the template declares outputs {', '.join(sorted(outputs))}; the sqlalchemy "
            f"executor has one output, the query's rows", source=source)
    ((name, variable),) = outputs.items()
    kind = variable.type.WhichOneof("type")
    if kind not in _DATASET_KINDS:
        from shimtask_core.literals import describe  # only for the error

        raise TemplateError(
            f"output {name!r} is {describe(variable.type)}; the sqlalchemy executor writes "
            f"the query's rows as a structured dataset: declare it as a FlyteSchema or "
            f"StructuredDataset (flytekit's SQLAlchemyTask does; pyarrow.Table in "
            f"make_template)", source=source)
    return _declared_arrow_types(variable.type)


def _declared_arrow_types(lt: LiteralType) -> dict[str, Any]:
    import pyarrow as pa
    from flyteidl.core import types_pb2

    simple = {types_pb2.INTEGER: pa.int64(), types_pb2.FLOAT: pa.float64(),
              types_pb2.STRING: pa.string(), types_pb2.BOOLEAN: pa.bool_(),
              types_pb2.DATETIME: pa.timestamp("us", tz="UTC"),
              types_pb2.DURATION: pa.duration("us")}
    column = types_pb2.SchemaType.SchemaColumn
    legacy = {column.INTEGER: types_pb2.INTEGER, column.FLOAT: types_pb2.FLOAT,
              column.STRING: types_pb2.STRING, column.BOOLEAN: types_pb2.BOOLEAN,
              column.DATETIME: types_pb2.DATETIME, column.DURATION: types_pb2.DURATION}
    found: dict[str, Any] = {}
    if lt.WhichOneof("type") == "schema":
        for c in lt.schema.columns:
            arrow = simple.get(legacy.get(c.type, -1))
            if arrow is not None:
                found[c.name] = arrow
    else:
        for c in lt.structured_dataset_type.columns:
            if c.literal_type.WhichOneof("type") == "simple" and c.literal_type.simple in simple:
                found[c.name] = simple[c.literal_type.simple]
    return found


def _engine(uri: str, connect_args: dict[str, Any], database: str,
            redact: Redactor, source: str | None) -> Engine:
    """An engine that opens one connection, no pool (a task runs one statement)."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        return sqlalchemy.create_engine(uri, connect_args=connect_args, poolclass=NullPool,
                                        hide_parameters=True)
    except ModuleNotFoundError as exc:
        from shimtask_core import MissingDependency

        hint = (" (or write postgresql+psycopg:// to use psycopg 3, which this plugin "
                "installs)" if exc.name == "psycopg2" else "")
        raise MissingDependency(exc.name or "the database driver",
                                purpose=f"the database URI {database}{hint}") from None
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ValueError,
            TypeError) as exc:
        raise TemplateError(f"custom['uri'] is not a database URI SQLAlchemy can use: "
                            f"{redact(str(exc))}", source=source) from None


class RowBatches(Iterator[Any]):
    """A query's rows as ``pyarrow.RecordBatch``es of one ``schema``, fetched as iterated.

    The core's dataset writer streams them to parquet and then calls :meth:`close`,
    which ends the connection (rolling back unless every row was read, which
    commits). Dropped unclosed, the connection still closes.
    """

    def __init__(self, schema: Any, batches: Iterator[Any], connection: Connection) -> None:
        self.schema = schema
        self._batches = batches
        self._finalizer = weakref.finalize(self, connection.close)

    def __iter__(self) -> RowBatches:
        return self

    def __next__(self) -> Any:
        return next(self._batches)

    def close(self) -> None:
        """Stop fetching and close the connection (idempotent)."""
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()
        self._finalizer()

    def read_all(self) -> Any:
        """Every remaining row as one ``pyarrow.Table`` (for tests and small results)."""
        import pyarrow as pa

        try:
            return pa.Table.from_batches(list(self), schema=self.schema)
        finally:
            self.close()


class _Run:
    """One statement on one connection, with every error translated and scrubbed."""

    def __init__(self, engine: Engine, sql: str, params: Any, database: str,
                 redact: Redactor) -> None:
        self.engine = engine
        self.sql = sql
        # a tuple: SQLAlchemy reads a list of parameters as executemany's list of rows
        self.params = params if isinstance(params, dict) else tuple(params)
        self.database = database
        self.redact = redact

    def fault(self, exc: BaseException, phase: Phase) -> Exception:
        if isinstance(exc, (ShimTaskError, ColumnTypeError, NoRows)):
            return exc
        return translate(exc, phase=phase, database=self.database, statement=self.sql,
                         redact=self.redact)

    def connect(self) -> Connection:
        try:
            return self.engine.connect()
        except Exception as exc:
            raise self.fault(exc, "connect") from None

    def statement(self) -> None:
        """Run the statement in a transaction and commit it; any rows are discarded."""
        connection = self.connect()
        try:
            with interruptible(_canceller(connection)), connection.begin():
                connection.exec_driver_sql(self.sql, self.params).close()
        except Exception as exc:
            raise self.fault(exc, "execute") from None
        finally:
            connection.close()

    def rows(self, batch_size: int, declared: Mapping[str, Any]) -> RowBatches:
        """The rows as RecordBatches fetched a batch at a time as they are iterated.

        The first batches are fetched now (the schema needs them, and errors in the
        statement surface here); the connection stays open until the batches are
        exhausted (the transaction then commits), closed or dropped.
        """
        connection = self.connect()
        cancel = _canceller(connection)
        try:
            transaction = connection.begin()
            options = {"stream_results": True, "yield_per": batch_size} if _is_query(
                self.sql) else {}
            with interruptible(cancel):  # the query runs here, the first batches below
                result = connection.execution_options(**options).exec_driver_sql(
                    self.sql, self.params)
            if not result.returns_rows:
                raise NoRows(
                    f"the statement returns no rows, but the template declares an output for "
                    f"them; declare no output to run a statement (query: {self.sql})")
            names = list(map(str, result.keys()))
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise NoRows(
                    f"the query returns more than one column named "
                    f"{', '.join(map(repr, duplicates))}; a dataset's columns need distinct "
                    f"names: give each its own with AS (query: {self.sql})")
            maker = BatchMaker(names, self._hints(result, len(names)), declared)
            partitions = result.partitions(batch_size)
            first: list[Any] = []
            with interruptible(cancel):
                for rows in partitions:
                    first.append(rows)
                    maker.observe(rows)
                    if maker.resolved or len(first) >= _LOOKAHEAD_BATCHES:
                        break
            schema = maker.schema()
        except Exception as exc:
            connection.close()
            raise self.fault(exc, "execute") from None

        def batches() -> Iterator[Any]:
            try:
                while first:
                    yield maker.batch(first.pop(0))
                while True:
                    with interruptible(cancel):  # each fetch, not the writer between them
                        rows = next(partitions, None)
                    if rows is None:
                        break
                    yield maker.batch(rows)
                transaction.commit()
            except Exception as exc:
                fault = self.fault(exc, "execute")
                if isinstance(fault, ShimTaskError):
                    raise fault from None
                # read by the core's dataset writer, outside the executor call: say whose
                raise ExecutorFailed(EXECUTOR_TYPE, fault) from None
            finally:
                connection.close()

        return RowBatches(schema, batches(), connection)

    def _hints(self, result: Any, count: int) -> list[Hint | None]:
        description = getattr(result.cursor, "description", None)
        if self.engine.dialect.name == "postgresql" and description:
            return postgres_hints(description)
        return [None] * count


def _canceller(connection: Connection) -> Callable[[], None]:
    """What stops the connection's running statement from another thread: the driver's
    ``cancel()`` (psycopg, psycopg2: a cancel request to the server) or ``interrupt()``
    (sqlite3); nothing for a driver with neither."""
    try:
        driver = connection.connection.driver_connection
    except Exception:  # no driver connection to reach: nothing to stop
        driver = None
    for name in ("cancel", "interrupt"):
        method = getattr(driver, name, None)
        if callable(method):
            return method  # type: ignore[no-any-return]
    return _nothing


def _nothing() -> None:
    pass


def _is_query(sql: str) -> bool:
    """Whether the statement is a query (it may run behind a server-side cursor)."""
    match = re.match(r"[A-Za-z]+", sql[_LEADING_NOISE.match(sql).end():])  # type: ignore[union-attr]
    return match is not None and match.group().lower() in _QUERY_WORDS
