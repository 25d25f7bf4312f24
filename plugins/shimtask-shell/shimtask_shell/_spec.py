"""The template's ``custom`` field, read and checked before anything runs.

A placeholder (``{{ .inputs.x }}``, ``{{ .outputs.y }}``) must be a *whole*
argument, environment value or ``cwd``: the executor then replaces the whole
string by a value, and no character of an input can ever be read as syntax.
A placeholder inside a longer string is refused rather than pasted, because
pasting is where quoting bugs and injections come from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, final

from flyteidl.core import types_pb2

from shimtask_core import TemplateError, custom_of

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

# flytekit's placeholder form, with the dots taken literally.
_PLACEHOLDER: Final = re.compile(r"\{\{\s*\.(inputs|outputs)\.(\w+)\s*\}\}", re.IGNORECASE)
# Something a user meant as a placeholder but mistyped ({{ inputs.x }}, {{ .inputs.x.y }}).
_LOOKS_LIKE: Final = re.compile(r"\{\{[^{}]*\b(?:inputs|outputs)\b[^{}]*\}\}", re.IGNORECASE)

KNOWN_KEYS: Final = ("argv", "env", "cwd", "timeout", "kill_after", "stdout")
DEFAULT_KILL_AFTER: Final = 5.0

OutputKind = Literal["file", "directory", "str", "int", "float", "bool", "datetime", "duration"]
Where = Literal["argv", "env", "cwd"]

_SIMPLE: Final[dict[int, OutputKind]] = {
    types_pb2.STRING: "str",
    types_pb2.INTEGER: "int",
    types_pb2.FLOAT: "float",
    types_pb2.BOOLEAN: "bool",
    types_pb2.DATETIME: "datetime",
    types_pb2.DURATION: "duration",
}
_BLOB_KINDS: Final[dict[int, OutputKind]] = {
    types_pb2.BlobType.SINGLE: "file",
    types_pb2.BlobType.MULTIPART: "directory",
}
SUPPORTED_OUTPUTS: Final = ("File", "Directory", "str", "int", "float", "bool", "datetime",
                            "timedelta")


@final
@dataclass(frozen=True)
class Ref:
    """A whole-string placeholder: ``{{ .inputs.name }}`` or ``{{ .outputs.name }}``."""

    kind: Literal["inputs", "outputs"]
    name: str


Part = str | Ref
"""One argument, environment value or cwd: literal text or a placeholder."""


@final
@dataclass(frozen=True)
class ShellSpec:
    """A checked shell template: what to run and where each output comes from."""

    argv: tuple[Part, ...]
    env: tuple[tuple[str, Part], ...]
    cwd: Part | None
    timeout: float | None
    kill_after: float
    stdout: str | None
    outputs: Mapping[str, OutputKind]
    source: str | None

    @classmethod
    def from_template(cls, tt: TaskTemplate) -> ShellSpec:
        """Read and check ``custom`` against the interface; raises TemplateError."""
        source = tt.id.name or None
        custom = custom_of(tt)
        unknown = sorted(set(custom) - {*KNOWN_KEYS, "executor_type"})
        if unknown:
            raise TemplateError(
                f"unknown custom key(s) {', '.join(map(repr, unknown))} for the shell "
                f"executor; it reads {', '.join(KNOWN_KEYS)}", source=source)
        inputs = tt.interface.inputs.variables
        outputs = {name: _output_kind(name, var.type, source)
                   for name, var in tt.interface.outputs.variables.items()}
        reader = _Reader(inputs, outputs, source)

        argv = tuple(reader.part(item, f"['argv'][{i}]", "argv")
                     for i, item in enumerate(_argv_list(custom.get("argv"), source)))
        env = tuple((key, reader.part(value, f"['env'][{key!r}]", "env"))
                    for key, value in _env_mapping(custom.get("env"), source))
        raw_cwd = custom.get("cwd")
        cwd = None if raw_cwd is None else reader.part(raw_cwd, "['cwd']", "cwd")
        stdout = _stdout_output(custom.get("stdout"), outputs, source)
        timeout = _seconds(custom.get("timeout"), "timeout", source)
        kill_after = _seconds(custom.get("kill_after"), "kill_after", source)

        if stdout is not None and stdout in reader.outputs_used:
            raise TemplateError(
                f"output {stdout!r} is captured from stdout (custom['stdout']), so it cannot "
                f"also be a path in argv, env or cwd", source=source)
        unwritten = sorted(set(outputs) - reader.outputs_used - {stdout})
        if unwritten:
            raise TemplateError(
                f"the template declares output(s) {', '.join(map(repr, unwritten))} but "
                f"nothing tells the command where to write them: pass "
                f"{{{{ .outputs.{unwritten[0]} }}}} as an argument or environment value, "
                f"or capture a str output with custom['stdout']", source=source)
        return cls(argv=argv, env=env, cwd=cwd, timeout=timeout,
                   kill_after=DEFAULT_KILL_AFTER if kill_after is None else kill_after,
                   stdout=stdout, outputs=outputs, source=source)


class _Reader:
    """Turns strings into Parts, checking every placeholder against the interface."""

    def __init__(self, inputs: Mapping[str, Any], outputs: Mapping[str, OutputKind],
                 source: str | None) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.source = source
        self.outputs_used: set[str] = set()

    def part(self, text: Any, label: str, where: Where) -> Part:
        if not isinstance(text, str):
            raise TemplateError(
                f"custom{label} must be a string, not {type(text).__name__} {text!r}: "
                f"write numbers as strings (\"4\", not 4)", source=self.source)
        match = _PLACEHOLDER.fullmatch(text)
        if match is None:
            if _PLACEHOLDER.search(text):
                raise TemplateError(
                    f"custom{label} = {text!r} puts a placeholder inside a longer string; "
                    f"a placeholder must be the whole {_WHOLE[where]}, so that no input is "
                    f"ever pasted into text: write '--n={{{{ .inputs.n }}}}' as two "
                    f"arguments '--n', '{{{{ .inputs.n }}}}' (most programs accept that), "
                    f"or pass the value in an environment variable", source=self.source)
            if _LOOKS_LIKE.search(text):
                raise TemplateError(
                    f"custom{label} = {text!r} looks like a placeholder but is not one; "
                    f"write {{{{ .inputs.NAME }}}} or {{{{ .outputs.NAME }}}}",
                    source=self.source)
            return text
        ref = Ref("inputs" if match[1].lower() == "inputs" else "outputs", match[2])
        if ref.kind == "inputs":
            self._check_input(ref.name, label, where)
        else:
            self._check_output(ref.name, label, where)
        return ref

    def _check_input(self, name: str, label: str, where: Where) -> None:
        var = self.inputs.get(name)
        if var is None:
            raise TemplateError(
                f"custom{label} names input {name!r}, which the template does not declare; "
                f"it declares: {', '.join(sorted(self.inputs)) or '(no inputs)'}",
                source=self.source)
        problem = _input_problem(var.type, many=where == "argv")
        if problem:
            raise TemplateError(f"custom{label}: input {name!r} {problem}", source=self.source)

    def _check_output(self, name: str, label: str, where: Where) -> None:
        kind = self.outputs.get(name)
        if kind is None:
            raise TemplateError(
                f"custom{label} names output {name!r}, which the template does not declare; "
                f"it declares: {', '.join(sorted(self.outputs)) or '(no outputs)'}",
                source=self.source)
        if where == "cwd" and kind != "directory":
            raise TemplateError(
                f"custom['cwd'] names output {name!r}, {_a(kind)}; only a Directory output can be "
                f"the working directory", source=self.source)
        self.outputs_used.add(name)


_WHOLE: Final[dict[Where, str]] = {
    "argv": "argument", "env": "environment value", "cwd": "working directory"}


def _input_problem(lt: types_pb2.LiteralType, *, many: bool) -> str | None:
    """Why an input of this type cannot be passed as text here, or None if it can."""
    kind = lt.WhichOneof("type")
    if kind in ("simple", "blob", "enum_type"):
        if kind == "simple" and lt.simple not in _SIMPLE:
            return (f"has type {types_pb2.SimpleType.Name(lt.simple).lower()}, which has no "
                    f"text form; pass it in a file")
        if kind == "blob" and lt.blob.dimensionality not in _BLOB_KINDS:
            return "is a blob of unknown dimensionality"
        return None
    if kind == "union_type":  # Optional[T]: its value may still be None, refused when it is
        for variant in lt.union_type.variants:
            if variant.WhichOneof("type") == "simple" and variant.simple == types_pb2.NONE:
                continue
            problem = _input_problem(variant, many=many)
            if problem:
                return problem
        return None
    if kind == "collection_type":
        if not many:
            return ("is a list; a list can only be a whole argument in argv (one argument "
                    "per element), not an environment value or cwd")
        inner = lt.collection_type
        if inner.WhichOneof("type") == "collection_type":
            return "is a list of lists, which has no flat text form; pass it in a file"
        return _input_problem(inner, many=False)
    return (f"has type {kind or 'unknown'}, which has no text form; pass structured data in "
            f"a file (a File input) instead")


def _output_kind(name: str, lt: types_pb2.LiteralType, source: str | None) -> OutputKind:
    kind = lt.WhichOneof("type")
    found: OutputKind | None = None
    if kind == "simple":
        found = _SIMPLE.get(lt.simple)
    elif kind == "blob":
        found = _BLOB_KINDS.get(lt.blob.dimensionality)
    if found is None:
        raise TemplateError(
            f"output {name!r} has type {kind or 'unknown'}, which a command cannot write; "
            f"the shell executor returns {', '.join(SUPPORTED_OUTPUTS)} outputs", source=source)
    return found


def _argv_list(value: Any, source: str | None) -> list[Any]:
    if isinstance(value, str):
        raise TemplateError(
            f"custom['argv'] is the string {value!r}; it must be a list of arguments, such as "
            f"[\"wc\", \"-l\", \"{{{{ .inputs.path }}}}\"]: the shell executor never runs a "
            f"shell command line (to use a shell on purpose, write [\"sh\", \"-c\", ...])",
            source=source)
    if not isinstance(value, list) or not value:
        raise TemplateError(
            f"custom['argv'] must be a non-empty list of strings (the program and its "
            f"arguments), got {value!r}", source=source)
    return value


def _env_mapping(value: Any, source: str | None) -> list[tuple[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise TemplateError(f"custom['env'] must map names to strings, got {value!r}",
                            source=source)
    for key in value:
        if not key or "=" in key or "\0" in key:
            raise TemplateError(f"custom['env'] has an invalid variable name {key!r}",
                                source=source)
    return list(value.items())


def _stdout_output(value: Any, outputs: Mapping[str, OutputKind],
                   source: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in outputs:
        raise TemplateError(
            f"custom['stdout'] must name a declared str output to capture the command's "
            f"stdout into, got {value!r}; outputs: {', '.join(sorted(outputs)) or '(none)'}",
            source=source)
    if outputs[value] != "str":
        raise TemplateError(
            f"custom['stdout'] names output {value!r}, {_a(outputs[value])}; only a str output "
            f"can hold the captured stdout", source=source)
    return value


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _seconds(value: Any, key: str, source: str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise TemplateError(f"custom[{key!r}] must be a positive number of seconds, got "
                            f"{value!r}", source=source)
    return float(value)
