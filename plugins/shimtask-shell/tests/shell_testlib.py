"""Helpers for the shell executor's tests: templates, commands, and watching processes."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flyteidl.core.tasks_pb2 import TaskTemplate

from shimtask_core import make_template

PYTHON = sys.executable
SHIMTASK = Path(sys.executable).with_name("shimtask")


def py(code: str, *args: str) -> list[str]:
    """An argv that runs Python ``code`` with ``args`` (sys.argv[1:])."""
    return [PYTHON, "-c", textwrap.dedent(code), *args]


#: Prints its arguments as a JSON list: what the program actually received.
ECHO_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"

#: Starts a grandchild (``sleep 60``) in its process group, writes "<child pid>
#: <grandchild pid>" and then its other arguments, one a line, to argv[1], and sleeps.
SPAWN_AND_SLEEP = """
import os, subprocess, sys, time
grandchild = subprocess.Popen(["sleep", "60"])
with open(sys.argv[1] + ".tmp", "w") as fh:
    fh.write("\\n".join([f"{os.getpid()} {grandchild.pid}", *sys.argv[2:]]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
"""


def shell_template(argv: Any, *, inputs: Mapping[str, Any] | None = None,
                   outputs: Mapping[str, Any] | None = None, name: str = "command",
                   **custom: Any) -> TaskTemplate:
    return make_template(name, "shell", inputs=inputs or {}, outputs=outputs or {},
                         custom={"argv": argv, **custom})


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (a zombie has already died)."""
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid`` (Linux: from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def wait_until(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def read_pids(path: Path, timeout: float = 30.0) -> tuple[int, int]:
    """The "<child> <grandchild>" pids SPAWN_AND_SLEEP wrote, once it has written them."""
    assert wait_until(path.exists, timeout), f"the command never wrote {path}"
    child, grandchild = path.read_text().splitlines()[0].split()
    return int(child), int(grandchild)


def written_args(path: Path) -> list[str]:
    """The other arguments SPAWN_AND_SLEEP wrote (after read_pids saw the file)."""
    return path.read_text().splitlines()[1:]


def kill_leftovers(pid_file: Path) -> None:
    """Kill what a SPAWN_AND_SLEEP command left running (after a failed test only)."""
    import contextlib
    import signal

    if not pid_file.exists():
        return
    child, grandchild = read_pids(pid_file, timeout=0)
    members = group_members(child) if Path("/proc/self/stat").exists() else [child]
    for pid in {*members, grandchild}:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
