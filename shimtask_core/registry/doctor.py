"""Checking plugins without trusting them: ``ExecutorRegistry.doctor()``'s machinery.

Every entry point is imported in a worker process, so a plugin that calls
``os._exit``, crashes the interpreter, hangs or prints at import costs only its
own report. The worker speaks one JSON line per event on a private copy of its
stdout; when it dies, the entry point it was importing is reported broken and a
new worker takes the rest. The checks themselves are :mod:`.checks`', the ones
``resolve()`` applies.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import IO, TYPE_CHECKING, Any, final

from ..errors import ShimTaskError
from .checks import (
    check_api,
    class_requires_api,
    class_task_type_versions,
    load_entry_point,
    load_error,
    validate_executor,
)
from .discovery import EntryPointRecord, plain
from .hooks import new_plugin_manager, register_hook_plugin

if TYPE_CHECKING:
    import queue
    import subprocess

#: Seconds one plugin may take to import under ``doctor()`` before it is reported as hung.
DOCTOR_TIMEOUT = 60.0

#: One check's outcome as the worker sends it: ``status`` (``ok`` or ``broken``),
#: ``error``, and for executors the class's ``requires_api`` / ``task_type_versions``.
Result = dict[str, Any]


@final
@dataclass(frozen=True)
class DoctorReport:
    """The outcome of checking one entry point.

    ``status`` is ``ok``, ``broken`` (it does not import, is not an executor, or
    needs another API), ``conflict`` (it imports, but another distribution claims
    its name and no preference picks one) or ``denied`` (the policy excludes it:
    not imported). ``ok`` is false for ``broken`` and ``conflict``.
    ``requires_api`` and ``task_type_versions`` are what :meth:`ExecutorRegistry.resolve`
    enforces: the class attributes (when it was imported) and the metadata
    declarations combined, as both are checked.
    """

    name: str
    group: str
    value: str
    dist: str
    version: str
    ok: bool
    error: str | None = None
    status: str = "ok"
    note: str | None = None
    requires_api: tuple[int, int] | None = None
    task_type_versions: tuple[int, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form ``shimtask plugins doctor --json`` prints."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


@final
@dataclass(frozen=True)
class Subject:
    """One entry point to diagnose, with what the registry's policy says of it:
    ``denial`` (why it is excluded, or None) and ``availability`` (``status_of``)."""

    record: EntryPointRecord
    denial: str | None
    availability: tuple[str, str | None]


def diagnose(subjects: Sequence[Subject], executor_group: str, *, isolated: bool = True,
             timeout: float = DOCTOR_TIMEOUT) -> list[DoctorReport]:
    """Import and check every allowed subject; one report per subject, in order."""
    allowed = [s.record for s in subjects if s.denial is None]
    results: dict[int, Result] = {}
    if allowed:
        if isolated and can_spawn():
            results = check_isolated(allowed, executor_group, timeout)
        else:
            results = {i: check_entry(r, executor_group) for i, r in enumerate(allowed)}
    outcomes = iter(results[i] for i in range(len(allowed)))
    return [report(s, None if s.denial is not None else next(outcomes)) for s in subjects]


def report(subject: Subject, result: Result | None) -> DoctorReport:
    """Combine one check's result (None: not imported, as denied) with the metadata
    declarations and the registry's view of conflicts."""
    record = subject.record
    api, versions = record.requires_api, record.task_type_versions
    if result is None:
        return DoctorReport(record.name, record.group, record.value, record.dist,
                            record.version, True, None, "denied", subject.denial, api, versions)
    status, error, note = result["status"], result.get("error"), None
    if result.get("requires_api"):
        low, high = int(result["requires_api"][0]), int(result["requires_api"][1])
        api = (max(low, api[0]), min(high, api[1])) if api else (low, high)
    if result.get("task_type_versions") is not None:
        found = tuple(int(v) for v in result["task_type_versions"])
        versions = tuple(v for v in found if v in versions) if versions is not None else found
    kind, message = subject.availability
    if status == "ok" and kind == "conflict":
        status, error = "conflict", message
    elif status == "ok" and kind in ("preferred", "not-preferred"):
        note = message
    return DoctorReport(record.name, record.group, record.value, record.dist,
                        record.version, status == "ok", error, status, note, api, versions)


def check_entry(record: EntryPointRecord, executor_group: str) -> Result:
    """Import one entry point and check it as its group requires; a JSON-able result."""
    result: Result = {"status": "ok"}
    try:
        if record.group != executor_group:
            register_hook_plugin(new_plugin_manager(), record)
            return result
        cls = validate_executor(record, load_entry_point(record))
        api = class_requires_api(record, cls)
        versions = class_task_type_versions(record, cls)
        result["requires_api"] = plain(api)
        result["task_type_versions"] = plain(versions)
        check_api(record, record.requires_api, "metadata")
        check_api(record, api, "class")
    except ShimTaskError as exc:
        result.update(status="broken", error=str(exc))
    return result


# --- the worker process ------------------------------------------------------------------

# The worker keeps its own stdout for the protocol and points fd 1 at stderr, so that
# a plugin printing at import cannot corrupt the report. It runs unbuffered (-u), so
# what a plugin prints is in the stderr file before the next entry point starts, and
# each "start" says how long that file was then: a report quotes its own plugin only.
_WORKER_CODE = """\
import json, os, sys
out = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
job = json.loads(sys.stdin.readline())
sys.path[:] = job["sys_path"]
from shimtask_core.registry.doctor import worker_main
worker_main(job, out)
"""


def worker_main(job: dict[str, Any], out: IO[str]) -> None:
    """Run in the worker process: check each entry point, one JSON line per event."""
    import json

    for index, row in job["entries"]:
        sys.stdout.flush()
        sys.stderr.flush()
        out.write(json.dumps({"start": int(index), "stderr_at": _stderr_size()}) + "\n")
        out.flush()
        result = check_entry(EntryPointRecord.from_row(row), job["executor_group"])
        out.write(json.dumps({"result": index, **result}) + "\n")
        out.flush()
    out.write('{"done": true}\n')
    out.flush()


def _stderr_size() -> int:
    """How much the worker has written to its stderr file so far (0 if it is no file)."""
    try:
        return os.fstat(2).st_size
    except OSError:
        return 0


def can_spawn() -> bool:
    return bool(sys.executable) and os.path.exists(sys.executable)


def check_isolated(
    records: list[EntryPointRecord], executor_group: str, timeout: float
) -> dict[int, Result]:
    """Check every record in worker processes; a worker that dies or hangs costs only the
    entry point it was importing, and a new worker takes the rest."""
    results: dict[int, Result] = {}
    pending = list(range(len(records)))
    while pending:
        progressed = _run_worker(records, pending, executor_group, timeout, results)
        pending = [i for i in pending if i not in results]
        if not progressed:  # the worker cannot even start: check in this process instead
            import warnings

            warnings.warn("shimtask doctor: the isolated worker process could not start; "
                          "checking the remaining plugins in this process", RuntimeWarning,
                          stacklevel=3)
            for i in pending:
                results[i] = check_entry(records[i], executor_group)
            break
    return results


def _run_worker(
    records: list[EntryPointRecord], pending: list[int], executor_group: str, timeout: float,
    results: dict[int, Result],
) -> bool:
    """One worker over ``pending``; returns whether it got to start any entry point."""
    import tempfile

    job = {
        "sys_path": sys.path,
        "executor_group": executor_group,
        "entries": [[i, records[i].to_row()] for i in pending],
    }
    with tempfile.TemporaryFile() as stderr:
        proc = _spawn(job, stderr)
        if proc is None:
            return False
        offsets: dict[int, int] = {}
        try:
            current, started, hung = _follow(proc, _lines_of(proc), timeout, results, offsets)
        finally:
            _reap(proc)
        if current is not None and current not in results:
            why = (f"did not finish importing within {timeout:g} s (the doctor's worker was "
                   f"stopped)" if hung else _death_of(proc, stderr, offsets.get(current, 0)))
            results[current] = {"status": "broken",
                                "error": str(load_error(records[current], why))}
    return started


def _spawn(job: dict[str, Any], stderr: IO[bytes]) -> subprocess.Popen[str] | None:
    """Start a worker and hand it ``job``; None if no process can be started."""
    import json
    import subprocess

    try:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-c", _WORKER_CODE], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=stderr, text=True, encoding="utf-8",
        )
    except OSError:
        return None
    assert proc.stdin is not None
    try:
        proc.stdin.write(json.dumps(job) + "\n")
        proc.stdin.close()
    except OSError:  # it died at once: its exit is reported like any other death
        pass
    return proc


def _lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The worker's protocol lines, read by a thread so that waiting for one can time
    out; None marks the end of its output."""
    import queue

    lines: queue.Queue[str | None] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None

    def read() -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name="shimtask-doctor-reader", daemon=True).start()
    return lines


def _follow(proc: subprocess.Popen[str], lines: queue.Queue[str | None], timeout: float,
            results: dict[int, Result], offsets: dict[int, int]
            ) -> tuple[int | None, bool, bool]:
    """Collect results until the worker is done, dies or hangs for ``timeout`` seconds
    (it is killed then). Returns the entry it was importing last, whether it started
    any, and whether it hung; ``offsets`` gets where each entry's stderr output starts."""
    import json
    import queue

    current: int | None = None
    started = False
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            return current, started, True
        if line is None:
            return current, started, False
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "start" in message:
            current, started = int(message["start"]), True
            offsets[current] = int(message.get("stderr_at", 0))
        elif "result" in message:
            results[int(message.pop("result"))] = message
        elif message.get("done"):
            return current, started, False


def _reap(proc: subprocess.Popen[str]) -> None:
    """Wait for the worker to exit (a few seconds at most, then kill it)."""
    import subprocess

    if proc.poll() is None:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _death_of(proc: subprocess.Popen[str], stderr: IO[bytes], offset: int = 0) -> str:
    """How the worker ended while importing, with the last lines written to stderr since
    ``offset`` (where this entry point's import started: never another plugin's output)."""
    stderr.seek(offset)
    tail = stderr.read().decode("utf-8", "replace").strip().splitlines()[-3:]
    code = proc.returncode
    how = (f"killed the doctor's worker process by signal {-code}" if code < 0
           else f"ended the doctor's worker process (exit status {code})")
    detail = f"; its last output: {' | '.join(tail)}" if tail else ""
    return f"{how} while importing{detail}"
