"""STRUCT types that declare a dataclass: each field checked against its declared type.

flytekit declares a dataclass as a STRUCT with ``structure.dataclass_type`` (the
field types) and a JSON schema in ``metadata``; inside a union only the schema is
left (the variant's structure is replaced by its tag), so the field types are read
from it (:func:`declared_fields`). Its values are plain dicts; a *normalizer* checks
one against the declared fields (and widens ``int`` to ``float``). Encoding writes
datetimes and timedeltas as mashumaro writes them (ISO text, seconds); decoding
reads them back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

from flyteidl.core import types_pb2

from . import scalars
from .base import Mismatch, Normalizer, SimpleType, got
from .structs import instance_fields, struct_to_python
from .types import SIMPLE_KINDS, declares_dataclass, describe
from .unions import type_kind, value_kinds


def declared_fields(lt: types_pb2.LiteralType) -> Mapping[str, types_pb2.LiteralType]:
    """The field types of a STRUCT type that declares a dataclass (see
    :func:`~.types.declares_dataclass`): ``structure.dataclass_type``, else read from the
    JSON schema (mashumaro's, as flytekit writes it; a pydantic model's too). A field
    whose schema says nothing this codec checks (``$ref``, ``format: date``) is an empty
    LiteralType: anything goes there."""
    if lt.structure.dataclass_type:
        declared: Mapping[str, types_pb2.LiteralType] = lt.structure.dataclass_type
        return declared
    properties = struct_to_python(lt.metadata).get("properties") if lt.HasField(
        "metadata") else None
    if not isinstance(properties, Mapping):
        return {}
    return {str(name): _schema_type(schema) for name, schema in properties.items()}


#: ``(type, format)`` of a field's JSON schema -> its simple type: SIMPLE_KINDS' schema
#: column read backwards (``object`` is a dict, a dataclass or a map: see _schema_type).
_SCHEMA_SIMPLE: Final = {(row.json_schema["type"], row.json_schema.get("format", "")): simple
                         for simple, row in SIMPLE_KINDS.items()
                         if row.json_schema["type"] != "object"}


def _schema_type(schema: Any) -> types_pb2.LiteralType:
    """The LiteralType a field's JSON schema declares, as far as it says (else empty)."""
    lt = types_pb2.LiteralType()
    if not isinstance(schema, Mapping):
        return lt
    kind, form = schema.get("type"), schema.get("format", "")
    values = schema.get("enum")
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        lt.enum_type.values.extend(values)
    elif isinstance(schema.get("anyOf"), list):
        lt.union_type.variants.extend(_schema_type(v) for v in schema["anyOf"])
    elif kind == "array":
        lt.collection_type.CopyFrom(_schema_type(schema.get("items")))
    elif kind == "object" and isinstance(schema.get("properties"), Mapping):
        lt.simple = SimpleType.STRUCT  # a nested dataclass: its fields from its schema
        lt.metadata.update(schema)
    elif kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        lt.map_value_type.CopyFrom(_schema_type(schema["additionalProperties"]))
    elif kind == "object":
        lt.simple = SimpleType.STRUCT
    elif isinstance(kind, str) and (kind, form) in _SCHEMA_SIMPLE:
        lt.simple = _SCHEMA_SIMPLE[kind, form]
    return lt


def normalizer(lt: types_pb2.LiteralType, decoding: bool) -> Normalizer | None:
    """The normalizer of a field of type ``lt``; None where anything goes."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return _simple_normalizer(lt, decoding)
    if kind == "collection_type":
        return _list_normalizer(normalizer(lt.collection_type, decoding))
    if kind == "map_value_type":
        return _map_normalizer(normalizer(lt.map_value_type, decoding))
    if kind == "enum_type":
        return _enum_normalizer(lt)
    if kind == "union_type":
        return _union_normalizer(lt, decoding)
    return None


def dataclass_normalizer(lt: types_pb2.LiteralType, decoding: bool) -> Normalizer:
    """The normalizer of a whole dataclass value: required fields, no unknown ones if closed."""
    fields = {name: normalizer(ft, decoding) for name, ft in declared_fields(lt).items()}
    schema = struct_to_python(lt.metadata) if lt.HasField("metadata") else {}
    required = [n for n in schema.get("required", []) if isinstance(n, str)]
    closed = schema.get("additionalProperties") is False
    expected = describe(lt)

    def normalize(value: Any) -> Any:
        if not isinstance(value, Mapping):
            instance = instance_fields(value)  # a dataclass instance: its fields
            if instance is None:
                raise Mismatch(expected, got(value))
            value = instance
        missing = [n for n in required if n not in value]
        unknown = sorted(str(k) for k in value if k not in fields) if closed else []
        if missing or unknown:  # both in one message: {"pont": {...}} lacks x and y *and*
            without = f"without field(s) {', '.join(map(repr, missing))}" if missing else ""
            extra = f"with unknown field(s) {', '.join(map(repr, unknown))}" if unknown else ""
            raise Mismatch(expected, f"a dict {' and '.join(filter(None, (without, extra)))}")
        return {k: _nested(fields.get(k), v, f"[{k!r}]") for k, v in value.items()}

    return normalize


def _nested(norm: Normalizer | None, value: Any, where: str) -> Any:
    if norm is None:
        return value
    try:
        return norm(value)
    except Mismatch as exc:
        exc.path.insert(0, where)
        raise


def _simple_normalizer(lt: types_pb2.LiteralType, decoding: bool) -> Normalizer | None:
    if lt.simple == SimpleType.STRUCT:
        return dataclass_normalizer(lt, decoding) if declares_dataclass(lt) else None
    if lt.simple == SimpleType.DATETIME:
        return scalars.parse_iso_datetime if decoding else scalars.iso_datetime
    if lt.simple == SimpleType.DURATION:
        return scalars.parse_seconds if decoding else scalars.seconds
    row = SIMPLE_KINDS.get(lt.simple)
    return row.check if row is not None else None


def _list_normalizer(item: Normalizer | None) -> Normalizer:
    def norm_list(value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise Mismatch("list", got(value))
        return [_nested(item, v, f"[{i}]") for i, v in enumerate(value)] if item else value

    return norm_list


def _map_normalizer(item: Normalizer | None) -> Normalizer:
    def norm_map(value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise Mismatch("dict", got(value))
        return {k: _nested(item, v, f"[{k!r}]") for k, v in value.items()} if item else value

    return norm_map


def _enum_normalizer(lt: types_pb2.LiteralType) -> Normalizer:
    values = frozenset(lt.enum_type.values)
    expected = describe(lt)

    def norm_enum(value: Any) -> Any:
        text = value.value if isinstance(value, enum.Enum) else value
        if text not in values:
            raise Mismatch(expected, got(value))
        return text

    return norm_enum


def _union_normalizer(lt: types_pb2.LiteralType, decoding: bool) -> Normalizer:
    options = [(type_kind(v), normalizer(v, decoding)) for v in lt.union_type.variants]
    expected = describe(lt)

    def norm_union(value: Any) -> Any:
        kinds = value_kinds(value)
        ordered = sorted(options, key=lambda o: kinds.index(o[0]) if o[0] in kinds else 99)
        first_error: Mismatch | None = None
        for kind, norm in ordered:
            if norm is None:
                return value
            try:
                return norm(value)
            except Mismatch as exc:
                if first_error is None and kind in kinds:
                    first_error = exc
        if first_error is not None and first_error.path:
            raise first_error
        raise Mismatch(expected, got(value))

    return norm_union
