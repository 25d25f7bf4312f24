"""flytekit query templates compiled to bound parameters, checked against real sqlite3."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shimtask_core.errors import TemplateError, UsageError, ValueTypeError
from shimtask_core.sqltemplate import PARAMSTYLES, compile_query, placeholder_names

INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE users; --",
    "alice'--",
    "' UNION SELECT name, 0 FROM sqlite_master --",
    '"; DROP TABLE users; --',
    "{{ .inputs.name }}",
    "%(name)s ? :name",
]


@pytest.fixture
def db() -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(":memory:")
    con.executescript(
        """
        create table users (name text, age integer);
        insert into users values ('alice', 34), ('bob', 27), ('carol', 41);
        """
    )
    yield con
    con.close()


def run(con: sqlite3.Connection, template: str, paramstyle: str, **inputs: Any) -> list[Any]:
    sql, params = compile_query(template, inputs, paramstyle)
    if paramstyle == "numeric":  # sqlite3 binds :1 by name (a sequence is deprecated in 3.12)
        params = {str(i): value for i, value in enumerate(params, 1)}
    return con.execute(sql, params).fetchall()


# --- placeholders become parameters --------------------------------------------------


def test_quoted_string_and_bare_integer_named() -> None:
    sql, params = compile_query(
        "select name, age from people where name = '{{ .inputs.name }}' "
        "and age >= {{ .inputs.min_age }}",
        {"name": "alice", "min_age": 30},
        "named",
    )
    assert sql == "select name, age from people where name = :name and age >= :min_age"
    assert params == {"name": "alice", "min_age": 30}


@pytest.mark.parametrize(
    ("paramstyle", "sql", "params"),
    [
        ("named", "where a = :a and b = :b and c = :a", {"a": 1, "b": "two"}),
        ("pyformat", "where a = %(a)s and b = %(b)s and c = %(a)s", {"a": 1, "b": "two"}),
        ("qmark", "where a = ? and b = ? and c = ?", [1, "two", 1]),
        ("numeric", "where a = :1 and b = :2 and c = :1", [1, "two"]),
        ("format", "where a = %s and b = %s and c = %s", [1, "two", 1]),
    ],
)
def test_every_paramstyle_and_a_value_used_twice(
    paramstyle: str, sql: str, params: dict[str, Any] | list[Any]
) -> None:
    template = "where a = {{ .inputs.a }} and b = '{{.inputs.b}}' and c = {{ .inputs.a }}"
    assert compile_query(template, {"a": 1, "b": "two", "unused": 3}, paramstyle) == (sql, params)


@pytest.mark.parametrize("paramstyle", ["named", "qmark", "numeric"])
def test_a_value_used_twice_binds_twice_in_sqlite(db: sqlite3.Connection, paramstyle: str) -> None:
    rows = run(
        db,
        "select name from users where age >= {{ .inputs.n }} and age < {{ .inputs.n }} + 10 "
        "and name like '%{{ .inputs.s }}%' order by name",
        paramstyle,
        n=30,
        s="l",
    )
    assert rows == [("alice",)]


def test_flytekit_placeholder_spellings() -> None:
    # flytekit's pattern: any spacing, any case, and any one character before/after "inputs".
    for spelling in ("{{.inputs.x}}", "{{ .inputs.x }}", "{{   .INPUTS.x   }}", "{{ inputs.x }}"):
        assert compile_query(f"select {spelling}", {"x": 1}, "qmark") == ("select ?", [1])


def test_placeholder_inside_a_larger_literal_is_concatenated(db: sqlite3.Connection) -> None:
    template = "select name from users where name like '%{{ .inputs.q }}%' order by name"
    sql, params = compile_query(template, {"q": "o"}, "named")
    assert sql == "select name from users where name like ('%' || :q || '%') order by name"
    assert params == {"q": "o"}
    assert db.execute(sql, params).fetchall() == [("bob",), ("carol",)]


def test_concatenation_keeps_escaped_quotes_and_spaces(db: sqlite3.Connection) -> None:
    assert run(db, "select 'it''s {{ .inputs.a }}, {{ .inputs.b }}!'", "qmark", a="x", b="y") == [
        ("it's x, y!",)
    ]
    assert run(db, "select ' {{ .inputs.a }} '", "named", a="x") == [(" x ",)]


def test_concat_function_for_mysql_style() -> None:
    sql, params = compile_query(
        "select * from t where s like '%{{ .inputs.q }}_'", {"q": "a"}, "format", concat="CONCAT"
    )
    assert sql == "select * from t where s like CONCAT('%%', %s, '_')"
    assert params == ["a"]


def test_concatenation_binds_as_one_expression(db: sqlite3.Connection) -> None:
    # COLLATE binds tighter than ||: the parentheses keep it on the whole string.
    rows = run(db, "select 'A{{ .inputs.b }}' = 'ab' collate nocase", "named", b="B")
    assert rows == [(1,)]


# --- injection stays a value ---------------------------------------------------------


@pytest.mark.parametrize("paramstyle", ["named", "qmark", "numeric"])
@pytest.mark.parametrize("attack", INJECTIONS)
def test_injection_is_a_plain_value_and_the_table_survives(
    db: sqlite3.Connection, paramstyle: str, attack: str
) -> None:
    rows = run(db, "select name from users where name = '{{ .inputs.name }}'", paramstyle,
               name=attack)
    assert rows == []
    rows = run(db, "select '{{ .inputs.name }}' as echoed, count(*) from users", paramstyle,
               name=attack)
    assert rows == [(attack, 3)]
    rows = run(db, "select count(*) from users where name like '%{{ .inputs.name }}%'",
               paramstyle, name=attack)
    assert rows == [(0,)]
    assert db.execute("select count(*) from users").fetchone() == (3,)


def test_injection_through_a_bare_placeholder(db: sqlite3.Connection) -> None:
    # flytekit would paste `0 or 1=1; drop table users` into the query.
    rows = run(db, "select name from users where age > {{ .inputs.n }}", "named",
               n="0 or 1=1; drop table users")
    assert rows == []  # one text value: no integer age is greater than it
    sql, params = compile_query("select name from users where age > {{ .inputs.n }}",
                                {"n": "0; drop table users"}, "named")
    assert "drop" not in sql
    assert params == {"n": "0; drop table users"}
    assert db.execute("select count(*) from users").fetchone() == (3,)


_TEXT = st.characters(blacklist_categories=("Cs",))  # sqlite stores UTF-8: no lone surrogates
_PLAIN = st.characters(blacklist_categories=("Cs",), blacklist_characters="'{")


@given(value=st.text(alphabet=_TEXT), prefix=st.text(alphabet=_PLAIN),
       suffix=st.text(alphabet=_PLAIN))
def test_any_text_round_trips_exactly(value: str, prefix: str, suffix: str) -> None:
    # Bytes that sqlite's C API truncates (NUL) stay out: that is sqlite, not quoting.
    con = sqlite3.connect(":memory:")
    try:
        if "\x00" in value + prefix + suffix:
            return
        for paramstyle in ("named", "qmark", "numeric"):
            rows = run(con, f"select '{prefix}{{{{ .inputs.v }}}}{suffix}'", paramstyle, v=value)
            assert rows == [(prefix + value + suffix,)]
    finally:
        con.close()


# --- a collection in IN (...) is one parameter per element ------------------------------


@pytest.mark.parametrize(
    ("paramstyle", "sql", "params"),
    [
        ("named", "where age in (:ids_0, :ids_1, :ids_2) and name = :n",
         {"ids_0": 34, "ids_1": 41, "ids_2": 99, "n": "carol"}),
        ("pyformat", "where age in (%(ids_0)s, %(ids_1)s, %(ids_2)s) and name = %(n)s",
         {"ids_0": 34, "ids_1": 41, "ids_2": 99, "n": "carol"}),
        ("qmark", "where age in (?, ?, ?) and name = ?", [34, 41, 99, "carol"]),
        ("numeric", "where age in (:1, :2, :3) and name = :4", [34, 41, 99, "carol"]),
        ("format", "where age in (%s, %s, %s) and name = %s", [34, 41, 99, "carol"]),
    ],
)
def test_in_list_expands_in_every_paramstyle(
    paramstyle: str, sql: str, params: dict[str, Any] | list[Any]
) -> None:
    template = "where age in ({{ .inputs.ids }}) and name = '{{ .inputs.n }}'"
    assert compile_query(template, {"ids": [34, 41, 99], "n": "carol"}, paramstyle) == (
        sql, params)


@pytest.mark.parametrize("paramstyle", ["named", "qmark", "numeric"])
def test_in_list_finds_the_rows_in_sqlite(db: sqlite3.Connection, paramstyle: str) -> None:
    assert run(db, "select name from users where age in ({{ .inputs.ids }}) order by name",
               paramstyle, ids=[34, 41, 99]) == [("alice",), ("carol",)]
    # quoted (the quotes belong to the placeholder), NOT IN, a tuple, beside fixed items
    assert run(db, "select name from users where name NOT IN ('{{ .inputs.names }}', 'bob')",
               paramstyle, names=("alice",)) == [("carol",)]
    assert run(db, "select name from users where age in (27, {{ .inputs.ids }}) and "
               "name not in ({{ .inputs.names }}) order by name", paramstyle, ids=[34, 41],
               names=["carol"]) == [("alice",), ("bob",)]


@pytest.mark.parametrize("paramstyle", ["named", "qmark", "numeric"])
def test_in_list_elements_stay_values(db: sqlite3.Connection, paramstyle: str) -> None:
    attack = ["x') OR ('1'='1", "alice' --"]
    assert run(db, "select name from users where name in ({{ .inputs.names }})", paramstyle,
               names=attack) == []
    assert run(db, "select count(*) from users where name in ({{ .inputs.names }})", paramstyle,
               names=["bob", *attack]) == [(1,)]


def test_in_list_used_twice_binds_each_element_once_for_named_styles() -> None:
    template = "where a in ({{ .inputs.ids }}) or b in ({{ .inputs.ids }})"
    assert compile_query(template, {"ids": [1, 2]}, "numeric") == (
        "where a in (:1, :2) or b in (:1, :2)", [1, 2])
    assert compile_query(template, {"ids": [1, 2]}, "named") == (
        "where a in (:ids_0, :ids_1) or b in (:ids_0, :ids_1)", {"ids_0": 1, "ids_1": 2})


def test_in_list_names_never_shadow_another_input() -> None:
    sql, params = compile_query("where a in ({{ .inputs.ids }}) and b = {{ .inputs.ids_0 }}",
                                {"ids": [1, 2], "ids_0": "other"}, "named")
    assert sql == "where a in (:ids__0, :ids__1) and b = :ids_0"
    assert params == {"ids__0": 1, "ids__1": 2, "ids_0": "other"}


def test_collection_outside_an_in_list_is_one_value() -> None:
    # a PostgreSQL array parameter, say: = ANY(...) or a bare comparison
    assert compile_query("where a = any({{ .inputs.ids }})", {"ids": [1, 2]}, "named") == (
        "where a = any(:ids)", {"ids": [1, 2]})
    assert compile_query("select json_array_length('{{ .inputs.xs }}')", {"xs": [1]},
                         "qmark") == ("select json_array_length(?)", [[1]])
    # inside IN (...) but in a subquery, or a string with more than the placeholder
    assert compile_query("where a in (select x from t where y = {{ .inputs.v }})",
                         {"v": [1]}, "qmark") == (
        "where a in (select x from t where y = ?)", [[1]])
    assert compile_query("where a in ('x{{ .inputs.v }}')", {"v": [1]}, "qmark") == (
        "where a in (('x' || ?))", [[1]])
    # a scalar in an IN list binds as it always did; so do strings (not collections)
    assert compile_query("where a in ({{ .inputs.v }})", {"v": "ab"}, "qmark") == (
        "where a in (?)", ["ab"])
    # "join (" and "coalesce_in(" are not IN lists
    assert compile_query("select * from a join (values ({{ .inputs.v }})) b", {"v": [1]},
                         "qmark")[1] == [[1]]
    assert compile_query("select coalesce_in({{ .inputs.v }})", {"v": [1]}, "qmark")[1] == [[1]]


@pytest.mark.parametrize("empty", [[], ()])
def test_empty_in_list_is_a_clear_error(empty: list[Any] | tuple[Any, ...]) -> None:
    with pytest.raises(ValueTypeError) as info:
        compile_query("select * from t where id in ({{ .inputs.ids }})", {"ids": empty},
                      "named")
    assert info.value.variable == "ids"
    assert "non-empty" in str(info.value) and "IN (...)" in str(info.value)


# --- comments, literals and percent signs ---------------------------------------------


def test_placeholders_in_comments_are_left_alone(db: sqlite3.Connection) -> None:
    template = (
        "select name from users -- filter by {{ .inputs.name }}\n"
        "where name = '{{ .inputs.name }}' /* not {{ .inputs.missing }} */"
    )
    sql, params = compile_query(template, {"name": "bob"}, "named")
    assert sql == (
        "select name from users -- filter by {{ .inputs.name }}\n"
        "where name = :name /* not {{ .inputs.missing }} */"
    )
    assert db.execute(sql, params).fetchall() == [("bob",)]
    assert placeholder_names(template) == ("name",)


@pytest.mark.parametrize("paramstyle", ["pyformat", "format"])
def test_percent_is_escaped_for_percent_styles(paramstyle: str) -> None:
    template = "select '50%' as p, x % 2 from t where s like '%{{ .inputs.q }}' -- 100%"
    sql, _ = compile_query(template, {"q": "a"}, paramstyle)
    marker = "%(q)s" if paramstyle == "pyformat" else "%s"
    assert sql == (
        f"select '50%%' as p, x %% 2 from t where s like ('%%' || {marker}) -- 100%%"
    )


@given(st.text(alphabet=st.characters(blacklist_characters="'\"`{-/")))
def test_text_without_placeholders_is_unchanged(text: str) -> None:
    assert compile_query(text, {}, "named") == (text, {})
    sql, params = compile_query(text, {}, "pyformat")
    assert sql % {} == text
    assert params == {}


def test_literal_lookalikes_are_not_placeholders() -> None:
    template = "select '{{ not a placeholder }}', \"col\" from t where a = {{ .inputs.a }}"
    assert compile_query(template, {"a": 1}, "qmark") == (
        "select '{{ not a placeholder }}', \"col\" from t where a = ?", [1])


# --- errors -------------------------------------------------------------------------


def test_unknown_placeholders_are_named_with_the_inputs() -> None:
    with pytest.raises(TemplateError) as info:
        compile_query("select {{ .inputs.nme }}, '{{ .inputs.agee }}', {{ .inputs.nme }}",
                      {"name": "a", "age": 1}, "named", source="people")
    message = str(info.value)
    assert "'nme', 'agee'" in message
    assert "age, name" in message
    assert message.startswith("people: ")


@pytest.mark.parametrize(
    "template",
    [
        'select "{{ .inputs.col }}" from t',
        "select `{{ .inputs.col }}` from t",
        "select * from {{ .inputs.col }}",
        "select * from t join {{ .inputs.col }} using (id)",
        "select * from (select * from {{ .inputs.col }})",
        "insert into {{ .inputs.col }} values (1)",
        "select a from t order by {{ .inputs.col }}",
        "select a, count(*) from t group by {{ .inputs.col }}",
        "select main.{{ .inputs.col }} from t",
        "select {{ .inputs.col }}.a from t",
    ],
)
def test_identifiers_cannot_be_parameters(template: str) -> None:
    with pytest.raises(TemplateError, match="cannot be bound"):
        compile_query(template, {"col": "users"}, "named")


@pytest.mark.parametrize(
    "template",
    [
        "select extract(year from {{ .inputs.col }})",
        "select substring({{ .inputs.col }} from 2 for 3)",
        "select * from t where a is distinct from {{ .inputs.col }}",
        "select * from t where a in (select b from u where c = {{ .inputs.col }})",
        "select * from t order by abs(a - {{ .inputs.col }})",
    ],
)
def test_values_after_keywords_are_still_values(template: str) -> None:
    sql, params = compile_query(template, {"col": 1}, "named")
    assert ":col" in sql and params == {"col": 1}


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("select 'unterminated {{ .inputs.a }}", "unterminated string literal"),
        ('select "unterminated', "unterminated quoted identifier"),
        ("select 1 /* unterminated", "unterminated block comment"),
        ("select {{inputs.a}}", "malformed placeholder"),
        ("select {{ .inputs.a.b }}", "malformed placeholder"),
        ("select E'{{ .inputs.a }}'", "prefixed string literal"),
    ],
)
def test_malformed_templates(template: str, match: str) -> None:
    with pytest.raises(TemplateError, match=match):
        compile_query(template, {"a": 1}, "named")


def test_unknown_paramstyle() -> None:
    with pytest.raises(UsageError, match="paramstyle 'dollar'"):
        compile_query("select 1", {}, "dollar")
    assert set(PARAMSTYLES) == {"named", "pyformat", "qmark", "numeric", "format"}


def test_driver_module_paramstyle_is_accepted(db: sqlite3.Connection) -> None:
    sql, params = compile_query("select {{ .inputs.a }} + 1", {"a": 1}, sqlite3.paramstyle)
    assert db.execute(sql, params).fetchone() == (2,)


def test_placeholder_names_in_order() -> None:
    assert placeholder_names(
        "select '{{ .inputs.b }}%', {{ .inputs.a }} -- {{ .inputs.c }}\n, {{ .inputs.b }}"
    ) == ("b", "a")


# --- the same rows as flytekit's text substitution, for harmless values ------------------

INTEROP_CASES: list[tuple[str, dict[str, Any]]] = [
    ("select name, age from users where name = '{{ .inputs.name }}' and age >= {{ .inputs.n }}",
     {"name": "alice", "n": 30}),
    ("select name from users where name like '%{{ .inputs.q }}%' order by name", {"q": "o"}),
    ("select name from users where age between {{.INPUTS.lo}} and {{ inputs.lo }} + 10 "
     "order by name", {"lo": 27}),
    ("select name from users where age = '{{ .inputs.age }}'", {"age": 34}),
    ("select name from users where age > {{ .inputs.f }} order by age", {"f": 29.5}),
    ("select {{ .inputs.b }} as b, 'x{{ .inputs.s }}y' as s", {"b": True, "s": "mid"}),
]


@pytest.mark.flytekit
def test_same_rows_as_flytekit_interpolation(db: sqlite3.Connection) -> None:
    python = os.environ.get("SHIMTASK_FLYTEKIT_PYTHON")
    if not python:
        pytest.skip("SHIMTASK_FLYTEKIT_PYTHON is not set (scripts/dev.py test sets it)")
    script = (
        "import json, sys\n"
        "from flytekit.core.base_sql_task import SQLTask\n"
        "cases = json.load(sys.stdin)\n"
        "json.dump([SQLTask.interpolate_query(t, **i) for t, i in cases], sys.stdout)\n"
    )
    done = subprocess.run([python, "-c", script], input=json.dumps(INTEROP_CASES),
                          capture_output=True, text=True, timeout=300, check=True)
    flytekit_queries = json.loads(done.stdout)
    for (template, inputs), pasted in zip(INTEROP_CASES, flytekit_queries, strict=True):
        sql, params = compile_query(template, inputs, "named")
        assert db.execute(sql, params).fetchall() == db.execute(pasted).fetchall(), template


@pytest.mark.parametrize("paramstyle", PARAMSTYLES)
@given(first=st.lists(st.integers(), min_size=1, max_size=4),
       second=st.lists(st.integers(), min_size=1, max_size=4),
       name=st.text(max_size=5), other=st.text(max_size=5))
def test_a_compilation_reused_for_inputs_of_the_same_shape_binds_the_new_values(
        paramstyle: str, first: list[int], second: list[int], name: str, other: str) -> None:
    """compile_query keeps a compilation per template and input shape: the next call
    with other values (of the same shape) must bind those, exactly as a fresh one."""
    from shimtask_core import sqltemplate

    template = ("select * from t where a = '{{ .inputs.name }}' and b like "
                "'%{{ .inputs.name }}%' and c in ({{ .inputs.ids }}, 3) and d = "
                "{{ .inputs.ids }} and f = {{ .inputs.name }}")
    compile_query(template, {"name": other, "ids": first}, paramstyle)
    for ids in (first, second):
        values = {"name": name, "ids": ids}
        reused = compile_query(template, values, paramstyle)
        sqltemplate._COMPILED.clear()
        assert reused == compile_query(template, values, paramstyle)
        assert reused[1] is not compile_query(template, values, paramstyle)[1]
