"""Where a command writes its outputs, and reading them back.

Each run gets a fresh temporary directory; output ``name`` is the path
``<run dir>/outputs/<name>`` (a Directory output's path already exists, empty).
File and Directory outputs are returned as :class:`OutputFile` /
:class:`OutputDirectory`, which keep the run directory alive: the core uploads
them under the raw output prefix after the executor returns, and the directory
is removed as soon as no output value refers to it any more.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from typing import Any, Final

from shimtask_core import Directory, File

from ._errors import MissingOutput
from ._spec import OutputKind
from ._values import parse_output

_BLOB_KINDS: Final = frozenset({"file", "directory"})


class RunDir:
    """One run's temporary directory, removed on :meth:`remove` or when unreferenced."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="shimtask-shell-")
        self.outputs = os.path.join(self.path, "outputs")
        os.mkdir(self.outputs)
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def remove(self) -> None:
        self._finalizer()

    def output_paths(self, outputs: Mapping[str, OutputKind]) -> dict[str, str]:
        """The path given to the command for each output (Directory paths are created)."""
        paths = {}
        for name, kind in outputs.items():
            path = paths[name] = os.path.join(self.outputs, name)
            if kind == "directory":
                os.mkdir(path)
        return paths


class OutputFile(File):
    """A File the command wrote; holds its run directory until the value is dropped."""

    __slots__ = ("_run_dir",)
    _run_dir: RunDir


class OutputDirectory(Directory):
    """A Directory the command wrote; holds its run directory until the value is dropped."""

    __slots__ = ("_run_dir",)
    _run_dir: RunDir


def has_blobs(outputs: Mapping[str, OutputKind]) -> bool:
    return any(kind in _BLOB_KINDS for kind in outputs.values())


def collect(outputs: Mapping[str, OutputKind], paths: Mapping[str, str], run_dir: RunDir,
            stdout_name: str | None, stdout: bytes | None) -> dict[str, Any]:
    """Every declared output's value, after the command exited with status 0."""
    values: dict[str, Any] = {}
    for name, kind in outputs.items():
        if name == stdout_name:
            values[name] = parse_output(name, "str", _utf8(name, stdout or b"", "its stdout"))
            continue
        path = paths[name]
        if kind == "file":
            if not os.path.isfile(path):
                raise MissingOutput(name, path, _missing("a file", path))
            blob: OutputFile | OutputDirectory = OutputFile(path)
        elif kind == "directory":
            if not os.path.isdir(path):
                raise MissingOutput(name, path, _missing("a directory", path))
            blob = OutputDirectory(path)
        else:
            if not os.path.isfile(path):
                raise MissingOutput(name, path, _missing(f"a file holding the {kind}", path))
            with open(path, "rb") as fh:
                data = fh.read()
            values[name] = parse_output(name, kind, _utf8(name, data, "the file it wrote"))
            continue
        blob._run_dir = run_dir
        values[name] = blob
    return values


def _missing(what: str, path: str) -> str:
    if os.path.isdir(path):
        return f"{what} (it is a directory)"
    if os.path.lexists(path) and not os.path.exists(path):
        return f"{what} (it is a dangling symbolic link)"
    if os.path.exists(path):
        return f"{what} (it is not a regular file)"
    return what


def _utf8(name: str, data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"output {name!r}: {what} is not UTF-8 text ({exc}); write binary "
                         f"data to a File output instead") from None
