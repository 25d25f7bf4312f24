"""Fault injection: `shimtask execute` under the faults a pod meets, each with the outcome
``docs/reliability.md`` documents (real processes, a real filesystem that fills up, a
real S3 server that goes away, real signals and crashes).

* output prefix unwritable: exit 74, neither file, one stderr line;
* disk full (a tmpfs, or an fsspec filesystem that fails after N bytes): error.pb
  StorageError (SYSTEM, RECOVERABLE); when nothing fits, exit 74 and no partial file;
* S3 server gone in the middle of an upload: local prefix, error.pb StorageError; S3
  prefix, exit 74 and one line;
* executor hangs: --timeout / SHIMTASK_EXECUTION_TIMEOUT, error.pb Timeout (SYSTEM,
  RECOVERABLE), exit 1;
* executor crashes the interpreter: killed by the signal, neither file, faulthandler's
  Python stack on stderr;
* output far beyond the limit: error.pb LimitExceeded (USER);
* many processes, one cache directory: every run succeeds, the index stays whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flyteidl.core import errors_pb2, execution_pb2, literals_pb2

from pluginenv import PluginVenv, build_wheel
from shimtask_core import make_template
from shimtask_core.errors import EXIT_UNWRITTEN
from shimtask_core.literals import InterfaceCodec

FAULTS = '''
import ctypes
import os
import tempfile
import time

from shimtask_core import File, ShimTaskExecutor, custom_of


def _mark(name):
    path = os.environ.get("SHIMTASK_TEST_MARK")
    if path:
        with open(path + "." + name, "w") as fh:
            fh.write(str(os.getpid()))


class Echo(ShimTaskExecutor):
    def execute_from_model(self, tt, /, **inputs):
        return inputs.get("x")


class Sleeper(ShimTaskExecutor):
    def execute_from_model(self, tt, /, **inputs):
        _mark("started")
        time.sleep(120)
        return 1


class Querying(ShimTaskExecutor):
    """Waits in C (SQLite, the GIL released) inside interruptible; says how it ended."""

    def execute_from_model(self, tt, /, **inputs):
        import sqlite3

        from shimtask_core import interruptible

        con = sqlite3.connect(":memory:")
        try:
            with interruptible(con.interrupt):
                _mark("started")
                return con.execute(FOREVER).fetchone()[0]
        except sqlite3.OperationalError as exc:
            _mark(str(exc))  # "interrupted"
            raise
        finally:
            con.close()


class Converts(ShimTaskExecutor):
    """Turns the stop into an error of its own, as DuckDB turns a signal it checks for
    into 'Query interrupted'."""

    def execute_from_model(self, tt, /, **inputs):
        _mark("started")
        try:
            time.sleep(120)
        except BaseException:
            raise RuntimeError("Query interrupted") from None


class Stubborn(ShimTaskExecutor):
    """Swallows everything, the timeout included, and keeps going."""

    def execute_from_model(self, tt, /, **inputs):
        _mark("started")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                time.sleep(0.05)
            except BaseException:
                _mark("swallowed")
        return 1


class Aborts(ShimTaskExecutor):
    def execute_from_model(self, tt, /, **inputs):
        os.abort()


class Segfaults(ShimTaskExecutor):
    def execute_from_model(self, tt, /, **inputs):
        ctypes.string_at(0)


class Big(ShimTaskExecutor):
    """A str output of custom["bytes"] characters."""

    def execute_from_model(self, tt, /, **inputs):
        return "b" * custom_of(tt)["bytes"]


class BigFile(ShimTaskExecutor):
    """A file output of custom["bytes"] bytes (uploaded under the raw output prefix)."""

    def execute_from_model(self, tt, /, **inputs):
        path = os.path.join(tempfile.mkdtemp(), "big.bin")
        with open(path, "wb") as fh:
            fh.write(os.urandom(custom_of(tt)["bytes"]))
        _mark("returning")
        return File(path)
'''

FULLFS = '''
"""An fsspec filesystem, full://, on local paths, whose every write fails with ENOSPC after
SHIMTASK_TEST_FULL_BYTES bytes, leaving what it wrote, as a full disk does."""

import errno
import os

from fsspec.implementations.local import LocalFileSystem


class FullFileSystem(LocalFileSystem):
    protocol = ("full",)

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith("full://"):
            path = path[len("full://"):]
        return super()._strip_protocol(path)

    def pipe_file(self, path, value, mode="overwrite", **kwargs):
        path = self._strip_protocol(path)
        room = int(os.environ["SHIMTASK_TEST_FULL_BYTES"])
        with open(path, "wb") as fh:
            fh.write(value[:room])
            if len(value) > room:
                raise OSError(errno.ENOSPC, "No space left on device", path)
'''

#: A query that runs in C for hours: a recursive count to a trillion.
FOREVER = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
           "WHERE x < 1000000000000) SELECT count(*) FROM c")
FAULTS += f"\nFOREVER = {FOREVER!r}\n"

EXECUTORS = {name: f"shimtask_test_faults:{cls}" for name, cls in {
    "echo": "Echo", "sleeper": "Sleeper", "stubborn": "Stubborn", "aborts": "Aborts",
    "querying": "Querying", "converts": "Converts",
    "segfaults": "Segfaults", "big": "Big", "bigfile": "BigFile"}.items()}

USER = execution_pb2.ExecutionError.USER
SYSTEM = execution_pb2.ExecutionError.SYSTEM
RECOVERABLE = errors_pb2.ContainerError.RECOVERABLE
NON_RECOVERABLE = errors_pb2.ContainerError.NON_RECOVERABLE


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> PluginVenv:
    root = tmp_path_factory.mktemp("faults")
    venv = PluginVenv(root / "env")
    venv.link_distributions("s3fs")
    wheel = build_wheel(root / "wheels", "shimtask-test-faults",
                        modules={"shimtask_test_faults.py": FAULTS,
                                 "shimtask_test_fullfs.py": FULLFS},
                        executors=EXECUTORS)
    venv.install(wheel)
    _add_entry_point(venv, "shimtask_test_faults", "fsspec.specs",
                     "full = shimtask_test_fullfs:FullFileSystem")
    return venv


def _add_entry_point(venv: PluginVenv, dist: str, group: str, line: str) -> None:
    """An entry point of another group in the installed distribution's metadata (what a
    pyproject's [project.entry-points."fsspec.specs"] table writes)."""
    (info,) = venv.site_packages.glob(f"{dist}-*.dist-info")
    with open(info / "entry_points.txt", "a") as fh:
        fh.write(f"\n[{group}]\n{line}\n")


def _task(folder: Path, executor: str, outputs: dict[str, Any] | None = None,
          custom: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None,
          types: dict[str, Any] | None = None) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    tt = make_template(executor, executor, inputs=types or {},
                       outputs={"o0": int} if outputs is None else outputs, custom=custom)
    (folder / "task.pb").write_bytes(tt.SerializeToString())
    (folder / "inputs.pb").write_bytes(
        InterfaceCodec(tt.interface).encode_inputs(inputs or {}).SerializeToString())
    return folder / "task.pb", folder / "inputs.pb"


def _execute(venv: PluginVenv, template: Path, inputs: Path, out: Path | str, *extra: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return venv.shimtask("execute", "--inputs", inputs, "--output-prefix", out, *extra,
                         "--template", template, env=env)


def _error(out: Path) -> errors_pb2.ContainerError:
    names = sorted(p.name for p in out.iterdir())
    assert names == ["error.pb"], names  # nothing half-written left beside it
    doc = errors_pb2.ErrorDocument()
    doc.ParseFromString((out / "error.pb").read_bytes())
    return doc.error


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


# --- the output prefix cannot be written ---------------------------------------------------


def test_output_prefix_below_a_file(faults: PluginVenv, tmp_path: Path) -> None:
    """--output-prefix under a regular file (ENOTDIR, what root cannot get around either):
    neither result can be written."""
    template, inputs = _task(tmp_path, "echo", outputs={"x": int}, types={"x": int},
                             inputs={"x": 1})
    (tmp_path / "a-file").write_text("not a directory")
    proc = _execute(faults, template, inputs, tmp_path / "a-file" / "out")
    assert proc.returncode == EXIT_UNWRITTEN
    line = _one_line(proc.stderr)
    assert line.startswith("shimtask: error: could not write a result: cannot write ")
    assert "error.pb" in line and "Not a directory" in line


@contextlib.contextmanager
def _tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A size-limited tmpfs at ``path``, or a skip where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0777" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.skipif(sys.platform != "linux", reason="a tmpfs mount")
def test_output_prefix_on_a_read_only_filesystem(faults: PluginVenv, tmp_path: Path) -> None:
    template, inputs = _task(tmp_path, "echo", outputs={"x": int}, types={"x": int},
                             inputs={"x": 1})
    if os.geteuid() != 0:  # an ordinary user: a directory it may not write
        readonly = tmp_path / "readonly"
        readonly.mkdir(mode=0o555)
        proc = _execute(faults, template, inputs, readonly / "out")
    else:
        with _tmpfs(tmp_path / "ro", "1m", read_only=True) as mount:
            proc = _execute(faults, template, inputs, mount / "out")
    assert proc.returncode == EXIT_UNWRITTEN, proc.stderr
    assert "could not write a result" in _one_line(proc.stderr)


# --- the disk fills up -----------------------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="a tmpfs mount")
def test_disk_full_while_writing_outputs(faults: PluginVenv, tmp_path: Path) -> None:
    """outputs.pb (2 MB) does not fit a 512 KiB tmpfs: its temporary file is removed and
    error.pb (small) is written in the room left: StorageError, SYSTEM, RECOVERABLE."""
    template, inputs = _task(tmp_path / "task", "big", outputs={"o0": str},
                             custom={"bytes": 2_000_000})
    with _tmpfs(tmp_path / "small", "512k") as mount:
        proc = _execute(faults, template, inputs, mount / "out")
        assert proc.returncode == 1, proc.stderr
        assert "StorageError" in _one_line(proc.stderr)
        error = _error(mount / "out")
    assert (error.code, error.origin, error.kind) == ("StorageError", SYSTEM, RECOVERABLE)
    assert "No space left on device" in error.message


@pytest.mark.skipif(sys.platform != "linux", reason="a tmpfs mount")
def test_disk_full_while_uploading_raw_data(faults: PluginVenv, tmp_path: Path) -> None:
    """A 2 MB file output whose raw output prefix is a 512 KiB tmpfs."""
    from shimtask_core import File

    template, inputs = _task(tmp_path / "task", "bigfile", outputs={"o0": File},
                             custom={"bytes": 2_000_000})
    out = tmp_path / "out"
    with _tmpfs(tmp_path / "small", "512k") as mount:
        proc = _execute(faults, template, inputs, out, "--raw-output-data-prefix",
                        str(mount / "raw"))
    assert proc.returncode == 1, proc.stderr
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("StorageError", SYSTEM, RECOVERABLE)
    assert "upload" in error.message and "No space left on device" in error.message


@pytest.mark.parametrize("room", [4096, 64])
def test_filesystem_full_after_n_bytes_leaves_no_partial_file(
        faults: PluginVenv, tmp_path: Path, room: int) -> None:
    """full:// (a filesystem from an fsspec entry point) fails every write after ``room``
    bytes, keeping what it wrote, as a full disk does. 4 KiB: error.pb fits and says
    StorageError. 64 bytes: nothing fits (exit 74), and no half outputs.pb or error.pb is
    left for anyone to read."""
    template, inputs = _task(tmp_path / "task", "big", outputs={"o0": str},
                             custom={"bytes": 100_000})
    out = tmp_path / "out"
    out.mkdir()
    proc = _execute(faults, template, inputs, f"full://{out}",
                    "--raw-output-data-prefix", str(tmp_path / "raw"),
                    env={"SHIMTASK_TEST_FULL_BYTES": str(room)})
    if room == 64:
        assert proc.returncode == EXIT_UNWRITTEN, proc.stderr
        assert "No space left on device" in _one_line(proc.stderr)
        assert sorted(p.name for p in out.iterdir()) == []
        return
    assert proc.returncode == 1, proc.stderr
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("StorageError", SYSTEM, RECOVERABLE)
    assert "No space left on device" in error.message


# --- S3 goes away ---------------------------------------------------------------------------


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


@pytest.mark.parametrize("prefix", ["local", "s3"])
def test_s3_server_stopped_in_the_middle_of_an_upload(
        faults: PluginVenv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        prefix: str) -> None:
    """A 60 MB file output is being uploaded (in parts) when the S3 server stops. With the
    output prefix on local disk, error.pb says StorageError (SYSTEM, RECOVERABLE: Flyte
    retries); with it on the same S3, nothing can be written: exit 74, one line. Either
    way the process ends by itself, without a traceback."""
    from s3server import running_s3

    for name in list(os.environ):
        if name.startswith(("AWS_", "FLYTE_", "FSSPEC_")):
            monkeypatch.delenv(name)
    template, inputs = _task(tmp_path / "task", "bigfile",
                             outputs={"o0": __import__("shimtask_core").File},
                             custom={"bytes": 60 * 2**20})
    mark = tmp_path / "mark"
    with running_s3() as server:
        bucket = server.new_bucket()
        out = str(tmp_path / "out") if prefix == "local" else f"s3://{bucket}/out"
        env = faults.env({**server.flyte_env(), "SHIMTASK_TEST_MARK": str(mark),
                          "HOME": str(tmp_path), "AWS_MAX_ATTEMPTS": "2"})
        env["PATH"] = f"{faults.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.Popen(
            [str(faults.root / "bin" / "shimtask"), "execute", "--inputs", str(inputs),
             "--output-prefix", out, "--raw-output-data-prefix", f"s3://{bucket}/raw",
             "--template", str(template)],
            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_for(mark.with_name("mark.returning"), proc)
        time.sleep(0.3)  # the upload has begun
    started = time.monotonic()
    _, stderr = proc.communicate(timeout=300)
    elapsed = time.monotonic() - started
    if prefix == "local":
        assert proc.returncode == 1, stderr
        assert "StorageError" in _one_line(stderr)
        error = _error(tmp_path / "out")
        assert (error.code, error.origin, error.kind) == ("StorageError", SYSTEM, RECOVERABLE)
        assert "upload" in error.message
    else:
        assert proc.returncode == EXIT_UNWRITTEN, stderr
        assert "could not write a result" in _one_line(stderr)
    assert elapsed < 240, f"took {elapsed:.0f} s to give up"


ORPHANED_TASK = """
import asyncio, gc, sys, time
from shimtask_core import storage
fs, _ = storage.filesystem("s3://bucket/key")
async def write_body():  # what aiohttp's ClientRequest.write_bytes raises on a dropped socket
    raise ConnectionResetError("Cannot write to closing transport")
fs.loop.call_soon_threadsafe(lambda: fs.loop.create_task(write_body()))
time.sleep(0.3)
gc.collect()
time.sleep(0.3)
"""


def test_a_failed_background_task_of_the_s3_client_prints_no_traceback() -> None:
    """When S3 drops the connection mid-upload, aiohttp's body writer fails in a task that
    nobody awaits; asyncio would print it with a traceback when the task is collected
    (seen on Python 3.10 in the test above). The awaited call reports the failure; the
    orphan goes to the phase log, one line, and only when logging is on."""
    quiet = subprocess.run([sys.executable, "-c", ORPHANED_TASK], capture_output=True,
                           text=True, timeout=60,
                           env={k: v for k, v in os.environ.items()
                                if k != "SHIMTASK_LOG_LEVEL"})
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    logged = subprocess.run([sys.executable, "-c", ORPHANED_TASK], capture_output=True,
                            text=True, timeout=60,
                            env={**os.environ, "SHIMTASK_LOG_LEVEL": "INFO"})
    assert "Traceback" not in logged.stderr
    assert logged.stderr.strip().splitlines() == [
        'shimtask phase=storage-background-error message="Task exception was never '
        'retrieved" error="ConnectionResetError: Cannot write to closing transport"']


# --- an executor that hangs --------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_hanging_executor_times_out(faults: PluginVenv, tmp_path: Path, how: str) -> None:
    template, inputs = _task(tmp_path, "sleeper")
    out = tmp_path / "out"
    extra = ("--timeout", "1") if how == "flag" else ()
    env = {"SHIMTASK_EXECUTION_TIMEOUT": "1"} if how == "environment" else None
    started = time.monotonic()
    proc = _execute(faults, template, inputs, out, *extra, env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert "Timeout" in _one_line(proc.stderr)
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("Timeout", SYSTEM, RECOVERABLE)
    assert "did not finish within 1 s" in error.message
    assert elapsed < 30


def _started(mark: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not mark.with_name("mark.started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the executor never started"
        time.sleep(0.05)


def test_a_query_in_c_past_the_time_limit_is_interrupted(faults: PluginVenv,
                                                         tmp_path: Path) -> None:
    """SIGALRM's Python handler cannot run while SQLite runs the query in C: the query
    ran on for hours past a 1 s limit. Inside interruptible, the watcher thread
    interrupts it, and error.pb says Timeout (not the query's 'interrupted': the
    handler raises as soon as the thread is back in the interpreter)."""
    template, inputs = _task(tmp_path, "querying")
    out, mark = tmp_path / "out", tmp_path / "mark"
    started = time.monotonic()
    proc = _execute(faults, template, inputs, out, "--timeout", "1",
                    env={"SHIMTASK_TEST_MARK": str(mark)})
    assert time.monotonic() - started < 30  # the query alone runs for hours
    assert proc.returncode == 1, proc.stderr
    assert mark.with_name("mark.started").exists()
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("Timeout", SYSTEM, RECOVERABLE)
    assert "did not finish within 1 s" in error.message


def _stopped(faults: PluginVenv, tmp_path: Path, executor: str, extra: list[str],
             stop: Callable[[subprocess.Popen[str]], None] | None
             ) -> tuple[int, str, Path]:
    """``shimtask execute`` of ``executor``; once it started, ``stop(proc)``. The exit
    status, stderr, and the output prefix."""
    template, inputs = _task(tmp_path, executor)
    out, mark = tmp_path / "out", tmp_path / "mark"
    proc = subprocess.Popen(
        [str(faults.root / "bin" / "shimtask"), "execute", "--inputs", str(inputs),
         "--output-prefix", str(out), *extra, "--template", str(template)],
        env=faults.env({"SHIMTASK_TEST_MARK": str(mark)}), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _started(mark, proc)
        if stop is not None:
            stop(proc)
        _, stderr = proc.communicate(timeout=30)  # the executors run for minutes or hours
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, stderr, out


@pytest.mark.parametrize("to", ["process", "another thread"])
def test_sigterm_during_a_query_in_c_stops_it(faults: PluginVenv, tmp_path: Path,
                                              to: str) -> None:
    """Whichever thread the kernel hands SIGTERM to, the query is interrupted and the
    process ends at once with error.pb Terminated (it waited for the query before)."""
    if to == "another thread" and not sys.platform.startswith("linux"):
        pytest.skip("tgkill is Linux's")
    from shimtask_core.testing import signal_thread

    def sigterm(proc: subprocess.Popen[str]) -> None:
        if to == "process":
            proc.send_signal(signal.SIGTERM)
        else:
            signal_thread(proc.pid, signal.SIGTERM)

    status, stderr, out = _stopped(faults, tmp_path, "querying", [], sigterm)
    assert status == 128 + signal.SIGTERM, stderr
    assert _error(out).code == "Terminated"


@pytest.mark.parametrize("stop", ["SIGTERM", "--timeout"])
def test_an_error_the_stop_made_the_executor_raise_is_reported_as_the_stop(
        faults: PluginVenv, tmp_path: Path, stop: str) -> None:
    """A library that sees the signal first (DuckDB checks for them) raises its own error
    and the runtime's Terminated is lost with it: the task was still stopped, so
    error.pb says Terminated (exit 143) or Timeout, not ExecutorFailed."""
    if stop == "SIGTERM":
        status, stderr, out = _stopped(faults, tmp_path, "converts", [],
                                       lambda proc: proc.send_signal(signal.SIGTERM))
        assert status == 128 + signal.SIGTERM, stderr
        assert _error(out).code == "Terminated", _error(out).message
    else:
        status, stderr, out = _stopped(faults, tmp_path, "converts", ["--timeout", "1"], None)
        assert status == 1, stderr
        assert _error(out).code == "Timeout", _error(out).message


@pytest.mark.parametrize("exit_zero", [False, True])
def test_an_executor_that_swallows_the_timeout_is_not_waited_for(
        faults: PluginVenv, tmp_path: Path, exit_zero: bool) -> None:
    """It catches BaseException and goes on: 5 s (the stop grace) after the time is up,
    error.pb is written from a watchdog and the process ends (exit 1, or 0 with
    --exit-zero-on-error, as Flyte's pyflyte-execute convention wants)."""
    template, inputs = _task(tmp_path, "stubborn")
    out = tmp_path / "out"
    mark = tmp_path / "mark"
    extra = ["--timeout", "1"] + (["--exit-zero-on-error"] if exit_zero else [])
    proc = _execute(faults, template, inputs, out, *extra,
                    env={"SHIMTASK_TEST_MARK": str(mark)})
    assert proc.returncode == (0 if exit_zero else 1), proc.stderr
    assert mark.with_name("mark.swallowed").exists()  # it did swallow it
    assert f"shimtask: task failed (Timeout), wrote {out}/error.pb: " in proc.stderr
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("Timeout", SYSTEM, RECOVERABLE)
    assert "did not stop within 5 s" in error.message


def _on_a_worker(tmp_path: Path, name: str, executor: type[Any]
                 ) -> tuple[Any, list[Any]]:
    """``runtime.execute`` of ``executor`` with a 0.5 s limit, started on a thread of its
    own; the thread, and the list its result lands in."""
    import threading

    from shimtask_core import ExecutorRegistry, runtime

    registry = ExecutorRegistry(path=[])
    registry.register(name, executor)
    template, inputs = _task(tmp_path, name)
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(runtime.execute(
        inputs=str(inputs), output_prefix=str(tmp_path / "out"), template=str(template),
        registry=registry, timeout=0.5)))
    worker.start()
    return worker, results


def test_timeout_in_process_off_the_main_thread(tmp_path: Path) -> None:
    """A caller's worker thread cannot be interrupted: error.pb is written when the time is
    up, and what the executor returns afterwards is discarded."""
    import threading

    from shimtask_core import ShimTaskExecutor

    release = threading.Event()

    class Waits(ShimTaskExecutor):  # type: ignore[type-arg]
        def execute_from_model(self, tt: Any, /, **inputs: Any) -> Any:
            release.wait(30)
            return 5

    worker, results = _on_a_worker(tmp_path, "waits", Waits)
    deadline = time.monotonic() + 20
    while not (tmp_path / "out" / "error.pb").exists():
        assert time.monotonic() < deadline, "no error.pb after the time limit"
        time.sleep(0.05)
    assert worker.is_alive()  # still in the executor
    release.set()
    worker.join(10)
    (result,) = results
    assert not result.ok and result.error.code == "Timeout"
    assert _error(tmp_path / "out").code == "Timeout"


def test_timeout_off_the_main_thread_interrupts_a_query_in_c(tmp_path: Path) -> None:
    """The timer that writes error.pb also interrupts what the caller's thread waits
    for inside interruptible: the thread returns, instead of running the query on."""
    import sqlite3

    from shimtask_core import ShimTaskExecutor, interruptible

    ended: list[str] = []

    class Queries(ShimTaskExecutor):  # type: ignore[type-arg]
        def execute_from_model(self, tt: Any, /, **inputs: Any) -> Any:
            con = sqlite3.connect(":memory:")
            try:
                with interruptible(con.interrupt):
                    return con.execute(FOREVER).fetchone()[0]
            except sqlite3.OperationalError as exc:
                ended.append(str(exc))
                raise
            finally:
                con.close()

    worker, results = _on_a_worker(tmp_path, "queries", Queries)
    worker.join(20)
    assert not worker.is_alive(), "the query ran on past the time limit"
    assert ended == ["interrupted"]
    (result,) = results
    assert not result.ok and result.error.code == "Timeout"
    assert _error(tmp_path / "out").code == "Timeout"


def test_interrupt_thread_reaches_only_blocks_still_open() -> None:
    """What serve relies on: the interrupts of the blocks open on a thread, none once
    they closed, none when ``still()`` says the execution meant has ended."""
    import threading

    from shimtask_core import interrupt_thread, interruptible

    calls: list[str] = []
    inside, leave = threading.Event(), threading.Event()
    idents: list[int] = []

    def run() -> None:
        idents.append(threading.get_ident())
        with interruptible(lambda: calls.append("outer")), \
                interruptible(lambda: calls.append("inner")):
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=run)
    worker.start()
    assert inside.wait(10)
    (ident,) = idents
    assert interrupt_thread(ident, still=lambda: False) == 0 and calls == []
    assert interrupt_thread(ident) == 2 and calls == ["outer", "inner"]
    leave.set()
    worker.join(10)
    assert interrupt_thread(ident) == 0 and calls == ["outer", "inner"]


@pytest.mark.skipif(os.name != "posix", reason="the watcher is POSIX's")
def test_interruptible_on_the_main_thread_keeps_the_previous_wakeup_fd_informed() -> None:
    """An event loop's wakeup fd (set before) still gets every signal while a block is
    open, and is the wakeup fd again after it; the block's interrupt runs on SIGALRM."""
    import socket
    import threading

    from shimtask_core import interruptible

    assert threading.current_thread() is threading.main_thread()
    ours_r, ours_w = socket.socketpair()
    ours_r.setblocking(False)
    ours_w.setblocking(False)
    before = signal.set_wakeup_fd(ours_w.fileno())
    handler = signal.signal(signal.SIGALRM, lambda *_: None)
    calls: list[str] = []
    try:
        with interruptible(lambda: calls.append("interrupted")):
            current = signal.set_wakeup_fd(-1)  # the watcher's, while the block is open
            signal.set_wakeup_fd(current, warn_on_full_buffer=False)
            assert current not in (-1, ours_w.fileno())
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            deadline = time.monotonic() + 10
            while not calls and time.monotonic() < deadline:
                time.sleep(0.01)
        assert calls == ["interrupted"]
        assert signal.set_wakeup_fd(ours_w.fileno()) == ours_w.fileno()  # restored
        deadline = time.monotonic() + 10
        forwarded = b""
        while not forwarded and time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError):
                forwarded = ours_r.recv(16)
            time.sleep(0.01)
        assert signal.SIGALRM in forwarded
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, handler)
        signal.set_wakeup_fd(before)
        ours_r.close()
        ours_w.close()


def test_an_invalid_timeout_is_a_usage_error(faults: PluginVenv, tmp_path: Path) -> None:
    template, inputs = _task(tmp_path, "echo", outputs={})
    proc = _execute(faults, template, inputs, tmp_path / "out", "--timeout", "soon")
    assert proc.returncode == 2
    assert "--timeout soon: expected a positive number of seconds" in _one_line(proc.stderr)
    assert not (tmp_path / "out").exists()


# --- an executor that crashes the interpreter --------------------------------------------


@pytest.mark.parametrize(("executor", "sig"), [("aborts", signal.SIGABRT),
                                               ("segfaults", signal.SIGSEGV)])
def test_an_executor_that_crashes_the_interpreter(
        faults: PluginVenv, tmp_path: Path, executor: str, sig: int) -> None:
    """No error.pb can be written from a dead process: the process dies of the signal
    (Kubernetes reports exit code 128 + signal, 134 or 139), neither file exists, and
    faulthandler's Python stack on stderr names the executor's line. Flyte then reports
    the pod's failure itself (a retryable failure naming the exit code)."""
    template, inputs = _task(tmp_path, executor)
    out = tmp_path / "out"
    proc = _execute(faults, template, inputs, out)
    assert proc.returncode == -sig, proc.stderr
    assert not out.exists() or not any(out.iterdir())
    assert "Fatal Python error" in proc.stderr
    assert "shimtask_test_faults.py" in proc.stderr and "execute_from_model" in proc.stderr


# --- an output far beyond what is allowed ---------------------------------------------


def test_an_output_far_larger_than_allowed(faults: PluginVenv, tmp_path: Path) -> None:
    template, inputs = _task(tmp_path, "big", outputs={"o0": str},
                             custom={"bytes": 50_000_000})
    out = tmp_path / "out"
    proc = _execute(faults, template, inputs, out,
                    env={"SHIMTASK_MAX_OUTPUTS_BYTES": "10MiB"})
    assert proc.returncode == 1, proc.stderr
    assert "LimitExceeded" in _one_line(proc.stderr)
    error = _error(out)
    assert (error.code, error.origin, error.kind) == ("LimitExceeded", USER, NON_RECOVERABLE)
    assert "SHIMTASK_MAX_OUTPUTS_BYTES" in error.message and "50,000,0" in error.message


# --- many processes, one cache directory -------------------------------------------------


def test_many_executions_at_once_share_one_cache_directory(
        faults: PluginVenv, tmp_path: Path) -> None:
    """24 `shimtask execute` at once on a cold cache, then 24 more after the installed set
    changed (every one rebuilds the index), then 24 over a corrupted index file: every
    run succeeds with its own value, and the index left behind is whole and fresh."""
    cache = tmp_path / "cache"
    tasks = []
    for i in range(24):
        tasks.append(_task(tmp_path / f"t{i}", "echo", outputs={"x": int}, types={"x": int},
                           inputs={"x": i}))

    def burst(round_: str) -> None:
        env = faults.env({"SHIMTASK_CACHE_DIR": str(cache)})
        env["PATH"] = f"{faults.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        procs = [subprocess.Popen(
            [str(faults.root / "bin" / "shimtask"), "execute", "--inputs", str(inputs),
             "--output-prefix", str(tmp_path / round_ / str(i)), "--template", str(template)],
            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for i, (template, inputs) in enumerate(tasks)]
        for i, proc in enumerate(procs):
            _, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stderr
            lm = literals_pb2.LiteralMap()
            lm.ParseFromString((tmp_path / round_ / str(i) / "outputs.pb").read_bytes())
            assert lm.literals["x"].scalar.primitive.integer == i

    burst("cold")
    (index,) = cache.glob("index-*.json")
    json.loads(index.read_text())
    os.utime(faults.site_packages)  # what pip install does: every index is stale
    burst("stale")
    index.write_text('{"format": 1, "records": [')  # torn, as by a crashed writer
    burst("corrupt")
    state = faults.shimtask("plugins", "index", "--json",
                            env={"SHIMTASK_CACHE_DIR": str(cache)})
    assert json.loads(state.stdout)["status"] == "fresh", state.stdout
    assert sorted(p.name for p in cache.iterdir()) == [index.name]  # no temporary left
