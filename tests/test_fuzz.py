"""Fuzzing the container contract, briefly: a few hundred structure-aware cases in-process
(``runtime.execute``), a handful through real ``shimtask execute`` processes, and each
bug the fuzzers found, as the smallest case that showed it.

The cases and the property live in ``tests/fuzzcases.py``; ``fuzz/fuzz_execute.py`` runs
the same strategies for hundreds of thousands of cases (``docs/reliability.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import literals_pb2, tasks_pb2
from hypothesis import HealthCheck, given, settings

import fuzzcases
from pluginenv import PluginVenv
from shimtask_core import ExecutorRegistry, make_template

FUZZ = settings(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


@pytest.fixture(scope="module")
def registry() -> ExecutorRegistry:
    """The fuzz executors only: ``echo`` (inputs back as outputs) and ``returns``."""
    registry = ExecutorRegistry(path=[])
    registry.register("echo", fuzzcases.Echo)
    registry.register("returns", fuzzcases.Returns)
    return registry


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Iterator[Path]]:
    """A fresh directory per hypothesis example (function-scoped tmp_path is per test)."""
    root = tmp_path_factory.mktemp("fuzz")

    def folders() -> Iterator[Path]:
        index = 0
        while True:
            index += 1
            yield root / str(index)

    yield folders()


@settings(FUZZ, max_examples=250)
@given(case=fuzzcases.cases())
def test_templates_and_inputs_never_break_the_contract(
        case: fuzzcases.Case, registry: ExecutorRegistry, scratch: Iterator[Path]) -> None:
    """Damaged templates (.pb and JSON), inputs mutated against the interface, wrong
    ``custom``: exactly one result file, a USER or SYSTEM code from the error table (never
    ``SYSTEM:<Exception>``), nothing on stderr, and success for every intact valid case."""
    fuzzcases.run_in_process(case, next(scratch), registry)


@settings(FUZZ, max_examples=150)
@given(case=fuzzcases.output_cases())
def test_any_returned_value_is_a_result(
        case: fuzzcases.OutputCase, registry: ExecutorRegistry, scratch: Iterator[Path]) -> None:
    """Whatever an executor returns (cyclic, 5,000 deep, a raising ``repr``, 200,000
    items, sets, generators, types): outputs.pb or a USER error.pb naming the output."""
    fuzzcases.run_output_case(case, next(scratch), registry)


@settings(FUZZ, max_examples=8)
@given(case=fuzzcases.cases())
def test_real_processes_keep_the_contract(case: fuzzcases.Case, venv: PluginVenv,
                                          scratch: Iterator[Path]) -> None:
    """The same cases through ``shimtask execute`` in a venv with the test plugins
    installed: exit 0 with outputs.pb or 1 with error.pb, one stderr line at most."""
    folder = next(scratch)
    folder.mkdir(parents=True)
    template, inputs = case.write(folder)
    out = folder / "out"
    proc = venv.shimtask("execute", "--inputs", inputs, "--output-prefix", out,
                         "--template", template)
    assert proc.returncode in (0, 1), proc.stderr
    fuzzcases.check_result(out, ok=proc.returncode == 0, stderr=proc.stderr)
    assert len(proc.stderr.splitlines()) <= (0 if proc.returncode == 0 else 1), proc.stderr


# --- what the fuzzers found, each as its smallest case ------------------------------------


def _run(tmp_path: Path, registry: ExecutorRegistry, tt: tasks_pb2.TaskTemplate,
         inputs: literals_pb2.LiteralMap | None = None, returns: Any = None) -> Any:
    case = fuzzcases.OutputCase(tt.SerializeToString(), returns)
    if inputs is None:
        return fuzzcases.run_output_case(case, tmp_path, registry)
    full = fuzzcases.Case(tt.SerializeToString(), inputs.SerializeToString(), [])
    return fuzzcases.run_in_process(full, tmp_path, registry)


def _one(name: str, build: Any) -> literals_pb2.LiteralMap:
    lm = literals_pb2.LiteralMap()
    build(lm.literals[name])
    return lm


def test_found_executor_type_holding_infinity(tmp_path: Path, registry: ExecutorRegistry
                                              ) -> None:
    """custom["executor_type"] = {"a": inf}: JSON cannot show it (was SYSTEM:ValueError)."""
    tt = make_template("t", "echo")
    tt.custom.fields["executor_type"].struct_value.fields["a"].number_value = math.inf
    error = _run(tmp_path, registry, tt, literals_pb2.LiteralMap())
    assert error.code == "TemplateError"
    assert "must be a non-empty string" in error.message and "inf" in error.message


@pytest.mark.parametrize("data", [b"\x91", b"\x01\x02", b"\xc1", b"\x91" * 3000 + b"\x01",
                                  b"\xd9\x02\xff\xfe", b"\x81\x80\x01"],
                         ids=["truncated", "extra", "reserved", "deep", "utf8", "unhashable"])
@pytest.mark.parametrize("declared", [dict, bytes, int])
def test_found_msgpack_that_is_not_msgpack(tmp_path: Path, registry: ExecutorRegistry,
                                           data: bytes, declared: type) -> None:
    """A msgpack binary literal whose bytes are not msgpack (was SYSTEM:ValueError,
    ExtraData, FormatError, StackError, UnicodeDecodeError, TypeError)."""
    tt = make_template("t", "echo", inputs={"x": declared}, outputs={"x": declared})

    def build(lit: literals_pb2.Literal) -> None:
        lit.scalar.binary.value, lit.scalar.binary.tag = data, "msgpack"

    error = _run(tmp_path, registry, tt, _one("x", build))
    assert error.code == "ValueTypeError", error.message
    assert "input 'x'" in error.message and "not msgpack" in error.message


@pytest.mark.parametrize("field", ["datetime", "duration"])
@pytest.mark.parametrize("seconds", [2**62, -(2**62), fuzzcases.MAX_SECONDS + 1])
def test_found_timestamps_beyond_python(tmp_path: Path, registry: ExecutorRegistry,
                                        field: str, seconds: int) -> None:
    """Timestamps and durations of any int64 seconds (was SYSTEM:OverflowError)."""
    import datetime as dt

    declared = dt.datetime if field == "datetime" else dt.timedelta
    tt = make_template("t", "echo", inputs={"x": declared}, outputs={"x": declared})

    def build(lit: literals_pb2.Literal) -> None:
        getattr(lit.scalar.primitive, field).seconds = seconds

    error = _run(tmp_path, registry, tt, _one("x", build))
    if field == "duration" and seconds == fuzzcases.MAX_SECONDS + 1:
        assert error is None  # 8,000 years: a duration Python and Flyte both hold
        return
    assert error.code == "ValueTypeError", error.message
    assert "input 'x'" in error.message


def test_found_output_name_with_a_superscript_digit(tmp_path: Path,
                                                    registry: ExecutorRegistry) -> None:
    """An output named "s²" ("²".isdigit() is true, int("²") raises; was SYSTEM:ValueError)."""
    tt = make_template("t", "echo", inputs={"s²": int, "a": int}, outputs={"s²": int, "a": int})
    lm = literals_pb2.LiteralMap()
    lm.literals["s²"].scalar.primitive.integer = 2
    lm.literals["a"].scalar.primitive.integer = 1
    assert _run(tmp_path, registry, tt, lm) is None


@pytest.mark.parametrize("uri", ["/proc/self/cmdline", "self"])
def test_found_offloaded_literal_that_is_no_literal(tmp_path: Path, registry: ExecutorRegistry,
                                                    uri: str) -> None:
    """An offloaded input whose file holds no Literal (was SYSTEM:DecodeError); its content
    is not echoed into error.pb."""
    if uri == "self":
        secret = tmp_path / "not-a-literal"
        secret.write_bytes(b"\xff\xffTOPSECRET")
        uri = str(secret)
    tt = make_template("t", "echo", inputs={"x": int}, outputs={"x": int})

    def build(lit: literals_pb2.Literal) -> None:
        lit.offloaded_metadata.uri = uri

    error = _run(tmp_path / "run", registry, tt, _one("x", build))
    assert error.code == "ValueTypeError"
    assert "holds no Literal" in error.message and "TOPSECRET" not in error.message


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_found_json_template_nested_100000_deep(tmp_path: Path, registry: ExecutorRegistry,
                                                opener: bytes) -> None:
    """A protobuf-JSON template 100,000 levels deep (json.loads raised RecursionError)."""
    case = fuzzcases.Case(b'{"custom": ' + opener * 100_000, b"", [])
    error = fuzzcases.run_in_process(case, tmp_path, registry)
    assert error.code == "TemplateError" and "nested deeper" in error.message


@pytest.mark.parametrize("special", ["weird", "deep list", "huge str"])
def test_found_returned_values_that_break_repr(tmp_path: Path, registry: ExecutorRegistry,
                                               special: str) -> None:
    """A wrong output value whose repr raises, recurses 5,000 deep or is megabytes long
    (error messages called repr: SYSTEM:RuntimeError, SYSTEM:RecursionError)."""
    tt = make_template("t", "returns", outputs={"n": int})
    error = _run(tmp_path, registry, tt, returns=fuzzcases._Special(special))
    assert error.code == "ValueTypeError", error.message
    assert "output 'n': expected int" in error.message
    assert len(error.message) < 300


@pytest.mark.parametrize("key", [-(2**127) - 1, 2**64, -(2**63) - 1])
@pytest.mark.parametrize("declared", [bytes, list[bytes]])
def test_found_msgpack_map_key_beyond_64_bits(tmp_path: Path, registry: ExecutorRegistry,
                                              key: int, declared: Any) -> None:
    """A returned binary (msgpack) value holding a dict whose int *key* does not fit 64
    bits (only values were checked: msgpack raised OverflowError, SYSTEM:OverflowError;
    the 100,000-case atheris run, finding 001)."""
    tt = make_template("t", "returns", outputs={"o": declared})
    value: Any = {key: None, "\U000d5500": "𦵲恠"}
    error = _run(tmp_path, registry, tt, returns=[None, value] if declared is not bytes else value)
    assert error is not None and error.code == "ValueTypeError", error and error.message
    assert error.message.startswith("output 'o") and "beyond 64 bits" in error.message
    assert str(key) in error.message
    within = {2**64 - 1: 1, -(2**63): [b"x"]}
    ok = _run(tmp_path / "ok", registry, tt, returns=[within] if declared is not bytes else within)
    assert ok is None
