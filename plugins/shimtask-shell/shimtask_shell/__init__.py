"""shimtask executor ``shell``: run a program from an argv list, never a shell string.

``custom = {argv, env, cwd, timeout, kill_after, stdout}``:

* ``argv`` (required): the program and its arguments, a list of strings.
  ``{{ .inputs.x }}`` and ``{{ .outputs.y }}`` are placeholders that must be a
  whole argument; the value replaces the whole string, so spaces, quotes,
  ``;`` or ``$(...)`` in an input stay one literal argument. A list input is
  one argument per element. A placeholder inside a longer string is a
  ``TemplateError``.
* ``env``: variables added to shimtask's environment; values are strings or
  whole placeholders.
* ``cwd``: the working directory (default: shimtask's), a path or a whole
  placeholder of a Directory or str input, or of a Directory output.
* ``timeout``: seconds; then the process group is stopped and the task fails.
* ``kill_after``: seconds between SIGTERM and SIGKILL when stopping (default 5).
* ``stdout``: the name of a ``str`` output that receives the captured stdout.

Outputs: a File/Directory output is a fresh path to write (a Directory's
exists, empty); a str/int/float/bool/datetime/duration output is a path to
write the value to as text; both are read back once the command exits with 0.
See ``docs/plugins/shell.md`` for the text forms and the process-group rules.
"""

from __future__ import annotations

from ._errors import CommandFailed, CommandTimedOut, MissingOutput
from ._executor import ShellExecutor
from ._outputs import OutputDirectory, OutputFile

__all__ = [
    "CommandFailed",
    "CommandTimedOut",
    "MissingOutput",
    "OutputDirectory",
    "OutputFile",
    "ShellExecutor",
]
__version__ = "0.1.0"
