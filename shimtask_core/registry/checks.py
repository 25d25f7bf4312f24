"""The checks a plugin must pass, shared by the registry and the doctor.

An entry point is imported by :func:`load_entry_point` (any failure becomes a
:class:`PluginLoadError` naming the distribution), must be a
``ShimTaskExecutor`` subclass with well-formed declarations
(:func:`validate_executor`), and must accept this core's ``API_VERSION`` and the
template's ``task_type_version``: first as the distribution's metadata declares
them (:func:`check_declared`, before any import), then as its class does
(:func:`check_class`). Both the registry and the doctor call exactly these, so
``shimtask plugins doctor`` reports what ``resolve()`` would do.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import version
from ..errors import PluginLoadError, Terminated, VersionMismatch
from ..executor import ShimTaskExecutor
from .discovery import EntryPointRecord

if TYPE_CHECKING:
    from flyteidl.core.tasks_pb2 import TaskTemplate


def load_entry_point(record: EntryPointRecord) -> Any:
    """Import ``module:attr`` of one entry point; any failure becomes PluginLoadError.

    A plugin may raise anything at import, SyntaxError and SystemExit included;
    only KeyboardInterrupt and Terminated (a stop signal arriving during the import,
    which is no fault of the plugin) pass through.
    """
    try:
        obj: Any = importlib.import_module(record.module)
        for part in filter(None, record.attr.split(".")):
            obj = getattr(obj, part)
    except (KeyboardInterrupt, Terminated):
        raise
    except BaseException as exc:
        raise PluginLoadError(record.name, record.value, record.dist, record.version,
                              exc) from exc
    return obj


def load_error(record: EntryPointRecord, cause: BaseException | str) -> PluginLoadError:
    """The PluginLoadError of ``record``: every failure of a plugin names its entry point
    and distribution the same way."""
    return PluginLoadError(record.name, record.value, record.dist, record.version, cause)


# --- reading the declarations ------------------------------------------------------------


def describe_range(bounds: Sequence[int] | None, missing: str = "-") -> str:
    """``(1, 2)`` -> ``"1..2"``, ``(1, 1)`` -> ``"1"``: the form of ``shimtask-api=``."""
    if bounds is None:
        return missing
    return str(bounds[0]) if bounds[0] == bounds[1] else f"{bounds[0]}..{bounds[1]}"


def describe_versions(versions: Sequence[int] | None, missing: str = "-", *,
                      sep: str = ", ") -> str:
    """``(0, 1, 4)`` -> ``"0, 1, 4"`` (a table passes ``sep=","`` to keep one column)."""
    if versions is None:
        return missing
    return sep.join(map(str, versions)) if versions else "(none)"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def class_requires_api(record: EntryPointRecord, cls: type[Any]) -> tuple[int, int] | None:
    """``cls.requires_api`` as ``(min, max)`` (an int N means ``(N, N)``); PluginLoadError
    if it is malformed."""
    value = getattr(cls, "requires_api", None)
    if value is None:
        return None
    if _is_int(value):
        return (value, value)
    if (isinstance(value, tuple | list) and len(value) == 2 and all(map(_is_int, value))
            and value[0] <= value[1]):
        return (value[0], value[1])
    raise load_error(record, f"{cls.__qualname__}.requires_api must be a (min, max) pair of "
                             f"integers, not {value!r}")


def class_task_type_versions(record: EntryPointRecord, cls: type[Any]) -> tuple[int, ...] | None:
    """``cls.task_type_versions`` as a sorted tuple (None: any); PluginLoadError if it is
    malformed."""
    value = getattr(cls, "task_type_versions", None)
    if value is None:
        return None
    if _is_int(value):
        return (value,)
    try:
        items = tuple(sorted(set(value)))
    except TypeError:
        items = None
    if items is None or not all(map(_is_int, items)):
        raise load_error(record, f"{cls.__qualname__}.task_type_versions must be a set of "
                                 f"integers or None, not {value!r}")
    return items


def validate_executor(record: EntryPointRecord, obj: Any) -> type[ShimTaskExecutor[Any]]:
    """The entry point's object as an executor class, with well-formed declarations."""
    if not (isinstance(obj, type) and issubclass(obj, ShimTaskExecutor)):
        what = f"{type(obj).__name__} instance" if not isinstance(obj, type) else f"class {obj}"
        raise load_error(
            record, f"{record.value} is a {what}, not a shimtask_core.ShimTaskExecutor subclass")
    class_requires_api(record, obj)
    class_task_type_versions(record, obj)
    return obj


# --- the version checks --------------------------------------------------------------------


def check_api(record: EntryPointRecord, bounds: tuple[int, int] | None, declared_in: str
              ) -> None:
    """VersionMismatch unless ``bounds`` (None: any) contains this core's API_VERSION."""
    api = version.API_VERSION
    if bounds is not None and not bounds[0] <= api <= bounds[1]:
        raise VersionMismatch(record.name, "api", api, describe_range(bounds),
                              dist=record.dist or None, version=record.version or None,
                              declared_in=declared_in)


def check_task_type_version(
    record: EntryPointRecord, versions: Sequence[int] | None, tt: TaskTemplate, declared_in: str
) -> None:
    """VersionMismatch unless ``versions`` (None: any) holds the template's version."""
    if versions is not None and tt.task_type_version not in versions:
        raise VersionMismatch(record.name, "task_type_version", tt.task_type_version,
                              describe_versions(versions), dist=record.dist or None,
                              version=record.version or None, declared_in=declared_in,
                              template=tt.id.name or None)


def check_declared(record: EntryPointRecord, tt: TaskTemplate | None) -> None:
    """The checks possible from the distribution's metadata alone, before any import."""
    check_api(record, record.requires_api, "metadata")
    if tt is not None:
        check_task_type_version(record, record.task_type_versions, tt, "metadata")


def check_class(record: EntryPointRecord, cls: type[Any], tt: TaskTemplate | None) -> None:
    """The checks the executor class itself declares (``requires_api``, and
    ``task_type_versions`` when there is a template)."""
    check_api(record, class_requires_api(record, cls), "class")
    if tt is not None:
        check_task_type_version(record, class_task_type_versions(record, cls), tt, "class")
