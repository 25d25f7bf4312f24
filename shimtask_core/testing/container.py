"""Run the Flyte container contract in a directory and read back what it wrote.

``run_container`` does what a Flyte pod does: it writes ``template.pb`` and
``inputs.pb``, runs ``shimtask execute`` (a real subprocess by default, or
:func:`shimtask_core.runtime.execute` in this process on request) and decodes
``outputs.pb`` or ``error.pb``. A run that leaves neither file, or both, breaks
the contract and raises :class:`ContractViolation` instead of returning.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

from .environment import isolated_environ

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import LiteralMap
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from shimtask_core import ExecutorRegistry

OUTPUTS_FILE = "outputs.pb"
ERROR_FILE = "error.pb"


class ContractViolation(AssertionError):
    """The execution broke the container contract itself (no result file, or two)."""


@final
@dataclass(frozen=True)
class ContainerError:
    """A decoded ``error.pb``: the four fields Flyte reads, enums by name."""

    code: str
    message: str
    kind: str  #: ``NON_RECOVERABLE`` or ``RECOVERABLE``
    origin: str  #: ``USER`` or ``SYSTEM``

    @property
    def recoverable(self) -> bool:
        return self.kind == "RECOVERABLE"


@final
@dataclass(frozen=True)
class ContainerResult:
    """What one execution wrote under its output prefix.

    ``outputs`` are the decoded values by output name (``None`` when ``error.pb``
    was written); ``literals`` the raw ``outputs.pb``. ``returncode``, ``stdout``
    and ``stderr`` are the subprocess's (``None`` and empty in process).
    """

    output_prefix: Path
    raw_output_prefix: Path
    outputs: dict[str, Any] | None
    literals: LiteralMap | None
    error: ContainerError | None
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> dict[str, Any]:
        """The outputs; raises AssertionError carrying ``error.pb`` if the task failed."""
        if self.error is not None:
            raise AssertionError(
                f"the task failed: {self.error.origin} {self.error.kind} {self.error.code}: "
                f"{self.error.message}" + (f"\nstderr:\n{self.stderr}" if self.stderr else ""))
        assert self.outputs is not None
        return self.outputs


def shimtask_command() -> list[str]:
    """How to start ``shimtask``: the console script beside this interpreter, if there
    is one (what a Flyte image runs), else ``python -m shimtask_core.cli``."""
    script = Path(sys.executable).parent / ("shimtask.exe" if os.name == "nt" else "shimtask")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "shimtask_core.cli"]


def run_container(
    template: TaskTemplate,
    inputs: Mapping[str, Any] | LiteralMap | None = None,
    *,
    workdir: Path,
    in_process: bool = False,
    registry: ExecutorRegistry | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    command: Sequence[str] | None = None,
    timeout: float = 300.0,
) -> ContainerResult:
    """Execute ``template`` on ``inputs`` as Flyte would, in a new directory under ``workdir``.

    ``inputs`` are Python values (encoded by the declared types) or a ready
    ``LiteralMap`` (to send what the codec would refuse, such as a wrong type).
    A subprocess gets ``isolated_environ`` plus ``env``, and runs in ``cwd``
    (default: the run's directory). In process, ``registry`` (default:
    :func:`isolated_registry`) resolves the executor.
    """
    from flyteidl.core.literals_pb2 import LiteralMap

    from .values import literal_map

    workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    template_path = run_dir / "template.pb"
    inputs_path = run_dir / "inputs.pb"
    output_prefix = run_dir / "outputs"
    raw_prefix = run_dir / "raw"
    literals = (inputs if isinstance(inputs, LiteralMap)
                else literal_map(template, inputs or {}, data_dir=run_dir / "inputs-data"))
    template_path.write_bytes(template.SerializeToString())
    inputs_path.write_bytes(literals.SerializeToString())
    args = ["--inputs", str(inputs_path), "--output-prefix", str(output_prefix),
            "--raw-output-data-prefix", str(raw_prefix), "--template", str(template_path)]
    returncode: int | None = None
    stdout = stderr = ""
    if in_process:
        from shimtask_core.runtime import execute

        from .environment import isolated_registry

        execute(inputs=str(inputs_path), output_prefix=str(output_prefix),
                template=str(template_path), raw_output_prefix=str(raw_prefix),
                registry=registry if registry is not None else isolated_registry())
    else:
        full_env = isolated_environ(run_dir / "cache", extra=env)
        done = subprocess.run([*(command or shimtask_command()), "execute", *args],
                              cwd=cwd or run_dir, env=full_env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    return _read_result(template, output_prefix, raw_prefix, returncode, stdout, stderr)


def _read_result(tt: TaskTemplate, output_prefix: Path, raw_prefix: Path,
                 returncode: int | None, stdout: str, stderr: str) -> ContainerResult:
    outputs_file = output_prefix / OUTPUTS_FILE
    error_file = output_prefix / ERROR_FILE
    written = [p.name for p in (outputs_file, error_file) if p.exists()]
    if len(written) != 1:
        what = "neither outputs.pb nor error.pb" if not written else "both outputs.pb and error.pb"
        raise ContractViolation(
            f"the execution wrote {what} under {output_prefix} (exit status {returncode})"
            + (f"\nstderr:\n{stderr}" if stderr else ""))
    if error_file.exists():
        return ContainerResult(output_prefix, raw_prefix, None, None,
                               read_error(error_file), returncode, stdout, stderr)
    from flyteidl.core.literals_pb2 import LiteralMap

    from .values import decode_outputs

    literals = LiteralMap()
    literals.ParseFromString(outputs_file.read_bytes())
    return ContainerResult(output_prefix, raw_prefix, decode_outputs(tt, literals), literals,
                           None, returncode, stdout, stderr)


def read_error(path: Path) -> ContainerError:
    """Decode an ``error.pb`` (flyteidl ``ErrorDocument``)."""
    from flyteidl.core.errors_pb2 import ContainerError as ContainerErrorProto
    from flyteidl.core.errors_pb2 import ErrorDocument
    from flyteidl.core.execution_pb2 import ExecutionError

    document = ErrorDocument()
    document.ParseFromString(path.read_bytes())
    error = document.error
    return ContainerError(
        code=error.code,
        message=error.message,
        kind=ContainerErrorProto.Kind.Name(error.kind),
        origin=ExecutionError.ErrorKind.Name(error.origin),
    )
