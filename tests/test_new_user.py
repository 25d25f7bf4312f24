"""What a new user hit in the first hour (issue 14), each reproduced as they met it.

Findings 2 (input names that collide with Python parameters), 3 (``run --json`` is
RFC 8259 JSON), 4 (an executor's prints stay off stdout), 5 (a list of records loses
no column), 9 (numpy booleans, dataclass instances and types), 10 (single-output
return rules), 11 (absolute URIs for a relative raw output prefix), 12 (``shimtask
run`` passes local inputs by path and cleans its scratch space), 13 (a missing fsspec
driver) and 14 (templates with a BOM, or malformed JSON). The second pass (the last
section): each first-hour mistake is one line naming cause and fix: an executor type
shipped with shimtask but not installed, a typo, a ``python-task``, wrong input names
and shapes, JSON inputs to ``execute``, a file that is no template or names nothing, a
plugin missing a module (``doctor``), an empty environment, ``--debug`` after the
command, misspelt options, ``plugins new`` of an installed name; and the examples in
``--help`` parse. The CLI tests run the console script of a venv where these plugins
are pip-installed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import re
from pathlib import Path
from typing import Any, Optional

import pytest
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2

from pluginenv import PluginVenv, build_wheel
from shimtask_core import (
    ExecutableTemplateShimTask,
    ExecutorRegistry,
    File,
    OutputMismatch,
    ShimTaskExecutor,
    TemplateError,
    make_template,
    run_template,
    template_to_json,
)
from shimtask_core.context import ExecutionContext, using_context
from shimtask_core.literals import InterfaceCodec, struct_type
from shimtask_core.template import parse_template

PLUGIN = '''
import math
import os
import tempfile

from shimtask_core import ShimTaskExecutor, custom_of


class AnyName(ShimTaskExecutor):
    """Takes self and tt by position only, so every input name reaches it."""

    def execute_from_model(self, tt, /, **inputs):
        return dict(inputs)


class Floats(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "xs": [1.5, math.nan]}


class Blobs(ShimTaskExecutor):
    """Says where its file input is, and returns a file it wrote in custom["workdir"]."""

    def execute_from_model(self, tt, **inputs):
        out = os.path.join(custom_of(tt)["workdir"], "hello.txt")
        with open(out, "w") as fh:
            fh.write("hello")
        return {"seen": os.fspath(inputs["f"]), "out": out}
'''

NOISY = '''
import atexit
import os
import subprocess
import sys

from shimtask_core import ShimTaskExecutor

print("noisy: printed at import")
atexit.register(print, "noisy: at exit")  # as an exporter printing its batch at exit


class Noisy(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        print("noisy: python print")
        os.write(1, b"noisy: file descriptor 1\\n")
        subprocess.run([sys.executable, "-c", "print('noisy: child process')"], check=True)
        return inputs["n"] + 1
'''


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("newuser")
    env = PluginVenv(root / "env")
    env.install(
        build_wheel(root, "shimtask-test-newuser", modules={"shimtask_test_newuser.py": PLUGIN},
                    executors={"anyname": "shimtask_test_newuser:AnyName",
                               "floats": "shimtask_test_newuser:Floats",
                               "blobs": "shimtask_test_newuser:Blobs"}),
        build_wheel(root, "shimtask-test-noisy", modules={"shimtask_test_noisy.py": NOISY},
                    executors={"noisy": "shimtask_test_noisy:Noisy"}),
        build_wheel(root, "shimtask-test-seed", modules={"shimtask_test_seed.py": SEED},
                    executors={"seed": "shimtask_test_seed:Seed"}),
    )
    return env


SEED = '''
from shimtask_core import ShimTaskExecutor


class Seed(ShimTaskExecutor):
    """The seed API's signature: self and tt may be given by name."""

    def execute_from_model(self, tt, **inputs):
        return dict(inputs)
'''


def write_template(path: Path, tt: Any) -> Path:
    path.write_text(template_to_json(tt))
    return path


def error_of(prefix: Path) -> errors_pb2.ContainerError:
    document = errors_pb2.ErrorDocument()
    document.ParseFromString((prefix / "error.pb").read_bytes())
    return document.error


# --- finding 2: any valid Flyte input name works ------------------------------------


def test_inputs_named_self_tt_and_registry_run_through_the_cli(
    user_venv: PluginVenv, tmp_path: Path
) -> None:
    names = {"self": int, "tt": str, "registry": bool, "kwargs": float}
    template = write_template(tmp_path / "names.json",
                              make_template("names", "anyname", inputs=names, outputs=names))
    result = user_venv.shimtask("run", str(template), "-i", "self=1", "-i", "tt=x",
                                "-i", "registry=true", "-i", "kwargs=2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"self": 1, "tt": "x", "registry": True, "kwargs": 2.0}


def test_an_input_the_seed_signature_cannot_take_is_refused_when_loaded(
    user_venv: PluginVenv, tmp_path: Path
) -> None:
    tt = make_template("clash", "seed", inputs={"tt": str}, outputs={"tt": str})
    template = write_template(tmp_path / "clash.json", tt)
    result = user_venv.shimtask("run", str(template), "-i", "tt=x")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "shimtask: error: clash: input 'tt' cannot reach Seed.execute_from_model(self, tt, "
        "**...): its parameter 'tt' takes that name. Rename the input, or let the executor "
        "take its parameters by position only: def execute_from_model(self, tt, /, **inputs)")
    # The container contract: a USER TemplateError in error.pb, not a SYSTEM:TypeError.
    (tmp_path / "clash.pb").write_bytes(tt.SerializeToString())
    inputs = tmp_path / "inputs.pb"
    inputs.write_bytes(InterfaceCodec(tt.interface).encode_inputs({"tt": "x"})
                       .SerializeToString())
    out = tmp_path / "out"
    run = user_venv.shimtask("execute", "--inputs", str(inputs), "--output-prefix", str(out),
                             "--template", str(tmp_path / "clash.pb"))
    assert run.returncode == 1
    error = error_of(out)
    assert error.code == "TemplateError" and error.origin == execution_pb2.ExecutionError.USER
    assert "input 'tt' cannot reach" in error.message


def test_run_template_takes_inputs_named_tt_self_and_registry(user_venv: PluginVenv) -> None:
    result = user_venv.python_code("""
        from shimtask_core import ExecutorRegistry, make_template, run_template
        names = {"self": int, "tt": int, "registry": int | None}
        tt = make_template("names", "anyname", inputs=names, outputs=names)
        print(run_template(tt, self=1, tt=2, registry=3))
        # registry= is the registry to use when it is one (and an input otherwise)
        print(run_template(tt, registry=ExecutorRegistry(), self=4, tt=5))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["{'registry': 3, 'self': 1, 'tt': 2}",
                                          "{'registry': None, 'self': 4, 'tt': 5}"]


class PositionalOnly(ShimTaskExecutor[Any]):
    def execute_from_model(self, tt: Any, /, **inputs: Any) -> Any:
        return dict(inputs)


class SeedSignature(ShimTaskExecutor[Any]):
    def execute_from_model(self, tt: Any, **inputs: Any) -> Any:
        return dict(inputs)


def test_an_input_named_self_reaches_the_executor_through_the_task() -> None:
    registry = ExecutorRegistry(path=[])
    names = {"self": int, "tt": int}
    tt = make_template("names", "anyname", inputs=names, outputs=names)
    task = ExecutableTemplateShimTask(tt, PositionalOnly, registry=registry)
    assert task.execute(self=1, tt=2) == {"self": 1, "tt": 2}
    assert task.run({"self": 1, "tt": 2}) == {"self": 1, "tt": 2}


def test_the_seed_signature_is_refused_at_load_with_the_fix_named() -> None:
    tt = make_template("clash", "x", inputs={"self": int})
    with pytest.raises(TemplateError, match="input 'self' cannot reach SeedSignature"):
        ExecutableTemplateShimTask(tt, SeedSignature, registry=ExecutorRegistry(path=[]))


# --- finding 3: run --json is RFC 8259 JSON; NaN and infinities are documented strings --


def test_run_json_output_is_strict_json(user_venv: PluginVenv, tmp_path: Path) -> None:
    tt = make_template("floats", "floats", outputs={"nan": float, "inf": float, "ninf": float,
                                                    "xs": list[float]})
    template = write_template(tmp_path / "floats.json", tt)
    result = user_venv.shimtask("run", str(template), "--json")
    assert result.returncode == 0, result.stderr

    def refuse(token: str) -> Any:
        raise AssertionError(f"not RFC 8259 JSON: {token}")

    assert json.loads(result.stdout, parse_constant=refuse) == {
        "nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "xs": [1.5, "NaN"]}
    human = user_venv.shimtask("run", str(template))
    assert "nan: \"NaN\"" in human.stdout.splitlines()


def test_an_overflowing_float_literal_is_a_usage_error(user_venv: PluginVenv,
                                                       tmp_path: Path) -> None:
    tt = make_template("f", "anyname", inputs={"f": float}, outputs={"f": float})
    template = write_template(tmp_path / "f.json", tt)
    result = user_venv.shimtask("run", str(template), "-i", "f=1e400")
    assert result.returncode == 2
    assert "input 'f' (float): cannot read '1e400': 1e400 overflows a double" in result.stderr


# --- finding 4: what an executor or plugin prints does not corrupt --json -------------


def test_prints_of_the_executor_and_its_children_go_to_stderr(
    user_venv: PluginVenv, tmp_path: Path
) -> None:
    tt = make_template("noisy", "noisy", inputs={"n": int}, outputs={"n": int})
    template = write_template(tmp_path / "noisy.json", tt)
    result = user_venv.shimtask("run", str(template), "-i", "n=1", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"n": 2}
    for line in ("noisy: printed at import", "noisy: python print",
                 "noisy: file descriptor 1", "noisy: child process", "noisy: at exit"):
        assert line in result.stderr.splitlines()
    human = user_venv.shimtask("run", str(template), "-i", "n=1")
    assert human.stdout == "n: 2\n" and "noisy: at exit" in human.stderr


# --- finding 5: a list of records takes the union of the keys -------------------------


def test_records_with_different_keys_lose_no_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    codec = InterfaceCodec(make_template("t", "x", outputs={"rows": pa.Table}).interface)
    records = [{"a": 1}, {"b": 2}, {"a": 3, "c": "x"}]
    with using_context(ExecutionContext(raw_output_prefix=str(tmp_path))):
        table = codec.decode_outputs(codec.encode_outputs(records))["rows"]
    assert table.to_pylist() == [{"a": 1, "b": None, "c": None},
                                 {"a": None, "b": 2, "c": None},
                                 {"a": 3, "b": None, "c": "x"}]


# --- finding 9: numpy.bool_, dataclass instances and dataclass types ------------------


@dataclasses.dataclass
class Point:
    x: int
    y: float
    when: dt.datetime
    label: str = "origin"


@dataclasses.dataclass
class Segment:
    start: Point
    end: Point


def test_a_numpy_bool_is_a_bool() -> None:
    np = pytest.importorskip("numpy")
    codec = InterfaceCodec(make_template("t", "x", outputs={"ok": bool}).interface)
    assert codec.decode_outputs(codec.encode_outputs(np.True_)) == {"ok": True}
    assert codec.decode_outputs(codec.encode_outputs(np.bool_(False))) == {"ok": False}
    # inside a dict too ("expected dict, got bool np.True_"), as a pandas row's to_dict() has
    row = {"ok": np.True_, "n": np.int64(3), "x": np.float32(1.5), "flags": [np.bool_(False)]}
    plain = {"ok": True, "n": 3, "x": 1.5, "flags": [False]}
    generic, rows = (make_template("t", "x", outputs={"row": t}) for t in (dict, list[dict]))
    in_msgpack = make_template("t", "x", outputs={"row": dict})
    in_msgpack.interface.outputs.variables["row"].type.CopyFrom(struct_type(msgpack=True))
    for tt, value, expected in ((generic, row, plain), (in_msgpack, row, plain),
                                (rows, [row], [plain])):
        codec = InterfaceCodec(tt.interface)
        decoded = codec.decode_outputs(codec.encode_outputs(value))["row"]
        assert decoded == expected
        assert type(decoded["ok"] if isinstance(decoded, dict) else decoded[0]["ok"]) is bool


def test_make_template_declares_a_dataclass_as_flytekit_does() -> None:
    tt = make_template("seg", "x", inputs={"s": Segment}, outputs={"p": Point})
    declared = tt.interface.outputs.variables["p"].type
    assert sorted(declared.structure.dataclass_type) == ["label", "when", "x", "y"]
    schema = json.loads(template_to_json(tt))["interface"]["outputs"]["variables"]["p"][
        "type"]["metadata"]
    assert (schema["title"], schema["required"], schema["additionalProperties"]) == (
        "Point", ["x", "y", "when"], False)
    assert schema["properties"]["when"] == {"type": "string", "format": "date-time"}
    inner = tt.interface.inputs.variables["s"].type.structure.dataclass_type["start"]
    assert sorted(inner.structure.dataclass_type) == ["label", "when", "x", "y"]


def test_a_dataclass_instance_is_a_value_of_its_dataclass_type() -> None:
    when = dt.datetime(2024, 5, 6, tzinfo=dt.timezone.utc)

    class Draw(ShimTaskExecutor[Any]):
        def execute_from_model(self, tt: Any, **inputs: Any) -> Any:
            start = Point(1, 2.0, when)
            return {"p": start, "s": Segment(start, Point(x=3, y=4, when=when, label="end"))}

    registry = ExecutorRegistry(path=[])
    registry.register("draw", Draw)
    tt = make_template("draw", "draw", outputs={"p": Point, "s": Segment})
    point = {"x": 1, "y": 2.0, "when": when, "label": "origin"}
    assert run_template(tt, registry=registry) == {
        "p": point, "s": {"start": point, "end": {**point, "x": 3, "y": 4.0, "label": "end"}}}


# --- finding 10: single-output return rules, one clear message per mistake ----------


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({}, "executor outputs do not match the template: missing 'n' (declared: n); for one "
             "output, return the value itself or {'n': value}"),
        ({"n": 1, "zzz": 2}, "unknown 'zzz' (declared: n)"),
        ({"m": 1}, "missing 'n'; unknown 'm'"),
    ],
)
def test_a_dict_for_one_non_dict_output_is_an_output_mismatch(result: Any, message: str
                                                              ) -> None:
    codec = InterfaceCodec(make_template("t", "x", outputs={"n": int}).interface)
    with pytest.raises(OutputMismatch) as caught:
        codec.encode_outputs(result)
    assert message in str(caught.value)
    assert codec.decode_outputs(codec.encode_outputs({"n": 1})) == {"n": 1}


def test_one_dataclass_output_may_be_returned_by_its_name() -> None:
    codec = InterfaceCodec(make_template("t", "x", outputs={"point": Point}).interface)
    value = {"x": 1, "y": 2.0, "when": dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)}
    assert codec.decode_outputs(codec.encode_outputs({"point": value})) == {"point": value}
    assert codec.decode_outputs(codec.encode_outputs(value)) == {"point": value}
    with pytest.raises(Exception, match=r"output 'point': expected dict \(dataclass Point\), "
                                        r"got a dict without field\(s\) 'y', 'when'$"):
        codec.encode_outputs({"x": 1})
    # a misspelt output name: what is missing and what is unknown, in one message
    with pytest.raises(Exception, match=r"got a dict without field\(s\) 'x', 'y', 'when' and "
                                        r"with unknown field\(s\) 'pont'$"):
        codec.encode_outputs({"pont": value})


class Mood(enum.Enum):
    CALM = "calm"
    BUSY = "busy"


@dataclasses.dataclass
class Event:
    at: dt.datetime
    mood: Mood = Mood.CALM
    took: dt.timedelta = dt.timedelta(seconds=90)
    where: Optional[Point] = None  # noqa: UP045 - the flytekit spelling


def test_an_optional_dataclass_output_takes_an_instance_or_its_name_and_checks_fields(
) -> None:
    """Inside a union flytekit keeps only the dataclass's JSON schema (its tag replaces the
    field types), and so does make_template: the fields are read from the schema. An
    instance with datetime, enum and timedelta fields was refused as a generic dict, and
    {"event": {...}} was silently stored as a dataclass with a field "event"."""
    tt = make_template("t", "x", outputs={"event": Optional[Event]})  # noqa: UP045
    variant = tt.interface.outputs.variables["event"].type.union_type.variants[0]
    assert not variant.structure.dataclass_type and variant.metadata.fields["properties"]
    codec = InterfaceCodec(tt.interface)
    when = dt.datetime(2024, 5, 6, tzinfo=dt.timezone.utc)
    value = {"at": when, "mood": "busy", "took": dt.timedelta(seconds=90), "where": None}
    for result in (Event(when, Mood.BUSY), {"event": Event(when, Mood.BUSY)},
                   {"event": {**value, "mood": Mood.BUSY}}):
        assert codec.decode_outputs(codec.encode_outputs(result)) == {"event": value}
    assert codec.decode_outputs(codec.encode_outputs(None)) == {"event": None}
    for wrong, says in (
            ({"event": {"at": when}, "extra": 1},
             "without field(s) 'at' and with unknown field(s) 'event', 'extra'"),
            ({"at": when, "zzz": 2}, "with unknown field(s) 'zzz'"),
            ({"mood": "calm"}, "without field(s) 'at'")):
        # the union's one dict variant says which fields are wrong
        with pytest.raises(Exception, match=r"output 'event': expected dict \(dataclass Event\) "
                                            r"\| none, got a dict " + re.escape(says)):
            codec.encode_outputs(wrong)
    # as flytekit writes an Optional[Event] (msgpack, the datetime as ISO text), read back
    literals = literals_pb2.LiteralMap()
    union = literals.literals["event"].scalar.union
    union.type.CopyFrom(variant)
    union.value.scalar.binary.tag = "msgpack"
    union.value.scalar.binary.value = pytest.importorskip("msgpack").packb(
        {"at": "2024-05-06T00:00:00", "mood": "busy", "took": 90.0})
    assert codec.decode_outputs(literals) == {
        "event": {"at": when, "mood": "busy", "took": dt.timedelta(seconds=90)}}


# --- finding 11: URIs in literals are absolute --------------------------------------


def test_a_relative_raw_output_prefix_gives_absolute_uris(user_venv: PluginVenv,
                                                         tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "in.txt").write_text("input")
    tt = make_template("blobs", "blobs", inputs={"f": File},
                       outputs={"seen": str, "out": File}, custom={"workdir": str(work)})
    (tmp_path / "blobs.pb").write_bytes(tt.SerializeToString())
    inputs = tmp_path / "inputs.pb"
    inputs.write_bytes(InterfaceCodec(tt.interface).encode_inputs(
        {"f": str(tmp_path / "in.txt")}).SerializeToString())
    result = user_venv.shimtask("execute", "--inputs", "inputs.pb", "--output-prefix", "out",
                                "--raw-output-data-prefix", "rawrel", "--template", "blobs.pb",
                                cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outputs = literals_pb2.LiteralMap()
    outputs.ParseFromString((tmp_path / "out" / "outputs.pb").read_bytes())
    uri = outputs.literals["out"].scalar.blob.uri
    assert os.path.isabs(uri) and uri.startswith(str(tmp_path / "rawrel") + "/"), uri
    assert Path(uri).read_text() == "hello"


def test_a_relative_raw_output_prefix_from_python_gives_absolute_uris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python API's ExecutionContext takes the prefix as given: the URIs written are
    absolute all the same (files, datasets, and a parquet file given as a dataset)."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    monkeypatch.chdir(tmp_path)
    Path("in.txt").write_text("x")
    pq.write_table(pa.table({"a": [1]}), "rows.parquet")
    codec = InterfaceCodec(make_template("t", "x", outputs={"f": File, "t": pa.Table,
                                                            "p": pa.Table}).interface)
    with using_context(ExecutionContext(raw_output_prefix="rel")):
        literals = codec.encode_outputs({"f": "in.txt", "t": pa.table({"a": [2]}),
                                         "p": "rows.parquet"}).literals
    uris = [literals["f"].scalar.blob.uri, literals["t"].scalar.structured_dataset.uri,
            literals["p"].scalar.structured_dataset.uri]
    assert all(uri.startswith(f"{tmp_path / 'rel'}/") for uri in uris), uris


# --- finding 12: shimtask run passes local inputs by path, scratch space per run ------


def test_run_passes_local_inputs_by_path_and_leaves_no_scratch(user_venv: PluginVenv,
                                                              tmp_path: Path) -> None:
    tmpdir, work, data = tmp_path / "tmp", tmp_path / "work", tmp_path / "data"
    for folder in (tmpdir, work, data):
        folder.mkdir()
    big = data / "big.txt"
    big.write_text("pretend this is large")
    tt = make_template("blobs", "blobs", inputs={"f": File},
                       outputs={"seen": str, "out": File}, custom={"workdir": str(work)})
    template = write_template(tmp_path / "blobs.json", tt)
    env = {"TMPDIR": str(tmpdir)}

    kept = tmp_path / "kept"
    result = user_venv.shimtask("run", str(template), "-i", f"f={big}", "--json",
                                "--raw-output-data-prefix", str(kept), env=env)
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)
    assert outputs["seen"] == str(big)  # the input itself, not a copy
    assert Path(outputs["out"]).read_text() == "hello"  # where the user asked
    assert Path(outputs["out"]).is_relative_to(kept)
    assert list(tmpdir.iterdir()) == []  # no shimtask-raw, no shimtask-run-* left behind

    # Without a prefix, the file outputs are kept in one new directory, named on stderr.
    relative = user_venv.shimtask("run", "blobs.json", "-i", "f=data/big.txt", "--json",
                                  env=env, cwd=tmp_path)
    assert relative.returncode == 0, relative.stderr
    outputs = json.loads(relative.stdout)
    assert outputs["seen"] == str(big)  # made absolute, still not copied
    (left,) = tmpdir.iterdir()
    assert left.name.startswith("shimtask-outputs-")
    assert Path(outputs["out"]).read_text() == "hello" and Path(outputs["out"]).is_relative_to(
        left)
    assert f"file and directory outputs are kept in {left}" in relative.stderr


def test_dataset_inputs_are_passed_by_path(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "rows.parquet")
    codec = InterfaceCodec(make_template("t", "x", inputs={"d": pa.Table, "f": File}).interface)
    raw = tmp_path / "raw"
    with using_context(ExecutionContext(raw_output_prefix=str(raw))):
        literals = codec.encode_inputs({"d": tmp_path / "rows.parquet", "f": tmp_path /
                                        "rows.parquet"}).literals
    assert literals["d"].scalar.structured_dataset.uri == str(tmp_path / "rows.parquet")
    assert literals["f"].scalar.blob.uri == str(tmp_path / "rows.parquet")
    assert not raw.exists()  # nothing was copied


# --- finding 13: a missing fsspec driver is one line naming the extra ----------------


def test_a_missing_fsspec_driver_is_non_recoverable_and_named(user_venv: PluginVenv,
                                                              tmp_path: Path) -> None:
    """The venv has fsspec but not s3fs, as an image built without the [s3] extra."""
    tt = make_template("e", "anyname", inputs={"n": int}, outputs={"n": int})
    (tmp_path / "t.pb").write_bytes(tt.SerializeToString())
    (tmp_path / "in.pb").write_bytes(InterfaceCodec(tt.interface).encode_inputs({"n": 1})
                                     .SerializeToString())
    fix = "the s3:// protocol needs s3fs, which is not installed: pip install 'shimtask-core[s3]'"
    reading = user_venv.shimtask("execute", "--inputs", "s3://bucket/in.pb", "--output-prefix",
                                 str(tmp_path / "out"), "--template", str(tmp_path / "t.pb"))
    assert reading.returncode == 1
    error = error_of(tmp_path / "out")
    assert (error.code, error.origin, error.kind) == (
        "MissingDependency", execution_pb2.ExecutionError.USER,
        errors_pb2.ContainerError.NON_RECOVERABLE)
    assert error.message == f"s3://bucket/in.pb: {fix}"

    writing = user_venv.shimtask("execute", "--inputs", str(tmp_path / "in.pb"),
                                 "--output-prefix", "s3://bucket/out",
                                 "--template", str(tmp_path / "t.pb"))
    assert writing.returncode == 74  # neither file can be written anywhere
    assert writing.stderr.strip().splitlines() == [
        f"shimtask: error: could not write a result: s3://bucket/out/error.pb: {fix}"]


# --- finding 14: templates with a byte-order mark, or malformed JSON ------------------


def test_a_json_template_with_a_utf8_bom_runs(user_venv: PluginVenv, tmp_path: Path) -> None:
    tt = make_template("bom", "anyname", inputs={"n": int}, outputs={"n": int})
    template = tmp_path / "bom.json"
    template.write_bytes(b"\xef\xbb\xbf" + template_to_json(tt).encode("utf-8"))
    result = user_venv.shimtask("run", str(template), "-i", "n=3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"n": 3}


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("name", ["bom.json", "task.template"])
def test_a_json_template_in_utf16_or_utf32_with_a_bom_runs(
        user_venv: PluginVenv, tmp_path: Path, codec: str, name: str) -> None:
    """Windows PowerShell's ``python make_template.py > task.json`` writes UTF-16 with a
    byte-order mark; the mark says how to read it, with or without a .json name."""
    tt = make_template("bom", "anyname", inputs={"n": int}, outputs={"n": int})
    template = tmp_path / name
    bom = {"utf-16": b"", "utf-16-be": b"\xfe\xff", "utf-32": b""}[codec]  # -be has none
    template.write_bytes(bom + template_to_json(tt).encode(codec))
    assert template.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    result = user_venv.shimtask("run", str(template), "-i", "n=3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"n": 3}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n  "type": "echo",\n  "id": {"name": "x"}\n  "custom": {}\n}',
         "bad.json: not valid JSON: Expecting ',' delimiter at line 4 column 3"),
        ("", "bad.json: not valid JSON: Expecting value at line 1 column 1"),
        ('\n\n["a"]', "bad.json: expected a JSON object (a TaskTemplate in protobuf-JSON "
                      "form), got a JSON list"),
        ('{"typ": "echo"}', 'bad.json: not a TaskTemplate in protobuf-JSON form: Message type '
                            '"flyteidl.core.TaskTemplate" has no field named "typ"'),
    ],
)
def test_a_malformed_json_template_gets_a_json_error(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(text.encode("utf-8"), source="bad.json")
    assert str(caught.value).startswith(message)
    assert "wire format" not in str(caught.value).lower()


def test_a_protobuf_template_is_still_read_by_content() -> None:
    # an id of 123 bytes: the template's bytes start with "\n{", yet are no JSON
    tt = next(t for t in (make_template("x" * k, "echo") for k in range(100, 130))
              if t.SerializeToString()[:2] == b"\n{")
    data = tt.SerializeToString()
    assert parse_template(data, source="task.pb") == tt
    assert parse_template(data) == tt
    with pytest.raises(TemplateError, match=r"task\.pb: not a TaskTemplate protobuf"):
        parse_template(b"\x00garbage", source="task.pb")


# --- the first hour, second pass: each mistake is one line naming cause and fix -------

BROKEN = '''
import shimtask_test_not_a_dependency  # a dependency its distribution does not declare
'''


@pytest.fixture(scope="module")
def broken_venv(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    """A plugin whose module imports what is not installed, and an entry point naming a
    module its distribution does not ship."""
    root = tmp_path_factory.mktemp("broken")
    env = PluginVenv(root / "env")
    env.install(build_wheel(root, "shimtask-test-broken",
                            modules={"shimtask_test_broken.py": BROKEN},
                            executors={"needsdep": "shimtask_test_broken:Executor",
                                       "nomodule": "shimtask_test_gone:Executor"}))
    return env


def one_line_error(result: Any) -> str:
    """The whole of stderr, which must be one ``shimtask: error:`` line, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shimtask: error: "), result.stderr
    return str(lines[0])


def test_a_shipped_executor_type_that_is_not_installed_names_the_pip_install(
    user_venv: PluginVenv, tmp_path: Path
) -> None:
    tt = make_template("cities", "sqlite", inputs={"n": int}, outputs={"n": int},
                       custom={"query_template": "select 1", "uri": "x.db"})
    template = write_template(tmp_path / "cities.json", tt)
    result = user_venv.shimtask("run", str(template), "-i", "n=1")
    assert result.returncode == 1
    assert ("no executor named 'sqlite' is installed. It is provided by the distribution "
            "shimtask-sqlite3: pip install shimtask-sqlite3.") in one_line_error(result)
    # the same words in error.pb, where a Flyte user reads them
    (tmp_path / "cities.pb").write_bytes(tt.SerializeToString())
    (tmp_path / "in.pb").write_bytes(InterfaceCodec(tt.interface).encode_inputs({"n": 1})
                                     .SerializeToString())
    run = user_venv.shimtask("execute", "--inputs", str(tmp_path / "in.pb"), "--output-prefix",
                             str(tmp_path / "out"), "--template", str(tmp_path / "cities.pb"))
    assert run.returncode == 1
    error = error_of(tmp_path / "out")
    assert error.code == "ExecutorNotFound" and "pip install shimtask-sqlite3" in error.message
    typo = write_template(tmp_path / "typo.json", make_template("t", "duck_db"))
    assert ("no executor named 'duck_db' is installed. Did you mean 'duckdb'? It is provided by "
            "the distribution shimtask-duckdb: pip install shimtask-duckdb.") in one_line_error(
        user_venv.shimtask("run", str(typo)))


def test_a_typo_and_a_python_task_each_say_what_to_do(user_venv: PluginVenv,
                                                      tmp_path: Path) -> None:
    typo = write_template(tmp_path / "typo.json", make_template("t", "anynam"))
    assert "Did you mean 'anyname'?" in one_line_error(user_venv.shimtask("run", str(typo)))
    python_task = make_template("t", "x", task_type="python-task")
    python_task.ClearField("custom")  # as pyflyte serializes a @task
    template = write_template(tmp_path / "python_task.json", python_task)
    line = one_line_error(user_venv.shimtask("run", str(template)))
    assert "A 'python-task' template runs the task's own Python code" in line
    assert "pyflyte-execute" in line


def test_wrong_input_names_suggest_the_declared_one(user_venv: PluginVenv,
                                                    tmp_path: Path) -> None:
    tt = make_template("t", "anyname", inputs={"min_population": int, "country": str},
                       outputs={"country": str})
    template = write_template(tmp_path / "t.json", tt)
    typo = user_venv.shimtask("run", str(template), "-i", "min_pop=1", "-i", "country=x")
    assert typo.returncode == 2
    assert one_line_error(typo) == (
        "shimtask: error: -i min_pop: the template has no input 'min_pop'; did you mean "
        "'min_population'? (inputs: country, min_population)")
    case = user_venv.shimtask("run", str(template), "-i", "Country=x")
    assert "did you mean 'country'?" in one_line_error(case)
    (tmp_path / "in.json").write_text('{"contry": "x"}')
    from_json = user_venv.shimtask("run", str(template), "--inputs-json",
                                   str(tmp_path / "in.json"))
    assert "no input 'contry'; did you mean 'country'?" in one_line_error(from_json)
    missing = user_venv.shimtask("run", str(template), "-i", "country=x")
    assert missing.returncode == 2
    shapes = write_template(tmp_path / "shapes.json", make_template(
        "s", "anyname", inputs={"xs": list[int], "d": dict}, outputs={"xs": list[int]}))
    as_csv = user_venv.shimtask("run", str(shapes), "-i", "xs=1,2,3", "-i", "d={}")
    assert one_line_error(as_csv).endswith("cannot read '1,2,3': not JSON (Extra data: line 1 "
                                           "column 2 (char 1)); a list is written as JSON, "
                                           "e.g. [1, 2, 3]")
    bare = user_venv.shimtask("run", str(shapes), "-i", "xs=[1]", "-i", "d=a=1")
    assert one_line_error(bare).endswith('a dict is written as JSON, e.g. {"a": 1}')
    assert one_line_error(missing) == (
        "shimtask: error: input 'min_population' (int) is required but was not given: give "
        "it with -i min_population=VALUE or in --inputs-json")


def test_json_inputs_to_execute_point_at_run(user_venv: PluginVenv, tmp_path: Path) -> None:
    tt = make_template("t", "anyname", inputs={"n": int}, outputs={"n": int})
    (tmp_path / "t.pb").write_bytes(tt.SerializeToString())
    (tmp_path / "inputs.json").write_text('{"n": 1}\n')
    result = user_venv.shimtask("execute", "--inputs", str(tmp_path / "inputs.json"),
                                "--output-prefix", str(tmp_path / "out"),
                                "--template", str(tmp_path / "t.pb"))
    assert result.returncode == 1
    error = error_of(tmp_path / "out")
    assert (error.code, error.origin) == ("TemplateError", execution_pb2.ExecutionError.USER)
    assert error.message == (
        f"{tmp_path / 'inputs.json'}: not a LiteralMap protobuf but JSON: the inputs of "
        f"'shimtask execute' are the inputs.pb Flyte writes; to give JSON inputs, use "
        f"'shimtask run TEMPLATE --inputs-json FILE'")
    # a JSON *template* is fine for execute
    (tmp_path / "in.pb").write_bytes(InterfaceCodec(tt.interface).encode_inputs({"n": 1})
                                     .SerializeToString())
    json_template = write_template(tmp_path / "t.json", tt)
    ok = user_venv.shimtask("execute", "--inputs", str(tmp_path / "in.pb"), "--output-prefix",
                            str(tmp_path / "ok"), "--template", str(json_template))
    assert ok.returncode == 0, ok.stderr


def test_files_that_are_no_template_or_missing_get_one_line(user_venv: PluginVenv,
                                                            tmp_path: Path) -> None:
    (tmp_path / "inputs.json").write_text('{"country": "Japan"}')  # arguments swapped
    swapped = one_line_error(user_venv.shimtask("run", str(tmp_path / "inputs.json")))
    assert 'has no field named "country"' in swapped and "Available Fields" in swapped
    assert swapped.endswith("none of its keys is a TaskTemplate field: if these are inputs, "
                            "'shimtask run TEMPLATE --inputs-json FILE' takes them")
    (tmp_path / "make.py").write_text("print('a script, not a template')\x00\x01")
    script = one_line_error(user_venv.shimtask("run", str(tmp_path / "make.py")))
    assert script.endswith("a template file is a serialized TaskTemplate (.pb) or its "
                           "protobuf-JSON (.json)")
    missing = user_venv.shimtask("run", "nope.json", cwd=tmp_path)
    assert missing.returncode == 1
    assert one_line_error(missing) == (
        "shimtask: error: cannot read nope.json: FileNotFoundError: No such file or directory")
    template = write_template(tmp_path / "t.json", make_template("t", "anyname"))
    inputs = user_venv.shimtask("run", str(template), "--inputs-json", "nope.json",
                                cwd=tmp_path)
    assert inputs.returncode == 2
    assert one_line_error(inputs) == ("shimtask: error: --inputs-json nope.json: cannot read "
                                      "it: FileNotFoundError: No such file or directory")
    folder = one_line_error(user_venv.shimtask("run", str(tmp_path)))
    assert folder.endswith(f"cannot read {tmp_path}: IsADirectoryError: Is a directory")


def test_doctor_and_run_say_which_module_is_missing_and_what_to_install(
    broken_venv: PluginVenv, tmp_path: Path
) -> None:
    doctor = broken_venv.shimtask("plugins", "doctor")
    assert doctor.returncode == 1
    needsdep, nomodule = (
        next(line for line in doctor.stdout.splitlines() if line.startswith(f"executor {n} "))
        for n in ("needsdep", "nomodule"))
    assert needsdep.endswith(
        "ModuleNotFoundError: No module named 'shimtask_test_not_a_dependency'. It imports "
        "'shimtask_test_not_a_dependency', which is not installed in this environment: pip "
        "install the package that provides it, or reinstall shimtask-test-broken with its "
        "dependencies")
    assert nomodule.endswith(
        "ModuleNotFoundError: No module named 'shimtask_test_gone'. The entry point's own "
        "module is not installed: reinstall shimtask-test-broken (pip install "
        "--force-reinstall shimtask-test-broken), or fix the entry point it declares")
    assert "Traceback" not in doctor.stdout + doctor.stderr
    template = write_template(tmp_path / "t.json", make_template("t", "needsdep"))
    run = broken_venv.shimtask("run", str(template))
    assert run.returncode == 1
    assert "It imports 'shimtask_test_not_a_dependency'" in one_line_error(run)


def test_an_empty_environment_says_what_to_install(tmp_path: Path) -> None:
    result = PluginVenv(tmp_path / "env").shimtask("plugins", "list")
    assert result.returncode == 0
    assert result.stdout.strip() == (
        "no executor plugins installed (entry-point group 'shimtask.executors'): pip install "
        "one (shimtask-duckdb, shimtask-shell, shimtask-sqlalchemy, shimtask-sqlite3), or "
        "start your own with 'shimtask plugins new NAME'")


def test_debug_after_the_command_shows_the_traceback(user_venv: PluginVenv,
                                                     tmp_path: Path) -> None:
    after = user_venv.shimtask("run", "nope.json", "--debug", cwd=tmp_path)
    before = user_venv.shimtask("--debug", "run", "nope.json", cwd=tmp_path)
    for result in (after, before):
        assert result.returncode == 1
        assert result.stderr.startswith("Traceback (most recent call last):"), result.stderr
        assert result.stderr.strip().endswith("shimtask: error: cannot read nope.json: "
                                              "FileNotFoundError: No such file or directory")


def test_every_example_in_the_help_is_a_valid_command() -> None:
    import argparse
    import shlex

    from shimtask_core.cli import build_parser

    parser = build_parser()
    helps = [parser.format_help()] + [
        sub.format_help() for action in parser._actions
        if isinstance(action, argparse._SubParsersAction) for sub in action.choices.values()]
    examples = [line.strip() for text in helps if "\nexamples:\n" in text
                for line in text.split("\nexamples:\n", 1)[1].replace("\\\n", "").splitlines()
                if line.strip().startswith("shimtask ") and "COMMAND" not in line]
    assert len(examples) >= 8
    commands = {shlex.split(example)[1] for example in examples}
    assert {"execute", "run", "plugins", "serve"} <= commands, commands
    for example in examples:
        parser.parse_args(shlex.split(example)[1:])  # argparse exits on a wrong one


def test_a_relative_input_path_that_names_nothing_says_where_it_was_looked_for(
    user_venv: PluginVenv, tmp_path: Path
) -> None:
    pa = pytest.importorskip("pyarrow")
    tt = make_template("t", "anyname", inputs={"f": File, "rows": pa.Table},
                       outputs={"f": File})
    template = write_template(tmp_path / "t.json", tt)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.txt").write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    file_input = user_venv.shimtask("run", str(template), "-i", "f=data/in.txt", "-i",
                                    "rows=data/rows.parquet", cwd=elsewhere)
    assert file_input.returncode == 2
    assert one_line_error(file_input).endswith(
        f"input 'f': expected file(any format), got 'data/in.txt', which does not exist "
        f"(relative to the working directory {elsewhere})")
    dataset = user_venv.shimtask("run", str(template), "-i", "f=data/in.txt", "-i",
                                 "rows=data/rows.parquet", cwd=tmp_path)
    assert one_line_error(dataset).endswith(
        f"input 'rows': expected structured dataset(parquet), got 'data/rows.parquet', which "
        f"does not exist (relative to the working directory {tmp_path})")


def test_a_task_spec_is_read_as_the_template_it_wraps() -> None:
    """What ``pyflyte package`` writes: protobuf reads some as a TaskTemplate without an
    error (its template's bytes taken for the id), others fail on bad UTF-8."""
    from flyteidl.admin import task_pb2

    tt = make_template("spec", "anyname", inputs={"n": int}, outputs={"n": int},
                       custom={"k": "v"})
    spec = task_pb2.TaskSpec(template=tt)
    assert parse_template(spec.SerializeToString(), source="0_spec_1.pb") == tt
    assert parse_template(tt.SerializeToString(), source="spec.pb") == tt  # still itself
    from google.protobuf import json_format

    text = json_format.MessageToJson(spec).encode("utf-8")
    assert parse_template(text, source="spec.json") == tt


def test_plugins_new_warns_when_the_name_is_already_installed(user_venv: PluginVenv,
                                                              tmp_path: Path) -> None:
    taken = user_venv.shimtask("plugins", "new", "anyname", "--dir", str(tmp_path / "a"))
    assert taken.returncode == 0 and (tmp_path / "a" / "pyproject.toml").is_file()
    assert taken.stderr.strip().splitlines() == [
        "shimtask: warning: executor type 'anyname' is already installed here, from "
        "shimtask-test-newuser 1.0.0: with shimtask-anyname installed too, templates naming "
        "it fail with ExecutorConflict until SHIMTASK_PREFER=anyname=shimtask-anyname picks "
        "one (or choose another NAME)"]
    fresh = user_venv.shimtask("plugins", "new", "greet", "--dir", str(tmp_path / "g"))
    assert fresh.returncode == 0 and fresh.stderr == ""


def test_a_misspelt_option_gets_the_subcommands_usage_and_the_closest_option(
    user_venv: PluginVenv, tmp_path: Path
) -> None:
    result = user_venv.shimtask("run", "t.json", "--input-json", "in.json", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: shimtask run ")
    assert result.stderr.strip().splitlines()[-1] == (
        "shimtask run: error: unrecognized arguments: --input-json in.json (did you mean "
        "--inputs-json?)")
    nested = user_venv.shimtask("plugins", "list", "--jsn")
    assert nested.stderr.strip().splitlines()[-1] == (
        "shimtask plugins list: error: unrecognized arguments: --jsn (did you mean --json?)")
    top = user_venv.shimtask("--debgu", "run", "t.json", cwd=tmp_path)  # before the command
    assert top.returncode == 2 and top.stderr.startswith("usage: shimtask [")
    assert top.stderr.strip().splitlines()[-1] == (
        "shimtask: error: unrecognized arguments: --debgu (did you mean --debug?)")


_DEFAULT_RAW = """
import sys
from shimtask_core import make_template
from shimtask_core.literals import InterfaceCodec

if sys.argv[1] == "table":
    import pyarrow as pa

    codec = InterfaceCodec(make_template("t", "x", outputs={"t": pa.Table}).interface)
    literals = codec.encode_outputs({"t": pa.table({"a": [1]})}).literals
    print(literals["t"].scalar.structured_dataset.uri)
else:
    from shimtask_core.context import current_context

    print(current_context().raw_output_prefix)
"""


def test_python_api_outputs_go_to_a_private_directory_of_the_process(tmp_path: Path) -> None:
    """From Python, with no raw output prefix named, outputs are written to a directory
    of this process (mode 0700, a new name each time), not one shared by every user of
    the machine; one that nothing was written into is gone at exit (finding 12)."""
    import subprocess
    import sys

    pytest.importorskip("pyarrow")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir)}

    def run(kind: str) -> Path:
        done = subprocess.run([sys.executable, "-c", _DEFAULT_RAW, kind], env=env,
                              capture_output=True, text=True, check=True)
        return Path(done.stdout.strip())

    first, second = run("table"), run("table")
    for output in (first, second):
        assert output.is_dir() and any(output.iterdir())  # the parquet file(s)
        private = output.relative_to(tmpdir).parts[0]
        assert private.startswith("shimtask-raw-") and private != "shimtask-raw"
        assert (tmpdir / private).stat().st_mode & 0o777 == 0o700
    assert first.relative_to(tmpdir).parts[0] != second.relative_to(tmpdir).parts[0]

    unused = run("none")
    assert unused.parent == tmpdir and unused.name.startswith("shimtask-raw-")
    assert not unused.exists()  # made for the default context, empty, removed at exit
    assert len(list(tmpdir.iterdir())) == 2
