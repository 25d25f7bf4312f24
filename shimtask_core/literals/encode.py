"""Encoding: a *filler* per literal type, built once, that writes a Python value strictly.

A filler writes into an empty ``Literal`` in place (nested messages are filled
where they live instead of being copied into their parents) and raises
:class:`~shimtask_core.literals.Mismatch` for a value that does not fit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from flyteidl.core import literals_pb2, types_pb2

from ..errors import UnsupportedType
from .base import Encoder, Filler, LimitMismatch, Literal, Mismatch, SimpleType, got
from .scalars import fill_float
from .types import EXTERNAL_KINDS, SIMPLE_KINDS, declares_dataclass, describe, is_msgpack_struct


def filler_for(lt: types_pb2.LiteralType, *, by_reference: bool = False,
               level: int = 0) -> Filler:
    """Build the strict filler for ``lt``: ``fill(value, empty_literal)`` writes the value.

    ``by_reference``: local files, directories and datasets are written as their
    (absolute) path instead of being uploaded under the raw output prefix, as inputs
    of a local run are passed: a multi-GB input is not copied to be read once.
    ``level``: how many lists, maps and unions enclose ``lt`` (a STRUCT's content may
    nest only as deep as ``SHIMTASK_MAX_DEPTH`` leaves room for).
    """
    kind = lt.WhichOneof("type")
    inner = level + 1
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT:
            return _struct_filler(lt, level)
        row = SIMPLE_KINDS.get(lt.simple)
        if row is not None and row.filler is not None:
            return row.filler
    elif kind == "collection_type":
        item = lt.collection_type
        most = _limits().collection
        if item.WhichOneof("type") == "simple" and item.simple == SimpleType.FLOAT:
            from .floatlist import float_list_filler  # loaded when one is met (import cost)

            return float_list_filler(_collection_filler(fill_float, most), most)
        return _collection_filler(filler_for(item, by_reference=by_reference, level=inner),
                                  most)
    elif kind == "map_value_type":
        return _map_filler(filler_for(lt.map_value_type, by_reference=by_reference,
                                      level=inner), _limits().collection)
    elif kind == "union_type":
        from .unions import union_filler  # loaded when a union is met (import cost)

        return union_filler(lt, [filler_for(v, by_reference=by_reference, level=inner)
                                 for v in lt.union_type.variants])
    elif kind == "enum_type":
        return _enum_filler(lt)
    elif kind in EXTERNAL_KINDS:
        from . import external  # loaded when a blob or dataset is met (import cost)

        return external.converter(kind).filler(lt, by_reference=by_reference)
    raise UnsupportedType(describe(lt))


def encoder_for(lt: types_pb2.LiteralType, *, fill: Filler | None = None) -> Encoder:
    """Build the strict encoder for ``lt``; raises UnsupportedType for what it cannot encode.

    The encoder returns a new ``Literal`` and raises :class:`Mismatch` for a wrong
    value; :class:`~shimtask_core.literals.InterfaceCodec` turns that into a
    ``ValueTypeError`` naming the variable. ``fill`` is ``lt``'s filler when the
    caller has built it already.
    """
    filler = filler_for(lt) if fill is None else fill

    def encode(value: Any) -> literals_pb2.Literal:
        lit = Literal()
        filler(value, lit)
        return lit

    return encode


def _limits() -> Any:
    from ..limits import current  # SHIMTASK_MAX_*, read when a filler is built

    return current()


def _collection_filler(item: Filler, most: int) -> Filler:
    def fill(value: Any, target: literals_pb2.Literal) -> None:
        if not isinstance(value, (list, tuple)):
            raise Mismatch("list", got(value))
        if len(value) > most:
            raise LimitMismatch("collection", len(value), most)
        collection = target.collection
        collection.SetInParent()
        add = collection.literals.add
        index = 0
        try:
            for index, element in enumerate(value):  # noqa: B007 - index names the failure
                item(element, add())
        except Mismatch as exc:
            exc.path.insert(0, f"[{index}]")
            raise

    return fill


def _map_filler(item: Filler, most: int) -> Filler:
    def fill(value: Any, target: literals_pb2.Literal) -> None:
        if not isinstance(value, Mapping):
            raise Mismatch("dict", got(value))
        if len(value) > most:
            raise LimitMismatch("collection", len(value), most)
        literals = target.map.literals
        target.map.SetInParent()
        for key, element in value.items():
            if type(key) is not str:
                raise Mismatch("dict with str keys", f"key {key!r}")
            try:
                item(element, literals[key])
            except Mismatch as exc:
                exc.path.insert(0, f"[{key!r}]")
                raise

    return fill


def _enum_filler(lt: types_pb2.LiteralType) -> Filler:
    values = frozenset(lt.enum_type.values)
    expected = describe(lt)

    def fill(value: Any, target: literals_pb2.Literal) -> None:
        text = value.value if isinstance(value, enum.Enum) else value
        if type(text) is not str or text not in values:
            raise Mismatch(expected, got(value))
        target.scalar.primitive.string_value = text

    return fill


def _struct_filler(lt: types_pb2.LiteralType, level: int) -> Filler:
    """A dict's filler; its content nests at most as deep as the levels above leave."""
    from .structs import fill_generic, fill_msgpack_dict  # when a dict type is met

    write_at = fill_msgpack_dict if is_msgpack_struct(lt) else fill_generic
    room = max(1, _limits().depth - level)

    def write(value: Any, target: literals_pb2.Literal) -> None:
        write_at(value, target, room)

    if not declares_dataclass(lt):
        return write
    from .dataclass_fields import dataclass_normalizer  # when one is met (import cost)

    normalize = dataclass_normalizer(lt, decoding=False)

    def fill(value: Any, target: literals_pb2.Literal) -> None:
        write(normalize(value), target)

    return fill
