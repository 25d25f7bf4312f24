"""Limits (``shimtask_core.limits``): each one exceeded is a USER ``LimitExceeded`` in
error.pb naming what, the limit and the variable that raises it; never memory
exhaustion, a ``RecursionError`` or an outputs.pb protobuf cannot read back."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import errors_pb2, literals_pb2, types_pb2

from pluginenv import PluginVenv
from shimtask_core import ExecutorRegistry, ShimTaskExecutor, make_template, runtime, settings
from shimtask_core.errors import LimitExceeded, classify
from shimtask_core.limits import VARIABLES, Limits
from shimtask_core.literals import InterfaceCodec

USER = "USER"


class Returns(ShimTaskExecutor):  # type: ignore[type-arg]
    value: Any = None

    def execute_from_model(self, tt: Any, /, **inputs: Any) -> Any:
        return type(self).value


class Echo(ShimTaskExecutor):  # type: ignore[type-arg]
    def execute_from_model(self, tt: Any, /, **inputs: Any) -> Any:
        return inputs.get("x")


@pytest.fixture
def registry() -> ExecutorRegistry:
    registry = ExecutorRegistry(path=[])
    registry.register("returns", Returns)
    registry.register("echo", Echo)
    return registry


def _execute(tmp_path: Path, registry: ExecutorRegistry, tt: Any,
             inputs: literals_pb2.LiteralMap | bytes | None = None, value: Any = None,
             template: bytes | None = None) -> errors_pb2.ContainerError | None:
    """Run in-process; the error written (None: outputs.pb was written)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "task.pb").write_bytes(template if template is not None
                                       else tt.SerializeToString())
    data = inputs if isinstance(inputs, bytes) else (inputs or literals_pb2.LiteralMap()
                                                     ).SerializeToString()
    (tmp_path / "inputs.pb").write_bytes(data)
    Returns.value = value
    try:
        result = runtime.execute(inputs=str(tmp_path / "inputs.pb"),
                                 output_prefix=str(tmp_path / "out"),
                                 template=str(tmp_path / "task.pb"), registry=registry)
    finally:
        Returns.value = None
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names in (["outputs.pb"], ["error.pb"]), names
    if result.ok:
        return None
    assert result.error is not None
    return result.error


def _assert_limit(error: errors_pb2.ContainerError | None, variable: str, *words: str) -> None:
    assert error is not None, "expected a LimitExceeded"
    assert error.code == "LimitExceeded", error.message
    assert error.origin == 1  # USER
    assert error.kind == errors_pb2.ContainerError.NON_RECOVERABLE
    assert variable in error.message and "raise it" in error.message, error.message
    assert "Traceback" not in error.message
    for word in words:
        assert word in error.message, error.message


# --- the settings ------------------------------------------------------------------------


def test_every_limit_has_its_variable_and_default() -> None:
    assert set(VARIABLES) == set(Limits.__slots__)
    assert all(v.startswith("SHIMTASK_") for v in VARIABLES.values())
    assert Limits.from_env({}) == Limits()
    assert classify(LimitExceeded("x", "depth", 3, 2, variable="V")) == (
        "LimitExceeded", "USER", False)


@pytest.mark.parametrize(("text", "expected"), [
    ("1048576", 1048576), ("64MiB", 64 * 2**20), ("64mib", 64 * 2**20), ("1G", 10**9),
    ("1.5Gi", int(1.5 * 2**30)), ("10_000", 10_000), ("5 MB", 5 * 10**6)])
def test_sizes_read_with_their_units(text: str, expected: int) -> None:
    limits = Limits.from_env({"SHIMTASK_MAX_INPUTS_BYTES": text})
    assert limits.inputs_bytes == expected


@pytest.mark.parametrize(("variable", "text"), [
    ("SHIMTASK_MAX_INPUTS_BYTES", "lots"), ("SHIMTASK_MAX_INPUTS_BYTES", "-5"),
    ("SHIMTASK_MAX_DEPTH", "2.5"), ("SHIMTASK_MAX_COLLECTION", "0"),
    ("SHIMTASK_EXECUTION_TIMEOUT", "soon")])
def test_a_malformed_limit_warns_and_keeps_the_default(variable: str, text: str) -> None:
    settings._warned.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        limits = Limits.from_env({variable: text})
    assert limits == Limits()
    assert any(variable in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_timeout_zero_or_off_means_none() -> None:
    assert Limits.from_env({"SHIMTASK_EXECUTION_TIMEOUT": "0"}).timeout is None
    assert Limits.from_env({"SHIMTASK_EXECUTION_TIMEOUT": "off"}).timeout is None
    assert Limits.from_env({"SHIMTASK_EXECUTION_TIMEOUT": "2.5"}).timeout == 2.5


# --- sizes ---------------------------------------------------------------------------------


def test_template_too_big(tmp_path: Path, registry: ExecutorRegistry,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    tt = make_template("t", "returns", custom={"padding": "x" * 5000})
    monkeypatch.setenv("SHIMTASK_MAX_TEMPLATE_BYTES", "4KiB")
    _assert_limit(_execute(tmp_path, registry, tt), "SHIMTASK_MAX_TEMPLATE_BYTES",
                  "the template", "more than 4,096 bytes")
    monkeypatch.setenv("SHIMTASK_MAX_TEMPLATE_BYTES", "8KiB")
    assert _execute(tmp_path, registry, tt) is None


def test_inputs_too_big_are_not_read_whole(tmp_path: Path, registry: ExecutorRegistry,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A 20 MB inputs.pb against a 1 MB limit: refused after reading 1 MB + 1 byte."""
    tt = make_template("t", "echo", inputs={"x": str}, outputs={"x": str})
    lm = InterfaceCodec(tt.interface).encode_inputs({"x": "y" * 20_000_000})
    monkeypatch.setenv("SHIMTASK_MAX_INPUTS_BYTES", "1MiB")
    _assert_limit(_execute(tmp_path, registry, tt, lm), "SHIMTASK_MAX_INPUTS_BYTES",
                  "the inputs", "more than 1,048,576 bytes")


def test_offloaded_input_too_big(tmp_path: Path, registry: ExecutorRegistry,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    tt = make_template("t", "echo", inputs={"x": str}, outputs={"x": str})
    big = literals_pb2.Literal()
    big.scalar.primitive.string_value = "y" * 100_000
    (tmp_path / "offloaded.pb").write_bytes(big.SerializeToString())
    lm = literals_pb2.LiteralMap()
    lm.literals["x"].offloaded_metadata.uri = str(tmp_path / "offloaded.pb")
    monkeypatch.setenv("SHIMTASK_MAX_INPUTS_BYTES", "10000")
    _assert_limit(_execute(tmp_path, registry, tt, lm), "SHIMTASK_MAX_INPUTS_BYTES",
                  "input 'x'")
    monkeypatch.delenv("SHIMTASK_MAX_INPUTS_BYTES")
    assert _execute(tmp_path, registry, tt, lm) is None


def test_outputs_too_big(tmp_path: Path, registry: ExecutorRegistry,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An executor returning 5 MB for a 1 MB limit: error.pb, no outputs.pb."""
    tt = make_template("t", "returns", outputs={"text": str})
    monkeypatch.setenv("SHIMTASK_MAX_OUTPUTS_BYTES", "1MiB")
    error = _execute(tmp_path, registry, tt, value="z" * 5_000_000)
    _assert_limit(error, "SHIMTASK_MAX_OUTPUTS_BYTES", "the outputs (text)", "5,000,031 bytes")


# --- depth -----------------------------------------------------------------------------------


def _deep_type(depth: int) -> types_pb2.LiteralType:
    lt = types_pb2.LiteralType(simple=types_pb2.INTEGER)
    for _ in range(depth):
        lt = types_pb2.LiteralType(collection_type=lt)
    return lt


@pytest.mark.parametrize("direction", ["input", "output"])
def test_declared_type_too_deep(tmp_path: Path, registry: ExecutorRegistry,
                                direction: str) -> None:
    tt = make_template("t", "echo")
    variables = (tt.interface.inputs if direction == "input" else tt.interface.outputs)
    variables.variables["x"].type.CopyFrom(_deep_type(31))
    _assert_limit(_execute(tmp_path, registry, tt), "SHIMTASK_MAX_DEPTH",
                  f"the declared type of {direction} 'x'", "31 levels")


def _deep_dict(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("shape", ["deep 5000", "cyclic", "cyclic list", "deep msgpack"])
def test_returned_value_too_deep_is_no_recursion_error(
        tmp_path: Path, registry: ExecutorRegistry, shape: str) -> None:
    value: Any
    if shape == "deep 5000":
        value = _deep_dict(5000)
    elif shape == "cyclic":
        value = {"a": 1}
        value["self"] = value
    elif shape == "cyclic list":
        items: list[Any] = []
        items.append(items)
        value = {"items": items}
    else:
        value = _deep_dict(2000)
    declared: Any = dict
    tt = make_template("t", "returns", outputs={"d": declared})
    if shape == "deep msgpack":
        from shimtask_core.literals import struct_type

        tt.interface.outputs.variables["d"].type.CopyFrom(struct_type(msgpack=True))
    _assert_limit(_execute(tmp_path, registry, tt, value=value), "SHIMTASK_MAX_DEPTH",
                  "output 'd' at ['", "more than 30 levels")


def test_generic_input_too_deep(tmp_path: Path, registry: ExecutorRegistry,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    tt = make_template("t", "echo", inputs={"x": dict}, outputs={"x": dict})
    lm = InterfaceCodec(tt.interface).encode_inputs({"x": _deep_dict(12)})
    monkeypatch.setenv("SHIMTASK_MAX_DEPTH", "10")
    _assert_limit(_execute(tmp_path, registry, tt, lm), "SHIMTASK_MAX_DEPTH", "input 'x'")
    monkeypatch.setenv("SHIMTASK_MAX_DEPTH", "12")
    assert _execute(tmp_path, registry, tt, lm) is None


def test_depth_counts_the_levels_around_a_dict(tmp_path: Path, registry: ExecutorRegistry,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """list[list[dict]] with a dict 3 deep is 5 levels: within 5, beyond 4."""
    tt = make_template("t", "returns", outputs={"d": list[list[dict]]})  # type: ignore[type-arg]
    value = [[_deep_dict(3)]]
    monkeypatch.setenv("SHIMTASK_MAX_DEPTH", "5")
    assert _execute(tmp_path, registry, tt, value=value) is None
    monkeypatch.setenv("SHIMTASK_MAX_DEPTH", "4")
    _assert_limit(_execute(tmp_path, registry, tt, value=value), "SHIMTASK_MAX_DEPTH",
                  "output 'd' at [0][0]['a']")


def _deepest_of_each_shape(depth: int) -> list[tuple[str, Any, Any]]:
    """(name, declared type, value) nested ``depth`` levels, for each kind of level."""
    listed: Any = int
    mapped: Any = int
    lists: Any = 1
    maps: Any = 1
    for _ in range(depth):
        listed, mapped = list[listed], dict[str, mapped]
        lists, maps = [lists], {"k": maps}
    mixed: Any = dict  # Optional[list[...]]: a union and a list per round, around a dict
    mixed_value: Any = _deep_dict(depth - 20)
    for _ in range(10):
        mixed = list[mixed] | None
        mixed_value = [mixed_value]
    return [("lists", listed, lists), ("maps", mapped, maps),
            ("generic", dict, _deep_dict(depth)), ("mixed", mixed, mixed_value)]


def test_the_default_depth_is_what_protobuf_reads_back(tmp_path: Path) -> None:
    """Values 30 levels deep (the default) of every shape make an outputs.pb that
    protobuf's Python reader (a downstream flytekit task) parses; 40 would not."""
    for name, declared, value in _deepest_of_each_shape(Limits().depth):
        codec = InterfaceCodec(make_template("t", "e", outputs={name: declared}).interface)
        data = codec.encode_outputs(value).SerializeToString()
        back = literals_pb2.LiteralMap()
        back.ParseFromString(data)  # raises DecodeError beyond protobuf's 100 messages
        assert codec.decode_outputs(back) == {name: value}
    deeper = {"a": _deep_dict(40)}
    lit = literals_pb2.Literal()
    lit.scalar.generic.update(deeper)
    with pytest.raises(Exception, match=r"MaxDepth|too deep|recursion"):
        literals_pb2.Literal().ParseFromString(lit.SerializeToString())


# --- collection length -------------------------------------------------------------------


@pytest.mark.parametrize(("declared", "value"), [
    (list[int], list(range(11))), (list[float], [0.5] * 11),  # floats: the packed path
    (dict[str, int], {str(i): i for i in range(11)}), (list[list[int]], [[1] * 11])])
def test_collection_too_long(tmp_path: Path, registry: ExecutorRegistry,
                             monkeypatch: pytest.MonkeyPatch, declared: Any, value: Any) -> None:
    """Beyond SHIMTASK_MAX_COLLECTION, on the way in (echo decodes it) and out."""
    tt = make_template("t", "echo", inputs={"x": declared}, outputs={"x": declared})
    lm = InterfaceCodec(tt.interface).encode_inputs({"x": value})
    monkeypatch.setenv("SHIMTASK_MAX_COLLECTION", "10")
    _assert_limit(_execute(tmp_path / "in", registry, tt, lm), "SHIMTASK_MAX_COLLECTION",
                  "input 'x'", "11 items")
    out = make_template("t", "returns", outputs={"x": declared})
    _assert_limit(_execute(tmp_path / "out", registry, out, value=value),
                  "SHIMTASK_MAX_COLLECTION", "output 'x'", "11 items")
    monkeypatch.setenv("SHIMTASK_MAX_COLLECTION", "11")
    assert _execute(tmp_path / "ok", registry, tt, lm) is None


def test_limit_inside_a_union_is_not_taken_for_a_wrong_variant(
        tmp_path: Path, registry: ExecutorRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    """An over-long list for list[int] | None says the limit, not 'expected ... | None'."""
    tt = make_template("t", "returns", outputs={"x": list[int] | None})
    monkeypatch.setenv("SHIMTASK_MAX_COLLECTION", "3")
    _assert_limit(_execute(tmp_path, registry, tt, value=[1, 2, 3, 4]),
                  "SHIMTASK_MAX_COLLECTION", "4 items")


# --- through the real command ---------------------------------------------------------------


def test_limits_through_shimtask_execute(tmp_path: Path, venv: PluginVenv) -> None:
    """The variables configure a real `shimtask execute` (a pod's environment): exit 1,
    one stderr line naming the limit."""
    tt = make_template("t", "echo", inputs={"xs": list[int]}, outputs={"xs": list[int]})
    (tmp_path / "t.pb").write_bytes(tt.SerializeToString())
    lm = InterfaceCodec(tt.interface).encode_inputs({"xs": list(range(100))})
    (tmp_path / "inputs.pb").write_bytes(lm.SerializeToString())
    args = ("execute", "--inputs", tmp_path / "inputs.pb", "--output-prefix", tmp_path / "out",
            "--template", tmp_path / "t.pb")
    proc = venv.shimtask(*args, env={"SHIMTASK_MAX_COLLECTION": "50"})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "LimitExceeded" in proc.stderr
    assert "SHIMTASK_MAX_COLLECTION" in proc.stderr
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString((tmp_path / "out" / "error.pb").read_bytes())
    assert doc.error.code == "LimitExceeded"
    assert not (tmp_path / "out" / "outputs.pb").exists()
    proc = venv.shimtask(*args)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "out" / "error.pb").exists()


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deep_json_inputs_to_shimtask_run(tmp_path: Path, venv: PluginVenv, depth: int) -> None:
    """``shimtask run --inputs-json`` and ``-i`` with JSON nested beyond SHIMTASK_MAX_DEPTH
    (100,000 deep makes Python's json reader raise RecursionError): one USER error line
    naming the limit and its variable, no traceback; within the limit it runs."""
    tt = make_template("t", "echo", inputs={"xs": dict}, outputs={"xs": dict})
    template = tmp_path / "t.pb"
    template.write_bytes(tt.SerializeToString())
    deep = '{"xs": {"a": ' + "[" * depth + "]" * depth + "}}"
    (tmp_path / "inputs.json").write_text(deep)
    short = min(depth, 30_000)  # one argument holds at most 128 KiB
    for args in (("--inputs-json", tmp_path / "inputs.json"),
                 ("-i", 'xs={"a": ' + "[" * short + "]" * short + "}")):
        proc = venv.shimtask("run", template, *args)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
        assert "beyond the limit of 30 levels (SHIMTASK_MAX_DEPTH)" in proc.stderr
        assert "SHIMTASK_MAX_DEPTH=<larger number>" in proc.stderr
        assert ("--inputs-json" in proc.stderr) if args[0] == "--inputs-json" else (
            "input 'xs'" in proc.stderr), proc.stderr
    (tmp_path / "ok.json").write_text('{"xs": {"a": [[[1]], 2]}}')
    proc = venv.shimtask("run", template, "--inputs-json", tmp_path / "ok.json", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"xs": {"xs": {"a": [[[1]], 2]}}}  # echo: all inputs


def test_datetime_round_trip_is_unaffected(tmp_path: Path, registry: ExecutorRegistry) -> None:
    """The defaults leave ordinary values alone."""
    when = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    tt = make_template("t", "returns", outputs={"w": list[dt.datetime]})
    assert _execute(tmp_path, registry, tt, value=[when] * 1000) is None
