"""The parts that need no PostgreSQL: secrets, redaction, column typing, and SQLite.

SQLite through SQLAlchemy is a second dialect with another paramstyle (qmark)
and no type hints from its driver, so every column's type comes from its values.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from flyteidl.core import types_pb2

from shimtask_core import (
    ExecutorFailed,
    ExecutorRegistry,
    TemplateError,
    ValueTypeError,
    make_template,
    run_template,
)
from shimtask_core.context import ExecutionContext, using_context
from shimtask_core.errors import classify
from shimtask_sqlalchemy import QueryError, RowBatches, SecretNotFound, SecretRef
from shimtask_sqlalchemy.arrow import BatchMaker, ColumnTypeError, Hint
from shimtask_sqlalchemy.executor import SQLAlchemyExecutor, _is_query
from shimtask_sqlalchemy.redaction import Redactor, mask_uri
from shimtask_sqlalchemy.secrets import parse_secret_connect_args, read_secret

SCHEMA = types_pb2.LiteralType(schema=types_pb2.SchemaType())


# --- secrets ---------------------------------------------------------------------------------


def test_secret_names_follow_flyte_s_mounts() -> None:
    ref = SecretRef("Db-Creds", "Password")
    assert ref.env_var() == "_FSEC_DB-CREDS_PASSWORD"
    assert ref.file_path() == "/etc/secrets/db-creds/password"
    assert SecretRef(None, "token").env_var() == "_FSEC_TOKEN"
    assert SecretRef(None, "token").file_path("/s", "x-") == "/s/x-token"


def test_secrets_environment_first_then_file(tmp_path: Path) -> None:
    ref = SecretRef("pg", "password")
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "password").write_text("from-file\n")
    env = {"FLYTE_SECRETS_DEFAULT_DIR": str(tmp_path)}
    assert read_secret(ref, "password", env) == "from-file"
    assert read_secret(ref, "password", {**env, "_FSEC_PG_PASSWORD": " from-env "}) == "from-env"
    assert read_secret(ref, "password", {**env, "FLYTE_SECRETS_ENV_PREFIX": "X_",
                                         "X_PG_PASSWORD": "prefixed"}) == "prefixed"
    with pytest.raises(SecretNotFound) as info:
        read_secret(SecretRef("pg", "other"), "password", env)
    assert info.value.env_var == "_FSEC_PG_OTHER"
    assert info.value.path == str(tmp_path / "pg" / "other")


def test_secret_connect_args_as_flytekit_serializes_them() -> None:
    flytekit = {"password": {"group": "pg", "key": "password", "group_version": None,
                             "mount_requirement": 0}}
    assert parse_secret_connect_args(flytekit) == {"password": SecretRef("pg", "password")}
    assert parse_secret_connect_args(None) == {}
    for bad in (["password"], {"password": "pg"}, {"password": {"group": "pg"}},
                {"password": {"group": 1, "key": "k"}}):
        with pytest.raises(TemplateError, match="secret_connect_args"):
            parse_secret_connect_args(bad)


# --- redaction -------------------------------------------------------------------------------


def test_uris_are_shown_with_their_passwords_masked() -> None:
    assert mask_uri("postgresql+psycopg://u:s3cr%40t@h:5432/db") == (
        "postgresql+psycopg://u:***@h:5432/db")
    assert mask_uri("postgresql://u@h/db?password=hunter2&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require")
    assert mask_uri("not a uri, but scheme://user:pw@host") == (
        "not a uri, but scheme://user:***@host")


def test_the_redactor_removes_every_form_of_every_secret() -> None:
    redact = Redactor.for_connection(
        "postgresql://u:p%40ss@h/db?api_key=K3Y", {"password": "connect-pw", "port": 5},
        ["secret-from-flyte"])
    text = ("p@ss p%40ss connect-pw secret-from-flyte K3Y and the port 5 and "
            "secret-from-flyte-suffix")
    assert redact(text) == "*** *** *** *** *** and the port 5 and ***-suffix"
    assert Redactor([])("nothing to hide") == "nothing to hide"


# --- column types ------------------------------------------------------------------------------


def test_types_are_fixed_by_the_first_rows_and_later_rows_cast_safely() -> None:
    maker = BatchMaker(["n", "x", "late"], [None, None, None], {"late": pa.string()})
    first = [(1, 1.5, None), (2, 2.5, None)]
    maker.observe(first)
    assert not maker.resolved
    schema = maker.schema()
    assert [str(f.type) for f in schema] == ["int64", "double", "string"]  # late: declared
    assert maker.batch(first).num_rows == 2
    assert maker.batch([(3.0, 1, "s")]).to_pylist() == [{"n": 3, "x": 1.0, "late": "s"}]
    with pytest.raises(ColumnTypeError) as info:
        maker.batch([(3.5, 1.0, None)])  # never truncated to 3
    assert info.value.column == "n" and "CAST" in str(info.value)


def test_values_arrow_cannot_type_become_text_and_hints_are_used_as_given() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd!"

    maker = BatchMaker(["o", "mixed", "h"], [None, None, Hint(pa.int16())])
    rows = [(Odd(), 1, 7), (None, "a", None)]
    maker.observe(rows)
    assert [str(f.type) for f in maker.schema()] == ["string", "string", "int16"]
    assert maker.batch(rows).to_pylist() == [
        {"o": "odd!", "mixed": "1", "h": 7}, {"o": None, "mixed": "a", "h": None}]


def test_unconstrained_decimals_get_room_to_grow() -> None:
    from decimal import Decimal

    maker = BatchMaker(["d"], [Hint(None, wide_decimal=True)])
    maker.observe([(Decimal("1.25"),)])
    assert str(maker.schema().field("d").type) == "decimal128(38, 2)"
    assert maker.batch([(Decimal("123456789012345.5"),)]).column(0).to_pylist() == [
        Decimal("123456789012345.50")]
    with pytest.raises(ColumnTypeError):
        maker.batch([(Decimal("1.125"),)])


@pytest.mark.parametrize(("sql", "query"), [
    ("select 1", True), ("  (SELECT 1)", True), ("-- c\n/* d */ with x as (select 1) "
                                                 "select * from x", True),
    ("values (1)", True), ("table t", True), ("update t set a = 1", False),
    ("insert into t values (1) returning *", False), ("show search_path", False),
])
def test_which_statements_run_behind_a_server_side_cursor(sql: str, query: bool) -> None:
    assert _is_query(sql) is query


# --- SQLite through SQLAlchemy (qmark, no driver type hints) -----------------------------


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    path = tmp_path / "people.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table people (id integer, name text, age integer, seen text)")
        conn.executemany("insert into people values (?, ?, ?, ?)", [
            (1, "alice", 34, None), (2, "bob", 27, "2024-01-01"), (3, "carol", 41, None)])
    conn.close()
    return f"sqlite:///{path}"


@pytest.fixture
def registry(tmp_path: Path) -> Any:
    reg = ExecutorRegistry(path=[])
    reg.register("sqlalchemy", SQLAlchemyExecutor)
    with using_context(ExecutionContext(raw_output_prefix=str(tmp_path / "raw"))):
        yield reg


def sqlite_template(uri: str, query: str, inputs: dict[str, Any],
                    outputs: dict[str, Any] | None = None, **custom: Any) -> Any:
    return make_template("q", "sqlalchemy", inputs=inputs,
                         outputs={"results": SCHEMA} if outputs is None else outputs,
                         custom={"query_template": query, "uri": uri, **custom})


def test_sqlite_binds_qmark_parameters_and_expands_in_lists(sqlite_uri: str,
                                                            registry: Any) -> None:
    tt = sqlite_template(sqlite_uri, "select name, seen from people where id in "
                         "({{ .inputs.ids }}) and name <> '{{ .inputs.skip }}' order by id",
                         {"ids": list[int], "skip": str}, batch_size=1)
    table = run_template(tt, registry=registry, ids=[1, 2, 3], skip="x' OR '1'='1")
    assert table.to_pylist() == [{"name": "alice", "seen": None},
                                 {"name": "bob", "seen": "2024-01-01"},
                                 {"name": "carol", "seen": None}]
    assert str(table.schema.field("seen").type) == "string"  # found past the first NULL
    with pytest.raises(ValueTypeError):
        run_template(tt, registry=registry, ids=[], skip="")


def test_sqlite_statement_commits_and_errors_carry_the_database_message(
    sqlite_uri: str, registry: Any
) -> None:
    update = sqlite_template(sqlite_uri, "update people set age = {{ .inputs.age }} where "
                             "name = '{{ .inputs.name }}'", {"age": int, "name": str},
                             outputs={})
    assert run_template(update, registry=registry, age=50, name="bob") is None
    with sqlite3.connect(sqlite_uri.removeprefix("sqlite:///")) as conn:
        assert conn.execute("select age from people where id = 2").fetchone() == (50,)
    conn.close()
    with pytest.raises(ExecutorFailed) as info:
        run_template(sqlite_template(sqlite_uri, "select nope from people", {}),
                     registry=registry)
    assert isinstance(info.value.cause, QueryError) and "no such column: nope" in str(
        info.value)
    assert classify(info.value) == ("ExecutorFailed", "USER", False)


def test_a_list_output_is_refused_naming_its_type_and_the_fix(sqlite_uri: str,
                                                              registry: Any) -> None:
    tt = sqlite_template(sqlite_uri, "select name from people", {},
                         outputs={"results": list[dict]})
    with pytest.raises(TemplateError) as info:
        run_template(tt, registry=registry)
    assert str(info.value) == (
        "q: output 'results' is list[dict]; the sqlalchemy executor writes the query's rows "
        "as a structured dataset: declare it as a FlyteSchema or StructuredDataset "
        "(flytekit's SQLAlchemyTask does; pyarrow.Table in make_template)")


def test_the_executor_returns_closable_row_batches(sqlite_uri: str) -> None:
    tt = sqlite_template(sqlite_uri, "select id, name from people order by id", {},
                         batch_size=2)
    batches = SQLAlchemyExecutor().execute_from_model(tt)
    assert isinstance(batches, RowBatches)
    assert batches.schema.names == ["id", "name"]
    assert [b.num_rows for b in batches] == [2, 1]
    empty = SQLAlchemyExecutor().execute_from_model(
        sqlite_template(sqlite_uri, "select id from people where id > 99", {}))
    assert empty.read_all().num_rows == 0
    unread = SQLAlchemyExecutor().execute_from_model(tt)
    unread.close()
    unread.close()
    assert list(unread) == []


def test_when_the_first_rows_are_all_null_and_later_rows_are_not_text(
    sqlite_uri: str, registry: Any, tmp_path: Path
) -> None:
    # beyond the look-ahead: the column was fixed as null, a later value cannot fit
    with sqlite3.connect(sqlite_uri.removeprefix("sqlite:///")) as conn:
        conn.executemany("insert into people values (?, ?, ?, ?)",
                         [(10 + i, "n", 1, None) for i in range(40)] + [(99, "z", 1, 5)])
    conn.close()
    tt = sqlite_template(sqlite_uri, "select seen from people where id >= 10 order by id", {},
                         batch_size=2)
    with pytest.raises(ExecutorFailed) as info:
        run_template(tt, registry=registry)
    assert isinstance(info.value.cause, ColumnTypeError)
    assert "'seen'" in str(info.value) and classify(info.value)[1] == "USER"
