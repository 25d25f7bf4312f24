"""The ``shell`` executor: check the template, substitute whole values, run, collect."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from shimtask_core import ShimTaskExecutor, TemplateError

from ._errors import CommandFailed, CommandTimedOut
from ._outputs import RunDir, collect, has_blobs
from ._process import Completed, run_command
from ._spec import Part, Ref, ShellSpec
from ._values import as_text, input_arguments

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate


class ShellExecutor(ShimTaskExecutor[Any]):
    """Runs ``custom["argv"]`` as a process group, inputs as whole arguments."""

    task_type_versions: ClassVar[frozenset[int] | None] = None
    is_sync: ClassVar[bool] = False  # a command may run for hours

    def execute_from_model(self, tt: TaskTemplate, /, **kwargs: Any) -> Any:
        spec = ShellSpec.from_template(tt)
        if os.name != "posix":
            raise TemplateError("the shell executor needs a POSIX system (process groups, "
                                "signals)", source=spec.source)
        run_dir = RunDir()
        try:
            paths = run_dir.output_paths(spec.outputs)
            values = _Substitution(kwargs, paths, spec.source)
            argv = [text for part in spec.argv for text in values.arguments(part)]
            if not argv:
                raise TemplateError("custom['argv'] is empty once its list inputs are "
                                    "expanded: there is no program to run", source=spec.source)
            env = dict(os.environ)
            env.update((key, values.one(part)) for key, part in spec.env)
            cwd = None if spec.cwd is None else _directory(values.one(spec.cwd), spec.source)
            completed = _run(argv, env, cwd, spec, run_dir)
            _check(argv[0], completed, spec)
            outputs = collect(spec.outputs, paths, run_dir, spec.stdout, completed.stdout)
        except BaseException:
            run_dir.remove()
            raise
        if not has_blobs(spec.outputs):
            run_dir.remove()  # no output value refers to it
        return outputs or None


class _Substitution:
    """The text each placeholder stands for in one run."""

    def __init__(self, inputs: Mapping[str, Any], outputs: Mapping[str, str],
                 source: str | None) -> None:
        self._inputs = inputs
        self._outputs = outputs
        self._source = source

    def arguments(self, part: Part) -> list[str]:
        """An argv item: literal text, or the argument(s) an input or output stands for."""
        if isinstance(part, str):
            return [part]
        if part.kind == "outputs":
            return [self._outputs[part.name]]
        return input_arguments(part.name, self._input(part), many=True)

    def one(self, part: Part) -> str:
        """An environment value or cwd: exactly one string."""
        if isinstance(part, str):
            return part
        if part.kind == "outputs":
            return self._outputs[part.name]
        return as_text(part.name, self._input(part))

    def _input(self, ref: Ref) -> Any:
        if ref.name not in self._inputs:
            raise TemplateError(f"input {ref.name!r} was not given a value", source=self._source)
        return self._inputs[ref.name]


def _directory(path: str, source: str | None) -> str:
    if not os.path.isdir(path):
        what = "is not a directory" if os.path.exists(path) else "does not exist"
        raise NotADirectoryError(f"custom['cwd'] {path!r} {what} (relative paths are relative "
                                 f"to shimtask's working directory {os.getcwd()})")
    return path


def _run(argv: list[str], env: Mapping[str, str], cwd: str | None, spec: ShellSpec,
         run_dir: RunDir) -> Completed:
    try:
        return run_command(argv, env=env, cwd=cwd, timeout=spec.timeout,
                           kill_after=spec.kill_after, capture_stdout=spec.stdout is not None,
                           before_sigterm_death=run_dir.remove)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"cannot run {argv[0]!r}: no such program (argv[0] is looked up on the PATH of "
            f"the environment it runs with, or is a path)") from None
    except PermissionError as exc:
        raise PermissionError(f"cannot run {argv[0]!r}: {exc.strerror} (is it "
                              f"executable?)") from None


def _check(program: str, completed: Completed, spec: ShellSpec) -> None:
    if completed.timed_out:
        assert spec.timeout is not None
        raise CommandTimedOut(program, completed.returncode, completed.stderr_tail,
                              timeout=spec.timeout)
    if completed.terminated:
        raise CommandFailed(program, completed.returncode, completed.stderr_tail,
                            reason="was stopped because shimtask received SIGTERM")
    if completed.returncode != 0:
        raise CommandFailed(program, completed.returncode, completed.stderr_tail)
