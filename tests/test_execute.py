"""`shimtask execute`, the Flyte container contract, in fresh processes of a real venv."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2

from pluginenv import PluginVenv
from shimtask_core import make_template
from shimtask_core.literals import InterfaceCodec

WriteTask = Callable[..., tuple[Path, Path]]

STATS_OUTPUTS = {"count": int, "mean": float, "label": str, "biggest": int,
                 "seen_at": dt.datetime}


def _outputs(out: Path) -> literals_pb2.LiteralMap:
    lm = literals_pb2.LiteralMap()
    lm.ParseFromString((out / "outputs.pb").read_bytes())
    return lm


def _error(out: Path) -> errors_pb2.ContainerError:
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString((out / "error.pb").read_bytes())
    return doc.error


def _execute(venv: PluginVenv, template: Path, inputs: Path, out: Path, *extra: str,
             env: dict[str, str] | None = None) -> Any:
    return venv.shimtask("execute", "--inputs", str(inputs), "--output-prefix", str(out),
                         "--raw-output-data-prefix", str(out / "raw"), *extra, "--",
                         str(template), env=env)


def test_multiple_outputs_map_by_name_in_every_fresh_process(
    venv: PluginVenv, write_task: WriteTask, tmp_path: Path
) -> None:
    template, inputs = write_task("stats", "stats", inputs={"xs": [3, 1, 4, 1, 5]},
                                  input_types={"xs": list[int]}, outputs=STATS_OUTPUTS,
                                  custom={"scale": 2})
    tt = make_template("stats", "stats", inputs={"xs": list[int]}, outputs=STATS_OUTPUTS)
    codec = InterfaceCodec(tt.interface)
    for attempt in range(6):  # fresh interpreters: an order-dependent bug cannot hide
        out = tmp_path / f"out{attempt}"
        result = _execute(venv, template, inputs, out,
                          env={"PYTHONHASHSEED": str(attempt)})
        assert result.returncode == 0, result.stderr
        assert not (out / "error.pb").exists()
        values = codec.decode_outputs(_outputs(out))
        assert values == {
            "count": 5,
            "mean": pytest.approx(5.6),
            "label": "5 values",
            "biggest": 5,
            "seen_at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        }


def test_positional_tuple_outputs_follow_o0_o1_o2(
    venv: PluginVenv, write_task: WriteTask, fresh_dir: Path
) -> None:
    outputs = {"o0": int, "o1": str, "o2": float}
    template, inputs = write_task("pos", "positional", inputs={"a": 7},
                                  input_types={"a": int}, outputs=outputs)
    result = _execute(venv, template, inputs, fresh_dir)
    assert result.returncode == 0, result.stderr
    tt = make_template("pos", "positional", inputs={"a": int}, outputs=outputs)
    assert InterfaceCodec(tt.interface).decode_outputs(_outputs(fresh_dir)) == {
        "o0": 7, "o1": "7", "o2": 3.5}


def test_flytekit_argument_form_with_trailing_executor_path(
    venv: PluginVenv, write_task: WriteTask, fresh_dir: Path
) -> None:
    template, inputs = write_task("echo", "echo", inputs={"x": "hi"}, input_types={"x": str},
                                  outputs={"x": str})
    result = venv.shimtask(
        "execute", "--inputs", str(inputs), "--output-prefix", f"file://{fresh_dir}",
        "--raw-output-data-prefix", str(fresh_dir / "raw"), "--checkpoint-path", "",
        "--prev-checkpoint", "", "--resolver",
        "flytekit.core.python_customized_container_task.default_task_template_resolver",
        "--", str(template), "some.module.SomeExecutor",
    )
    assert result.returncode == 0, result.stderr
    assert _outputs(fresh_dir).literals["x"].scalar.primitive.string_value == "hi"


@pytest.mark.parametrize(
    ("executor", "custom", "outputs", "code", "needle"),
    [
        ("wrongtype", {"value": "7"}, {"o0": int}, "ValueTypeError", "expected int, got str '7'"),
        ("wrongtype", {"value": 7.5}, {"o0": int}, "ValueTypeError", "expected int, got float"),
        ("raiser", {}, {"o0": int}, "ExecutorFailed", "boom from the executor"),
        ("nosuch", {}, {"o0": int}, "ExecutorNotFound", "no executor named 'nosuch'"),
        ("broken", {}, {"o0": int}, "PluginLoadError", "shimtask-test-broken"),
    ],
)
def test_user_faults_write_error_pb_and_no_outputs(
    venv: PluginVenv, write_task: WriteTask, fresh_dir: Path,
    executor: str, custom: dict[str, Any], outputs: dict[str, Any], code: str, needle: str,
) -> None:
    template, inputs = write_task("faulty", executor, outputs=outputs, custom=custom)
    result = _execute(venv, template, inputs, fresh_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert not (fresh_dir / "outputs.pb").exists()
    error = _error(fresh_dir)
    assert error.code == code
    assert needle in error.message
    if code == "ExecutorFailed":  # the executor's traceback, for its author
        assert 'shimtask_test_good.py", line' in error.message
    assert error.origin == execution_pb2.ExecutionError.USER
    assert error.kind == errors_pb2.ContainerError.NON_RECOVERABLE


def test_an_executor_exception_marked_recoverable_is_retryable(
    venv: PluginVenv, write_task: WriteTask, fresh_dir: Path
) -> None:
    template, inputs = write_task("flaky", "flaky", outputs={"o0": int})
    assert _execute(venv, template, inputs, fresh_dir).returncode == 1
    error = _error(fresh_dir)
    assert (error.code, error.origin, error.kind) == (
        "ExecutorFailed", execution_pb2.ExecutionError.USER, errors_pb2.ContainerError.RECOVERABLE)
    assert "TryAgain: the warehouse is busy" in error.message


def test_exit_zero_switch_matches_flytekit(
    venv: PluginVenv, write_task: WriteTask, fresh_dir: Path
) -> None:
    template, inputs = write_task("faulty", "raiser", outputs={"o0": int})
    result = _execute(venv, template, inputs, fresh_dir, "--exit-zero-on-error")
    assert result.returncode == 0
    assert _error(fresh_dir).code == "ExecutorFailed"


def test_missing_inputs_file_is_a_recoverable_system_error(
    venv: PluginVenv, write_task: WriteTask, fresh_dir: Path, tmp_path: Path
) -> None:
    template, _ = write_task("echo", "echo", outputs={})
    result = _execute(venv, template, tmp_path / "nope.pb", fresh_dir)
    assert result.returncode == 1
    error = _error(fresh_dir)
    assert error.code == "StorageError"
    assert "nope.pb" in error.message
    assert error.origin == execution_pb2.ExecutionError.SYSTEM
    assert error.kind == errors_pb2.ContainerError.RECOVERABLE


def test_garbage_template_is_a_user_error(venv: PluginVenv, fresh_dir: Path,
                                          tmp_path: Path) -> None:
    template = tmp_path / "garbage.pb"
    template.write_bytes(b"\xff\xfe not a protobuf at all")
    inputs = tmp_path / "inputs.pb"
    inputs.write_bytes(literals_pb2.LiteralMap().SerializeToString())
    result = _execute(venv, template, inputs, fresh_dir)
    assert result.returncode == 1
    error = _error(fresh_dir)
    assert error.code == "TemplateError"
    assert str(template) in error.message
    assert error.origin == execution_pb2.ExecutionError.USER


def test_missing_input_is_named(venv: PluginVenv, write_task: WriteTask, fresh_dir: Path,
                                tmp_path: Path) -> None:
    template, _ = write_task("echo", "echo", input_types={"x": int}, outputs={"x": int},
                             inputs={"x": 1})
    empty = tmp_path / "empty.pb"
    empty.write_bytes(literals_pb2.LiteralMap().SerializeToString())
    result = _execute(venv, template, empty, fresh_dir)
    assert result.returncode == 1
    assert _error(fresh_dir).code == "MissingInput"
    assert "'x'" in _error(fresh_dir).message


def test_a_retry_success_removes_the_earlier_error(
    venv: PluginVenv, write_task: WriteTask, fresh_dir: Path
) -> None:
    bad, bad_inputs = write_task("faulty", "raiser", outputs={"o0": int})
    assert _execute(venv, bad, bad_inputs, fresh_dir).returncode == 1
    good, good_inputs = write_task("echo", "echo", inputs={"x": 2}, input_types={"x": int},
                                   outputs={"x": int})
    assert _execute(venv, good, good_inputs, fresh_dir).returncode == 0
    assert not (fresh_dir / "error.pb").exists()
    assert _outputs(fresh_dir).literals["x"].scalar.primitive.integer == 2
    assert [p.name for p in fresh_dir.iterdir() if p.name.startswith(".shimtask-")] == []


def test_wrapper_plugin_sees_every_execution(
    venv: PluginVenv, write_task: WriteTask, tmp_path: Path
) -> None:
    log = tmp_path / "wrapper.log"
    template, inputs = write_task("echo", "echo", inputs={"x": 1, "y": "a"},
                                  input_types={"x": int, "y": str}, outputs={"x": int, "y": str})
    failing, failing_inputs = write_task("faulty", "raiser", outputs={"o0": int})
    env = {"SHIMTASK_TEST_WRAPPER_LOG": str(log)}
    assert _execute(venv, template, inputs, tmp_path / "a", env=env).returncode == 0
    assert _execute(venv, failing, failing_inputs, tmp_path / "b", env=env).returncode == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records == [
        {"task": "echo", "inputs": ["x", "y"]},
        {"task": "faulty", "inputs": [], "error": "ValueError"},
    ]
