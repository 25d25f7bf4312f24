"""Decoding: a *decoder* per literal type, built once, that checks a literal's shape.

A decoder returns the Python value of a ``Literal`` and raises
:class:`~shimtask_core.literals.Mismatch` when the literal is not of the declared
type (a string literal for an INTEGER, a directory for a file).
"""

from __future__ import annotations

from typing import Any

from flyteidl.core import literals_pb2, types_pb2

from ..errors import UnsupportedType
from .base import Decoder, LimitMismatch, Mismatch, SimpleType, got, literal_kind
from .scalars import decode_float, via_msgpack
from .types import EXTERNAL_KINDS, SIMPLE_KINDS, declares_dataclass, describe


def decoder_for(lt: types_pb2.LiteralType, *, level: int = 0) -> Decoder:
    """Build the decoder for ``lt``; it checks that each literal has the declared shape,
    and the limits (``SHIMTASK_MAX_COLLECTION``, ``SHIMTASK_MAX_DEPTH`` for a STRUCT's
    content; ``level``: the lists, maps and unions around ``lt``)."""
    kind = lt.WhichOneof("type")
    inner = level + 1
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT:
            return _struct_decoder(lt, level)
        row = SIMPLE_KINDS.get(lt.simple)
        if row is not None and row.decoder is not None:
            return row.decoder
    elif kind == "collection_type":
        item = lt.collection_type
        most = _limits().collection
        if item.WhichOneof("type") == "simple" and item.simple == SimpleType.FLOAT:
            from .floatlist import float_list_decoder  # loaded when one is met (import cost)

            return float_list_decoder(_collection_decoder(decode_float, most), most)
        return _collection_decoder(decoder_for(item, level=inner), most)
    elif kind == "map_value_type":
        return _map_decoder(decoder_for(lt.map_value_type, level=inner), _limits().collection)
    elif kind == "union_type":
        from .unions import union_decoder  # loaded when a union is met (import cost)

        return union_decoder(lt, [decoder_for(v, level=inner) for v in lt.union_type.variants])
    elif kind == "enum_type":
        return _enum_decoder(lt)
    elif kind in EXTERNAL_KINDS:
        from . import external  # loaded when a blob or dataset is met (import cost)

        return external.converter(kind).decoder(lt)
    raise UnsupportedType(describe(lt))


def _limits() -> Any:
    from ..limits import current  # SHIMTASK_MAX_*, read when a decoder is built

    return current()


def _collection_decoder(item: Decoder, most: int) -> Decoder:
    def decode(lit: literals_pb2.Literal) -> Any:
        if lit.WhichOneof("value") != "collection":
            raise Mismatch("list", literal_kind(lit))
        if len(lit.collection.literals) > most:
            raise LimitMismatch("collection", len(lit.collection.literals), most)
        index = 0
        try:
            values = []
            for index, element in enumerate(lit.collection.literals):  # noqa: B007
                values.append(item(element))
        except Mismatch as exc:
            exc.path.insert(0, f"[{index}]")
            raise
        return values

    return decode


def _map_decoder(item: Decoder, most: int) -> Decoder:
    def decode(lit: literals_pb2.Literal) -> Any:
        if lit.WhichOneof("value") != "map":
            raise Mismatch("dict", literal_kind(lit))
        if len(lit.map.literals) > most:
            raise LimitMismatch("collection", len(lit.map.literals), most)
        values = {}
        for key, element in lit.map.literals.items():
            try:
                values[key] = item(element)
            except Mismatch as exc:
                exc.path.insert(0, f"[{key!r}]")
                raise
        return values

    return decode


def _enum_decoder(lt: types_pb2.LiteralType) -> Decoder:
    values = frozenset(lt.enum_type.values)
    expected = describe(lt)

    def check(value: Any) -> str:
        if type(value) is not str or value not in values:
            raise Mismatch(expected, got(value))
        return value

    def decode(lit: literals_pb2.Literal) -> Any:
        primitive = lit.scalar.primitive
        if primitive.WhichOneof("value") == "string_value":
            return check(primitive.string_value)
        return via_msgpack(lit, check, expected)

    return decode


def _struct_decoder(lt: types_pb2.LiteralType, level: int) -> Decoder:
    from .structs import decode_dict  # when a dict type is met

    room = max(1, _limits().depth - level)

    def read(lit: literals_pb2.Literal) -> Any:
        return decode_dict(lit, room)

    if not declares_dataclass(lt):
        return read
    from .dataclass_fields import dataclass_normalizer  # when one is met (import cost)

    normalize = dataclass_normalizer(lt, decoding=True)

    def decode(lit: literals_pb2.Literal) -> Any:
        return normalize(read(lit))

    return decode
