"""Python types <-> literal types: what a value decodes to, and declaring a type as flytekit does.

The rows for simple kinds come from ``types.SIMPLE_KINDS``; blobs and datasets from
their converters (``external``); the compound kinds are built here, recursively.
(The full page is ``docs/literals.md``.)

==================================  =================================================
Flyte type                          Python value
==================================  =================================================
INTEGER                             ``int`` (int64 range; ``bool`` is rejected)
FLOAT                               ``float`` (``int`` is widened)
STRING                              ``str``
BOOLEAN                             ``bool``
DATETIME                            ``datetime.datetime`` (UTC, aware; naive is taken as UTC)
DURATION                            ``datetime.timedelta``
NONE                                ``None``
STRUCT (generic or msgpack)         ``dict`` (integral generic numbers read back as ``int``)
BINARY                              the msgpack-decoded value (tag ``msgpack``), else ``bytes``
collection of T                     ``list[T]``
map of T                            ``dict[str, T]``
enum                                ``str``, one of the declared values
union / optional                    ``Union[...]`` / ``Optional[T]``
blob (single)                       :class:`shimtask_core.files.File`
blob (multipart)                    :class:`shimtask_core.files.Directory`
structured dataset, schema          ``pyarrow.Table`` (extra ``shimtask-core[arrow]``)
STRUCT declaring a dataclass        ``dict`` of its fields (a dataclass instance is
                                    accepted as an output or input value)
==================================  =================================================
"""

from __future__ import annotations

import enum
import types as _pytypes
import typing
from typing import Any

from flyteidl.core import types_pb2

from ..errors import UnsupportedType
from .base import LiteralType, SimpleType, is_dataframe_type
from .structs import struct_to_python
from .types import DECLARED_BY, EXTERNAL_KINDS, SIMPLE_KINDS, describe, union_tag


def python_type_of(lt: types_pb2.LiteralType) -> Any:
    """The Python type a value of ``lt`` decodes to (the module's table)."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        row = SIMPLE_KINDS.get(lt.simple)
        if row is not None and row.python_type is not None:
            return row.python_type
    elif kind == "collection_type":
        return list[python_type_of(lt.collection_type)]  # type: ignore[misc]
    elif kind == "map_value_type":
        return dict[str, python_type_of(lt.map_value_type)]  # type: ignore[misc]
    elif kind == "union_type":
        variants = tuple(python_type_of(v) for v in lt.union_type.variants)
        return typing.Union[variants] if variants else type(None)  # noqa: UP007
    elif kind == "enum_type":
        values = tuple(lt.enum_type.values)
        return typing.Literal[values] if values else str
    elif kind in EXTERNAL_KINDS:
        from . import external  # loaded when a blob or dataset is met (import cost)

        return external.converter(kind).python_type(lt)
    raise UnsupportedType(describe(lt))


def literal_type_of(py_type: Any) -> types_pb2.LiteralType:
    """The Flyte literal type declaring a Python type, as flytekit declares it.

    ``int``, ``float``, ``str``, ``bool``, ``datetime``, ``timedelta``, ``None``,
    ``list[T]``, ``dict[str, T]``, ``dict`` (a generic STRUCT; use
    :func:`~shimtask_core.literals.struct_type` for the msgpack form), ``bytes``
    (BINARY), ``Optional`` and ``Union`` (variants tagged with flytekit's tags),
    ``enum.Enum`` subclasses with ``str`` values, :class:`~shimtask_core.files.File`,
    :class:`~shimtask_core.files.Directory`, ``pyarrow.Table`` and
    ``pandas.DataFrame`` (structured datasets), and dataclasses (a STRUCT with each
    field's type and a JSON schema, as flytekit declares them; values travel as a
    generic Struct, which needs no msgpack). A ``LiteralType`` is returned as is.
    """
    if isinstance(py_type, LiteralType):
        return py_type
    if py_type in DECLARED_BY:
        return LiteralType(simple=DECLARED_BY[py_type])
    origin = typing.get_origin(py_type)
    args = typing.get_args(py_type)
    if origin is list and len(args) == 1:
        return LiteralType(collection_type=literal_type_of(args[0]))
    if origin is dict and len(args) == 2:
        if args[0] is not str:
            raise UnsupportedType(f"{py_type} (Flyte map keys are str)")
        return LiteralType(map_value_type=literal_type_of(args[1]))
    if origin in (typing.Union, _pytypes.UnionType):
        return _union_literal_type(args)
    if origin is typing.Annotated:
        return literal_type_of(args[0])
    # (On Python 3.10, isinstance(set[int], type) is true but issubclass rejects it.)
    if isinstance(py_type, type) and not isinstance(py_type, _pytypes.GenericAlias):
        declared = _class_literal_type(py_type)
        if declared is not None:
            return declared
    raise UnsupportedType(repr(py_type))


def _class_literal_type(py_type: type) -> types_pb2.LiteralType | None:
    if hasattr(py_type, "__dataclass_fields__"):  # (dataclasses is imported by its maker)
        return _dataclass_literal_type(py_type)
    if issubclass(py_type, enum.Enum):
        values = [member.value for member in py_type]
        if not values or not all(isinstance(v, str) for v in values):
            raise UnsupportedType(f"{py_type.__name__} (Flyte enums have str values)")
        return LiteralType(enum_type=types_pb2.EnumType(values=values))
    from . import external  # only for classes (import cost)

    for converter in external.loaded_converters():  # File, Directory: loaded if they exist
        declared = converter.literal_type(py_type)
        if declared is not None:
            return declared
    if is_dataframe_type(py_type):
        return external.converter("structured_dataset_type").literal_type(py_type)
    return None


def _union_literal_type(args: tuple[Any, ...]) -> types_pb2.LiteralType:
    variants = []
    for arg in args:
        variant = literal_type_of(arg)
        tagged = LiteralType()
        tagged.CopyFrom(variant)
        tagged.ClearField("structure")  # flytekit replaces the structure by the tag
        tagged.structure.tag = union_tag(variant)
        variants.append(tagged)
    return LiteralType(union_type=types_pb2.UnionType(variants=variants))


def _dataclass_literal_type(cls: type) -> types_pb2.LiteralType:
    """A dataclass as flytekit declares it: STRUCT, ``structure.dataclass_type`` holding each
    field's type, and a JSON schema in ``metadata`` (title, required fields, closed)."""
    import dataclasses

    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # an annotation naming something that does not exist
        raise UnsupportedType(f"{cls.__name__} (its field types cannot be read: {exc})"
                              ) from None
    lt = LiteralType(simple=SimpleType.STRUCT)
    properties: dict[str, Any] = {}
    required = []
    for field in dataclasses.fields(cls):
        try:
            field_type = literal_type_of(hints[field.name])
        except UnsupportedType as exc:
            raise UnsupportedType(f"{cls.__name__}.{field.name}: {exc.type_description}"
                                  ) from None
        lt.structure.dataclass_type[field.name].CopyFrom(field_type)
        properties[field.name] = _json_schema(field_type)
        if (field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING):
            required.append(field.name)
    lt.metadata.update({"title": cls.__name__, "type": "object", "properties": properties,
                        "required": required, "additionalProperties": False})
    return lt


def _json_schema(lt: types_pb2.LiteralType) -> dict[str, Any]:
    """The JSON schema of one field's values, as far as JSON can say it."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT and lt.HasField("metadata"):
            return struct_to_python(lt.metadata)
        row = SIMPLE_KINDS.get(lt.simple)
        return dict(row.json_schema) if row is not None else {"type": "object"}
    if kind == "collection_type":
        return {"type": "array", "items": _json_schema(lt.collection_type)}
    if kind == "map_value_type":
        return {"type": "object", "additionalProperties": _json_schema(lt.map_value_type)}
    if kind == "union_type":
        return {"anyOf": [_json_schema(v) for v in lt.union_type.variants]}
    if kind == "enum_type":
        return {"type": "string", "enum": list(lt.enum_type.values)}
    return {}
