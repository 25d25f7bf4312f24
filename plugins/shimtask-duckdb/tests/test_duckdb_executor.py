"""The duckdb executor through shimtask_core, as a user runs templates (run_template)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from duckdb_testlib import template
from flyteidl.core import types_pb2

from shimtask_core import (
    DatasetRef,
    ExecutorFailed,
    ExecutorRegistry,
    File,
    OutputMismatch,
    TemplateError,
    ValueTypeError,
    run_template,
)
from shimtask_core.errors import classify
from shimtask_duckdb import DuckDBExecutor

AGGREGATE = ("select count(*) as n, sum(value) as total, max(quantity) as most "
             "from sales where value > {{ .inputs.min_value }}")
SCALARS = {"n": int, "total": float, "most": int}


def _rows(table: Any) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: tuple(str(v) for v in r.values()))


# --- results ---------------------------------------------------------------------------


def test_scalar_outputs_come_from_the_first_row_by_name(
        registry: ExecutorRegistry, sales: Any) -> None:
    tt = template(AGGREGATE, inputs={"sales": pa.Table, "min_value": float}, outputs=SCALARS)
    out = run_template(tt, registry=registry, sales=sales, min_value=50.0)
    kept = sales.filter(pc.greater(sales["value"], 50.0))
    assert out == {"n": kept.num_rows, "total": pytest.approx(pc.sum(kept["value"]).as_py()),
                   "most": pc.max(kept["quantity"]).as_py()}
    assert out["n"] < sales.num_rows  # the bound parameter filtered


def test_a_dataset_output_holds_every_row_in_order(registry: ExecutorRegistry,
                                                   sales: Any) -> None:
    tt = template("select id, category, value from sales where quantity < {{ .inputs.q }} "
                  "and category = '{{ .inputs.category }}' order by id",
                  inputs={"sales": pa.Table, "q": int, "category": str})
    out = run_template(tt, registry=registry, sales=sales, q=5, category="games")
    expected = [{"id": r["id"], "category": r["category"], "value": r["value"]}
                for r in sales.to_pylist() if r["quantity"] < 5 and r["category"] == "games"]
    assert isinstance(out, pa.Table)
    assert out.to_pylist() == expected and expected


def test_the_stream_spans_many_batches(registry: ExecutorRegistry) -> None:
    tt = template("select i, i * 2 as twice from range({{ .inputs.n }}) t(i)",
                  inputs={"n": int})
    out = run_template(tt, registry=registry, n=300_000)  # > 2 batches of 122,880 rows
    assert out.num_rows == 300_000
    assert out["twice"].to_pylist()[-1] == 599_998


def test_zero_rows_keep_their_columns(registry: ExecutorRegistry, sales: Any) -> None:
    tt = template("select id, category from sales where value < 0", inputs={"sales": pa.Table})
    out = run_template(tt, registry=registry, sales=sales)
    assert out.num_rows == 0 and out.column_names == ["id", "category"]


def test_statements_run_in_order_and_the_last_one_is_the_result(
        registry: ExecutorRegistry, sales: Any) -> None:
    tt = template([
        "create table big as select * from sales where value >= {{ .inputs.cut }}",
        "delete from big where category = '{{ .inputs.drop }}'",
        "select category, count(*) as n from big group by category order by category",
    ], inputs={"sales": pa.Table, "cut": float, "drop": str})
    out = run_template(tt, registry=registry, sales=sales, cut=40.0, drop="books")
    counts: dict[str, int] = {}
    for row in sales.to_pylist():
        if row["value"] >= 40.0 and row["category"] != "books":
            counts[row["category"]] = counts.get(row["category"], 0) + 1
    assert out.to_pylist() == [{"category": c, "n": n} for c, n in sorted(counts.items())]


def test_no_outputs_runs_every_statement(registry: ExecutorRegistry, tmp_path: Path,
                                        sales: Any) -> None:
    target = tmp_path / "copy.csv"
    tt = template(["create table t as select * from sales",
                   "copy t to '" + str(target) + "' (header)"],
                  inputs={"sales": pa.Table}, outputs={})
    assert run_template(tt, registry=registry, sales=sales) is None
    assert target.read_text().count("\n") == sales.num_rows + 1


# --- inputs ----------------------------------------------------------------------------


def test_each_dataset_input_is_a_view_named_after_it(registry: ExecutorRegistry,
                                                     sales: Any) -> None:
    budgets = pa.table({"category": ["books", "music"], "budget": [10.0, 20.0]})
    tt = template("select s.category, count(*) as n, b.budget from sales s "
                  "join budgets b using (category) group by all order by 1",
                  inputs={"sales": pa.Table, "budgets": pa.Table})
    out = run_template(tt, registry=registry, sales=sales, budgets=budgets)
    assert out.to_pylist() == [{"category": "books", "n": 100, "budget": 10.0},
                               {"category": "music", "n": 100, "budget": 20.0}]


def test_dataset_inputs_reach_the_executor_unread(sales_dir: Path) -> None:
    # The executor asks for references: DuckDB scans local parquet by path.
    assert DuckDBExecutor.lazy_datasets is True
    tt = template("select count(*) as n from sales", inputs={"sales": pa.Table},
                  outputs={"n": int})
    ref = DatasetRef(str(sales_dir))
    assert DuckDBExecutor().execute_from_model(tt, sales=ref) == 400


def test_a_dataset_in_several_files_and_hidden_files_skipped(tmp_path: Path,
                                                            sales: Any) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(sales.slice(0, 150), folder / "00000")
    pq.write_table(sales.slice(150), folder / "00001")
    (folder / "_SUCCESS").write_text("")
    (folder / ".00000.crc").write_bytes(b"\0garbage")
    tt = template("select count(*) as n, count(distinct id) as ids from sales",
                  inputs={"sales": pa.Table}, outputs={"n": int, "ids": int})
    out = DuckDBExecutor().execute_from_model(tt, sales=DatasetRef(str(folder)))
    assert out == {"n": 400, "ids": 400}


def test_declared_columns_are_the_view_columns(registry: ExecutorRegistry,
                                               sales: Any) -> None:
    typed = types_pb2.LiteralType(structured_dataset_type=types_pb2.StructuredDatasetType(
        columns=[types_pb2.StructuredDatasetType.DatasetColumn(
            name=n, literal_type=types_pb2.LiteralType(simple=s))
            for n, s in (("category", types_pb2.STRING), ("value", types_pb2.FLOAT))],
        format="parquet"))
    tt = template("select * from sales limit 1", inputs={"sales": typed})
    out = run_template(tt, registry=registry, sales=sales)
    assert out.column_names == ["category", "value"]


def test_a_remote_dataset_comes_through_the_storage_layer(registry: ExecutorRegistry,
                                                          sales: Any) -> None:
    fsspec = pytest.importorskip("fsspec")
    with fsspec.open("memory://shimtask-duckdb-test/sales/00000", "wb") as fh:
        pq.write_table(sales, fh)
    # DuckDB itself knows no memory:// (nor httpfs here): only fsspec can read this.
    tt = template(AGGREGATE, inputs={"sales": pa.Table, "min_value": float}, outputs=SCALARS)
    out = run_template(tt, registry=registry, sales="memory://shimtask-duckdb-test/sales",
                       min_value=-1.0)
    assert out["n"] == sales.num_rows


def test_file_inputs_are_their_local_paths(registry: ExecutorRegistry, tmp_path: Path,
                                           sales: Any) -> None:
    pq.write_table(sales, tmp_path / "sales.parquet")
    (tmp_path / "prices.csv").write_text("category,price\nbooks,3.5\ngames,60\n")
    parquet = types_pb2.LiteralType(blob=types_pb2.BlobType(format="parquet"))
    csv = types_pb2.LiteralType(blob=types_pb2.BlobType(format="csv"))
    tt = template("select p.category, p.price, count(*) as n "
                  "from read_parquet({{ .inputs.rows }}) s "
                  "join read_csv({{ .inputs.prices }}) p using (category) "
                  "group by all order by 1",
                  inputs={"rows": parquet, "prices": csv})
    out = run_template(tt, registry=registry, rows=File(str(tmp_path / "sales.parquet")),
                       prices=File(str(tmp_path / "prices.csv")))
    assert out.to_pylist() == [{"category": "books", "price": 3.5, "n": 100},
                               {"category": "games", "price": 60.0, "n": 100}]


def test_injection_through_an_input_stays_a_value(registry: ExecutorRegistry,
                                                  sales: Any) -> None:
    tt = template("select count(*) as n from sales where category = '{{ .inputs.c }}'",
                  inputs={"sales": pa.Table, "c": str}, outputs={"n": int})
    assert run_template(tt, registry=registry, sales=sales, c="books") == 100
    for attack in ("books' OR '1'='1", "x'; drop table sales; --"):
        assert run_template(tt, registry=registry, sales=sales, c=attack) == 0


def test_a_collection_in_in_is_one_parameter_per_element(registry: ExecutorRegistry,
                                                         sales: Any) -> None:
    tt = template("select count(*) as n from sales where category in ({{ .inputs.cs }})",
                  inputs={"sales": pa.Table, "cs": list[str]}, outputs={"n": int})
    assert run_template(tt, registry=registry, sales=sales, cs=["books", "tools"]) == 200


def test_values_of_every_kind_bind(registry: ExecutorRegistry) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    tt = template("select {{ .inputs.i }} + 1 as i, {{ .inputs.f }} * 2 as f, "
                  "{{ .inputs.b }} as b, upper({{ .inputs.s }}) as s, "
                  "{{ .inputs.t }} + interval 1 day as t, {{ .inputs.d }} as d, "
                  "len({{ .inputs.xs }}) as xs, {{ .inputs.none }} is null as none",
                  inputs={"i": int, "f": float, "b": bool, "s": str, "t": dt.datetime,
                          "d": dt.timedelta, "xs": list[int], "none": int | None},
                  outputs={"i": int, "f": float, "b": bool, "s": str, "t": dt.datetime,
                           "d": dt.timedelta, "xs": int, "none": bool})
    out = run_template(tt, registry=registry, i=41, f=1.25, b=True, s="ünï", t=when,
                       d=dt.timedelta(minutes=3), xs=[1, 2, 3], none=None)
    assert out == {"i": 42, "f": 2.5, "b": True, "s": "ÜNÏ",
                   "t": when + dt.timedelta(days=1), "d": dt.timedelta(minutes=3), "xs": 3,
                   "none": True}


def test_duckdb_values_widen_to_the_declared_types(registry: ExecutorRegistry) -> None:
    # 1.5 and sum(decimal) are DECIMAL in DuckDB, a DATE is a date, uuid() a UUID
    tt = template("select 1.5 as ratio, sum(x) as whole, date '2024-02-29' as day, "
                  "'6f1c1f0e-8a51-4bd5-9f43-7c1c7b1e9d10'::uuid as key "
                  "from (values (1.0::decimal(4,1)), (2.0)) v(x)",
                  outputs={"ratio": float, "whole": int, "day": dt.datetime, "key": str})
    assert run_template(tt, registry=registry) == {
        "ratio": 1.5, "whole": 3, "day": dt.datetime(2024, 2, 29, tzinfo=dt.timezone.utc),
        "key": "6f1c1f0e-8a51-4bd5-9f43-7c1c7b1e9d10"}


# --- what goes wrong, and whose fault it is -------------------------------------------------


def test_a_missing_output_column_is_a_user_error_naming_it(registry: ExecutorRegistry,
                                                           sales: Any) -> None:
    tt = template("select count(*) as rows from sales", inputs={"sales": pa.Table},
                  outputs={"n": int, "rows": int})
    with pytest.raises(OutputMismatch, match=r"no column named 'n'.*its columns are: rows"
                       ) as info:
        run_template(tt, registry=registry, sales=sales)
    assert classify(info.value)[1:] == ("USER", False)


def test_a_list_of_rows_output_points_at_a_dataset_output(registry: ExecutorRegistry,
                                                          sales: Any) -> None:
    """list[dict] is how the sqlite executor returns rows; here it is a column's value."""
    tt = template("select id from sales", inputs={"sales": pa.Table},
                  outputs={"rows": list[dict]})
    with pytest.raises(OutputMismatch) as info:
        run_template(tt, registry=registry, sales=sales)
    assert ("no column named 'rows'" in str(info.value)
            and "For all the rows, declare one structured-dataset output (pyarrow.Table in "
                "make_template) instead." in str(info.value))
    scalar = template("select count(*) as rows from sales", inputs={"sales": pa.Table},
                      outputs={"n": int, "rows": int})
    with pytest.raises(OutputMismatch) as info:
        run_template(scalar, registry=registry, sales=sales)
    assert "For all the rows" not in str(info.value)


def test_no_rows_for_scalar_outputs_is_a_user_error(registry: ExecutorRegistry,
                                                    sales: Any) -> None:
    tt = template("select id as n from sales where id < 0", inputs={"sales": pa.Table},
                  outputs={"n": int})
    with pytest.raises(OutputMismatch, match="returned no rows; outputs n") as info:
        run_template(tt, registry=registry, sales=sales)
    assert classify(info.value)[1] == "USER"


def test_a_value_of_the_wrong_type_names_the_output(registry: ExecutorRegistry,
                                                    sales: Any) -> None:
    tt = template("select max(category) as n from sales", inputs={"sales": pa.Table},
                  outputs={"n": int})
    with pytest.raises(ValueTypeError, match="output 'n': expected int, got str"):
        run_template(tt, registry=registry, sales=sales)


@pytest.mark.parametrize(("query", "message"), [
    ("selec * from sales", "Parser Error: syntax error at or near \"selec\""),
    ("select * from nowhere", "Catalog Error: Table with name nowhere does not exist"),
    ("select nope from sales", "Binder Error: Referenced column \"nope\" not found"),
    ("select category::int as n from sales", "Conversion Error"),
])
def test_duckdb_errors_are_the_users_with_duckdbs_message(
        registry: ExecutorRegistry, sales: Any, query: str, message: str) -> None:
    tt = template(query, inputs={"sales": pa.Table})
    with pytest.raises(ExecutorFailed) as info:
        run_template(tt, registry=registry, sales=sales)
    assert message in str(info.value)
    assert query in str(info.value)  # which statement
    assert classify(info.value)[1:] == ("USER", False)


def test_an_error_names_its_statement_in_a_list(registry: ExecutorRegistry) -> None:
    tt = template(["create table a as select 1 as x", "select y from a"], outputs={})
    with pytest.raises(ExecutorFailed, match=r"statement 2 of 2: select y from a"):
        run_template(tt, registry=registry)


def test_a_placeholder_for_a_dataset_input_says_to_name_the_view(
        registry: ExecutorRegistry, sales: Any) -> None:
    tt = template("select * from read_parquet({{ .inputs.sales }})",
                  inputs={"sales": pa.Table})
    with pytest.raises(TemplateError, match="the query reads it as the view sales"):
        run_template(tt, registry=registry, sales=sales)


@pytest.mark.parametrize("custom", [{}, {"query_template": ""}, {"query_template": []},
                                    {"query_template": ["select 1", 2]}])
def test_a_template_without_a_query(registry: ExecutorRegistry, custom: dict[str, Any]
                                    ) -> None:
    from shimtask_core import make_template

    tt = make_template("q", "duckdb", outputs={"result": pa.Table}, custom=custom)
    with pytest.raises(TemplateError, match="q: custom\\['query_template'\\]"):
        run_template(tt, registry=registry)


def test_a_dataset_output_beside_scalar_outputs_is_refused(registry: ExecutorRegistry) -> None:
    tt = template("select 1 as n", outputs={"result": pa.Table, "n": int})
    with pytest.raises(TemplateError, match="either one structured dataset output"):
        run_template(tt, registry=registry)


def test_a_failure_while_the_rows_stream_is_the_users(registry: ExecutorRegistry) -> None:
    # the bad row is far past the first batch: DuckDB only meets it while streaming
    tt = template("select i, (case when i = 250000 then 'oops' else i::varchar end)::int as n "
                  "from range(300000) t(i)")
    with pytest.raises(ExecutorFailed, match="Could not convert string 'oops'") as info:
        run_template(tt, registry=registry)
    assert classify(info.value)[1:] == ("USER", False)
