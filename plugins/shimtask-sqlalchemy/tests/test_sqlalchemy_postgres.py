"""The sqlalchemy executor against a real PostgreSQL server, through shimtask_core."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from flyteidl.core import types_pb2

from conftest import READER, READER_PASSWORD, reader_url
from pgserver import PostgresServer, free_port
from shimtask_core import (
    ExecutorFailed,
    ExecutorRegistry,
    MissingDependency,
    ServiceUnavailable,
    TemplateError,
    ValueTypeError,
    make_template,
    run_template,
)
from shimtask_core.context import ExecutionContext, using_context
from shimtask_core.errors import classify
from shimtask_sqlalchemy import ConnectionRejected, NoRows, QueryError, SecretNotFound

SCHEMA = types_pb2.LiteralType(schema=types_pb2.SchemaType())
BY_NAME = ("select id, name, age from people where name = '{{ .inputs.name }}' "
           "and age >= {{ .inputs.min_age }} order by id")


def template(uri: str, query: str, inputs: dict[str, Any] | None = None,
             outputs: dict[str, Any] | None = None, **custom: Any) -> Any:
    """A template shaped as flytekit's SQLAlchemyTask writes it (no executor_type)."""
    tt = make_template(
        "people_query", "sqlalchemy",
        inputs=inputs if inputs is not None else {"name": str, "min_age": int},
        outputs=outputs if outputs is not None else {"results": SCHEMA},
        custom={"query_template": query, "uri": uri, "connect_args": {},
                "secret_connect_args": None, **custom},
    )
    del tt.custom.fields["executor_type"]
    return tt


@pytest.fixture
def raw(tmp_path: Path) -> Any:
    prefix = tmp_path / "raw"
    with using_context(ExecutionContext(raw_output_prefix=str(prefix))):
        yield prefix


def rows(tt: Any, registry: ExecutorRegistry, **inputs: Any) -> list[dict[str, Any]]:
    table = run_template(tt, registry=registry, **inputs)
    assert isinstance(table, pa.Table)
    return list(table.to_pylist())


def failure(tt: Any, registry: ExecutorRegistry, **inputs: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        run_template(tt, registry=registry, **inputs)
    return info.value


# --- queries and bound inputs ------------------------------------------------------------


def test_quoted_string_and_integer_inputs(postgres: PostgresServer, db: Any,
                                          registry: ExecutorRegistry, raw: Path) -> None:
    tt = template(reader_url(postgres), BY_NAME)
    assert registry.executor_type_of(tt) == "sqlalchemy"
    assert rows(tt, registry, name="alice", min_age=30) == [
        {"id": 1, "name": "alice", "age": 34}]
    assert rows(tt, registry, name="alice", min_age=0) == [
        {"id": 1, "name": "alice", "age": 34}, {"id": 4, "name": "alice", "age": 29}]
    # written as flytekit writes a FlyteSchema: one parquet file under the raw prefix
    assert [[p.name for p in written.iterdir()] for written in raw.iterdir()] == [
        ["00000"], ["00000"]]


@pytest.mark.parametrize("attack", [
    "x' OR '1'='1", "'; DROP TABLE people; --", "alice' --", "' UNION SELECT 1, 'x', 1 --",
    "alice'; UPDATE people SET age = 0; --",
])
def test_injection_through_an_input_stays_a_value(postgres: PostgresServer, db: Any,
                                                  registry: ExecutorRegistry, raw: Path,
                                                  attack: str) -> None:
    tt = template(reader_url(postgres), BY_NAME)
    assert rows(tt, registry, name=attack, min_age=0) == []
    echo = template(reader_url(postgres), "select '{{ .inputs.name }}' as echoed, "
                    "count(*) as n from people where name like '%{{ .inputs.name }}%'",
                    inputs={"name": str})
    assert rows(echo, registry, name=attack) == [{"echoed": attack, "n": 0}]
    assert db.execute("select count(*), min(age) from people").fetchone() == (4, 27)


def test_a_collection_in_an_in_list_is_one_parameter_per_element(
    postgres: PostgresServer, db: Any, registry: ExecutorRegistry, raw: Path
) -> None:
    tt = template(reader_url(postgres), "select id, name from people where id in "
                  "({{ .inputs.ids }}) and name not in ('{{ .inputs.skip }}') order by id",
                  inputs={"ids": list[int], "skip": list[str]})
    assert rows(tt, registry, ids=[1, 3, 4, 99], skip=["carol"]) == [
        {"id": 1, "name": "alice"}, {"id": 4, "name": "alice"}]
    error = failure(tt, registry, ids=[], skip=["x"])
    assert isinstance(error, ValueTypeError) and "'ids'" in str(error)
    assert "non-empty" in str(error)
    # elsewhere a list is one value: a PostgreSQL array
    arr = template(reader_url(postgres), "select name from people where id = any("
                   "{{ .inputs.ids }}) order by id", inputs={"ids": list[int]})
    assert rows(arr, registry, ids=[2, 3]) == [{"name": "bob"}, {"name": "carol"}]


def test_types_round_trip(postgres: PostgresServer, db: Any, registry: ExecutorRegistry,
                          raw: Path) -> None:
    db.execute("""
        create table typed (
            id integer, big bigint, small smallint, price numeric(12, 2), ratio numeric,
            ok boolean, label text, code varchar(8), letter char(2), ts timestamp,
            tstz timestamptz, day date, clock time, span interval, real_f real,
            double_f double precision, blob bytea, doc jsonb, uid uuid, nums integer[])
    """)
    from psycopg.types.json import Jsonb

    when = dt.datetime(2024, 2, 29, 23, 59, 58, 123456)
    offset = dt.timezone(dt.timedelta(hours=5, minutes=30))
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    values = (1, 2**62 + 7, -32768, decimal.Decimal("1234567890.12"),
              decimal.Decimal("3.14159265358979323846"), True, "naïve ☃ 日本語 🎉", "ab",
              "x", when, when.replace(tzinfo=offset), dt.date(1999, 12, 31),
              dt.time(13, 14, 15, 500), dt.timedelta(days=3, seconds=7, microseconds=9),
              1.5, 2.0 ** 0.5, b"\x00\xff\x10", Jsonb({"k": [1, "two", None]}), uid, [1, None, 3])
    with db.cursor() as cur:
        cur.execute("set timezone = 'America/New_York'")
        cur.execute("insert into typed values (" + ", ".join(["%s"] * len(values)) + ")",
                    values)
        cur.execute("insert into typed (id) values (2)")  # every other column NULL
    tt = template(reader_url(postgres), "select * from typed order by id", inputs={})
    table = run_template(tt, registry=registry)
    assert {f.name: str(f.type) for f in table.schema} == {
        "id": "int32", "big": "int64", "small": "int16", "price": "decimal128(12, 2)",
        "ratio": "decimal128(38, 20)", "ok": "bool", "label": "string", "code": "string",
        "letter": "string", "ts": "timestamp[us]", "tstz": "timestamp[us, tz=UTC]",
        "day": "date32[day]", "clock": "time64[us]", "span": "duration[us]",
        "real_f": "float", "double_f": "double", "blob": "binary", "doc": "string",
        "uid": "string", "nums": "list<element: int64>"}
    first, second = table.to_pylist()
    assert first == {
        "id": 1, "big": 2**62 + 7, "small": -32768, "price": decimal.Decimal("1234567890.12"),
        "ratio": decimal.Decimal("3.14159265358979323846"), "ok": True,
        "label": "naïve ☃ 日本語 🎉", "code": "ab", "letter": "x ", "ts": when,
        "tstz": when.replace(tzinfo=offset).astimezone(dt.timezone.utc),
        "day": dt.date(1999, 12, 31), "clock": dt.time(13, 14, 15, 500),
        "span": dt.timedelta(days=3, seconds=7, microseconds=9), "real_f": 1.5,
        "double_f": 2.0 ** 0.5, "blob": b"\x00\xff\x10", "doc": '{"k":[1,"two",null]}',
        "uid": str(uid), "nums": [1, None, 3]}
    assert set(second.values()) == {2, None}


def test_a_column_null_in_the_first_batches_gets_its_type_from_later_rows(
    postgres: PostgresServer, db: Any, registry: ExecutorRegistry, raw: Path
) -> None:
    # int[] has no fixed type hint: it is inferred, looking past the all-NULL first batches
    tt = template(reader_url(postgres), "select g, case when g > 12 then array[g, g] end as a "
                  "from generate_series(1, 30) g order by g", inputs={}, batch_size=5)
    table = run_template(tt, registry=registry)
    assert str(table.schema.field("a").type) == "list<element: int64>"
    assert table.column("a").to_pylist()[11:14] == [None, [13, 13], [14, 14]]


def test_an_empty_result_keeps_its_columns_and_types(postgres: PostgresServer, db: Any,
                                                     registry: ExecutorRegistry,
                                                     raw: Path) -> None:
    column = types_pb2.SchemaType.SchemaColumn
    typed = types_pb2.LiteralType(schema=types_pb2.SchemaType(columns=[
        column(name="name", type=column.STRING), column(name="x", type=column.FLOAT)]))
    tt = template(reader_url(postgres), "select name, null as x, (select 1 where false) as y "
                  "from people where false", inputs={}, outputs={"results": typed})
    assert run_template(tt, registry=registry).num_rows == 0
    (written,) = raw.iterdir()
    table = pq.read_table(written / "00000")
    # the driver's types (an untyped NULL is text to PostgreSQL)
    assert table.num_rows == 0
    assert {f.name: str(f.type) for f in table.schema} == {
        "name": "string", "x": "string", "y": "int32"}
    missing = template(reader_url(postgres), "select id from people", inputs={},
                       outputs={"results": typed})
    assert "without the declared column(s) 'name', 'x'" in str(failure(missing, registry))


def test_connect_args_reach_the_driver(postgres: PostgresServer, db: Any,
                                       registry: ExecutorRegistry, raw: Path) -> None:
    tt = template(reader_url(postgres), "select current_setting('application_name') as app, "
                  "current_setting('search_path') as path", inputs={},
                  connect_args={"application_name": "shimtask-test",
                                "options": "-c search_path=elsewhere"})
    assert rows(tt, registry) == [{"app": "shimtask-test", "path": "elsewhere"}]


def test_a_query_that_is_not_a_select_streams_too(postgres: PostgresServer, db: Any,
                                                  registry: ExecutorRegistry,
                                                  raw: Path) -> None:
    cte = template(reader_url(postgres), "-- oldest first\nwith o as (select * from people "
                   "order by age desc limit 2) select name from o", inputs={})
    assert rows(cte, registry) == [{"name": "carol"}, {"name": "alice"}]
    returning = template(reader_url(postgres), "update people set age = age + 1 where "
                         "name = '{{ .inputs.name }}' returning id, age", inputs={"name": str})
    assert rows(returning, registry, name="bob") == [{"id": 2, "age": 28}]
    assert db.execute("select age from people where id = 2").fetchone() == (28,)  # committed


# --- statements without rows ------------------------------------------------------------------


def test_a_statement_without_outputs_runs_and_commits(postgres: PostgresServer, db: Any,
                                                      registry: ExecutorRegistry) -> None:
    tt = template(reader_url(postgres), "update people set age = age + {{ .inputs.n }} where "
                  "name = '{{ .inputs.name }}'", inputs={"name": str, "n": int}, outputs={})
    assert run_template(tt, registry=registry, name="alice", n=10) is None
    assert db.execute("select age from people where name = 'alice' order by id").fetchall() == [
        (44,), (39,)]
    insert = template(reader_url(postgres), "insert into people values ({{ .inputs.id }}, "
                      "'{{ .inputs.name }}', null)", inputs={"id": int, "name": str},
                      outputs={})
    assert run_template(insert, registry=registry, id=9, name="dan") is None
    assert db.execute("select name from people where id = 9").fetchone() == ("dan",)


def test_a_failing_statement_commits_nothing(postgres: PostgresServer, db: Any,
                                             registry: ExecutorRegistry) -> None:
    tt = template(reader_url(postgres), "update people set age = 100 / (age - {{ .inputs.a }})",
                  inputs={"a": int}, outputs={})
    error = failure(tt, registry, a=27)
    assert isinstance(error, ExecutorFailed) and isinstance(error.cause, QueryError)
    assert error.cause.sqlstate == "22012" and "division by zero" in str(error)
    assert db.execute("select sum(age) from people").fetchone() == (131,)


def test_an_output_for_a_statement_without_rows_is_a_user_error(
    postgres: PostgresServer, db: Any, registry: ExecutorRegistry, raw: Path
) -> None:
    tt = template(reader_url(postgres), "update people set age = 0", inputs={})
    error = failure(tt, registry)
    assert isinstance(error, ExecutorFailed) and isinstance(error.cause, NoRows)
    assert "returns no rows" in str(error) and classify(error)[1:] == ("USER", False)
    assert db.execute("select min(age) from people").fetchone() == (27,)  # rolled back
    assert not raw.exists()


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "needle", "sqlstate"), [
    ("select nosuch from people", 'column "nosuch" does not exist', "42703"),
    ("select * from nowhere", 'relation "nowhere" does not exist', "42P01"),
    ("selec 1", 'syntax error at or near "selec"', "42601"),
    ("update nowhere set x = 1", 'relation "nowhere" does not exist', "42P01"),
])
def test_a_failing_query_is_a_user_error_with_the_database_message(
    postgres: PostgresServer, db: Any, registry: ExecutorRegistry, raw: Path,
    query: str, needle: str, sqlstate: str
) -> None:
    error = failure(template(reader_url(postgres), query, inputs={}), registry)
    assert isinstance(error, ExecutorFailed) and isinstance(error.cause, QueryError)
    assert needle in str(error) and error.cause.sqlstate == sqlstate
    assert classify(error) == ("ExecutorFailed", "USER", False)
    assert READER_PASSWORD not in str(error)
    assert f"{READER}:***@" in str(error)  # the URI is shown masked


def test_an_error_after_the_first_batches_is_a_user_error_and_writes_nothing(
    postgres: PostgresServer, db: Any, registry: ExecutorRegistry, raw: Path
) -> None:
    # the division fails on the server while the dataset writer reads row 5000
    tt = template(reader_url(postgres), "select g, 1 / (g - 5000) as x from "
                  "generate_series(1, 10000) g", inputs={}, batch_size=500)
    error = failure(tt, registry)
    assert isinstance(error, ExecutorFailed) and isinstance(error.cause, QueryError)
    assert "division by zero" in str(error) and classify(error)[1:] == ("USER", False)
    assert not raw.exists() or all(not any(d.iterdir()) for d in raw.iterdir())


def test_connection_refused_is_a_recoverable_system_error(
    postgres: PostgresServer, registry: ExecutorRegistry, raw: Path
) -> None:
    dead = f"postgresql+psycopg://{READER}:{READER_PASSWORD}@127.0.0.1:{free_port()}/x"
    error = failure(template(dead, "select 1", inputs={}), registry)
    assert isinstance(error, ServiceUnavailable)
    assert classify(error) == ("ServiceUnavailable", "SYSTEM", True)
    assert "Connection refused" in str(error) and READER_PASSWORD not in str(error)


@pytest.mark.parametrize("where", ["first batch", "later batch"])
def test_a_dropped_connection_is_a_recoverable_system_error(
    postgres: PostgresServer, db: Any, registry: ExecutorRegistry, raw: Path, where: str
) -> None:
    at = 3 if where == "first batch" else 2500
    tt = template(reader_url(postgres), "select g, case when g = {{ .inputs.at }} then "
                  "pg_terminate_backend(pg_backend_pid()) end as k "
                  "from generate_series(1, 5000) g", inputs={"at": int}, batch_size=100)
    error = failure(tt, registry, at=at)
    assert isinstance(error, ServiceUnavailable), repr(error)
    assert classify(error)[1:] == ("SYSTEM", True)
    assert any(why in str(error) for why in ("terminating connection",
                                             "server closed the connection"))
    assert not raw.exists() or all(not any(d.iterdir()) for d in raw.iterdir())


def test_a_wrong_password_never_appears_in_the_error(
    postgres: PostgresServer, db: Any, registry: ExecutorRegistry,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "Wr0ng-p@ss:word/%"
    monkeypatch.setenv("_FSEC_PG_PASSWORD", wrong)
    via_secret = template(reader_url(postgres, password=None), "select 1", inputs={},
                          secret_connect_args={"password": {"group": "pg", "key": "password"}})
    from urllib.parse import quote

    in_uri = template(reader_url(postgres, password=quote(wrong, safe="")), "select 1",
                      inputs={})
    for tt in (via_secret, in_uri):
        error = failure(tt, registry)
        assert isinstance(error, ExecutorFailed) and isinstance(error.cause, ConnectionRejected)
        assert "password authentication failed" in str(error)
        assert classify(error) == ("ExecutorFailed", "USER", False)
        text = repr(error) + str(error) + repr(error.cause)
        assert wrong not in text and quote(wrong, safe="") not in text
        assert READER_PASSWORD not in text


# --- secrets ------------------------------------------------------------------------------------


def test_secrets_come_from_the_environment_then_the_mounted_file(
    postgres: PostgresServer, db: Any, registry: ExecutorRegistry, raw: Path,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tt = template(reader_url(postgres, password=None), "select current_user as u", inputs={},
                  secret_connect_args={"password": {"group": "pg", "key": "password",
                                                    "group_version": None,
                                                    "mount_requirement": 0}})
    monkeypatch.delenv("_FSEC_PG_PASSWORD", raising=False)
    monkeypatch.setenv("FLYTE_SECRETS_DEFAULT_DIR", str(tmp_path / "secrets"))
    error = failure(tt, registry)
    assert isinstance(error, ExecutorFailed) and isinstance(error.cause, SecretNotFound)
    assert "_FSEC_PG_PASSWORD" in str(error)
    assert str(tmp_path / "secrets" / "pg" / "password") in str(error)
    (tmp_path / "secrets" / "pg").mkdir(parents=True)
    (tmp_path / "secrets" / "pg" / "password").write_text(READER_PASSWORD + "\n")
    assert rows(tt, registry) == [{"u": READER}]  # the mounted file (stripped)
    monkeypatch.setenv("_FSEC_PG_PASSWORD", f"  {READER_PASSWORD}  ")
    (tmp_path / "secrets" / "pg" / "password").write_text("not it")
    assert rows(tt, registry) == [{"u": READER}]  # the environment wins


def test_template_faults_are_clear(postgres: PostgresServer, registry: ExecutorRegistry,
                                   raw: Path) -> None:
    url = reader_url(postgres)
    cases: list[tuple[Any, type[BaseException], str]] = [
        (template("not a uri", "select 1", inputs={}), TemplateError, "not a database URI"),
        (template(url, "select 1", inputs={}, batch_size=0), TemplateError, "batch_size"),
        (template(url, "select 1", inputs={}, outputs={"a": int}), TemplateError,
         "structured dataset"),
        (template(url, "select 1", inputs={}, outputs={"a": SCHEMA, "b": SCHEMA}),
         TemplateError, "one output"),
        (template(url, "select 1", inputs={}, secret_connect_args={"password": "pg"}),
         TemplateError, "secret_connect_args"),
        (template(f"mysql+pymysql://u:{READER_PASSWORD}@127.0.0.1/x", "select 1", inputs={}),
         MissingDependency, "pymysql"),
        (template(url, "select * from people where name = {{ .inputs.nope }}", inputs={}),
         TemplateError, "'nope'"),
    ]
    for tt, kind, needle in cases:
        error = failure(tt, registry)
        assert isinstance(error, kind) and needle in str(error), (kind, str(error))
        assert READER_PASSWORD not in str(error)
        assert classify(error)[1] == "USER"


def test_the_output_is_read_back_with_its_batches_as_row_groups(
    postgres: PostgresServer, db: Any, registry: ExecutorRegistry, raw: Path
) -> None:
    tt = template(reader_url(postgres), "select g as n from generate_series(1, 25) g",
                  inputs={}, batch_size=10)
    assert run_template(tt, registry=registry).column("n").to_pylist() == list(range(1, 26))
    (written,) = raw.iterdir()
    assert pq.ParquetFile(os.path.join(written, "00000")).metadata.num_row_groups == 3


# --- a stop reaches a statement the server is running --------------------------------


@pytest.mark.parametrize("outputs", [None, {}], ids=["rows", "statement"])
def test_a_time_limit_cancels_the_running_statement(postgres: PostgresServer, db: Any,
                                                    registry: ExecutorRegistry, tmp_path: Path,
                                                    outputs: dict[str, Any] | None) -> None:
    """Off the main thread (as in shimtask serve) no signal reaches the driver's wait: the
    time limit's timer sends PostgreSQL a cancel request (psycopg's cancel()), the
    statement ends, and the caller's thread is free at once, not after the statement."""
    import threading
    import time

    from flyteidl.core import literals_pb2

    from shimtask_core import runtime

    tt = template(reader_url(postgres), "select pg_sleep(60)", inputs={}, outputs=outputs)
    (tmp_path / "task.pb").write_bytes(tt.SerializeToString())
    (tmp_path / "inputs.pb").write_bytes(literals_pb2.LiteralMap().SerializeToString())
    results: list[Any] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: results.append(runtime.execute(
        inputs=str(tmp_path / "inputs.pb"), output_prefix=str(tmp_path / "out"),
        raw_output_prefix=str(tmp_path / "raw"), template=str(tmp_path / "task.pb"),
        registry=registry, timeout=1)))
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the statement ran on past its time limit"
    assert time.monotonic() - started < 30  # pg_sleep(60) alone takes a minute
    (result,) = results
    assert not result.ok and result.error.code == "Timeout"
    active = db.execute("select count(*) from pg_stat_activity where query = "
                        "'select pg_sleep(60)' and state = 'active'").fetchone()[0]
    assert active == 0, "the server still runs the statement"
