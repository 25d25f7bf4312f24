"""What a template names: the one field the registry reads from a ``TaskTemplate``.

Reading ``custom["executor_type"]`` is a look-up in the template's protobuf
``Struct``; it needs neither the literal codec nor any flyteidl module of its
own (the template object already carries its classes), so discovery stays
free of both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import TemplateError

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate

EXECUTOR_TYPE_FIELD = "executor_type"

#: The distribution that provides each executor type shipped with shimtask (its
#: plugins/ directory), as data: a template naming one that is not installed gets the
#: ``pip install`` to run, as fsspec names the package of a missing protocol.
KNOWN_PROVIDERS = {
    "duckdb": "shimtask-duckdb",
    "shell": "shimtask-shell",
    "sqlalchemy": "shimtask-sqlalchemy",
    "sqlite": "shimtask-sqlite3",
}

#: Task types whose templates carry no executor at all: what to tell a user who runs one.
NOT_EXECUTORS = {
    "python-task": "A 'python-task' template runs the task's own Python code, which lives "
                   "in the task's image and runs through flytekit's pyflyte-execute; "
                   "shimtask runs templates that name an executor plugin",
}


def executor_type_of(tt: TaskTemplate) -> str:
    """The executor type a template names: ``custom["executor_type"]``, else its ``type``.

    flytekit's templates carry no ``executor_type``, and their ``type`` (``sqlite``
    for a ``SQLite3Task``) is the name a plugin registers to run them unchanged.
    """
    if tt.HasField("custom"):
        value = tt.custom.fields.get(EXECUTOR_TYPE_FIELD)
        if value is not None:
            if value.WhichOneof("kind") != "string_value" or not value.string_value:
                raise TemplateError(
                    f"custom[{EXECUTOR_TYPE_FIELD!r}] must be a non-empty string naming the "
                    f"executor, not {_shown(value)}",
                    source=tt.id.name or None,
                )
            return str(value.string_value)
    if tt.type:
        return str(tt.type)
    raise TemplateError(
        f"the template names no executor: set custom[{EXECUTOR_TYPE_FIELD!r}] or its type",
        source=tt.id.name or None,
    )


def _shown(value: Any) -> str:
    """A ``Struct`` value as JSON for an error message; JSON has no NaN or infinity, so
    such a value (a fuzzer found one) is shown in protobuf's text form instead."""
    from google.protobuf import json_format, text_format  # only to show a bad value

    try:
        return str(json_format.MessageToJson(value, indent=None))
    except (json_format.SerializeToJsonError, ValueError):
        return str(text_format.MessageToString(value, as_one_line=True))
