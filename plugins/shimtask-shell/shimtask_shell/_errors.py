"""What goes wrong when a command runs, as exceptions with fields.

They are plain exceptions on purpose: the core wraps anything an executor raises
in ``ExecutorFailed``, a USER error, which is what a failing command is.
Messages name the program (``argv[0]``) but never the other arguments or the
environment, which may hold values the user would not want in a log.
"""

from __future__ import annotations

import signal


class CommandFailed(Exception):
    """The command exited with a non-zero status or was killed by a signal.

    ``returncode`` is the exit status, or minus the signal number (as
    ``subprocess`` reports it); ``stderr_tail`` the last lines it wrote to stderr.
    """

    def __init__(self, program: str, returncode: int, stderr_tail: str, *,
                 reason: str | None = None) -> None:
        self.program = program
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        what = reason or _status(returncode)
        super().__init__(f"command {program!r} {what}{_tail(stderr_tail)}")


class CommandTimedOut(CommandFailed):
    """The command ran longer than ``custom['timeout']``; its process group was killed."""

    def __init__(self, program: str, returncode: int, stderr_tail: str, *,
                 timeout: float) -> None:
        self.timeout = timeout
        super().__init__(
            program, returncode, stderr_tail,
            reason=f"timed out after {timeout:g} s (custom['timeout']); its whole process "
                   f"group was killed")


class MissingOutput(Exception):
    """The command succeeded but did not write a declared output where it was told to."""

    def __init__(self, output: str, path: str, expected: str) -> None:
        self.output = output
        self.path = path
        self.expected = expected
        super().__init__(
            f"output {output!r}: the command exited with status 0 but did not write "
            f"{expected} at {{{{ .outputs.{output} }}}} ({path})")


def _status(returncode: int) -> str:
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "an unknown signal"
    return f"was killed by signal {-returncode} ({name})"


def _tail(stderr_tail: str) -> str:
    if not stderr_tail.strip():
        return "; it wrote nothing to stderr"
    return f"; the last lines of its stderr:\n{stderr_tail}"
