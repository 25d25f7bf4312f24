"""The shell executor through a real ``shimtask execute`` (Flyte's container contract),
and SIGTERM reaching the command's process group from every kind of caller."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2
from flyteidl.core.tasks_pb2 import TaskTemplate

from shell_testlib import (
    ECHO_ARGV,
    SHIMTASK,
    SPAWN_AND_SLEEP,
    alive,
    group_members,
    py,
    read_pids,
    shell_template,
    wait_until,
    written_args,
)
from shimtask_core import Directory, File
from shimtask_core.testing import isolated_environ, literal_map, signal_thread

Procs = list[subprocess.Popen[str]]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="watches process groups through /proc (Linux)")


@dataclass
class Run:
    """A ``shimtask execute`` subprocess and the places it writes to."""

    proc: subprocess.Popen[str]
    output_prefix: Path
    raw_prefix: Path

    def wait(self, timeout: float = 60) -> tuple[str, str]:
        return self.proc.communicate(timeout=timeout)

    def outputs(self) -> literals_pb2.LiteralMap:
        outputs = literals_pb2.LiteralMap()
        outputs.ParseFromString((self.output_prefix / "outputs.pb").read_bytes())
        assert not (self.output_prefix / "error.pb").exists()
        return outputs

    def error(self) -> errors_pb2.ContainerError:
        document = errors_pb2.ErrorDocument()
        document.ParseFromString((self.output_prefix / "error.pb").read_bytes())
        assert not (self.output_prefix / "outputs.pb").exists()
        return document.error


def start(tmp_path: Path, tt: TaskTemplate, inputs: dict[str, Any] | None = None, *,
          procs: Procs) -> Run:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "template.pb").write_bytes(tt.SerializeToString())
    (tmp_path / "inputs.pb").write_bytes(literal_map(tt, inputs or {}).SerializeToString())
    output_prefix, raw_prefix = tmp_path / "out", tmp_path / "raw"
    proc = subprocess.Popen(
        [str(SHIMTASK), "execute", "--inputs", str(tmp_path / "inputs.pb"),
         "--output-prefix", str(output_prefix), "--raw-output-data-prefix", str(raw_prefix),
         "--template", str(tmp_path / "template.pb")],
        cwd=tmp_path, env=isolated_environ(tmp_path / "cache"), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs.append(proc)
    return Run(proc, output_prefix, raw_prefix)


def test_execute_substitutes_whole_arguments_and_writes_outputs(tmp_path: Path,
        procs: Procs) -> None:
    hostile = "a b; touch pwned $(touch pwned2) 'q' \"dq\" `touch pwned3`"
    code = ECHO_ARGV + "; open(sys.argv[-1], 'w').write('report for ' + sys.argv[1])"
    tt = shell_template(py(code, "{{ .inputs.x }}", "{{ .inputs.n }}", "{{ .outputs.report }}"),
                        inputs={"x": str, "n": int}, outputs={"argv": str, "report": File},
                        stdout="argv", timeout=60)
    run = start(tmp_path, tt, {"x": hostile, "n": 7}, procs=procs)
    _, stderr = run.wait()
    assert run.proc.returncode == 0, stderr
    outputs = run.outputs().literals
    argv = json.loads(outputs["argv"].scalar.primitive.string_value)
    assert argv[:2] == [hostile, "7"]
    assert Path(argv[2]).name == "report"
    uri = outputs["report"].scalar.blob.uri
    assert uri.startswith(str(run.raw_prefix))
    assert Path(uri).read_text() == "report for " + hostile
    assert not any(tmp_path.glob("pwned*")), "the input was read by a shell"
    assert not Path(argv[2]).parent.parent.exists(), "the run directory was left behind"


def test_execute_file_and_directory_inputs_and_outputs(tmp_path: Path,
        procs: Procs) -> None:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("A")
    (source / "sub" / "b.txt").write_text("B")
    notes = tmp_path / "notes.txt"
    notes.write_text("N")
    code = """
        import shutil, sys
        src, extra, copy = sys.argv[1:]
        shutil.copytree(src, copy, dirs_exist_ok=True)
        shutil.copy(extra, copy + "/notes.txt")
    """
    tt = shell_template(py(code, "{{ .inputs.src }}", "{{ .inputs.extra }}",
                           "{{ .outputs.copy }}"),
                        inputs={"src": Directory, "extra": File}, outputs={"copy": Directory})
    run = start(tmp_path / "run", tt, {"src": Directory(str(source)), "extra": File(str(notes))},
                procs=procs)
    _, stderr = run.wait()
    assert run.proc.returncode == 0, stderr
    blob = run.outputs().literals["copy"].scalar.blob
    assert blob.metadata.type.dimensionality == blob.metadata.type.MULTIPART
    copied = Path(blob.uri)
    assert copied.is_relative_to(run.raw_prefix)
    assert {p.relative_to(copied).as_posix(): p.read_text() for p in copied.rglob("*.txt")} \
        == {"a.txt": "A", "sub/b.txt": "B", "notes.txt": "N"}


def test_execute_nonzero_exit_is_a_user_error_with_the_stderr_tail(tmp_path: Path,
        procs: Procs) -> None:
    code = "import sys; print('first'); print('\\n'.join(f'err {i}' for i in range(40)), " \
           "file=sys.stderr); sys.exit(4)"
    run = start(tmp_path, shell_template(py(code)), procs=procs)
    _, stderr = run.wait()
    assert run.proc.returncode == 1
    error = run.error()
    assert (error.origin, error.kind, error.code) == (
        execution_pb2.ExecutionError.USER, errors_pb2.ContainerError.NON_RECOVERABLE,
        "ExecutorFailed")
    assert "exited with status 4; the last lines of its stderr:\nerr 20\n" in error.message
    assert "err 39" in error.message and "err 19\n" not in error.message
    assert "Traceback" not in stderr
    assert "err 0" in stderr, "the command's stderr should also reach shimtask's log"


def test_execute_timeout_is_a_user_error_and_kills_the_grandchild(
        tmp_path: Path, procs: Procs, pids: Path) -> None:
    run = start(tmp_path, shell_template(py(SPAWN_AND_SLEEP, str(pids)), timeout=2), procs=procs)
    run.wait()
    assert run.proc.returncode == 1
    error = run.error()
    assert error.origin == execution_pb2.ExecutionError.USER
    assert error.kind == errors_pb2.ContainerError.NON_RECOVERABLE
    assert "timed out after 2 s (custom['timeout']); its whole process group was killed" \
        in error.message
    child, grandchild = read_pids(pids, timeout=0)
    assert wait_until(lambda: not alive(grandchild) and not group_members(child), 5)


def test_execute_refuses_an_embedded_placeholder(tmp_path: Path,
        procs: Procs) -> None:
    tt = shell_template(["echo", "--name={{ .inputs.x }}"], inputs={"x": str}, name="embedded")
    run = start(tmp_path, tt, {"x": "v"}, procs=procs)
    run.wait()
    error = run.error()
    assert (error.origin, error.code) == (execution_pb2.ExecutionError.USER, "TemplateError")
    assert "placeholder inside a longer string" in error.message


# --- SIGTERM ----------------------------------------------------------------------


def sleeping_template(pids: Path) -> TaskTemplate:
    """A command whose group holds a grandchild, and a Directory output (to see the run dir)."""
    return shell_template(py(SPAWN_AND_SLEEP, str(pids), "{{ .outputs.scratch }}"),
                          outputs={"scratch": Directory}, name="sleeper")


def assert_group_gone(pids: Path) -> None:
    child, grandchild = read_pids(pids, timeout=0)
    assert wait_until(lambda: not group_members(child) and not alive(grandchild), 5), (
        f"the command's process group still has {group_members(child)}")
    (scratch,) = written_args(pids)
    assert not Path(scratch).parent.parent.exists(), "the run directory was left behind"


def test_sigterm_to_shimtask_execute_stops_the_process_group(
        tmp_path: Path, procs: Procs, pids: Path) -> None:
    run = start(tmp_path, sleeping_template(pids), procs=procs)
    read_pids(pids)
    run.proc.send_signal(signal.SIGTERM)
    _, stderr = run.wait(timeout=30)
    assert_group_gone(pids)
    assert run.proc.returncode == 128 + signal.SIGTERM, stderr
    error = run.error()  # shimtask execute's own handler ran after the executor's
    assert error.code == "Terminated"
    assert (error.origin, error.kind) == (execution_pb2.ExecutionError.SYSTEM,
                                          errors_pb2.ContainerError.RECOVERABLE)


@pytest.mark.parametrize("reader", ["stdout", "stderr"])
def test_sigterm_the_kernel_hands_to_a_pipe_reader_thread_stops_the_group_too(
        tmp_path: Path, procs: Procs, pids: Path, reader: str) -> None:
    """A ``kill`` goes to whichever thread the kernel picks; Python runs the handler on
    the main thread only, and the main thread sleeps on the command's exit while the
    pipe readers run. One given to a reader must still stop the command at once."""
    tt = sleeping_template(pids)
    if reader == "stdout":  # a second reader thread, for the command's stdout
        tt = shell_template(py(SPAWN_AND_SLEEP, str(pids), "{{ .outputs.scratch }}"),
                            outputs={"scratch": Directory, "out": str}, name="sleeper",
                            stdout="out")
    run = start(tmp_path, tt, procs=procs)
    read_pids(pids)
    signal_thread(run.proc.pid, signal.SIGTERM)
    _, stderr = run.wait(timeout=30)
    assert run.proc.returncode == 128 + signal.SIGTERM, stderr
    assert_group_gone(pids)
    assert run.error().code == "Terminated"


IN_PROCESS = """
import json, signal, sys
from shimtask_core import ExecutorFailed, TemplateError, make_template, run_template
tt = make_template("sleeper", "shell", outputs={{"scratch": __import__("shimtask_core").Directory}},
                   custom={{"argv": {argv}}})
calls = []
{setup}
try:
    run_template(tt)
    result = "finished"
except ExecutorFailed as exc:
    result = str(exc).splitlines()[0]
except Exception as exc:
    result = f"{{type(exc).__name__}}: {{exc}}"
restored = signal.getsignal(signal.SIGTERM)
print(json.dumps({{"result": result, "calls": calls, "restored": {check_restored}}}))
"""


def run_in_process(tmp_path: Path, pids: Path, procs: Procs, setup: str,
                   check_restored: str) -> subprocess.Popen[str]:
    argv = py(SPAWN_AND_SLEEP, str(pids), "{{ .outputs.scratch }}")
    script = IN_PROCESS.format(argv=json.dumps(argv), setup=textwrap.dedent(setup),
                               check_restored=check_restored)
    proc = subprocess.Popen([sys.executable, "-c", script], env=isolated_environ(
        tmp_path / "cache"), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs.append(proc)
    read_pids(pids)
    proc.send_signal(signal.SIGTERM)
    return proc


def test_sigterm_with_the_default_handler_kills_the_group_then_shimtask(
        tmp_path: Path, pids: Path, procs: Procs) -> None:
    """No SIGTERM handler (SIG_DFL): the group is stopped, then the process dies of
    SIGTERM exactly as it would have without the executor."""
    proc = run_in_process(tmp_path, pids, procs, "", "None")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM, (out, err)
    assert out == ""
    assert_group_gone(pids)


def test_sigterm_chains_to_a_python_handler_that_raises(
        tmp_path: Path, pids: Path, procs: Procs) -> None:
    setup = """
        class Stop(BaseException):
            pass
        def handler(signum, frame):
            calls.append(signum)
            raise Stop()
        signal.signal(signal.SIGTERM, handler)
        _run_template = run_template
        def run_template(tt):
            try:
                return _run_template(tt)
            except Stop:
                return None
    """
    proc = run_in_process(tmp_path, pids, procs, setup, "restored is handler")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"result": "finished", "calls": [signal.SIGTERM], "restored": True}
    assert_group_gone(pids)


def test_sigterm_chains_to_a_python_handler_that_returns(
        tmp_path: Path, pids: Path, procs: Procs) -> None:
    setup = """
        def handler(signum, frame):
            calls.append(signum)
        signal.signal(signal.SIGTERM, handler)
    """
    proc = run_in_process(tmp_path, pids, procs, setup, "restored is handler")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["calls"] == [signal.SIGTERM] and report["restored"] is True
    assert "was stopped because shimtask received SIGTERM" in report["result"]
    assert_group_gone(pids)
