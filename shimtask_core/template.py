"""Task templates: reading them, building them without flytekit, and what they name.

A template is a flyteidl ``TaskTemplate``. It arrives as protobuf bytes
(what Flyte mounts at ``{{.taskTemplatePath}}``) or as protobuf-JSON (what
people write and review by hand); :func:`make_template` builds one from
Python types so that no flytekit is needed to author a shim task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flyteidl.core import identifier_pb2, interface_pb2, tasks_pb2
from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError

from .errors import TemplateError
from .registry.naming import EXECUTOR_TYPE_FIELD, executor_type_of

TaskTemplate = tasks_pb2.TaskTemplate

__all__ = [
    "EXECUTOR_TYPE_FIELD",
    "TaskTemplate",
    "container_args",
    "custom_of",
    "executor_type_of",
    "make_template",
    "output_names",
    "parse_template",
    "template_to_json",
]


def parse_template(data: bytes, *, source: str = "template") -> tasks_pb2.TaskTemplate:
    """Parse a template from protobuf bytes or protobuf-JSON text.

    The form is the file's: a ``.json`` name, or text that starts like JSON (after a
    byte-order mark: editors on Windows write UTF-8 with one, and Windows PowerShell's
    ``>`` writes UTF-16), is JSON, and JSON that is not valid says where (line and
    column); anything else is protobuf.
    """
    data = _as_utf8(data)
    stripped = data.lstrip()
    json_error: TemplateError | None = None
    if source.lower().endswith(".json"):
        return _parse_json_template(data, source)
    if stripped[:1] == b"{":
        try:
            return _parse_json_template(data, source)
        except TemplateError as exc:  # protobuf bytes may start like this too: try them
            json_error = exc
    tt = TaskTemplate()
    try:
        tt.ParseFromString(data)
    except DecodeError as exc:
        if json_error is not None:
            raise json_error from None
        wrapped = _template_of_task_spec(data)
        if wrapped is not None:
            return wrapped
        raise TemplateError(f"not a TaskTemplate protobuf: {exc}; a template file is a "
                            f"serialized TaskTemplate (.pb) or its protobuf-JSON (.json)",
                            source=source) from None
    if _has_unknown_fields(tt.id):  # a TaskTemplate's own bytes were read as its id
        wrapped = _template_of_task_spec(data)
        if wrapped is not None:
            return wrapped
    if not data or (not tt.id.name and not tt.type):
        raise json_error or TemplateError("the template has neither a type nor an id; is "
                                          "this a TaskTemplate file?", source=source)
    return tt


_UTF8_BOM = b"\xef\xbb\xbf"
#: The other byte-order marks JSON text may start with, longest first (UTF-32-LE's
#: starts with UTF-16-LE's).
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
              (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _as_utf8(data: bytes) -> bytes:
    """``data`` without a UTF-8 byte-order mark, and UTF-16 or UTF-32 text with a mark
    as UTF-8; anything else (protobuf bytes among it) as it is."""
    if data.startswith(_UTF8_BOM):
        return data[len(_UTF8_BOM):]
    for bom, codec in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)  # the codec reads the mark and drops it
            except UnicodeDecodeError:
                return data
            return text.encode("utf-8") if text.lstrip()[:1] == "{" else data
    return data


def _template_of_task_spec(data: bytes) -> tasks_pb2.TaskTemplate | None:
    """The template inside a ``flyteidl.admin.TaskSpec`` (the files ``pyflyte package``
    writes, ``<n>_<name>_1.pb``), or None if ``data`` is not one."""
    from flyteidl.admin import task_pb2  # only for such a file

    spec = task_pb2.TaskSpec()
    try:
        spec.ParseFromString(data)
    except DecodeError:
        return None
    if not spec.template.type or _has_unknown_fields(spec) or _has_unknown_fields(
            spec.template):
        return None
    return spec.template


def _has_unknown_fields(message: Any) -> bool:
    try:
        from google.protobuf.unknown_fields import UnknownFieldSet
    except ImportError:  # pragma: no cover - protobuf < 4.22
        return bool(message.UnknownFields())
    return len(UnknownFieldSet(message)) > 0


def _parse_json_template(data: bytes, source: str) -> tasks_pb2.TaskTemplate:
    import json  # only for the JSON form

    from google.protobuf import json_format

    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TemplateError(f"not UTF-8 text, so not a protobuf-JSON template: {exc}",
                            source=source) from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"not valid JSON: {exc.msg} at line {exc.lineno} column "
                            f"{exc.colno}", source=source) from None
    except RecursionError:  # json recurses per level: "[[[[..." 100,000 deep (a fuzzer's)
        raise TemplateError("JSON nested deeper than a TaskTemplate can be (protobuf reads "
                            "at most 100 levels)", source=source) from None
    if (isinstance(document, dict) and isinstance(document.get("template"), dict)
            and set(document) <= {"template", "description"}):
        document = document["template"]  # a flyteidl.admin.TaskSpec: its template
    if not isinstance(document, dict):
        raise TemplateError(f"expected a JSON object (a TaskTemplate in protobuf-JSON form), "
                            f"got a JSON {type(document).__name__}", source=source)
    try:
        return json_format.ParseDict(document, TaskTemplate())
    except json_format.ParseError as exc:  # its list of fields is on a second line
        fields = {n for f in TaskTemplate.DESCRIPTOR.fields for n in (f.name, f.json_name)}
        swapped = ("; none of its keys is a TaskTemplate field: if these are inputs, "
                   "'shimtask run TEMPLATE --inputs-json FILE' takes them"
                   if not fields.intersection(document) else "")
        raise TemplateError(f"not a TaskTemplate in protobuf-JSON form: "
                            f"{' '.join(str(exc).split())}{swapped}", source=source) from None


def custom_of(tt: tasks_pb2.TaskTemplate) -> dict[str, Any]:
    """The template's ``custom`` field as a dict, integral numbers read back as ``int``.

    flytekit's own reading gives floats (``5`` becomes ``5.0``), because a
    protobuf Struct stores every number as a double.
    """
    from .literals.structs import struct_to_python  # for executors that read custom

    return struct_to_python(tt.custom) if tt.HasField("custom") else {}


def container_args(template_path: str = "{{.taskTemplatePath}}") -> list[str]:
    """The container arguments with which Flyte runs a template through ``shimtask execute``."""
    return [
        "shimtask", "execute",
        "--inputs", "{{.input}}",
        "--output-prefix", "{{.outputPrefix}}",
        "--raw-output-data-prefix", "{{.rawOutputDataPrefix}}",
        "--checkpoint-path", "{{.checkpointOutputPrefix}}",
        "--prev-checkpoint", "{{.prevCheckpointPrefix}}",
        "--template", template_path,
    ]  # fmt: skip


def make_template(
    name: str,
    executor_type: str,
    *,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = None,
    custom: Mapping[str, Any] | None = None,
    task_type: str | None = None,
    version: str = "0.0.0",
    task_type_version: int = 0,
    image: str | None = None,
    project: str = "",
    domain: str = "",
    descriptions: Mapping[str, str] | None = None,
) -> tasks_pb2.TaskTemplate:
    """Build a runnable template from Python types, without flytekit.

    ``inputs``/``outputs`` map names to Python types (``int``, ``list[float]``,
    ``dict[str, int]``, ``dict`` for a generic...) or to flyteidl ``LiteralType``.
    ``custom`` is copied and gets ``executor_type``. With ``image``, the template
    carries a container that runs ``shimtask execute`` (for a Flyte cluster).
    """
    descriptions = descriptions or {}
    body = dict(custom or {})
    body[EXECUTOR_TYPE_FIELD] = executor_type
    struct = struct_pb2.Struct()
    try:
        struct.update(body)
    except (ValueError, TypeError) as exc:
        raise TemplateError(f"custom must hold only JSON values: {exc}", source=name) from None
    tt = TaskTemplate(
        id=identifier_pb2.Identifier(
            resource_type=identifier_pb2.TASK,
            project=project,
            domain=domain,
            name=name,
            version=version,
        ),
        type=task_type or executor_type,
        task_type_version=task_type_version,
        interface=interface_pb2.TypedInterface(
            inputs=_variable_map(inputs or {}, descriptions),
            outputs=_variable_map(outputs or {}, descriptions),
        ),
        custom=struct,
    )
    tt.metadata.runtime.type = tt.metadata.runtime.OTHER
    tt.metadata.runtime.flavor = "shimtask"
    if image is not None:
        tt.container.image = image
        tt.container.args.extend(container_args())
    return tt


def _variable_map(
    types: Mapping[str, Any], descriptions: Mapping[str, str]
) -> interface_pb2.VariableMap:
    from .literals import literal_type_of  # building templates only, not executing them

    return interface_pb2.VariableMap(
        variables={
            name: interface_pb2.Variable(
                type=literal_type_of(py_type), description=descriptions.get(name, name)
            )
            for name, py_type in types.items()
        }
    )


def template_to_json(tt: tasks_pb2.TaskTemplate) -> str:
    """The protobuf-JSON form that ``shimtask run`` reads back."""
    from google.protobuf import json_format

    return json_format.MessageToJson(tt, indent=2, sort_keys=True)


def output_names(tt: tasks_pb2.TaskTemplate) -> Sequence[str]:
    """The declared output names, sorted (for display only; mapping is always by name)."""
    return sorted(tt.interface.outputs.variables)
