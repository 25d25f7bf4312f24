"""shimtask: run Flyte task templates without their Python source.

The public API; plugins import only these names. Each is imported on first use
(PEP 562), from the one table ``_LAZY`` below: ``from shimtask_core import
ShimTaskExecutor`` loads the executor base class and nothing else, and
``shimtask --version`` loads neither protobuf, flyteidl nor pluggy.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_dir, lazy_getattr
from .version import API_VERSION, __version__

if TYPE_CHECKING:
    from . import errors as errors
    from . import hookspecs as hookspecs
    from .context import ExecutionContext
    from .datasets import DatasetRef, import_pyarrow
    from .errors import (
        ExecutorConflict,
        ExecutorDenied,
        ExecutorFailed,
        ExecutorNotFound,
        LimitExceeded,
        MissingDependency,
        MissingInput,
        OutputMismatch,
        PluginLoadError,
        ServiceUnavailable,
        ShimTaskError,
        ShimTaskWarning,
        StorageError,
        TemplateError,
        UnexpectedInput,
        UnsupportedType,
        UsageError,
        ValueTypeError,
        VersionMismatch,
    )
    from .executor import ShimTaskExecutor
    from .files import Directory, File
    from .hookspecs import hookimpl, hookspec
    from .interrupts import interrupt_thread, interruptible
    from .registry import (
        EXECUTOR_GROUP,
        PLUGIN_GROUP,
        EntryPointRecord,
        ExecutorRegistry,
        default_registry,
        executor_type_of,
    )
    from .sqltemplate import PARAMSTYLES, Paramstyle, compile_query, placeholder_names
    from .storage import local_path, open_uri
    from .task import ExecutableTemplateShimTask, run_template
    from .template import custom_of, make_template, parse_template, template_to_json

#: public name -> the submodule (relative) that defines it; a name equal to its
#: module's is the module itself. One line per name.
_LAZY = {
    "DatasetRef": "datasets",
    "import_pyarrow": "datasets",
    "interrupt_thread": "interrupts",
    "interruptible": "interrupts",
    "Directory": "files",
    "EXECUTOR_GROUP": "registry",
    "EntryPointRecord": "registry",
    "ExecutableTemplateShimTask": "task",
    "ExecutionContext": "context",
    "ExecutorConflict": "errors",
    "ExecutorDenied": "errors",
    "ExecutorFailed": "errors",
    "ExecutorNotFound": "errors",
    "ExecutorRegistry": "registry",
    "File": "files",
    "LimitExceeded": "errors",
    "MissingDependency": "errors",
    "MissingInput": "errors",
    "OutputMismatch": "errors",
    "PARAMSTYLES": "sqltemplate",
    "PLUGIN_GROUP": "registry",
    "Paramstyle": "sqltemplate",
    "PluginLoadError": "errors",
    "ShimTaskError": "errors",
    "ShimTaskExecutor": "executor",
    "ShimTaskWarning": "errors",
    "ServiceUnavailable": "errors",
    "StorageError": "errors",
    "TemplateError": "errors",
    "UnexpectedInput": "errors",
    "UnsupportedType": "errors",
    "UsageError": "errors",
    "ValueTypeError": "errors",
    "VersionMismatch": "errors",
    "compile_query": "sqltemplate",
    "custom_of": "template",
    "default_registry": "registry",
    "errors": "errors",
    "executor_type_of": "registry",
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
    "hookspecs": "hookspecs",
    "local_path": "storage",
    "make_template": "template",
    "open_uri": "storage",
    "parse_template": "template",
    "placeholder_names": "sqltemplate",
    "run_template": "task",
    "template_to_json": "template",
}

__getattr__ = lazy_getattr(__name__, _LAZY, globals())
__dir__ = lazy_dir(_LAZY, globals())


__all__ = [
    "API_VERSION",
    "EXECUTOR_GROUP",
    "PARAMSTYLES",
    "PLUGIN_GROUP",
    "DatasetRef",
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
    "LimitExceeded",
    "MissingDependency",
    "MissingInput",
    "OutputMismatch",
    "Paramstyle",
    "PluginLoadError",
    "ServiceUnavailable",
    "ShimTaskError",
    "ShimTaskExecutor",
    "ShimTaskWarning",
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
    "import_pyarrow",
    "interrupt_thread",
    "interruptible",
    "local_path",
    "make_template",
    "open_uri",
    "parse_template",
    "placeholder_names",
    "run_template",
    "template_to_json",
]
