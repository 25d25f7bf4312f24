"""The executor contract suite: what every plugin must keep, checked against itself.

Like SQLAlchemy's third-party dialect suite, a plugin's own tests subclass
:class:`ExecutorContractSuite`, name their executor type and give sample
templates; pytest then runs every check below against the *installed*
distribution (its real entry point, a real ``shimtask execute``):

* the entry point is declared by an installed distribution and resolves to a
  ``ShimTaskExecutor`` subclass;
* the declared ``task_type_versions`` and API range are honoured: a template
  of another version is refused with ``VersionMismatch``;
* a wrong-typed input is a USER error naming the input;
* the outputs match the declared interface on the sample inputs;
* nothing is written outside the output and raw output prefixes (the run gets
  a fresh working directory, HOME and TMPDIR, compared before and after);
* an exception from the executor becomes a USER ``error.pb``;
* the executor imports without importing any other executor plugin.

A check that does not apply to a plugin is skipped by overriding it in the
subclass with ``@pytest.mark.skip(reason=...)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, final

import pytest

from .container import ContainerResult, run_container
from .environment import isolated_environ, isolated_registry

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

    from shimtask_core import EntryPointRecord, ExecutorRegistry


@final
@dataclass(frozen=True)
class Sample:
    """A template the executor runs successfully, with its inputs.

    ``expected`` (outputs by name) is compared with ``==`` to the decoded
    outputs; ``check`` is called with them for anything subtler. Templates
    must not depend on the working directory: the suite runs them from a fresh one.
    """

    template: TaskTemplate
    inputs: Mapping[str, Any] = field(default_factory=dict)
    expected: Mapping[str, Any] | None = None
    check: Callable[[dict[str, Any]], object] | None = None
    id: str = ""

    @property
    def label(self) -> str:
        return self.id or self.template.id.name or "sample"


@final
@dataclass(frozen=True)
class FailingSample:
    """A template on which the executor itself fails (a bad query, a missing file).

    The run must write ``error.pb`` with ``origin``; ``code`` (e.g.
    ``ExecutorFailed``) and a ``message`` substring are checked when given.
    """

    template: TaskTemplate
    inputs: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "USER"
    code: str | None = None
    message: str | None = None
    id: str = ""

    @property
    def label(self) -> str:
        return self.id or self.template.id.name or "failing sample"


class ExecutorContractSuite:
    """Base class of a plugin's contract tests; subclass it as ``TestContract``.

    Set ``executor_type`` (the entry-point name) and implement :meth:`samples`;
    optionally set ``distribution`` (the distribution that must declare it),
    ``in_process`` (run the container contract in this process: faster, less
    real; the isolation and import checks always use a subprocess) and
    override :meth:`failing_samples`.
    """

    executor_type: ClassVar[str] = ""
    distribution: ClassVar[str | None] = None
    in_process: ClassVar[bool] = False

    @pytest.fixture(autouse=True)
    def _no_shimtask_variables(self, tmp_path_factory: pytest.TempPathFactory,
                               monkeypatch: pytest.MonkeyPatch) -> None:
        """Every check runs without the ``SHIMTASK_*`` variables of the shell that started
        pytest: subprocesses never see them (``isolated_environ``), and neither does an
        in-process run, which reads the limits (``SHIMTASK_MAX_*``, the timeout) and the
        log level from this process's environment."""
        from .environment import CACHE_DIR_VARIABLE, VARIABLE_PREFIX

        for name in [n for n in os.environ if n.startswith(VARIABLE_PREFIX)]:
            monkeypatch.delenv(name)
        monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path_factory.mktemp("shimtask-cache")))

    # --- what the author provides ---------------------------------------------------

    def samples(self, workdir: Path) -> Sequence[Sample]:
        """Templates and inputs the executor runs successfully (at least one).

        ``workdir`` is an empty directory for the files the samples need (a
        database, say); the executor may read it but must not write to it.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define samples(self, workdir) returning at least one "
            f"shimtask_core.testing.Sample")

    def failing_samples(self, workdir: Path) -> Sequence[FailingSample]:
        """Templates on which the executor fails; default: each sample with its
        ``custom`` emptied (only ``executor_type`` kept), which an executor that reads
        its configuration from the template must refuse as a USER error."""
        failing = []
        for sample in self.samples(workdir):
            tt = _copy(sample.template)
            tt.custom.Clear()
            tt.custom.update({"executor_type": self._executor_type()})
            failing.append(FailingSample(tt, sample.inputs, id=f"{sample.label} with empty custom"))
        return failing

    # --- helpers ----------------------------------------------------------------------

    def _executor_type(self) -> str:
        if not self.executor_type:
            pytest.fail(f"{type(self).__name__}.executor_type is not set: name the executor "
                        f"type (the entry point in 'shimtask.executors') under test")
        return self.executor_type

    def _samples(self, workdir: Path) -> list[Sample]:
        workdir.mkdir(parents=True, exist_ok=True)
        samples = list(self.samples(workdir))
        if not samples:
            pytest.fail(f"{type(self).__name__}.samples() returned no sample")
        return samples

    def _record(self, registry: ExecutorRegistry) -> EntryPointRecord:
        name = self._executor_type()
        records = [r for r in registry.entries() if r.name == name]
        if self.distribution is not None:
            wanted = _normalize(self.distribution)
            records = [r for r in records if _normalize(r.dist) == wanted]
        where = f" by distribution {self.distribution}" if self.distribution else ""
        if not records:
            installed = ", ".join(f"{r.name} ({r.dist})" for r in registry.entries()) or "none"
            pytest.fail(f"no installed distribution declares the executor {name!r}{where} in "
                        f"the 'shimtask.executors' entry-point group (installed: {installed}); "
                        f"is the plugin pip-installed in this environment?")
        if len(records) > 1:
            pytest.fail(f"executor {name!r} is declared by more than one installed "
                        f"distribution: {', '.join(r.dist for r in records)}; set "
                        f"{type(self).__name__}.distribution to the one under test")
        return records[0]

    def _run(self, tt: TaskTemplate, inputs: Any, workdir: Path, **kwargs: Any
             ) -> ContainerResult:
        kwargs.setdefault("in_process", self.in_process)
        return run_container(tt, inputs, workdir=workdir, **kwargs)

    # --- the checks -------------------------------------------------------------------

    def test_entry_point_resolves_to_an_executor(self) -> None:
        """The installed distribution declares the entry point; it resolves to a subclass."""
        from importlib.metadata import distribution

        from shimtask_core import EXECUTOR_GROUP, ShimTaskExecutor

        registry = isolated_registry()
        record = self._record(registry)
        declared = [ep for ep in distribution(record.dist).entry_points
                    if ep.group == EXECUTOR_GROUP and ep.name == record.name]
        assert [ep.value for ep in declared] == [record.value], (
            f"distribution {record.dist}'s metadata declares {declared}, the registry read "
            f"{record.value}")
        cls = registry.resolve(record.name)
        assert isinstance(cls, type) and issubclass(cls, ShimTaskExecutor), (
            f"{record.value} is {cls!r}, not a ShimTaskExecutor subclass")

    def test_declared_versions_are_honoured(self, tmp_path: Path) -> None:
        """The API range contains this core's; a template version outside
        ``task_type_versions`` is refused with VersionMismatch before anything runs."""
        from shimtask_core import API_VERSION, VersionMismatch
        from shimtask_core.registry import class_requires_api, class_task_type_versions

        registry = isolated_registry()
        record = self._record(registry)
        cls = registry.resolve(record.name)
        for where, bounds in (("class", class_requires_api(record, cls)),
                              ("metadata", record.requires_api)):
            assert bounds is None or bounds[0] <= API_VERSION <= bounds[1], (
                f"the {where} declares API {bounds}, which excludes this core's {API_VERSION}")
        declared = class_task_type_versions(record, cls)  # as the registry reads the class
        in_class = frozenset(declared) if declared is not None else None
        in_metadata = (frozenset(record.task_type_versions)
                       if record.task_type_versions is not None else None)
        if in_class is not None and in_metadata is not None:
            assert in_class == in_metadata, (
                f"task_type_versions disagree: the class accepts {sorted(in_class)}, the "
                f"distribution's metadata {sorted(in_metadata)}; templates would be refused "
                f"before import that the class accepts, or the other way round")
        accepted = in_class if in_class is not None else in_metadata
        samples = self._samples(tmp_path / "samples")
        for sample in samples:
            version = sample.template.task_type_version
            assert accepted is None or version in accepted, (
                f"sample {sample.label} has task_type_version {version}, which the executor "
                f"does not accept ({sorted(accepted)}): fix the sample")
        sample = samples[0]
        other = _copy(sample.template)
        other.task_type_version = max([*(accepted or ()),
                                       *(s.template.task_type_version for s in samples)]) + 1
        result = self._run(other, sample.inputs, tmp_path / "runs")
        if accepted is None:  # "any version": a version no sample uses must run too
            assert result.ok, (
                f"the executor declares no task_type_versions (any), but a template of "
                f"version {other.task_type_version} failed: {result.error}")
            return
        with pytest.raises(VersionMismatch) as refused:
            registry.resolve(other)
        assert refused.value.kind == "task_type_version"
        assert result.error is not None, (
            f"task_type_version {other.task_type_version} is not among the declared "
            f"{sorted(accepted)}, yet the template ran")
        assert (result.error.origin, result.error.code) == ("USER", "VersionMismatch"), (
            result.error)
        assert str(other.task_type_version) in result.error.message

    def test_wrong_typed_input_is_a_user_error_naming_it(self, tmp_path: Path) -> None:
        """Each input, sent as a literal of the wrong type, is refused as a USER error that
        names it; the executor never sees the value."""
        from shimtask_core.literals.base import literal_kind
        from shimtask_core.literals.types import describe

        from .values import literal_map, wrong_literal

        samples = [s for s in self._samples(tmp_path / "samples")
                   if s.template.interface.inputs.variables]
        if not samples:
            pytest.skip("no sample declares an input")
        sample = samples[0]
        tried = 0
        for name, var in sorted(sample.template.interface.inputs.variables.items()):
            wrong = wrong_literal(var.type)
            if wrong is None:
                continue
            tried += 1
            literals = literal_map(sample.template, sample.inputs,
                                   data_dir=tmp_path / "inputs-data")
            literals.literals[name].CopyFrom(wrong)
            result = self._run(sample.template, literals, tmp_path / "runs")
            assert result.error is not None, (
                f"input {name!r} (declared {describe(var.type)}) was sent as "
                f"{literal_kind(wrong)} and the task succeeded, with outputs {result.outputs}: "
                f"the executor saw a value its declared type refuses")
            assert (result.error.origin, result.error.code) == ("USER", "ValueTypeError"), (
                f"input {name!r} of the wrong type: {result.error}")
            assert repr(name) in result.error.message, result.error.message
        if not tried:
            pytest.skip("every declared input accepts literals of any shape")

    def test_outputs_match_the_declared_interface(self, tmp_path: Path) -> None:
        """Every sample runs, writes exactly the declared outputs, each decodable by its
        declared type (and equal to ``expected`` where the sample gives it)."""
        for sample in self._samples(tmp_path / "samples"):
            result = self._run(sample.template, sample.inputs, tmp_path / "runs")
            outputs = result.unwrap()
            assert result.literals is not None
            declared = sorted(sample.template.interface.outputs.variables)
            assert sorted(result.literals.literals) == declared, (
                f"sample {sample.label}: outputs.pb holds {sorted(result.literals.literals)}, "
                f"the template declares {declared}")
            if sample.expected is not None:
                assert outputs == dict(sample.expected), f"sample {sample.label}"
            if sample.check is not None:
                sample.check(outputs)

    def test_writes_nothing_outside_the_output_prefixes(self, tmp_path: Path) -> None:
        """Run from a fresh working directory, HOME and TMPDIR: afterwards they, and the
        samples' own files, are exactly as before."""
        samples_dir = tmp_path / "samples"
        for index, sample in enumerate(self._samples(samples_dir)):
            root = tmp_path / f"isolation-{index}"
            cwd, home, tmp = root / "cwd", root / "home", root / "tmp"
            for directory in (cwd, home, tmp):
                directory.mkdir(parents=True)
            watched = {"working directory": cwd, "HOME": home, "TMPDIR": tmp,
                       "the samples' directory": samples_dir}
            before = {label: _snapshot(path) for label, path in watched.items()}
            env = {"HOME": str(home), "TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp),
                   "XDG_CACHE_HOME": str(home / ".cache"),
                   "XDG_CONFIG_HOME": str(home / ".config"),
                   "XDG_DATA_HOME": str(home / ".local" / "share")}
            result = run_container(sample.template, sample.inputs, workdir=root / "runs",
                                   env=env, cwd=cwd)
            result.unwrap()
            changes = []
            for label, path in watched.items():
                changes += [f"{label} {path}: {c}" for c in _diff(before[label], _snapshot(path))]
            assert not changes, (
                f"sample {sample.label} wrote outside its output prefixes:\n  "
                + "\n  ".join(changes))

    def test_executor_exception_becomes_a_user_error(self, tmp_path: Path) -> None:
        """What the executor raises ends as ``error.pb`` with the declared origin (USER),
        a non-zero exit, and no traceback on stderr."""
        workdir = tmp_path / "samples"
        workdir.mkdir()
        failing = list(self.failing_samples(workdir))
        if not failing:
            pytest.skip("failing_samples() returned none")
        for sample in failing:
            result = self._run(sample.template, sample.inputs, tmp_path / "runs")
            assert result.error is not None, (
                f"{sample.label}: expected the executor to fail, it returned {result.outputs}; "
                f"override failing_samples() with templates on which it fails")
            assert result.error.origin == sample.origin, f"{sample.label}: {result.error}"
            if sample.code is not None:
                assert result.error.code == sample.code, f"{sample.label}: {result.error}"
            if sample.message is not None:
                assert sample.message in result.error.message, f"{sample.label}: {result.error}"
            assert result.error.message.strip(), f"{sample.label}: error.pb has no message"
            if result.returncode is not None:
                assert result.returncode == 1, (
                    f"{sample.label}: exit status {result.returncode}\n{result.stderr}")
                assert "Traceback (most recent call last)" not in result.stderr, result.stderr

    def test_imports_no_other_executor_plugin(self, tmp_path: Path) -> None:
        """In a fresh interpreter, resolving this executor imports none of the modules of
        the other installed ``shimtask.executors`` plugins."""
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, self._executor_type(), self.distribution or ""],
            env=isolated_environ(tmp_path / "cache"), capture_output=True, text=True,
            check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert "error" not in report, f"resolving {self.executor_type!r}: {report.get('error')}"
        assert report["loaded"] == [], (
            f"resolving {self.executor_type!r} ({report['value']}) also imported other "
            f"executor plugins: {', '.join(report['loaded'])}")


_IMPORT_PROBE = """
import json, sys
from shimtask_core import ExecutorRegistry
name, dist = sys.argv[1], sys.argv[2]
registry = ExecutorRegistry(allow=["*"], deny=[], prefer={name: dist} if dist else {},
                            index=False)
try:
    registry.resolve(name)
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    raise SystemExit(0)
(mine,) = [r for r in registry.entries() if r.name == name and r.module in sys.modules][:1]
others = [r for r in registry.entries() if r.dist != mine.dist]
loaded = sorted({r.value for r in others if r.module in sys.modules})
print(json.dumps({"value": mine.value, "others": len(others), "loaded": loaded}))
"""


# --- helpers ---------------------------------------------------------------------------


def _normalize(dist: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def _copy(tt: TaskTemplate) -> TaskTemplate:
    copy = type(tt)()
    copy.CopyFrom(tt)
    return copy


def _snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: directories by name, files by size and content hash
    (modification times of directories change when a temporary file comes and goes)."""
    entries: dict[str, str] = {}
    if not root.exists():
        return entries
    for base, dirs, files in os.walk(root):
        for name in dirs:
            entries[os.path.relpath(os.path.join(base, name), root)] = "directory"
        for name in files:
            path = os.path.join(base, name)
            entries[os.path.relpath(path, root)] = _fingerprint(path)
    return entries


def _fingerprint(path: str) -> str:
    if os.path.islink(path):
        return f"link to {os.readlink(path)}"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"file of {os.path.getsize(path)} bytes, sha256 {digest.hexdigest()[:16]}"


def _diff(before: Mapping[str, str], after: Mapping[str, str]) -> Iterable[str]:
    for path in sorted(set(before) | set(after)):
        if path not in before:
            yield f"created {path} ({after[path]})"
        elif path not in after:
            yield f"removed {path}"
        elif before[path] != after[path]:
            yield f"changed {path}"
