"""Checking plugins without trusting them: ``ExecutorRegistry.doctor()``'s machinery.

Every entry point is imported in a worker process, so a plugin that calls
``os._exit``, crashes the interpreter, hangs or prints at import costs only its
own report. The worker speaks one JSON line per event on a private copy of its
stdout; when it dies, the entry point it was importing is reported broken and a
new worker takes the rest.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import IO, Any

from .discovery import EntryPointRecord
from .errors import PluginLoadError, ShimTaskError
from .registry import (
    _check_api,
    _new_plugin_manager,
    _validate,
    class_requires_api,
    class_task_type_versions,
    load_entry_point,
)


def check_entry(record: EntryPointRecord, executor_group: str) -> dict[str, Any]:
    """Import one entry point and check it as its group requires; a JSON-able result."""
    result: dict[str, Any] = {"status": "ok"}
    try:
        obj = load_entry_point(record)
        if record.group != executor_group:
            try:
                _new_plugin_manager().register(obj, name=f"{record.dist}:{record.name}")
            except Exception as exc:  # pluggy's PluginValidationError, mostly
                raise PluginLoadError(record.name, record.value, record.dist, record.version,
                                      exc) from exc
            return result
        cls = _validate(record, obj)
        api = class_requires_api(record, cls)
        versions = class_task_type_versions(record, cls)
        result["requires_api"] = list(api) if api else None
        result["task_type_versions"] = list(versions) if versions is not None else None
        _check_api(record, record.requires_api, "metadata")
        _check_api(record, api, "class")
    except ShimTaskError as exc:
        result.update(status="broken", error=str(exc))
    return result


# The worker keeps its own stdout for the protocol and points fd 1 at stderr, so that
# a plugin printing at import cannot corrupt the report.
_WORKER_CODE = """\
import json, os, sys
out = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
job = json.loads(sys.stdin.readline())
sys.path[:] = job["sys_path"]
from shimtask_core.doctor import _doctor_worker
_doctor_worker(job, out)
"""


def _doctor_worker(job: dict[str, Any], out: IO[str]) -> None:
    """Run in the worker process: check each entry point, one JSON line per event."""
    import json

    for index, row in job["entries"]:
        out.write(f'{{"start": {int(index)}}}\n')
        out.flush()
        result = check_entry(EntryPointRecord.from_row(row), job["executor_group"])
        out.write(json.dumps({"result": index, **result}) + "\n")
        out.flush()
    out.write('{"done": true}\n')
    out.flush()


def can_spawn() -> bool:
    return bool(sys.executable) and os.path.exists(sys.executable)


def check_isolated(
    records: list[EntryPointRecord], executor_group: str, timeout: float
) -> dict[int, dict[str, Any]]:
    """Check every record in worker processes; a worker that dies or hangs costs only the
    entry point it was importing, and a new worker takes the rest."""
    results: dict[int, dict[str, Any]] = {}
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
    results: dict[int, dict[str, Any]],
) -> bool:
    """One worker over ``pending``; returns whether it got to start any entry point."""
    import json
    import queue
    import subprocess
    import tempfile

    job = {
        "sys_path": sys.path,
        "executor_group": executor_group,
        "entries": [[i, records[i].to_row()] for i in pending],
    }
    lines: queue.Queue[str | None] = queue.Queue()
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=stderr, text=True, encoding="utf-8",
            )
        except OSError:
            return False
        assert proc.stdin is not None and proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=read, name="shimtask-doctor-reader", daemon=True)
        reader.start()
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.close()
        except OSError:
            pass
        current: int | None = None
        started = False
        try:
            while True:
                try:
                    line = lines.get(timeout=timeout)
                except queue.Empty:
                    proc.kill()
                    if current is not None and current not in results:
                        results[current] = {"status": "broken", "error": _failure(
                            records[current], f"did not finish importing within {timeout:g} s "
                            f"(the doctor's worker was stopped)")}
                    return started
                if line is None:
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "start" in message:
                    current, started = int(message["start"]), True
                elif "result" in message:
                    index = int(message.pop("result"))
                    results[index] = message
                elif message.get("done"):
                    break
        finally:
            if proc.poll() is None:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            stdout.close()
        if current is not None and current not in results:
            stderr.seek(0)
            tail = stderr.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            code = proc.returncode
            how = (f"killed the doctor's worker process by signal {-code}" if code < 0
                   else f"ended the doctor's worker process (exit status {code})")
            detail = f"; its last output: {' | '.join(tail)}" if tail else ""
            results[current] = {"status": "broken", "error": _failure(
                records[current], f"{how} while importing{detail}")}
    return started


def _failure(record: EntryPointRecord, reason: str) -> str:
    return str(PluginLoadError(record.name, record.value, record.dist, record.version, reason))
