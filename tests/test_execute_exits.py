"""Every exit of `shimtask execute` is accounted for: exactly one of outputs.pb and
error.pb, and an exit status that says which (real plugin distributions, real
subprocesses, real signals)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2

from pluginenv import PluginVenv, build_wheel
from shimtask_core import make_template
from shimtask_core.errors import EXIT_UNWRITTEN
from shimtask_core.literals import InterfaceCodec

EXITS = '''
import os
import signal
import sys
import time

from shimtask_core import ShimTaskExecutor


def _started():
    path = os.environ.get("SHIMTASK_TEST_STARTED")
    if path:
        with open(path, "w") as fh:
            fh.write(str(os.getpid()))


class Exits(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        sys.exit(3)


class Interrupts(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        raise KeyboardInterrupt


class BadInit(ShimTaskExecutor):
    def __init__(self):
        raise ValueError("cannot set up: no licence")

    def execute_from_model(self, tt, **inputs):
        return 1


class ReturnsNone(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return None


class Echo(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        return dict(inputs)


class Sleeper(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        _started()
        time.sleep(120)
        return 1


class Forwarder(ShimTaskExecutor):
    """Like the shell plugin: its own SIGTERM handler while it runs, chaining to the previous."""

    def execute_from_model(self, tt, **inputs):
        previous = signal.getsignal(signal.SIGTERM)

        def forward(signum, frame):
            with open(os.environ["SHIMTASK_TEST_FORWARDED"], "w") as fh:
                fh.write("forwarded")
            previous(signum, frame)

        signal.signal(signal.SIGTERM, forward)
        try:
            _started()
            time.sleep(120)
        finally:
            signal.signal(signal.SIGTERM, previous)
        return 1


class Stubborn(ShimTaskExecutor):
    """Swallows everything, even the stop request."""

    def execute_from_model(self, tt, **inputs):
        _started()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                time.sleep(120)
            except BaseException:
                pass
        return 1
'''

ROGUE = '''
from shimtask_core import hookimpl


@hookimpl(tryfirst=True)
def execute_from_model(tt, inputs):
    return 99
'''

COUNTING_WRAPPER = '''
import os
from shimtask_core import hookimpl


@hookimpl(wrapper=True)
def execute_from_model(tt, inputs):
    result = yield
    with open(os.environ["SHIMTASK_TEST_WRAPPED"], "a") as fh:
        fh.write(f"{tt.id.name}:{result!r}\\n")
    return result
'''

SLOW_IMPORT = '''
import os
import time

with open(os.environ["SHIMTASK_TEST_STARTED"], "w") as fh:
    fh.write("importing")
time.sleep(120)
'''

EXECUTORS = {name: f"shimtask_test_exits:{cls}" for name, cls in {
    "exits": "Exits", "interrupts": "Interrupts", "badinit": "BadInit",
    "returnsnone": "ReturnsNone", "echo": "Echo", "sleeper": "Sleeper",
    "forwarder": "Forwarder", "stubborn": "Stubborn"}.items()}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exit-wheels")
    return {
        "exits": build_wheel(out, "shimtask-test-exits",
                             modules={"shimtask_test_exits.py": EXITS,
                                      "shimtask_test_slowimport.py": SLOW_IMPORT},
                             executors={**EXECUTORS,
                                        "slowimport": "shimtask_test_slowimport:Never"}),
        "rogue": build_wheel(out, "shimtask-test-rogue",
                             modules={"shimtask_test_rogue.py": ROGUE},
                             plugins={"rogue": "shimtask_test_rogue"}),
        "wrapper": build_wheel(out, "shimtask-test-counting",
                               modules={"shimtask_test_counting.py": COUNTING_WRAPPER},
                               plugins={"counting": "shimtask_test_counting"}),
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> PluginVenv:
    venv = PluginVenv(tmp_path_factory.mktemp("exits") / "env")
    venv.install(wheels["exits"])
    return venv


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> PluginVenv:
    """The same executors, plus a plain (replacing) hook plugin and a wrapper."""
    venv = PluginVenv(tmp_path_factory.mktemp("hooked") / "env")
    venv.install(*wheels.values())
    return venv


def _task(tmp_path: Path, executor: str, outputs: dict[str, Any] | None = None,
          inputs: dict[str, Any] | None = None, types: dict[str, Any] | None = None,
          folder: Path | None = None) -> tuple[Path, Path]:
    tt = make_template(executor, executor, inputs=types or {},
                       outputs={"o0": int} if outputs is None else outputs)
    folder = folder or tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    template, literal_inputs = folder / "task.pb", folder / "inputs.pb"
    template.write_bytes(tt.SerializeToString())
    literal_inputs.write_bytes(
        InterfaceCodec(tt.interface).encode_inputs(inputs or {}).SerializeToString())
    return template, literal_inputs


def _args(venv: PluginVenv, template: Path | str, inputs: Path | str, out: Path | str,
          *extra: str) -> list[str]:
    return [str(venv.root / "bin" / "shimtask"), "execute", "--inputs", str(inputs),
            "--output-prefix", str(out), *extra, "--", str(template)]


def _error(out: Path) -> errors_pb2.ContainerError:
    assert not (out / "outputs.pb").exists(), "both outputs.pb and error.pb"
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString((out / "error.pb").read_bytes())
    return doc.error


def _outputs(out: Path) -> literals_pb2.LiteralMap:
    assert not (out / "error.pb").exists(), "both outputs.pb and error.pb"
    lm = literals_pb2.LiteralMap()
    lm.ParseFromString((out / "outputs.pb").read_bytes())
    return lm


USER = execution_pb2.ExecutionError.USER
SYSTEM = execution_pb2.ExecutionError.SYSTEM
RECOVERABLE = errors_pb2.ContainerError.RECOVERABLE
NON_RECOVERABLE = errors_pb2.ContainerError.NON_RECOVERABLE


@pytest.mark.parametrize(("executor", "needle"), [
    ("exits", "SystemExit: 3"),
    ("interrupts", "KeyboardInterrupt"),
    ("badinit", "ValueError: cannot set up: no licence"),
])
def test_plugin_code_ending_any_way_is_a_user_error_in_error_pb(
    env: PluginVenv, tmp_path: Path, executor: str, needle: str
) -> None:
    template, inputs = _task(tmp_path, executor)
    out = tmp_path / "out"
    result = env.run(_args(env, template, inputs, out))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("ExecutorFailed", USER, NON_RECOVERABLE)
    assert f"executor {executor!r} failed: {needle}" in error.message
    assert 'shimtask_test_exits.py", line' in error.message  # the plugin's own traceback


def test_returning_none_is_the_answer_even_with_a_replacing_hook_plugin(
    hooked: PluginVenv, tmp_path: Path
) -> None:
    """A plain execute_from_model (tryfirst, answering 99) is refused, naming its
    distribution; the executor's None is written; the wrapper still sees the call."""
    template, inputs = _task(tmp_path, "returnsnone", outputs={"o0": int | None})
    out = tmp_path / "out"
    wrapped = tmp_path / "wrapped.log"
    result = hooked.run(_args(hooked, template, inputs, out),
                        env={"SHIMTASK_TEST_WRAPPED": str(wrapped)})
    assert result.returncode == 0, result.stderr
    tt = make_template("returnsnone", "returnsnone", outputs={"o0": int | None})
    assert InterfaceCodec(tt.interface).decode_outputs(_outputs(out)) == {"o0": None}
    assert wrapped.read_text() == "returnsnone:None\n"
    assert "shimtask-test-rogue" in result.stderr
    assert "not a wrapper" in result.stderr


def test_a_replacing_hook_plugin_is_reported_broken_by_the_doctor(hooked: PluginVenv) -> None:
    result = hooked.shimtask("plugins", "doctor")
    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if "rogue" in line]
    assert "shimtask-test-rogue" in line and "BROKEN" in line and "not a wrapper" in line
    assert "counting" in result.stdout and "shimtask-test-counting" in result.stdout


def test_in_process_add_plugin_refuses_a_replacing_implementation() -> None:
    from shimtask_core import ExecutorRegistry, PluginLoadError, hookimpl

    class Replacer:
        @hookimpl
        def execute_from_model(self, tt: Any, inputs: Any) -> Any:
            return 1

    registry = ExecutorRegistry(path=[])
    with pytest.raises(PluginLoadError, match="not a wrapper"):
        registry.add_plugin(Replacer(), name="replacer")
    assert registry.plugin_manager.get_plugin("replacer") is None


def _start(venv: PluginVenv, tmp_path: Path, executor: str) -> tuple[subprocess.Popen[str], Path]:
    template, inputs = _task(tmp_path, executor)
    out = tmp_path / "out"
    started = tmp_path / "started"
    env = venv.env({"SHIMTASK_TEST_STARTED": str(started),
                    "SHIMTASK_TEST_FORWARDED": str(tmp_path / "forwarded")})
    proc = subprocess.Popen(_args(venv, template, inputs, out), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the executor never started"
        time.sleep(0.05)
    return proc, out


@pytest.mark.parametrize("executor", ["sleeper", "forwarder"])
def test_sigterm_during_a_run_writes_a_recoverable_system_error(
    env: PluginVenv, tmp_path: Path, executor: str
) -> None:
    proc, out = _start(env, tmp_path, executor)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)  # a hang is a failure, not a slow pass
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert f"stopped by SIGTERM, wrote {out}/error.pb" in stderr
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("Terminated", SYSTEM, RECOVERABLE)
    assert "stopped by SIGTERM" in error.message
    if executor == "forwarder":  # the plugin's own handler ran, then chained to ours
        assert (tmp_path / "forwarded").read_text() == "forwarded"


def test_sigterm_while_a_plugin_imports_is_a_stop_not_a_broken_plugin(
    env: PluginVenv, tmp_path: Path
) -> None:
    proc, out = _start(env, tmp_path, "slowimport")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("Terminated", SYSTEM, RECOVERABLE)


def test_an_executor_that_ignores_sigterm_is_not_waited_for(
    env: PluginVenv, tmp_path: Path
) -> None:
    proc, out = _start(env, tmp_path, "stubborn")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert f"shimtask: task stopped by SIGTERM, wrote {out}/error.pb" in stderr  # the watchdog
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("Terminated", SYSTEM, RECOVERABLE)
    assert "did not stop within" in error.message


def test_sigint_is_a_stop_too(env: PluginVenv, tmp_path: Path) -> None:
    proc, out = _start(env, tmp_path, "sleeper")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGINT
    assert _error(out).code == "Terminated"


def test_outputs_pb_that_cannot_be_written_becomes_a_retryable_error_pb(
    env: PluginVenv, tmp_path: Path
) -> None:
    template, inputs = _task(tmp_path, "echo", outputs={"x": int}, inputs={"x": 5},
                             types={"x": int})
    out = tmp_path / "out"
    (out / "outputs.pb").mkdir(parents=True)  # renaming a file onto it fails
    (out / "outputs.pb" / "keep").write_text("")
    result = env.run(_args(env, template, inputs, out))
    assert result.returncode == 1, result.stderr
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString((out / "error.pb").read_bytes())
    error = doc.error
    assert (error.code, error.origin, error.kind) == ("StorageError", SYSTEM, RECOVERABLE)
    assert f"cannot write {out}/outputs.pb" in error.message


def test_when_neither_file_can_be_written_one_line_and_a_distinct_status(
    env: PluginVenv, tmp_path: Path
) -> None:
    template, inputs = _task(tmp_path, "echo", outputs={"x": int}, inputs={"x": 5},
                             types={"x": int})
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = env.run(_args(env, template, inputs, blocker / "out"))
    assert result.returncode == EXIT_UNWRITTEN == 74
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("shimtask: error: could not write a result: cannot write ")
    assert "error.pb" in lines[0]


def test_file_uris_are_rfc_8089(env: PluginVenv, tmp_path: Path) -> None:
    folder = tmp_path / "sp ace" / "ünï"
    _task(tmp_path, "echo", outputs={"x": int}, inputs={"x": 5}, types={"x": int},
          folder=folder)
    quoted = "file://" + str(folder).replace(" ", "%20").replace("ü", "%C3%BC").replace(
        "ï", "%C3%AF")
    out = folder / "out"
    result = env.run(_args(env, f"{quoted}/task.pb", f"{quoted}/inputs.pb", f"{quoted}/out"))
    assert result.returncode == 0, result.stderr
    assert _outputs(out).literals["x"].scalar.primitive.integer == 5
    out2 = folder / "out2"
    result = env.run(_args(env, f"file://localhost{folder}/task.pb",
                           f"file://localhost{quoted[7:]}/inputs.pb", f"file:{out2}"))
    assert result.returncode == 0, result.stderr
    assert _outputs(out2).literals["x"].scalar.primitive.integer == 5
    assert not (tmp_path / "localhost").exists()


def test_a_flytekit_python_task_is_refused_in_error_pb(env: PluginVenv, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = env.shimtask(
        "execute", "--inputs", str(tmp_path / "inputs.pb"), "--output-prefix", str(out),
        "--raw-output-data-prefix", str(tmp_path / "raw"), "--resolver",
        "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module",
        "workflows.hello", "task-name", "say_hello")
    assert result.returncode == 1
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("TemplateError", USER, NON_RECOVERABLE)
    assert "not Python task code" in error.message
    assert "task-module workflows.hello task-name say_hello" in error.message


def test_in_process_execute_propagates_the_stop_after_writing_error_pb(tmp_path: Path) -> None:
    """runtime.execute in a caller's own process: error.pb, then Terminated reaches it."""
    code = f"""
import os, signal, sys
from shimtask_core import ExecutorRegistry, ShimTaskExecutor, make_template
from shimtask_core.errors import Terminated
from shimtask_core.runtime import execute

class Stop(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        os.kill(os.getpid(), signal.SIGTERM)
        return 1

registry = ExecutorRegistry(path=[])
registry.register("stop", Stop)
tt = make_template("stop", "stop", outputs={{"o0": int}})
open({str(tmp_path / "t.pb")!r}, "wb").write(tt.SerializeToString())
open({str(tmp_path / "i.pb")!r}, "wb").write(b"")
try:
    execute(inputs={str(tmp_path / "i.pb")!r}, output_prefix={str(tmp_path / "out")!r},
            template={str(tmp_path / "t.pb")!r}, registry=registry)
except Terminated as exc:
    print("propagated", exc.written)
print("handler restored", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIMTASK_")}
    env["SHIMTASK_CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"propagated {tmp_path}/out/error.pb",
                                        "handler restored True"]
    assert _error(tmp_path / "out").code == "Terminated"
