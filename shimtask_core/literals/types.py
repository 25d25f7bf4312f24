"""Literal types: the tables of kinds, and how types are named and tagged.

:data:`SIMPLE_KINDS` is the one table of Flyte's simple types: each row carries
what the rest of the codec needs to know about that kind (its name in messages,
the Python type, the check, filler and decoder, the kind name that union variants
are matched by). Compound kinds (collections, maps, unions, enums) are built by
``encode``/``decode``. :data:`EXTERNAL_KINDS` names the converter of each kind
whose data lives outside the literal (blobs, datasets), which ``external`` loads.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any, Final, final

from flyteidl.core import types_pb2

from . import scalars
from .base import MSGPACK, Decoder, Filler, LiteralType, SimpleType

#: The annotation flytekit >= 1.14 puts on STRUCT types whose values it writes as msgpack.
CACHE_KEY_METADATA: Final = "cache-key-metadata"
SERIALIZATION_FORMAT: Final = "serialization-format"


@final
class SimpleKind:
    """One row of :data:`SIMPLE_KINDS` (a plain slotted class: a NamedTuple costs import time).

    * ``name``: the short, Python-flavoured name in messages; also the union variant tag
      flytekit gives the type (except STRUCT's, which depends on the type);
    * ``python_type``: the Python type a value decodes to (``None``: not convertible);
    * ``declared_by``: the Python annotations that declare this kind (``literal_type_of``);
    * ``kind``: the kind name union variants are matched by (``unions.value_kinds``);
    * ``check``: checks a plain Python value (a dataclass field); None where anything goes;
    * ``filler``, ``decoder``: None where they depend on the whole type (STRUCT) or there
      are none (ERROR);
    * ``json_schema``: the JSON schema of a dataclass field of this kind, in the type's
      ``metadata`` as flytekit writes it (a STRUCT field declaring a dataclass has its own).
    """

    __slots__ = ("check", "declared_by", "decoder", "filler", "json_schema", "kind", "name",
                 "python_type")

    def __init__(self, name: str, python_type: Any, declared_by: tuple[Any, ...], kind: str,
                 check: Callable[[Any], Any] | None, filler: Filler | None,
                 decoder: Decoder | None, json_schema: Mapping[str, str]) -> None:
        self.name = name
        self.python_type = python_type
        self.declared_by = declared_by
        self.kind = kind
        self.check = check
        self.filler = filler
        self.decoder = decoder
        self.json_schema = json_schema

    def __repr__(self) -> str:
        return f"SimpleKind({self.name!r})"


SIMPLE_KINDS: Final[dict[int, SimpleKind]] = {
    SimpleType.NONE: SimpleKind("none", type(None), (type(None), None), "none",
                                scalars.check_none, scalars.fill_none, scalars.decode_none,
                                {"type": "null"}),
    SimpleType.INTEGER: SimpleKind("int", int, (int,), "int",
                                   scalars.check_int, scalars.fill_int, scalars.decode_int,
                                   {"type": "integer"}),
    SimpleType.FLOAT: SimpleKind("float", float, (float,), "float",
                                 scalars.check_float, scalars.fill_float, scalars.decode_float,
                                 {"type": "number"}),
    SimpleType.STRING: SimpleKind("str", str, (str,), "str",
                                  scalars.check_str, scalars.fill_str, scalars.decode_str,
                                  {"type": "string"}),
    SimpleType.BOOLEAN: SimpleKind("bool", bool, (bool,), "bool",
                                   scalars.check_bool, scalars.fill_bool, scalars.decode_bool,
                                   {"type": "boolean"}),
    SimpleType.DATETIME: SimpleKind("datetime", _dt.datetime, (_dt.datetime,), "datetime",
                                    scalars.check_datetime, scalars.fill_datetime,
                                    scalars.decode_datetime,
                                    {"type": "string", "format": "date-time"}),
    SimpleType.DURATION: SimpleKind("timedelta", _dt.timedelta, (_dt.timedelta,), "duration",
                                    scalars.check_duration, scalars.fill_duration,
                                    scalars.decode_duration,
                                    {"type": "number", "format": "time-delta"}),  # mashumaro's
    SimpleType.BINARY: SimpleKind("binary", Any, (bytes,), "binary",
                                  None, scalars.fill_binary, scalars.decode_binary,
                                  {"type": "object"}),
    SimpleType.ERROR: SimpleKind("error", None, (), "other", None, None, None,
                                 {"type": "object"}),
    SimpleType.STRUCT: SimpleKind("dict", dict, (dict,), "struct", None, None, None,
                                  {"type": "object"}),
}

#: Literal type kind (``LiteralType.WhichOneof("type")``) whose data lives outside the
#: literal -> its converter, as data (``"module:attr"``, as fsspec's registry names its
#: filesystems): ``external.converter`` imports it when a type of that kind is first met.
#: The converters build on this module and ``base``; nothing here imports them.
EXTERNAL_KINDS: Final = {
    "blob": "shimtask_core.literals.files:BLOBS",
    "structured_dataset_type": "shimtask_core.literals.datasets:DATASETS",
    "schema": "shimtask_core.literals.datasets:DATASETS",
}

#: The simple kind each Python annotation declares (an index of ``SIMPLE_KINDS``).
DECLARED_BY: Final[dict[Any, int]] = {
    py_type: simple for simple, row in SIMPLE_KINDS.items() for py_type in row.declared_by
}


def nesting(lt: types_pb2.LiteralType) -> int:
    """How many levels a value of ``lt`` nests: each list, map and union is one, and so is
    a STRUCT (its content may add more, counted on the value)."""
    kind = lt.WhichOneof("type")
    if kind == "collection_type":
        return 1 + nesting(lt.collection_type)
    if kind == "map_value_type":
        return 1 + nesting(lt.map_value_type)
    if kind == "union_type":
        return 1 + max((nesting(v) for v in lt.union_type.variants), default=0)
    return 1 if kind == "simple" and lt.simple == SimpleType.STRUCT else 0


def describe(lt: types_pb2.LiteralType) -> str:
    """A short, Python-flavoured name for a literal type, used in every error message."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT:
            title = _dataclass_title(lt)
            return f"dict (dataclass {title})" if title else "dict"
        row = SIMPLE_KINDS.get(lt.simple)
        return row.name if row is not None else f"simple type {lt.simple}"
    if kind == "collection_type":
        return f"list[{describe(lt.collection_type)}]"
    if kind == "map_value_type":
        return f"dict[str, {describe(lt.map_value_type)}]"
    if kind == "union_type":
        return " | ".join(describe(v) for v in lt.union_type.variants)
    if kind == "enum_type":
        return f"one of {list(lt.enum_type.values)}"
    if kind == "blob":
        multi = lt.blob.dimensionality == types_pb2.BlobType.MULTIPART
        return f"{'directory' if multi else 'file'}({lt.blob.format or 'any format'})"
    if kind == "structured_dataset_type":
        return f"structured dataset({lt.structured_dataset_type.format or 'parquet'})"
    if kind == "schema":
        return "schema"
    return f"untyped ({kind or 'no type'})"


def declares_dataclass(lt: types_pb2.LiteralType) -> bool:
    """Whether a STRUCT type declares a dataclass: by its field types
    (``structure.dataclass_type``), or only by the JSON schema in its ``metadata``, as
    flytekit declares one inside a union (the variant's structure holds just its tag)."""
    return bool(lt.structure.dataclass_type) or (
        lt.HasField("metadata") and "properties" in lt.metadata.fields)


def _dataclass_title(lt: types_pb2.LiteralType) -> str:
    if not lt.HasField("metadata"):
        return ""
    title = lt.metadata.fields.get("title")
    if title is not None and title.WhichOneof("kind") == "string_value":
        return str(title.string_value)
    return "?" if declares_dataclass(lt) else ""


_COMPOUND_TAGS: Final = {
    "collection_type": "Typed List",
    "map_value_type": "Typed Dict",
    "enum_type": "DefaultEnumTransformer",
    "structured_dataset_type": "StructuredDataset Transformer",
    "schema": "FlyteSchema Transformer",
    "union_type": "Typed Union",
}


def union_tag(lt: types_pb2.LiteralType) -> str:
    """The union variant tag flytekit gives a type (the name of its type transformer)."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT:
            return "Object-Dataclass-Transformer" if lt.HasField("metadata") else "Typed Dict"
        row = SIMPLE_KINDS.get(lt.simple)
        return row.name if row is not None else ""
    if kind == "blob":
        multi = lt.blob.dimensionality == types_pb2.BlobType.MULTIPART
        return "FlyteDirectory" if multi else "FlyteFilePath"
    return _COMPOUND_TAGS.get(kind or "", "")


def is_msgpack_struct(lt: types_pb2.LiteralType) -> bool:
    """Whether a STRUCT type asks for msgpack values (as flytekit >= 1.14 declares dicts)."""
    if not lt.HasField("annotation"):
        return False
    meta = lt.annotation.annotations.fields.get(CACHE_KEY_METADATA)
    if meta is None or meta.WhichOneof("kind") != "struct_value":
        return False
    fmt = meta.struct_value.fields.get(SERIALIZATION_FORMAT)
    return fmt is not None and fmt.string_value == MSGPACK


def struct_type(*, msgpack: bool = False) -> types_pb2.LiteralType:
    """A STRUCT (untyped dict) type: generic by default, or flytekit >= 1.14's msgpack form."""
    lt = LiteralType(simple=SimpleType.STRUCT)
    if msgpack:
        lt.annotation.annotations.update({CACHE_KEY_METADATA: {SERIALIZATION_FORMAT: MSGPACK}})
    return lt
