"""The sqlite executor, run through shimtask_core as users run it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from shimtask_core import (
    ExecutorFailed,
    ExecutorRegistry,
    TemplateError,
    ValueTypeError,
    make_template,
    run_template,
    template_to_json,
)
from shimtask_core.errors import classify
from shimtask_sqlite3 import Rows, SQLite3Executor

PEOPLE = [("alice", 34, "Lisbon"), ("bob", 27, "Oslo"), ("carol", 41, "Lisbon"),
          ("dave", 30, "Quito")]
BY_NAME = ("select name, age from people "
           "where name = '{{ .inputs.name }}' and age >= {{ .inputs.min_age }}")


def make_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        con.execute("create table people (name text, age integer, city text)")
        con.executemany("insert into people values (?, ?, ?)", PEOPLE)
        con.execute("create table blobs (id integer, data blob, score real, note text)")
        con.execute("insert into blobs values (1, x'00ff10', 1.5, null)")
    con.close()
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "people.db")


@pytest.fixture
def registry() -> ExecutorRegistry:
    reg = ExecutorRegistry()
    reg.register("sqlite", SQLite3Executor, replace=True)
    return reg


@pytest.fixture
def chdir_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def template(query: str, uri: str | Path, *, compressed: bool = False,
             inputs: dict[str, Any] | None = None, outputs: dict[str, Any] | None = None,
             flytekit_shaped: bool = False) -> Any:
    """A shimtask-authored template, or one shaped like flytekit's (no executor_type)."""
    tt = make_template(
        "people_query", "sqlite",
        inputs=inputs if inputs is not None else {"name": str, "min_age": int},
        outputs=outputs if outputs is not None else {"results": list[dict]},
        custom={"query_template": query, "uri": str(uri), "compressed": compressed},
    )
    if flytekit_shaped:
        del tt.custom.fields["executor_type"]
        tt.metadata.runtime.flavor = "python"
    return tt


# --- queries ---------------------------------------------------------------------------


@pytest.mark.parametrize("flytekit_shaped", [False, True])
def test_quoted_string_and_integer_inputs(
    db: Path, registry: ExecutorRegistry, flytekit_shaped: bool
) -> None:
    tt = template(BY_NAME, db, flytekit_shaped=flytekit_shaped)
    assert registry.executor_type_of(tt) == "sqlite"
    assert run_template(tt, registry=registry, name="alice", min_age=30) == [
        {"name": "alice", "age": 34}]
    assert run_template(tt, registry=registry, name="alice", min_age=35) == []


@pytest.mark.parametrize(("declared", "shown"), [(int, "int"), (dict, "dict"),
                                                 (dict[str, int], "dict[str, int]")])
def test_an_output_rows_cannot_be_is_refused_before_the_query(
    db: Path, registry: ExecutorRegistry, declared: Any, shown: str
) -> None:
    tt = template("select count(*) as n from nope", db, inputs={}, outputs={"n": declared})
    with pytest.raises(TemplateError) as info:  # the query (no such table) never runs
        run_template(tt, registry=registry)
    assert str(info.value) == (
        f"people_query: output 'n' is {shown}; the sqlite executor returns the query's rows: "
        f"declare its output as a FlyteSchema or StructuredDataset (as flytekit's SQLite3Task "
        f"does; pyarrow.Table in make_template) or as list[dict] (the duckdb executor maps "
        f"columns to scalar outputs)")


def test_rows_keep_order_and_columns(db: Path, registry: ExecutorRegistry) -> None:
    tt = template("select city, count(*) as n, max(age) as oldest from people "
                  "where city like '%{{ .inputs.q }}%' group by city order by city",
                  db, inputs={"q": str})
    assert run_template(tt, registry=registry, q="o") == [
        {"city": "Lisbon", "n": 2, "oldest": 41},
        {"city": "Oslo", "n": 1, "oldest": 27},
        {"city": "Quito", "n": 1, "oldest": 30},
    ]


def test_executor_returns_rows_with_columns_even_when_empty(db: Path) -> None:
    tt = template("select name, age, city from people where age > {{ .inputs.min_age }}",
                  db, inputs={"min_age": int})
    rows = SQLite3Executor().execute_from_model(tt, min_age=100)
    assert isinstance(rows, Rows)
    assert rows == [] and rows.columns == ("name", "age", "city")


def test_zero_rows(db: Path, registry: ExecutorRegistry) -> None:
    tt = template(BY_NAME, db)
    assert run_template(tt, registry=registry, name="nobody", min_age=0) == []


@pytest.mark.parametrize("attack", ["x' OR '1'='1", "'; DROP TABLE people; --",
                                    "alice' --", "' UNION SELECT name, 1 FROM sqlite_master --"])
def test_injection_stays_a_value(db: Path, registry: ExecutorRegistry, attack: str) -> None:
    tt = template(BY_NAME, db)
    assert run_template(tt, registry=registry, name=attack, min_age=0) == []
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from people").fetchone() == (len(PEOPLE),)
    con.close()


def test_blob_real_and_null_values(db: Path, registry: ExecutorRegistry) -> None:
    tt = template("select * from blobs", db, inputs={})
    assert run_template(tt, registry=registry) == [
        {"id": 1, "data": "AP8Q", "score": 1.5, "note": None}]  # base64 of 00 ff 10
    raw = SQLite3Executor().execute_from_model(
        template("select data from blobs", db, inputs={}, outputs={}))
    assert raw is None  # no declared output: the query runs, nothing is returned


def test_datetime_and_list_inputs_are_adapted(db: Path, registry: ExecutorRegistry) -> None:
    tt = template("select '{{ .inputs.when }}' as w, {{ .inputs.wait }} as s, "
                  "json_array_length('{{ .inputs.xs }}') as n",
                  db, inputs={"when": dt.datetime, "wait": dt.timedelta, "xs": list[int]})
    when = dt.datetime(2024, 5, 6, 9, 8, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert run_template(tt, registry=registry, when=when, wait=dt.timedelta(minutes=2),
                        xs=[1, 2, 3]) == [{"w": "2024-05-06 07:08:07", "s": 120.0, "n": 3}]


def test_collection_in_an_in_list_is_one_parameter_per_element(
    db: Path, registry: ExecutorRegistry
) -> None:
    # Bound as one JSON text value, the list would silently match no row.
    tt = template("select name, city from people where city in ({{ .inputs.cities }}) "
                  "and age not in ('{{ .inputs.ages }}') order by name",
                  db, inputs={"cities": list[str], "ages": list[int]})
    assert run_template(tt, registry=registry, cities=["Lisbon", "Oslo"], ages=[41]) == [
        {"name": "alice", "city": "Lisbon"}, {"name": "bob", "city": "Oslo"}]
    assert run_template(tt, registry=registry, cities=["x') or ('1'='1"], ages=[0]) == []


def test_empty_collection_in_an_in_list_is_a_user_error(
    db: Path, registry: ExecutorRegistry
) -> None:
    tt = template("select name from people where city in ({{ .inputs.cities }})",
                  db, inputs={"cities": list[str]})
    with pytest.raises(ValueTypeError) as info:
        run_template(tt, registry=registry, cities=[])
    assert "cities" in str(info.value) and "non-empty" in str(info.value)
    assert classify(info.value)[1:] == ("USER", False)


# --- where the database comes from --------------------------------------------------------


def test_relative_path_is_resolved_against_the_working_directory(
    chdir_tmp: Path, registry: ExecutorRegistry
) -> None:
    make_db(chdir_tmp / "data" / "people.db")
    tt = template(BY_NAME, "data/people.db")
    assert run_template(tt, registry=registry, name="bob", min_age=0) == [
        {"name": "bob", "age": 27}]


def test_file_uri(tmp_path: Path, registry: ExecutorRegistry) -> None:
    db = make_db(tmp_path / "with space" / "people.db")
    tt = template(BY_NAME, db.as_uri())
    assert "%20" in db.as_uri()
    assert run_template(tt, registry=registry, name="carol", min_age=0) == [
        {"name": "carol", "age": 41}]


def test_remote_uri_goes_through_fsspec(db: Path, registry: ExecutorRegistry) -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/shimtask-tests/people.db", db.read_bytes())
    try:
        tt = template(BY_NAME, "memory://shimtask-tests/people.db")
        assert run_template(tt, registry=registry, name="dave", min_age=0) == [
            {"name": "dave", "age": 30}]
    finally:
        fs.rm("/shimtask-tests", recursive=True)


@pytest.mark.parametrize("kind", ["zip", "gztar", "xztar"])
def test_compressed_database(db: Path, tmp_path: Path, registry: ExecutorRegistry,
                             kind: str) -> None:
    if kind == "zip":
        archive = tmp_path / "people.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(db, "nested/dir/people.db")
            zf.writestr("__MACOSX/nested/dir/._people.db", b"resource fork")
    else:
        archive = Path(shutil.make_archive(str(tmp_path / "people"), kind, db.parent, db.name))
    tt = template(BY_NAME, archive, compressed=True, flytekit_shaped=True)
    assert run_template(tt, registry=registry, name="alice", min_age=0) == [
        {"name": "alice", "age": 34}]


def test_compressed_archive_with_two_files(db: Path, tmp_path: Path,
                                           registry: ExecutorRegistry) -> None:
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(db, "a.db")
        zf.write(db, "b.db")
    with pytest.raises(ExecutorFailed, match=r"exactly one file.*it holds 2: a.db, b.db"):
        run_template(template(BY_NAME, archive, compressed=True), registry=registry,
                     name="x", min_age=0)


def test_compressed_flag_on_a_plain_file(db: Path, registry: ExecutorRegistry) -> None:
    with pytest.raises(ExecutorFailed, match="neither a zip nor a tar archive"):
        run_template(template(BY_NAME, db, compressed=True), registry=registry,
                     name="x", min_age=0)


def test_archive_without_compressed_flag_gets_a_hint(db: Path, tmp_path: Path,
                                                     registry: ExecutorRegistry) -> None:
    archive = tmp_path / "people.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(db, "people.db")
    with pytest.raises(ExecutorFailed, match="set compressed to true"):
        run_template(template(BY_NAME, archive), registry=registry, name="x", min_age=0)


def test_tar_member_paths_are_never_used(tmp_path: Path, db: Path,
                                         registry: ExecutorRegistry) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(db, arcname="../../escaped.db")
    tt = template(BY_NAME, archive, compressed=True)
    assert run_template(tt, registry=registry, name="bob", min_age=0) == [
        {"name": "bob", "age": 27}]
    assert not (tmp_path.parent.parent / "escaped.db").exists()


def _zip_member(zf: zipfile.ZipFile, name: str, data: bytes, *, link: bool = False) -> None:
    """Write a member under any name (zipfile.write would clean ``../``), or a symlink."""
    info = zipfile.ZipInfo(name)
    if link:
        info.external_attr = (0o120777 << 16)  # S_IFLNK: the data is the link's target
    zf.writestr(info, data)


@pytest.mark.parametrize("kind", ["zip", "tar"])
@pytest.mark.parametrize("name", ["../../evil.db", "/tmp/shimtask-zip-slip/evil.db",
                                  "a/../../../evil.db"])
def test_archive_member_paths_never_write_outside_the_temp_dir(
    tmp_path: Path, db: Path, registry: ExecutorRegistry, monkeypatch: pytest.MonkeyPatch,
    kind: str, name: str
) -> None:
    """Zip-slip: the member's own path (``..``, absolute) is never used; it is extracted
    under a fixed name in a temporary directory that is gone afterwards."""
    scratch = tmp_path / "deep" / "er" / "tmp"
    scratch.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    archive = tmp_path / f"slip.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            _zip_member(zf, name, db.read_bytes())
    else:
        with tarfile.open(archive, "w") as tf:
            tf.add(db, arcname=name)
    tt = template(BY_NAME, archive, compressed=True)
    assert run_template(tt, registry=registry, name="bob", min_age=0) == [
        {"name": "bob", "age": 27}]
    assert list(scratch.iterdir()) == [], "the temporary directory was left behind"
    for base in (scratch, scratch / "x", scratch / "x" / "y"):
        assert not (base / name).resolve().exists(), (base / name).resolve()
    assert not Path("/tmp/shimtask-zip-slip").exists()


@pytest.mark.parametrize("kind", ["zip", "tar-symlink", "tar-hardlink"])
def test_archive_members_that_are_links_are_refused(
    tmp_path: Path, db: Path, registry: ExecutorRegistry, kind: str
) -> None:
    """A link member (to /etc/passwd, or to a file outside) is never followed or made."""
    archive = tmp_path / "links.archive"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            _zip_member(zf, "people.db", b"/etc/passwd", link=True)
    else:
        with tarfile.open(archive, "w") as tf:
            info = tarfile.TarInfo("people.db")
            info.type = tarfile.SYMTYPE if kind == "tar-symlink" else tarfile.LNKTYPE
            info.linkname = "/etc/passwd"
            tf.addfile(info)
    with pytest.raises(ExecutorFailed) as failure:
        run_template(template(BY_NAME, archive, compressed=True), registry=registry,
                     name="bob", min_age=0)
    message = str(failure.value)
    assert "'people.db'" in message and "link" in message and "regular file" in message
    assert classify(failure.value)[1] == "USER"


@pytest.mark.parametrize("kind", ["zip", "gztar"])
def test_a_zip_bomb_stops_at_the_extraction_limit(
    tmp_path: Path, registry: ExecutorRegistry, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """64 MiB of zeros compress to a few KiB; with the limit at 1 MiB the extraction is
    refused from the declared size, before a byte is written, as a USER LimitExceeded
    naming the variable that raises it; raised past the size, the same archive runs."""
    from shimtask_core import LimitExceeded

    big = tmp_path / "bomb.db"
    make_db(big)
    with big.open("ab") as fh:  # trailing zeros: sqlite ignores what is past its pages
        fh.write(bytes(64 * 2**20))
    if kind == "zip":
        archive = tmp_path / "bomb.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(big, "bomb.db")
    else:
        archive = Path(shutil.make_archive(str(tmp_path / "bomb"), kind, tmp_path, "bomb.db"))
    assert archive.stat().st_size < 2**20
    monkeypatch.setenv("SHIMTASK_SQLITE_MAX_EXTRACT_BYTES", "1MiB")
    tt = template(BY_NAME, archive, compressed=True)
    with pytest.raises(LimitExceeded) as failure:
        run_template(tt, registry=registry, name="bob", min_age=0)
    message = str(failure.value)
    assert "beyond the limit of 1,048,576 bytes (SHIMTASK_SQLITE_MAX_EXTRACT_BYTES)" in message
    assert "raise it: SHIMTASK_SQLITE_MAX_EXTRACT_BYTES=" in message
    assert "'bomb.db'" in message
    assert classify(failure.value) == ("LimitExceeded", "USER", False)
    monkeypatch.setenv("SHIMTASK_SQLITE_MAX_EXTRACT_BYTES", "100MiB")
    assert run_template(tt, registry=registry, name="bob", min_age=0) == [
        {"name": "bob", "age": 27}]


def test_a_lying_zip_header_still_stops_at_the_limit(tmp_path: Path) -> None:
    """The copy counts what it writes: a member whose data is longer than the limit
    stops at limit + 1 bytes read, whatever the archive declared."""
    import io

    from shimtask_core import LimitExceeded
    from shimtask_sqlite3 import _copy

    dest = tmp_path / "out.db"
    with pytest.raises(LimitExceeded, match="more than 1,000 bytes"):
        _copy(io.BytesIO(bytes(10_000)), dest, uri="x.zip", member="m", limit=1000)
    assert dest.stat().st_size <= 1000


def test_a_malformed_extraction_limit_is_an_error_naming_it(
    tmp_path: Path, db: Path, registry: ExecutorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "people.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(db, "people.db")
    monkeypatch.setenv("SHIMTASK_SQLITE_MAX_EXTRACT_BYTES", "lots")
    with pytest.raises(ExecutorFailed, match="SHIMTASK_SQLITE_MAX_EXTRACT_BYTES='lots'"):
        run_template(template(BY_NAME, archive, compressed=True), registry=registry,
                     name="bob", min_age=0)


# --- the user's file is never changed --------------------------------------------------


def test_database_is_read_only(db: Path, registry: ExecutorRegistry) -> None:
    before = db.read_bytes()
    tt = template("insert into people values ('{{ .inputs.name }}', 1, 'x')", db,
                  inputs={"name": str}, outputs={})
    with pytest.raises(ExecutorFailed, match=r"readonly database.*opens the database read-only"):
        run_template(tt, registry=registry, name="mallory")
    assert db.read_bytes() == before


# --- errors ------------------------------------------------------------------------------


def test_missing_database_file(chdir_tmp: Path, registry: ExecutorRegistry) -> None:
    tt = template(BY_NAME, "data/nope.db")
    with pytest.raises(ExecutorFailed) as info:
        run_template(tt, registry=registry, name="x", min_age=0)
    message = str(info.value)
    assert "FileNotFoundError" in message and "'data/nope.db' does not exist" in message
    assert str(chdir_tmp) in message and "working directory" in message
    assert classify(info.value)[1:] == ("USER", False)


def test_sql_syntax_error_names_the_query(db: Path, registry: ExecutorRegistry) -> None:
    tt = template("selec name from people where age > {{ .inputs.min_age }}", db,
                  inputs={"min_age": int})
    with pytest.raises(ExecutorFailed, match=r'near "selec": syntax error.*query: selec name'):
        run_template(tt, registry=registry, min_age=1)


def test_unknown_table(db: Path, registry: ExecutorRegistry) -> None:
    tt = template("select * from persons", db, inputs={})
    with pytest.raises(ExecutorFailed, match="no such table: persons"):
        run_template(tt, registry=registry)


def test_not_a_database(tmp_path: Path, registry: ExecutorRegistry) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("hello, I am not sqlite\n" * 100)
    with pytest.raises(ExecutorFailed, match="file is not a database"):
        run_template(template("select * from people", bogus, inputs={}), registry=registry)


def test_unknown_placeholder_is_a_template_error(db: Path, registry: ExecutorRegistry) -> None:
    tt = template("select * from people where name = '{{ .inputs.nmae }}'", db,
                  inputs={"name": str})
    with pytest.raises(TemplateError, match=r"people_query: .*'nmae'.*inputs are: name"):
        run_template(tt, registry=registry, name="x")


def test_table_name_placeholder_is_refused(db: Path, registry: ExecutorRegistry) -> None:
    tt = template("select * from {{ .inputs.table }}", db, inputs={"table": str})
    with pytest.raises(TemplateError, match="table name after FROM"):
        run_template(tt, registry=registry, table="people")


def test_duplicate_column_names(db: Path, registry: ExecutorRegistry) -> None:
    tt = template("select a.name, b.name from people a join people b on a.age = b.age", db,
                  inputs={})
    with pytest.raises(ExecutorFailed, match="more than one column named 'name'"):
        run_template(tt, registry=registry)


@pytest.mark.parametrize("custom", [{"uri": "x.db"}, {"query_template": "select 1"},
                                    {"query_template": "select 1", "uri": "x.db",
                                     "compressed": "yes"}])
def test_incomplete_custom(registry: ExecutorRegistry, custom: dict[str, Any]) -> None:
    tt = make_template("broken", "sqlite", outputs={"results": list[dict]}, custom=custom)
    with pytest.raises(TemplateError, match="broken: custom"):
        run_template(tt, registry=registry)


# --- the installed plugin, as a user runs it ---------------------------------------------


def _installed() -> bool:
    return any(ep.value == "shimtask_sqlite3:SQLite3Executor"
               for ep in entry_points(group="shimtask.executors", name="sqlite"))


@pytest.mark.skipif(not _installed(), reason="pip install -e plugins/shimtask-sqlite3 first")
def test_shimtask_run_with_the_installed_entry_point(chdir_tmp: Path) -> None:
    make_db(chdir_tmp / "data" / "people.db")
    (chdir_tmp / "query.json").write_text(template_to_json(template(BY_NAME, "data/people.db",
                                                                    flytekit_shaped=True)))
    (chdir_tmp / "inputs.json").write_text(json.dumps({"name": "alice", "min_age": 30}))
    shimtask = Path(sys.executable).with_name("shimtask")
    done = subprocess.run(
        [str(shimtask), "run", "query.json", "--inputs-json", "inputs.json", "--json"],
        capture_output=True, text=True, cwd=chdir_tmp, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"results": [{"name": "alice", "age": 34}]}

    done = subprocess.run(
        [str(shimtask), "run", "query.json", "-i", "name=x' OR '1'='1", "-i", "min_age=0"],
        capture_output=True, text=True, cwd=chdir_tmp, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "results: []"

    (chdir_tmp / "data" / "people.db").unlink()
    done = subprocess.run(
        [str(shimtask), "run", "query.json", "--inputs-json", "inputs.json"],
        capture_output=True, text=True, cwd=chdir_tmp, timeout=120, check=False)
    assert done.returncode == 1
    assert "'data/people.db' does not exist" in done.stderr


# --- a stop reaches a query running in SQLite's C ------------------------------------

ENDLESS = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
           "WHERE x < 1000000000000) SELECT count(*) AS n FROM c")  # hours of work in C


def _endless(tmp_path: Path, db: Path) -> tuple[Path, Path]:
    from flyteidl.core import literals_pb2

    tt = template(ENDLESS, db, inputs={})
    (tmp_path / "task.pb").write_bytes(tt.SerializeToString())
    (tmp_path / "inputs.pb").write_bytes(literals_pb2.LiteralMap().SerializeToString())
    return tmp_path / "task.pb", tmp_path / "inputs.pb"


def test_a_query_past_the_time_limit_is_interrupted_off_the_main_thread(
        tmp_path: Path, db: Path, registry: ExecutorRegistry) -> None:
    """A caller's worker thread: the time limit's timer interrupts the query (SQLite
    runs it in C, where nothing else reaches it), and the thread is free again."""
    import threading

    from shimtask_core import runtime

    template_path, inputs_path = _endless(tmp_path, db)
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(runtime.execute(
        inputs=str(inputs_path), output_prefix=str(tmp_path / "out"),
        template=str(template_path), registry=registry, timeout=0.5)))
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the query ran on past its time limit"
    (result,) = results
    assert not result.ok and result.error.code == "Timeout"


SHIMTASK = Path(sys.executable).with_name("shimtask")


@pytest.mark.skipif(not SHIMTASK.exists() or not any(
    ep.value.startswith("shimtask_sqlite3") for ep in entry_points(
        group="shimtask.executors", name="sqlite")), reason="pip install the plugin first")
@pytest.mark.parametrize("stop", ["--timeout", "SIGTERM"])
def test_shimtask_execute_stops_a_query_at_its_time_limit_or_sigterm(
        tmp_path: Path, db: Path, stop: str) -> None:
    import signal
    import time

    template_path, inputs_path = _endless(tmp_path, db)
    extra = ["--timeout", "1"] if stop == "--timeout" else []
    proc = subprocess.Popen([str(SHIMTASK), "execute", "--inputs", str(inputs_path),
                             "--output-prefix", str(tmp_path / "out"), *extra,
                             "--template", str(template_path)], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if stop == "SIGTERM":
            time.sleep(2)  # imported, and deep in the query
            assert proc.poll() is None, proc.communicate()
            proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)  # the query alone runs for hours
    finally:
        proc.kill()
        proc.wait()
    from flyteidl.core import errors_pb2

    document = errors_pb2.ErrorDocument()
    document.ParseFromString((tmp_path / "out" / "error.pb").read_bytes())
    if stop == "SIGTERM":
        assert proc.returncode == 128 + signal.SIGTERM, stderr
        assert document.error.code == "Terminated"
    else:
        assert proc.returncode == 1, stderr
        assert document.error.code == "Timeout"
