"""Running one command as its own process group, and always ending that group.

The command starts in a new session (``start_new_session``), so its process
group holds it and everything it spawns; signals go to the group, never just
to the leader, and a timeout or an interrupt cannot leave grandchildren
behind. Stopping is SIGTERM to the group, up to ``kill_after`` seconds for the
leader to exit, then SIGKILL to the group.

The leader is never reaped before the last signal is sent (its exit is
observed through a pidfd, or ``waitid(WNOWAIT)``), so the group id cannot
have been reused by an unrelated process when it is signalled.

While the command runs in the main thread, SIGTERM to shimtask stops the group
and then goes on to whatever handled SIGTERM before: a Python handler is
called, the default action is restored and the signal re-delivered (shimtask
then dies of SIGTERM, as it would have without the executor).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any, Final, final

STDERR_TAIL_LINES: Final = 20
_TAIL_BYTES: Final = 64 * 1024
_TAIL_CHARS: Final = 4000
_READ_SIZE: Final = 64 * 1024
_READER_JOIN: Final = 5.0  # seconds to wait for pipes held open by an escaped process
#: Longest sleep of the main thread between looks for signals while the command runs.
_SIGNAL_SLICE: Final = 0.2

_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


@final
@dataclass(frozen=True)
class Completed:
    """How the command ended."""

    returncode: int
    stdout: bytes | None
    stderr_tail: str
    timed_out: bool
    #: shimtask received SIGTERM and stopped the command (a chained handler returned).
    terminated: bool


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None,
    timeout: float | None,
    kill_after: float,
    capture_stdout: bool,
    before_sigterm_death: Callable[[], None] = lambda: None,
) -> Completed:
    """Run ``argv`` (never through a shell) to completion, timeout or interruption."""
    stderr_sink = _Tail()
    stdout_chunks: list[bytes] = []
    forwarder = _SigtermForwarder(kill_after, before_sigterm_death)
    with forwarder:
        proc = subprocess.Popen(  # an argv list: no shell ever reads it
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else _log_fd(),
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        group = ProcessGroup(proc)
        readers: list[threading.Thread] = []
        try:
            forwarder.attach(group)
            assert proc.stderr is not None
            readers.append(_drain(proc.stderr, stderr_sink.write))
            if capture_stdout:
                assert proc.stdout is not None
                readers.append(_drain(proc.stdout, stdout_chunks.append))
            exited = group.wait_exit(timeout)
            if exited:
                group.signal(signal.SIGKILL)  # what it left running in its group
            else:
                group.stop(kill_after)
            returncode = group.reap()
        finally:
            if not group.reaped:  # an exception (KeyboardInterrupt, a chained handler's)
                try:
                    group.stop(kill_after)
                finally:
                    group.reap()
        for reader in readers:
            reader.join(_READER_JOIN)
    return Completed(
        returncode=returncode,
        stdout=b"".join(stdout_chunks) if capture_stdout else None,
        stderr_tail=stderr_sink.text(),
        timed_out=not exited,
        terminated=forwarder.received,
    )


class ProcessGroup:
    """A child that leads its own process group; exits are observed without reaping."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pgid = proc.pid  # start_new_session: the child is its group's leader
        self.reaped = False
        self._pidfd = _pidfd_open(proc.pid)

    def wait_exit(self, timeout: float | None) -> bool:
        """Whether the leader exits within ``timeout`` seconds (None: wait for it)."""
        if self.reaped:
            return True
        if self._pidfd is not None:
            # poll, not select: a busy process (shimtask serve) may hold fds >= 1024.
            # PEP 475: it is retried after a signal handler returns, with the remaining
            # timeout; a handler that raises ends the wait.
            poller = select.poll()
            poller.register(self._pidfd, select.POLLIN)
            if threading.current_thread() is not threading.main_thread():
                return bool(poller.poll(None if timeout is None else max(timeout, 0) * 1000))
            # On the main thread, in slices: the kernel may hand SIGTERM to a pipe
            # reader, and its Python handler (which stops the group) runs only once
            # this thread is back in the interpreter; a poll it does not interrupt
            # would sleep on until the command ends or the pod is killed.
            deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
            while True:
                left = _SIGNAL_SLICE if deadline is None else min(
                    _SIGNAL_SLICE, deadline - time.monotonic())
                if poller.poll(max(left, 0) * 1000):
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
        return self._poll_exit(timeout)

    def _poll_exit(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while not self._exited():
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                delay = min(delay, remaining)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True

    def _exited(self) -> bool:
        waitid = getattr(os, "waitid", None)
        if waitid is None:
            # No waitid (macOS before Python 3.13): poll() reaps, so the group is then
            # signalled by an id no longer pinned by its leader (a narrow reuse race).
            return self.proc.poll() is not None
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        try:
            return waitid(os.P_PID, self.proc.pid, flags) is not None
        except ChildProcessError:
            return True

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the whole group; never after reap(), when its id may be reused."""
        if self.reaped:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def stop(self, kill_after: float) -> None:
        """SIGTERM to the group, up to ``kill_after`` s for the leader, then SIGKILL."""
        try:
            self.signal(signal.SIGTERM)
            self.wait_exit(kill_after)
        finally:
            self.signal(signal.SIGKILL)

    def reap(self) -> int:
        """Collect the leader's exit status (after the group was signalled)."""
        try:
            returncode = self.proc.wait()
        finally:
            self.reaped = True
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        return returncode


def _pidfd_open(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:  # an old kernel, or a sandbox that forbids it
        return None


class _SigtermForwarder:
    """While the command runs in the main thread, SIGTERM stops its group first.

    The previous handler is chained (called if it is a Python callable; for
    SIG_DFL restored and the signal re-delivered) and restored on exit. A
    SIGTERM that arrives before the child exists is held until it does, or
    re-delivered on exit if it never started. Outside the main thread, or when
    SIGTERM was ignored or handled outside Python, nothing is installed: the
    caller's try/finally still stops the group on any exception.
    """

    def __init__(self, kill_after: float, before_death: Callable[[], None]) -> None:
        self._kill_after = kill_after
        self._before_death = before_death
        self._group: ProcessGroup | None = None
        self._previous: _SignalHandler = None
        self._installed = False
        self._pending: tuple[int, FrameType | None] | None = None
        self.received = False

    def __enter__(self) -> _SigtermForwarder:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGTERM)
            if previous is not None and previous != signal.SIG_IGN:
                self._previous = previous
                signal.signal(signal.SIGTERM, self._handle)
                self._installed = True
        return self

    def attach(self, group: ProcessGroup) -> None:
        self._group = group
        if self._pending is not None:
            signum, frame = self._pending
            self._pending = None
            self._handle(signum, frame)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        group = self._group
        if group is None:
            self._pending = (signum, frame)
            return
        group.stop(self._kill_after)
        previous = self._previous
        if callable(previous):
            previous(signum, frame)
            return
        # SIG_DFL: die of the signal, as shimtask would have without this handler.
        self._before_death()
        self._restore()
        os.kill(os.getpid(), signum)

    def _restore(self) -> None:
        if self._installed:
            self._installed = False
            signal.signal(signal.SIGTERM, self._previous)

    def __exit__(self, *exc_info: object) -> None:
        self._restore()
        if self._pending is not None:  # arrived before the child started, which then failed
            signum, _ = self._pending
            self._pending = None
            os.kill(os.getpid(), signum)  # now handled as if we had never been here


class _Tail:
    """The last bytes written to stderr, which also go on to shimtask's own stderr."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, chunk: bytes) -> None:
        _write_all(2, chunk)
        self._buffer += chunk
        if len(self._buffer) > 2 * _TAIL_BYTES:
            del self._buffer[:-_TAIL_BYTES]

    def text(self) -> str:
        lines = bytes(self._buffer[-_TAIL_BYTES:]).decode("utf-8", "replace").splitlines()
        tail = "\n".join(lines[-STDERR_TAIL_LINES:])
        return tail if len(tail) <= _TAIL_CHARS else "..." + tail[-_TAIL_CHARS:]


def _drain(stream: IO[bytes], sink: Callable[[bytes], None]) -> threading.Thread:
    def read() -> None:
        fd = stream.fileno()
        try:
            while chunk := os.read(fd, _READ_SIZE):
                sink(chunk)
        finally:
            stream.close()

    thread = threading.Thread(target=read, name="shimtask-shell-reader", daemon=True)
    thread.start()
    return thread


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:  # our stderr is closed: the tail is still kept for the error
        pass


def _log_fd() -> int:
    """Where an uncaptured stdout goes: shimtask's stderr (its stdout is for results)."""
    try:
        os.fstat(2)
    except OSError:
        return subprocess.DEVNULL
    return 2
