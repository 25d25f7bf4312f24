"""Loading the converters of blobs and structured datasets, on first use.

Their converters need storage (and datasets need pyarrow), so each lives in its own
module, named as data in :data:`~shimtask_core.literals.types.EXTERNAL_KINDS` and
imported here only when a type of that kind is first met. They build on ``base``
and ``types`` and never import this module or the ones that dispatch through it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any, Protocol, cast

from flyteidl.core import types_pb2

from .base import Decoder, Filler
from .types import EXTERNAL_KINDS


class ExternalConverter(Protocol):
    """The converter of a literal kind whose data lives outside the literal (blob, dataset).

    The codec finds it through :data:`shimtask_core.literals.types.EXTERNAL_KINDS` and
    imports its module only when a type of that kind is met.
    """

    def python_type(self, lt: types_pb2.LiteralType) -> Any:
        """The Python type a value of ``lt`` decodes to."""

    def filler(self, lt: types_pb2.LiteralType, *, by_reference: bool = False) -> Filler:
        """The strict filler of ``lt``; ``by_reference``: a local path is written as is
        (made absolute), not uploaded."""

    def decoder(self, lt: types_pb2.LiteralType, *, lazy: bool = False) -> Decoder:
        """The decoder of ``lt``; ``lazy``: a reference to the data, nothing read."""

    def literal_type(self, py_type: type) -> types_pb2.LiteralType | None:
        """The literal type declaring ``py_type`` when it is one of this kind's, else None."""

    def value_kinds(self, value: Any) -> tuple[str, ...] | None:
        """The union kinds a value of this kind fits (``("file",)``), else None."""


def converter(kind: str) -> ExternalConverter:
    """The converter of ``kind`` (a key of ``EXTERNAL_KINDS``), importing its module."""
    module, _, attr = EXTERNAL_KINDS[kind].partition(":")
    return cast(ExternalConverter, getattr(importlib.import_module(module), attr))


def loaded_converters() -> Iterator[ExternalConverter]:
    """The converters whose module is imported already, in table order.

    A value or class of a converter's own (a ``File``) can only exist once its module
    is imported, so asking these is enough and imports nothing.
    """
    seen: set[str] = set()
    for target in EXTERNAL_KINDS.values():
        module, _, attr = target.partition(":")
        loaded = sys.modules.get(module)
        if target not in seen and loaded is not None and hasattr(loaded, attr):
            seen.add(target)
            yield cast(ExternalConverter, getattr(loaded, attr))
