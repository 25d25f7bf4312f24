"""The literal kinds whose data lives outside the literal: blobs and structured datasets.

Their converters need storage (and datasets need pyarrow), so each lives in its own
module, named here as data (``"module:attr"``, as fsspec's registry names its
filesystems) and imported only when a type of that kind is first met. They build on
``base`` and never import back into the code that dispatches to them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Final, cast

from .base import ExternalConverter

#: Literal type kind (``LiteralType.WhichOneof("type")``) -> its converter.
CONVERTERS: Final = {
    "blob": "shimtask_core.literals.files:BLOBS",
    "structured_dataset_type": "shimtask_core.literals.datasets:DATASETS",
    "schema": "shimtask_core.literals.datasets:DATASETS",
}


def converter(kind: str) -> ExternalConverter:
    """The converter of ``kind`` (a key of :data:`CONVERTERS`), importing its module."""
    module, _, attr = CONVERTERS[kind].partition(":")
    return cast(ExternalConverter, getattr(importlib.import_module(module), attr))


def loaded_converters() -> Iterator[ExternalConverter]:
    """The converters whose module is imported already, in table order.

    A value or class of a converter's own (a ``File``) can only exist once its module
    is imported, so asking these is enough and imports nothing.
    """
    seen: set[str] = set()
    for target in CONVERTERS.values():
        module, _, attr = target.partition(":")
        loaded = sys.modules.get(module)
        if target not in seen and loaded is not None and hasattr(loaded, attr):
            seen.add(target)
            yield cast(ExternalConverter, getattr(loaded, attr))
