"""PEP 562 facades: a table of public name -> the submodule that defines it, each
loaded on first use.

One helper for the packages that re-export names lazily (``shimtask_core``,
``shimtask_core.literals``, ``shimtask_core.testing``), so that importing a package
costs only what is then asked of it. It imports nothing: ``shimtask --version``
loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def lazy_getattr(package: str, table: Mapping[str, str], namespace: dict[str, Any]
                 ) -> Callable[[str], Any]:
    """The module-level ``__getattr__`` of ``package``.

    ``table`` maps a public name to the submodule (relative to ``package``) that
    defines it; a name equal to its submodule's is the submodule itself. A name is
    imported when first asked for and kept in ``namespace`` (the package's
    ``globals()``), so later lookups never reach ``__getattr__``. Any other name
    raises the ``AttributeError`` Python raises for a module.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            import sys  # built in: costs nothing

            raise AttributeError(f"module {package!r} has no attribute {name!r}",
                                 name=name, obj=sys.modules.get(package))
        import importlib

        loaded = importlib.import_module(f".{module}", package)
        value = loaded if module == name else getattr(loaded, name)
        namespace[name] = value
        return value

    return __getattr__


def lazy_dir(table: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[], list[str]]:
    """The module-level ``__dir__``: the names loaded and those still to load.

    Not for a module that something walks with ``dir()`` and ``getattr`` (pytest
    registering a plugin): that walk would load every name.
    """

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __dir__
