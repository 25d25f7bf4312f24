"""Discovery and resolution of executor plugins.

One module per part: :mod:`.registry` (``ExecutorRegistry``, the conflict
rule), :mod:`.policy` (allow/deny/prefer), :mod:`.checks` (what a plugin must
pass, shared with the doctor), :mod:`.discovery` (entry points read from
metadata), :mod:`.index` (the persisted index), :mod:`.hooks` (the pluggy
manager of hook plugins), :mod:`.doctor` (isolated import checks) and
:mod:`.naming` (what a template names). Nothing here imports the literal codec.
"""

from typing import TYPE_CHECKING, Any

from .checks import class_requires_api, class_task_type_versions, load_entry_point
from .discovery import EXECUTOR_GROUP, PLUGIN_GROUP, EntryPointRecord
from .naming import EXECUTOR_TYPE_FIELD, executor_type_of
from .policy import ALLOW_ENV, DENY_ENV, PREFER_ENV, Policy
from .registry import (
    DOCTOR_TIMEOUT,
    IN_PROCESS,
    ExecutorRegistry,
    Resolution,
    default_registry,
)

if TYPE_CHECKING:
    from .doctor import DoctorReport


def __getattr__(name: str) -> Any:
    if name == "DoctorReport":  # the doctor's machinery loads only when a doctor runs
        from .doctor import DoctorReport

        return DoctorReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALLOW_ENV",
    "DENY_ENV",
    "DOCTOR_TIMEOUT",
    "EXECUTOR_GROUP",
    "EXECUTOR_TYPE_FIELD",
    "IN_PROCESS",
    "PLUGIN_GROUP",
    "PREFER_ENV",
    "DoctorReport",
    "EntryPointRecord",
    "ExecutorRegistry",
    "Policy",
    "Resolution",
    "class_requires_api",
    "class_task_type_versions",
    "default_registry",
    "executor_type_of",
    "load_entry_point",
]
