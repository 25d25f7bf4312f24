"""Unions: choosing the variant a value (or a literal) belongs to.

Values, literal types and literals are all given *kind names* (``int``, ``list``,
``file``...), so that the variant that fits exactly is tried before the ones that
would need a widening (an ``int`` goes to an ``int`` variant before a ``float`` one,
as flytekit does). The fillers and decoders of the variants are built by the caller
(``encode``, ``decode``), which keeps this module free of their recursion.
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Mapping, Sequence
from typing import Any, Final

from flyteidl.core import literals_pb2, types_pb2

from .base import Decoder, Filler, LimitMismatch, LiteralType, Mismatch, got, literal_kind
from .types import SIMPLE_KINDS, describe

_VALUE_KINDS: Final[dict[type, tuple[str, ...]]] = {
    type(None): ("none",),
    bool: ("bool",),
    int: ("int",),
    float: ("float",),
    str: ("str", "enum"),
    _dt.datetime: ("datetime",),
    _dt.timedelta: ("duration",),
    list: ("list",),
    tuple: ("list",),
    dict: ("map", "struct"),
    bytes: ("binary",),
}

_TYPE_KINDS: Final = {
    "collection_type": "list", "map_value_type": "map", "enum_type": "enum",
    "structured_dataset_type": "dataset", "schema": "dataset", "union_type": "union",
}

_PRIMITIVE_KINDS: Final = {
    "integer": ("int", "float"), "float_value": ("float", "int"),
    "string_value": ("str", "enum"), "boolean": ("bool",),
    "datetime": ("datetime",), "duration": ("duration",),
}

_SCALAR_KINDS: Final = {
    "none_type": ("none",), "generic": ("struct",), "binary": ("struct", "binary"),
    "structured_dataset": ("dataset",), "schema": ("dataset",), "union": ("union",),
}


def value_kinds(value: Any) -> tuple[str, ...]:
    """The kinds a Python value fits, best first."""
    kinds = _VALUE_KINDS.get(type(value))
    if kinds is not None:
        return kinds
    if isinstance(value, enum.Enum):
        return ("enum", "str")
    if isinstance(value, (list, tuple)):
        return ("list", "dataset")
    if isinstance(value, Mapping):
        return ("map", "struct")
    from . import external  # only for values of no built-in kind (import cost)

    for converter in external.loaded_converters():  # a File exists only once files is loaded
        found = converter.value_kinds(value)
        if found is not None:
            return found
    return ("dataset",)


def type_kind(lt: types_pb2.LiteralType) -> str:
    """The kind of a literal type."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        row = SIMPLE_KINDS.get(lt.simple)
        return row.kind if row is not None else "other"
    if kind == "blob":
        return "dir" if lt.blob.dimensionality == types_pb2.BlobType.MULTIPART else "file"
    return _TYPE_KINDS.get(kind or "", "other")


def literal_kinds(lit: literals_pb2.Literal) -> tuple[str, ...]:
    """The kinds a literal fits, best first."""
    kind = lit.WhichOneof("value")
    if kind == "collection":
        return ("list",)
    if kind == "map":
        return ("map",)
    if kind != "scalar":
        return ()
    scalar_kind = lit.scalar.WhichOneof("value")
    if scalar_kind == "primitive":
        return _PRIMITIVE_KINDS.get(lit.scalar.primitive.WhichOneof("value") or "", ())
    if scalar_kind == "blob":
        multi = lit.scalar.blob.metadata.type.dimensionality == types_pb2.BlobType.MULTIPART
        return ("dir",) if multi else ("file",)
    return _SCALAR_KINDS.get(scalar_kind or "", ())


def shape(lt: types_pb2.LiteralType) -> bytes:
    """A type's identity for matching a union's stored type: no tag, metadata or annotation."""
    bare = LiteralType()
    bare.CopyFrom(lt)
    for name in ("structure", "metadata", "annotation"):
        bare.ClearField(name)
    return bytes(bare.SerializeToString(deterministic=True))


class _Variant:
    __slots__ = ("convert", "kind", "lt", "shape", "tag")

    def __init__(self, lt: types_pb2.LiteralType, convert: Any) -> None:
        self.lt = lt
        self.tag = lt.structure.tag
        self.kind = type_kind(lt)
        self.shape = shape(lt)
        self.convert = convert  # the variant's filler or decoder


def _variants(lt: types_pb2.LiteralType, converters: Sequence[Any]) -> list[_Variant]:
    return [_Variant(v, c) for v, c in zip(lt.union_type.variants, converters, strict=True)]


def _ordered(variants: list[_Variant], kinds: tuple[str, ...]) -> list[_Variant]:
    """Variants whose kind fits exactly first (in the order of ``kinds``), then the rest."""
    first = [v for kind in kinds for v in variants if v.kind == kind]
    return first + [v for v in variants if v not in first]


def union_filler(lt: types_pb2.LiteralType, fillers: Sequence[Filler]) -> Filler:
    """The filler of a union type, given the filler of each variant (in declared order)."""
    variants = _variants(lt, fillers)
    expected = describe(lt)
    by_kinds: dict[tuple[str, ...], list[_Variant]] = {}

    def fill(value: Any, target: literals_pb2.Literal) -> None:
        kinds = value_kinds(value)
        order = by_kinds.get(kinds)
        if order is None:
            order = by_kinds[kinds] = _ordered(variants, kinds)
        union = target.scalar.union
        first_error: Mismatch | None = None
        for variant in order:
            try:
                variant.convert(value, union.value)
            except LimitMismatch:
                raise  # too deep or too long for every variant alike
            except Mismatch as exc:
                union.value.Clear()
                if first_error is None and variant.kind in kinds:
                    first_error = exc
                continue
            union.type.CopyFrom(variant.lt)
            return
        if first_error is not None and (
                first_error.path or sum(v.kind in kinds for v in variants) == 1):
            raise first_error  # the one variant of the value's kind says what is wrong in it
        raise Mismatch(expected, got(value))

    return fill


def union_decoder(lt: types_pb2.LiteralType, decoders: Sequence[Decoder]) -> Decoder:
    """The decoder of a union type, given the decoder of each variant (in declared order)."""
    variants = _variants(lt, decoders)
    expected = describe(lt)
    by_kinds: dict[tuple[str, ...], list[_Variant]] = {}

    def candidates(lit: literals_pb2.Literal) -> tuple[literals_pb2.Literal, list[_Variant]]:
        if lit.scalar.WhichOneof("value") == "union":
            union = lit.scalar.union
            stored = union.type
            tag = stored.structure.tag
            chosen = [v for v in variants if v.tag == tag] if tag else []
            if len(chosen) != 1:
                stored_shape = shape(stored)
                chosen = [v for v in chosen or variants if v.shape == stored_shape] or chosen
            inner = union.value
            if chosen:
                return inner, chosen + [v for v in variants if v not in chosen]
            lit = inner
        kinds = literal_kinds(lit)
        order = by_kinds.get(kinds)
        if order is None:
            order = by_kinds[kinds] = _ordered(variants, kinds)
        return lit, order

    def decode(lit: literals_pb2.Literal) -> Any:
        inner, order = candidates(lit)
        first_error: Mismatch | None = None
        for variant in order:
            try:
                return variant.convert(inner)
            except LimitMismatch:
                raise
            except Mismatch as exc:
                if first_error is None:
                    first_error = exc
        if first_error is not None and first_error.path:
            raise first_error
        raise Mismatch(expected, literal_kind(inner))

    return decode
