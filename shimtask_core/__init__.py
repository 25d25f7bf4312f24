"""shimtask: run Flyte task templates without their Python source.

The public API; plugins import only these names.
"""

from typing import TYPE_CHECKING, Any

from .context import ExecutionContext
from .discovery import EXECUTOR_GROUP, PLUGIN_GROUP, EntryPointRecord
from .errors import (
    ExecutorConflict,
    ExecutorDenied,
    ExecutorFailed,
    ExecutorNotFound,
    MissingInput,
    OutputMismatch,
    PluginLoadError,
    ShimTaskError,
    StorageError,
    TemplateError,
    UnexpectedInput,
    UnsupportedType,
    UsageError,
    ValueTypeError,
    VersionMismatch,
)
from .executor import ShimTaskExecutor
from .hookspecs import hookimpl, hookspec
from .registry import ExecutorRegistry, default_registry
from .task import ExecutableTemplateShimTask, run_template
from .template import custom_of, executor_type_of, make_template, parse_template, template_to_json

if TYPE_CHECKING:
    from .files import Directory, File
    from .sqltemplate import PARAMSTYLES, Paramstyle, compile_query, placeholder_names

_LAZY = {  # names loaded on first use: some executors need them, `shimtask execute` does not
    "Directory": "files",
    "File": "files",
    "PARAMSTYLES": "sqltemplate",
    "Paramstyle": "sqltemplate",
    "compile_query": "sqltemplate",
    "placeholder_names": "sqltemplate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shimtask_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value

__version__ = "0.1.0"

#: The plugin API version; executors declare the range they need in ``requires_api``.
API_VERSION = 1

__all__ = [
    "API_VERSION",
    "EXECUTOR_GROUP",
    "PARAMSTYLES",
    "PLUGIN_GROUP",
    "Directory",
    "EntryPointRecord",
    "ExecutableTemplateShimTask",
    "ExecutionContext",
    "ExecutorConflict",
    "ExecutorDenied",
    "ExecutorFailed",
    "ExecutorNotFound",
    "ExecutorRegistry",
    "File",
    "MissingInput",
    "OutputMismatch",
    "Paramstyle",
    "PluginLoadError",
    "ShimTaskError",
    "ShimTaskExecutor",
    "StorageError",
    "TemplateError",
    "UnexpectedInput",
    "UnsupportedType",
    "UsageError",
    "ValueTypeError",
    "VersionMismatch",
    "__version__",
    "compile_query",
    "custom_of",
    "default_registry",
    "executor_type_of",
    "hookimpl",
    "hookspec",
    "make_template",
    "parse_template",
    "placeholder_names",
    "run_template",
    "template_to_json",
]
