"""A signal handed to one thread of a process, as the kernel may hand a ``kill``.

A signal sent to a process goes to whichever of its threads the kernel picks.
Python runs the handler on the main thread only, and only once that thread is
back in the interpreter: a main thread asleep in a system call (``poll``, a lock,
``select``) while threads of the plugin's own run (pipe readers, pools) sleeps
on, and a SIGTERM from Kubernetes is never acted on until the pod is killed.
:func:`signal_thread` makes that case happen on purpose (Linux only).
"""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path

#: ``tgkill``'s system call number, for a C library without the ``tgkill`` function
#: (glibc before 2.30, musl).
_SYS_TGKILL = {"x86_64": 234, "aarch64": 131, "i686": 270, "armv7l": 268}


def threads_of(pid: int) -> dict[int, str]:
    """The threads of process ``pid``: id -> name (as the kernel has it: at most 15
    characters). The main thread's id is ``pid``."""
    tasks = Path(f"/proc/{pid}/task")
    found = {}
    for entry in tasks.iterdir():
        try:
            found[int(entry.name)] = (entry / "comm").read_text().rstrip("\n")
        except (FileNotFoundError, ProcessLookupError):  # the thread ended meanwhile
            continue
    return found


def signal_thread(pid: int, signum: int, name: str | None = None) -> int:
    """Send ``signum`` to one thread of process ``pid`` other than its main thread and
    return that thread's id: the one of the highest id (normally the newest), or of
    those whose name starts with ``name`` (native threads name themselves, such as
    grpc's ``event_engine``; Python gives a ``threading.Thread`` its name from 3.14
    on, cut to 15 characters).

    Raises ``LookupError`` when no such thread runs, ``OSError`` when the signal
    cannot be sent, ``NotImplementedError`` off Linux.
    """
    if not Path(f"/proc/{pid}/task").is_dir():
        raise NotImplementedError("signal_thread needs Linux's /proc/<pid>/task")
    others = sorted(tid for tid, comm in threads_of(pid).items()
                    if tid != pid and (name is None or comm.startswith(name[:15])))
    if not others:
        raise LookupError(f"process {pid} has no thread besides its main one"
                          + (f" named {name!r}" if name else ""))
    tid = others[-1]
    libc = ctypes.CDLL(None, use_errno=True)
    tgkill = getattr(libc, "tgkill", None)
    if tgkill is not None:
        status = tgkill(pid, tid, signum)
    elif platform.machine() in _SYS_TGKILL:
        status = libc.syscall(_SYS_TGKILL[platform.machine()], pid, tid, signum)
    else:
        raise NotImplementedError(f"no tgkill for {platform.machine()}")
    if status != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"tgkill({pid}, {tid}, {signum}): {os.strerror(errno)}")
    return tid
