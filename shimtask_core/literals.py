"""The literal codec: Flyte literals <-> Python values, validated against declared types.

It knows nothing about registries, hooks or the CLI. For every ``LiteralType``
it builds, once, a *filler* (Python value -> fields of a ``Literal``, strict)
and a *decoder* (``Literal`` -> Python value); :class:`InterfaceCodec` applies
them to a template's whole interface and maps outputs by **name**, never by
protobuf map order.

Type table (``python_type_of``; the full page is ``docs/literals.md``):

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
==================================  =================================================
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import struct as _struct
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final

from flyteidl.core import interface_pb2, literals_pb2, types_pb2
from google.protobuf import struct_pb2

from .errors import (
    MissingInput,
    OutputMismatch,
    UnexpectedInput,
    UnsupportedType,
    ValueTypeError,
)

Literal = literals_pb2.Literal
LiteralMap = literals_pb2.LiteralMap
LiteralType = types_pb2.LiteralType
SimpleType = types_pb2.SimpleType

Encoder = Callable[[Any], "literals_pb2.Literal"]
Decoder = Callable[["literals_pb2.Literal"], Any]
#: Writes a Python value into an empty ``Literal`` (the form every encoder is built in:
#: filling nested messages in place avoids copying them into their parents).
Filler = Callable[[Any, "literals_pb2.Literal"], None]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
UINT64_MAX: Final = 2**64 - 1
JSON_SAFE_INT: Final = 2**53
MSGPACK: Final = "msgpack"
#: The annotation flytekit >= 1.14 puts on STRUCT types whose values it writes as msgpack.
CACHE_KEY_METADATA: Final = "cache-key-metadata"
SERIALIZATION_FORMAT: Final = "serialization-format"

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)

_Scalar = literals_pb2.Scalar
_Primitive = literals_pb2.Primitive


class Mismatch(ValueTypeError):
    """A value that does not fit its type, raised deep inside a nested value.

    It is a ``ValueTypeError`` (a USER error) whose variable is ``value`` plus the
    path inside it (``value[3]['a']``); :class:`InterfaceCodec` re-raises it as a
    ``ValueTypeError`` naming the input or output. Converters of other modules
    (files, datasets) raise it too.
    """

    def __init__(self, expected: str, got: str) -> None:
        self.path: list[str] = []
        super().__init__("value", expected, got)

    def __str__(self) -> str:
        return f"value{''.join(self.path)}: expected {self.expected}, got {self.got}"


def got(value: Any) -> str:
    """A short description of a value for error messages: its type and a clipped repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"



# --- describing types ---------------------------------------------------------------

_SIMPLE_NAMES: Final = {
    SimpleType.NONE: "none",
    SimpleType.INTEGER: "int",
    SimpleType.FLOAT: "float",
    SimpleType.STRING: "str",
    SimpleType.BOOLEAN: "bool",
    SimpleType.DATETIME: "datetime",
    SimpleType.DURATION: "timedelta",
    SimpleType.BINARY: "binary",
    SimpleType.ERROR: "error",
    SimpleType.STRUCT: "dict",
}


def describe(lt: types_pb2.LiteralType) -> str:
    """A short, Python-flavoured name for a literal type, used in every error message."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT:
            title = _dataclass_title(lt)
            return f"dict (dataclass {title})" if title else "dict"
        return _SIMPLE_NAMES.get(lt.simple, f"simple type {lt.simple}")
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


def _dataclass_title(lt: types_pb2.LiteralType) -> str:
    if not lt.HasField("metadata"):
        return ""
    title = lt.metadata.fields.get("title")
    if title is not None and title.WhichOneof("kind") == "string_value":
        return str(title.string_value)
    return "?" if lt.structure.dataclass_type else ""


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


# --- Python types <-> literal types --------------------------------------------------

_SIMPLE_PY: Final[dict[int, Any]] = {
    SimpleType.NONE: type(None),
    SimpleType.INTEGER: int,
    SimpleType.FLOAT: float,
    SimpleType.STRING: str,
    SimpleType.BOOLEAN: bool,
    SimpleType.DATETIME: _dt.datetime,
    SimpleType.DURATION: _dt.timedelta,
    SimpleType.STRUCT: dict,
    SimpleType.BINARY: Any,
}


def python_type_of(lt: types_pb2.LiteralType) -> Any:
    """The Python type a value of ``lt`` decodes to (see the module's table)."""
    kind = lt.WhichOneof("type")
    if kind == "simple" and lt.simple in _SIMPLE_PY:
        return _SIMPLE_PY[lt.simple]
    if kind == "collection_type":
        return list[python_type_of(lt.collection_type)]  # type: ignore[misc]
    if kind == "map_value_type":
        return dict[str, python_type_of(lt.map_value_type)]  # type: ignore[misc]
    if kind == "union_type":
        variants = tuple(python_type_of(v) for v in lt.union_type.variants)
        return typing.Union[variants] if variants else type(None)  # noqa: UP007
    if kind == "enum_type":
        values = tuple(lt.enum_type.values)
        return typing.Literal[values] if values else str
    if kind == "blob":
        from . import files

        multi = lt.blob.dimensionality == types_pb2.BlobType.MULTIPART
        return files.Directory if multi else files.File
    if kind in ("structured_dataset_type", "schema"):
        from . import datasets

        return datasets.table_type(describe(lt))
    raise UnsupportedType(describe(lt))


def _simple(t: int) -> types_pb2.LiteralType:
    return LiteralType(simple=t)


_PY_SIMPLE: Final[dict[Any, int]] = {
    int: SimpleType.INTEGER,
    float: SimpleType.FLOAT,
    str: SimpleType.STRING,
    bool: SimpleType.BOOLEAN,
    _dt.datetime: SimpleType.DATETIME,
    _dt.timedelta: SimpleType.DURATION,
    type(None): SimpleType.NONE,
    None: SimpleType.NONE,
    dict: SimpleType.STRUCT,
    bytes: SimpleType.BINARY,
}


def literal_type_of(py_type: Any) -> types_pb2.LiteralType:
    """The Flyte literal type declaring a Python type, as flytekit declares it.

    ``int``, ``float``, ``str``, ``bool``, ``datetime``, ``timedelta``, ``None``,
    ``list[T]``, ``dict[str, T]``, ``dict`` (a generic STRUCT; use
    :func:`struct_type` for the msgpack form), ``bytes`` (BINARY), ``Optional``
    and ``Union`` (variants tagged with flytekit's tags), ``enum.Enum``
    subclasses with ``str`` values, :class:`~shimtask_core.files.File`,
    :class:`~shimtask_core.files.Directory`, ``pyarrow.Table`` and
    ``pandas.DataFrame`` (structured datasets). A ``LiteralType`` is returned as is.
    """
    if isinstance(py_type, LiteralType):
        return py_type
    if py_type in _PY_SIMPLE:
        return _simple(_PY_SIMPLE[py_type])
    origin = typing.get_origin(py_type)
    args = typing.get_args(py_type)
    if origin is list and len(args) == 1:
        return LiteralType(collection_type=literal_type_of(args[0]))
    if origin is dict and len(args) == 2:
        if args[0] is not str:
            raise UnsupportedType(f"{py_type} (Flyte map keys are str)")
        return LiteralType(map_value_type=literal_type_of(args[1]))
    if origin in (typing.Union, types.UnionType):
        return _union_literal_type(args)
    if origin is typing.Annotated:
        return literal_type_of(args[0])
    # (On Python 3.10, isinstance(set[int], type) is true but issubclass rejects it.)
    if isinstance(py_type, type) and not isinstance(py_type, types.GenericAlias):
        if issubclass(py_type, enum.Enum):
            values = [member.value for member in py_type]
            if not values or not all(isinstance(v, str) for v in values):
                raise UnsupportedType(f"{py_type.__name__} (Flyte enums have str values)")
            return LiteralType(enum_type=types_pb2.EnumType(values=values))
        from . import files

        if issubclass(py_type, files.Directory):
            return LiteralType(blob=types_pb2.BlobType(
                dimensionality=types_pb2.BlobType.MULTIPART))
        if issubclass(py_type, files.File):
            return LiteralType(blob=types_pb2.BlobType(dimensionality=types_pb2.BlobType.SINGLE))
        if _is_dataframe_type(py_type):
            return LiteralType(structured_dataset_type=types_pb2.StructuredDatasetType())
    raise UnsupportedType(repr(py_type))


def _is_dataframe_type(py_type: type) -> bool:
    root = py_type.__module__.split(".")[0]
    return (root, py_type.__name__) in (("pyarrow", "Table"), ("pandas", "DataFrame"))


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


def union_tag(lt: types_pb2.LiteralType) -> str:
    """The union variant tag flytekit gives a type (the name of its type transformer)."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT:
            return "Object-Dataclass-Transformer" if lt.HasField("metadata") else "Typed Dict"
        return _SIMPLE_NAMES.get(lt.simple, "")
    if kind == "blob":
        multi = lt.blob.dimensionality == types_pb2.BlobType.MULTIPART
        return "FlyteDirectory" if multi else "FlyteFilePath"
    return {
        "collection_type": "Typed List",
        "map_value_type": "Typed Dict",
        "enum_type": "DefaultEnumTransformer",
        "structured_dataset_type": "StructuredDataset Transformer",
        "schema": "FlyteSchema Transformer",
        "union_type": "Typed Union",
    }.get(kind or "", "")


# --- msgpack (imported only when a msgpack value is converted) -----------------------

_msgpack_module: Any = None


def _msgpack() -> Any:
    global _msgpack_module
    if _msgpack_module is None:
        try:
            import msgpack
        except ImportError:
            raise UnsupportedType(
                "binary (msgpack): the msgpack package is not installed; "
                "pip install 'shimtask-core[msgpack]'") from None
        _msgpack_module = msgpack
    return _msgpack_module


def msgpack_dumps(value: Any) -> bytes:
    """Serialize a value as flytekit does (``use_bin_type``; tuples become lists)."""
    data: bytes = _msgpack().packb(value, use_bin_type=True)
    return data


def msgpack_loads(data: bytes) -> Any:
    return _msgpack().unpackb(data, raw=False, strict_map_key=False)


def _msgpack_literal(lit: literals_pb2.Literal) -> tuple[bool, Any]:
    """``(True, value)`` when ``lit`` is a msgpack binary scalar, else ``(False, None)``."""
    if lit.scalar.WhichOneof("value") == "binary" and lit.scalar.binary.tag == MSGPACK:
        return True, msgpack_loads(lit.scalar.binary.value)
    return False, None


# --- Python-level checks (shared by literal fillers and msgpack/JSON values) ---------


def _check_int(value: Any) -> int:
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise Mismatch("int", got(value))
        value = value.__index__()  # numpy integers and other exact integers
    if not INT64_MIN <= value <= INT64_MAX:
        raise Mismatch("int (64-bit)", f"{value} which overflows int64")
    return typing.cast(int, value)


def _check_float(value: Any) -> float:
    if type(value) is float:
        return value
    if isinstance(value, bool):
        raise Mismatch("float", got(value))
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int) or hasattr(value, "__index__"):
        try:
            return float(value)  # the documented widening int -> float
        except OverflowError:
            raise Mismatch("float", f"{value} which overflows a double") from None
    if hasattr(value, "__float__") and type(value).__module__ == "numpy":
        return float(value)  # numpy.float32 and friends
    raise Mismatch("float", got(value))


def _check_str(value: Any) -> str:
    if not isinstance(value, str):
        raise Mismatch("str", got(value))
    return value


def _check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        if type(value).__name__ == "bool_" and type(value).__module__ == "numpy":
            return bool(value)
        raise Mismatch("bool", got(value))
    return value


def _check_datetime(value: Any) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise Mismatch("datetime", got(value))
    if value.tzinfo is None:
        return value.replace(tzinfo=_UTC)
    return value.astimezone(_UTC)


def _check_duration(value: Any) -> _dt.timedelta:
    if not isinstance(value, _dt.timedelta):
        raise Mismatch("timedelta", got(value))
    return value


def _check_none(value: Any) -> None:
    if value is not None:
        raise Mismatch("None", got(value))


def _plain_json(value: Any, path: str) -> Any:
    """The value as plain JSON (dicts, lists) or a mismatch naming where it cannot be one.

    A protobuf Struct holds doubles: integers beyond +-2**53 and non-finite
    numbers would not come back, so they are refused.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if abs(value) > JSON_SAFE_INT:
            raise Mismatch("dict of JSON values", f"{value} at {path or 'top'} beyond +-2**53")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Mismatch("dict of JSON values", f"{value} at {path or 'top'}")
        return value
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Mismatch("dict with str keys", f"key {key!r} at {path or 'top'}")
            plain[key] = _plain_json(item, f"{path}[{key!r}]")
        return plain
    if isinstance(value, (list, tuple)):
        return [_plain_json(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise Mismatch("dict of JSON values", f"{got(value)} at {path or 'top'}")


def _plain_msgpack(value: Any, path: str) -> Any:
    """The value as plain msgpack data, or a mismatch naming what msgpack cannot carry."""
    if value is None or isinstance(value, (bool, str, float, bytes)):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= UINT64_MAX:
            raise Mismatch("msgpack value", f"{value} at {path or 'top'} beyond 64 bits")
        return int(value)
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise Mismatch("dict with str or int keys", f"key {key!r} at {path or 'top'}")
            plain[key] = _plain_msgpack(item, f"{path}[{key!r}]")
        return plain
    if isinstance(value, (list, tuple)):
        return [_plain_msgpack(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise Mismatch("msgpack value", f"{got(value)} at {path or 'top'}")


# --- fillers (Python -> Literal, strict) ----------------------------------------------


def _fill_int(value: Any, target: literals_pb2.Literal) -> None:
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        value = _check_int(value)
    target.scalar.primitive.integer = value


def _fill_float(value: Any, target: literals_pb2.Literal) -> None:
    if type(value) is not float:
        value = _check_float(value)
    target.scalar.primitive.float_value = value


def _fill_str(value: Any, target: literals_pb2.Literal) -> None:
    if type(value) is not str:
        value = _check_str(value)
    target.scalar.primitive.string_value = value


def _fill_bool(value: Any, target: literals_pb2.Literal) -> None:
    if type(value) is not bool:
        value = _check_bool(value)
    target.scalar.primitive.boolean = value


def _fill_datetime(value: Any, target: literals_pb2.Literal) -> None:
    target.scalar.primitive.datetime.FromDatetime(_check_datetime(value))


def _fill_duration(value: Any, target: literals_pb2.Literal) -> None:
    target.scalar.primitive.duration.FromTimedelta(_check_duration(value))


def _fill_none(value: Any, target: literals_pb2.Literal) -> None:
    if value is not None:
        raise Mismatch("None", got(value))
    target.scalar.none_type.SetInParent()


def _fill_generic(value: Any, target: literals_pb2.Literal) -> None:
    if not isinstance(value, Mapping):
        raise Mismatch("dict", got(value))
    plain = _plain_json(value, "")
    generic = target.scalar.generic
    generic.SetInParent()
    if plain:
        generic.update(plain)


def _fill_msgpack_dict(value: Any, target: literals_pb2.Literal) -> None:
    if not isinstance(value, Mapping):
        raise Mismatch("dict", got(value))
    binary = target.scalar.binary
    binary.value = msgpack_dumps(_plain_msgpack(value, ""))
    binary.tag = MSGPACK


def _fill_binary(value: Any, target: literals_pb2.Literal) -> None:
    binary = target.scalar.binary
    if isinstance(value, (bytes, bytearray, memoryview)):
        binary.value = bytes(value)
        binary.SetInParent()
        return
    binary.value = msgpack_dumps(_plain_msgpack(value, ""))
    binary.tag = MSGPACK


def _fill_collection(item: Filler) -> Filler:
    def fill(value: Any, target: literals_pb2.Literal) -> None:
        if not isinstance(value, (list, tuple)):
            raise Mismatch("list", got(value))
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


# A list of floats is the one shape big enough to matter (a 100,000-float list costs
# 1.1 s in flytekit). Each element has one canonical encoding of 15 bytes:
#   0a 0d (Literal.scalar, 13 bytes) 0a 0b (Scalar.primitive, 11) 0a 09 (Primitive, 9)
#   11 <8-byte little-endian double> (Primitive.float_value)
# so the collection is built with one struct.pack and parsed by upb in C, and read back
# with one struct.unpack after checking every element has exactly that layout.
_FLOAT_ITEM: Final = b"\x0a\x0d\x0a\x0b\x0a\x09\x11"
_FLOAT_ITEM_SIZE: Final = 15
_FAST_MIN: Final = 8
_CHUNK: Final = 4096
_chunk_struct: Final = _struct.Struct("<" + "7xd" * _CHUNK)
_PREFIX_COLUMNS: Final = tuple(bytes([b]) for b in _FLOAT_ITEM)


def _pack_floats(values: Any, n: int) -> bytes:
    """The serialized LiteralCollection of ``n`` doubles (already checked to be floats)."""
    parts = []
    whole = n - n % _CHUNK
    pack = _chunk_struct.pack
    for start in range(0, whole, _CHUNK):
        parts.append(pack(*values[start:start + _CHUNK]))
    if whole < n:
        parts.append(_struct.pack("<" + "7xd" * (n - whole), *values[whole:]))
    buf = bytearray(b"".join(parts))
    for offset, byte in enumerate(_PREFIX_COLUMNS):
        buf[offset::_FLOAT_ITEM_SIZE] = byte * n
    return bytes(buf)


def _unpack_floats(data: bytes, n: int) -> list[float] | None:
    """The doubles of a serialized collection, or None unless every element is canonical."""
    if len(data) != n * _FLOAT_ITEM_SIZE:
        return None
    for offset, byte in enumerate(_PREFIX_COLUMNS):
        if data[offset::_FLOAT_ITEM_SIZE] != byte * n:
            return None
    out: list[float] = []
    whole = n - n % _CHUNK
    unpack = _chunk_struct.unpack_from
    step = _CHUNK * _FLOAT_ITEM_SIZE
    for start in range(0, whole * _FLOAT_ITEM_SIZE, step):
        out.extend(unpack(data, start))
    if whole < n:
        out.extend(_struct.unpack_from("<" + "7xd" * (n - whole), data,
                                       whole * _FLOAT_ITEM_SIZE))
    return out


_FLOAT_TYPES: Final = frozenset({float})
_WIDENING_TYPES: Final = frozenset({float, int})


def _fill_float_list(value: Any, target: literals_pb2.Literal) -> None:
    n = len(value) if type(value) in (list, tuple) else -1
    if n >= _FAST_MIN:
        kinds = set(map(type, value))
        if kinds <= _WIDENING_TYPES:
            try:
                data = _pack_floats(value, n)
            except (OverflowError, _struct.error):  # an int beyond a double: named below
                pass
            else:
                target.collection.ParseFromString(data)
                return
    _SLOW_FLOAT_LIST(value, target)


_SLOW_FLOAT_LIST: Final = _fill_collection(_fill_float)


def _fill_map(item: Filler) -> Filler:
    def fill(value: Any, target: literals_pb2.Literal) -> None:
        if not isinstance(value, Mapping):
            raise Mismatch("dict", got(value))
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


def _fill_enum(lt: types_pb2.LiteralType) -> Filler:
    values = frozenset(lt.enum_type.values)
    expected = describe(lt)

    def fill(value: Any, target: literals_pb2.Literal) -> None:
        text = value.value if isinstance(value, enum.Enum) else value
        if type(text) is not str or text not in values:
            raise Mismatch(expected, got(value))
        target.scalar.primitive.string_value = text

    return fill


# --- unions: choosing the variant ---------------------------------------------------

# Kind names shared by values, literal types and literals, used to try the variant that
# fits a value (or a literal) exactly before the ones that would need a widening.
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


def _value_kinds(value: Any) -> tuple[str, ...]:
    kinds = _VALUE_KINDS.get(type(value))
    if kinds is not None:
        return kinds
    if isinstance(value, enum.Enum):
        return ("enum", "str")
    if isinstance(value, (list, tuple)):
        return ("list", "dataset")
    if isinstance(value, Mapping):
        return ("map", "struct")
    from . import files

    if isinstance(value, files.Directory):
        return ("dir",)
    if isinstance(value, files.File):
        return ("file",)
    return ("dataset",)


def _type_kind(lt: types_pb2.LiteralType) -> str:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return {
            SimpleType.NONE: "none", SimpleType.INTEGER: "int", SimpleType.FLOAT: "float",
            SimpleType.STRING: "str", SimpleType.BOOLEAN: "bool",
            SimpleType.DATETIME: "datetime", SimpleType.DURATION: "duration",
            SimpleType.STRUCT: "struct", SimpleType.BINARY: "binary",
        }.get(lt.simple, "other")
    if kind == "blob":
        return "dir" if lt.blob.dimensionality == types_pb2.BlobType.MULTIPART else "file"
    return {
        "collection_type": "list", "map_value_type": "map", "enum_type": "enum",
        "structured_dataset_type": "dataset", "schema": "dataset", "union_type": "union",
    }.get(kind or "", "other")


def _literal_kinds(lit: literals_pb2.Literal) -> tuple[str, ...]:
    kind = lit.WhichOneof("value")
    if kind == "collection":
        return ("list",)
    if kind == "map":
        return ("map",)
    if kind != "scalar":
        return ()
    scalar_kind = lit.scalar.WhichOneof("value")
    if scalar_kind == "primitive":
        return {
            "integer": ("int", "float"), "float_value": ("float", "int"),
            "string_value": ("str", "enum"), "boolean": ("bool",),
            "datetime": ("datetime",), "duration": ("duration",),
        }.get(lit.scalar.primitive.WhichOneof("value") or "", ())
    if scalar_kind == "blob":
        multi = lit.scalar.blob.metadata.type.dimensionality == types_pb2.BlobType.MULTIPART
        return ("dir",) if multi else ("file",)
    return {
        "none_type": ("none",), "generic": ("struct",), "binary": ("struct", "binary"),
        "structured_dataset": ("dataset",), "schema": ("dataset",), "union": ("union",),
    }.get(scalar_kind or "", ())


def _shape(lt: types_pb2.LiteralType) -> bytes:
    """A type's identity for matching a union's stored type: no tag, metadata or annotation."""
    bare = LiteralType()
    bare.CopyFrom(lt)
    for name in ("structure", "metadata", "annotation"):
        bare.ClearField(name)
    return bytes(bare.SerializeToString(deterministic=True))


class _Variant:
    __slots__ = ("decode", "fill", "kind", "lt", "shape", "tag")

    def __init__(self, lt: types_pb2.LiteralType) -> None:
        self.lt = lt
        self.tag = lt.structure.tag
        self.kind = _type_kind(lt)
        self.shape = _shape(lt)
        self.fill = _filler(lt)
        self.decode = decoder_for(lt)


def _ordered(variants: list[_Variant], kinds: tuple[str, ...]) -> list[_Variant]:
    """Variants whose kind fits exactly first (in the order of ``kinds``), then the rest."""
    first = [v for kind in kinds for v in variants if v.kind == kind]
    return first + [v for v in variants if v not in first]


def _fill_union(lt: types_pb2.LiteralType) -> Filler:
    variants = [_Variant(v) for v in lt.union_type.variants]
    expected = describe(lt)
    by_kinds: dict[tuple[str, ...], list[_Variant]] = {}

    def fill(value: Any, target: literals_pb2.Literal) -> None:
        kinds = _value_kinds(value)
        order = by_kinds.get(kinds)
        if order is None:
            order = by_kinds[kinds] = _ordered(variants, kinds)
        union = target.scalar.union
        first_error: Mismatch | None = None
        for variant in order:
            try:
                variant.fill(value, union.value)
            except Mismatch as exc:
                union.value.Clear()
                if first_error is None and variant.kind in kinds:
                    first_error = exc
                continue
            union.type.CopyFrom(variant.lt)
            return
        if first_error is not None and first_error.path:
            raise first_error
        raise Mismatch(expected, got(value))

    return fill


# --- structs: dicts, dataclasses ----------------------------------------------------

Normalizer = Callable[[Any], Any]


def _iso_datetime(value: Any) -> str:
    return _check_datetime(value).isoformat()  # as mashumaro writes it


def _seconds(value: Any) -> float:
    return _check_duration(value).total_seconds()  # as mashumaro writes it


def _normalizer(lt: types_pb2.LiteralType, decoding: bool) -> Normalizer | None:
    """Checks (and widens) a plain value of a dataclass field; None where anything goes.

    Encoding turns datetimes and timedeltas into what mashumaro writes (ISO text,
    seconds); decoding turns them back.
    """
    kind = lt.WhichOneof("type")
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT:
            return _dataclass_normalizer(lt, decoding) if lt.structure.dataclass_type else None
        if lt.simple == SimpleType.DATETIME:
            return _msgpack_datetime if decoding else _iso_datetime
        if lt.simple == SimpleType.DURATION:
            return _msgpack_duration if decoding else _seconds
        return {
            SimpleType.INTEGER: _check_int, SimpleType.FLOAT: _check_float,
            SimpleType.STRING: _check_str, SimpleType.BOOLEAN: _check_bool,
            SimpleType.NONE: _check_none,
        }.get(lt.simple)
    if kind == "collection_type":
        item = _normalizer(lt.collection_type, decoding)

        def norm_list(value: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                raise Mismatch("list", got(value))
            return [_nested(item, v, f"[{i}]") for i, v in enumerate(value)] if item else value

        return norm_list
    if kind == "map_value_type":
        item = _normalizer(lt.map_value_type, decoding)

        def norm_map(value: Any) -> Any:
            if not isinstance(value, Mapping):
                raise Mismatch("dict", got(value))
            return {k: _nested(item, v, f"[{k!r}]") for k, v in value.items()} if item else value

        return norm_map
    if kind == "enum_type":
        values = frozenset(lt.enum_type.values)
        expected = describe(lt)

        def norm_enum(value: Any) -> Any:
            text = value.value if isinstance(value, enum.Enum) else value
            if text not in values:
                raise Mismatch(expected, got(value))
            return text

        return norm_enum
    if kind == "union_type":
        options = [(_type_kind(v), _normalizer(v, decoding)) for v in lt.union_type.variants]
        expected = describe(lt)

        def norm_union(value: Any) -> Any:
            kinds = _value_kinds(value)
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
    return None


def _nested(norm: Normalizer | None, value: Any, where: str) -> Any:
    if norm is None:
        return value
    try:
        return norm(value)
    except Mismatch as exc:
        exc.path.insert(0, where)
        raise


def _dataclass_normalizer(lt: types_pb2.LiteralType, decoding: bool) -> Normalizer:
    fields = {name: _normalizer(ft, decoding) for name, ft in lt.structure.dataclass_type.items()}
    schema = struct_to_python(lt.metadata) if lt.HasField("metadata") else {}
    required = [n for n in schema.get("required", []) if isinstance(n, str)]
    closed = schema.get("additionalProperties") is False
    expected = describe(lt)

    def normalize(value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise Mismatch(expected, got(value))
        missing = [n for n in required if n not in value]
        if missing:
            raise Mismatch(expected, f"a dict without field(s) {', '.join(map(repr, missing))}")
        if closed:
            unknown = sorted(str(k) for k in value if k not in fields)
            if unknown:
                raise Mismatch(expected, f"a dict with unknown field(s) "
                                          f"{', '.join(map(repr, unknown))}")
        return {k: _nested(fields.get(k), v, f"[{k!r}]") for k, v in value.items()}

    return normalize


def _fill_struct(lt: types_pb2.LiteralType) -> Filler:
    msgpack = is_msgpack_struct(lt)
    if not lt.structure.dataclass_type:
        return _fill_msgpack_dict if msgpack else _fill_generic
    normalize = _dataclass_normalizer(lt, decoding=False)
    write = _fill_msgpack_dict if msgpack else _fill_generic

    def fill(value: Any, target: literals_pb2.Literal) -> None:
        write(normalize(value), target)

    return fill


# --- dispatch -----------------------------------------------------------------------

_SIMPLE_FILLERS: Final[dict[int, Filler]] = {
    SimpleType.INTEGER: _fill_int,
    SimpleType.FLOAT: _fill_float,
    SimpleType.STRING: _fill_str,
    SimpleType.BOOLEAN: _fill_bool,
    SimpleType.DATETIME: _fill_datetime,
    SimpleType.DURATION: _fill_duration,
    SimpleType.NONE: _fill_none,
    SimpleType.BINARY: _fill_binary,
}


def _filler(lt: types_pb2.LiteralType) -> Filler:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT:
            return _fill_struct(lt)
        if lt.simple in _SIMPLE_FILLERS:
            return _SIMPLE_FILLERS[lt.simple]
    elif kind == "collection_type":
        item = lt.collection_type
        if item.WhichOneof("type") == "simple" and item.simple == SimpleType.FLOAT:
            return _fill_float_list
        return _fill_collection(_filler(item))
    elif kind == "map_value_type":
        return _fill_map(_filler(lt.map_value_type))
    elif kind == "union_type":
        return _fill_union(lt)
    elif kind == "enum_type":
        return _fill_enum(lt)
    elif kind == "blob":
        from . import files

        return files.blob_filler(lt)
    elif kind in ("structured_dataset_type", "schema"):
        from . import datasets

        return datasets.dataset_filler(lt)
    raise UnsupportedType(describe(lt))


def filler_for(lt: types_pb2.LiteralType) -> Filler:
    """Build the strict filler for ``lt``: ``fill(value, empty_literal)`` writes the value."""
    return _filler(lt)


def encoder_for(lt: types_pb2.LiteralType) -> Encoder:
    """Build the strict encoder for ``lt``; raises UnsupportedType for what it cannot encode.

    The encoder raises :class:`Mismatch` for a wrong value; :class:`InterfaceCodec`
    turns that into a ``ValueTypeError`` naming the variable.
    """
    fill = _filler(lt)

    def encode(value: Any) -> literals_pb2.Literal:
        lit = Literal()
        fill(value, lit)
        return lit

    return encode


# --- decoders (Literal -> Python), checking the literal matches its type -------------


def _literal_kind(lit: literals_pb2.Literal) -> str:
    kind = lit.WhichOneof("value")
    if kind == "scalar":
        scalar_kind = lit.scalar.WhichOneof("value")
        if scalar_kind == "primitive":
            return f"a {lit.scalar.primitive.WhichOneof('value')} literal"
        if scalar_kind == "binary":
            tag = lit.scalar.binary.tag
            return f"a binary literal (tag {tag!r})" if tag else "a binary literal"
        return f"a {scalar_kind} literal"
    return f"a {kind} literal" if kind else "an empty literal"


def literal_kind(lit: literals_pb2.Literal) -> str:
    """What a literal holds, for error messages (``a string_value literal``)."""
    return _literal_kind(lit)


def _via_msgpack(lit: literals_pb2.Literal, check: Callable[[Any], Any], expected: str) -> Any:
    """Values that propeller resolved out of a msgpack dataclass arrive as msgpack binaries."""
    found, value = _msgpack_literal(lit)
    if not found:
        raise Mismatch(expected, _literal_kind(lit))
    return check(value)


def _dec_int(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    which = primitive.WhichOneof("value")
    if which == "integer":
        return primitive.integer
    if which == "float_value" and primitive.float_value.is_integer():
        return int(primitive.float_value)  # the Flyte console sends numbers as floats
    return _via_msgpack(lit, _check_int, "int")


def _dec_float(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    which = primitive.WhichOneof("value")
    if which == "float_value":
        return primitive.float_value
    if which == "integer":  # widening, as on the way in
        return float(primitive.integer)
    return _via_msgpack(lit, _check_float, "float")


def _dec_str(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    if primitive.WhichOneof("value") == "string_value":
        return primitive.string_value
    return _via_msgpack(lit, _check_str, "str")


def _dec_bool(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    if primitive.WhichOneof("value") == "boolean":
        return primitive.boolean
    return _via_msgpack(lit, _check_bool, "bool")


def _timestamp_to_datetime(seconds: int, nanos: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(seconds=seconds, microseconds=nanos // 1000)


def _msgpack_datetime(value: Any) -> _dt.datetime:
    if isinstance(value, str):  # mashumaro writes datetimes as ISO 8601 text
        try:
            return _check_datetime(_dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise Mismatch("datetime", got(value))


def _msgpack_duration(value: Any) -> _dt.timedelta:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _dt.timedelta(seconds=value)  # mashumaro writes seconds
    raise Mismatch("timedelta", got(value))


def _dec_datetime(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    if primitive.WhichOneof("value") == "datetime":
        ts = primitive.datetime
        return _timestamp_to_datetime(ts.seconds, ts.nanos)
    return _via_msgpack(lit, _msgpack_datetime, "datetime")


def _dec_duration(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    if primitive.WhichOneof("value") == "duration":
        return primitive.duration.ToTimedelta()
    return _via_msgpack(lit, _msgpack_duration, "timedelta")


def _dec_none(lit: literals_pb2.Literal) -> Any:
    if lit.scalar.WhichOneof("value") != "none_type":
        return _via_msgpack(lit, _check_none, "None")
    return None


def struct_to_python(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as a dict, with integral numbers within +-2**53 read back as ``int``.

    protobuf Structs store every number as a double; templates and generic
    values written from Python had ints, so giving them back as ints is the
    faithful reading. Keys come out sorted: a Struct is a protobuf map, whose order
    varies from process to process, and output should not.
    """
    return {key: _json_value(value) for key, value in sorted(struct.fields.items())}


def _json_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= JSON_SAFE_INT:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_python(value.struct_value)
    if kind == "list_value":
        return [_json_value(item) for item in value.list_value.values]
    return None


def _dec_dict(lit: literals_pb2.Literal) -> Any:
    scalar_kind = lit.scalar.WhichOneof("value")
    if scalar_kind == "generic":
        return struct_to_python(lit.scalar.generic)
    if scalar_kind == "binary" and lit.scalar.binary.tag == MSGPACK:
        value = msgpack_loads(lit.scalar.binary.value)
        if isinstance(value, dict):
            return value
        raise Mismatch("dict", f"msgpack {got(value)}")
    raise Mismatch("dict", _literal_kind(lit))


def dict_of(lit: literals_pb2.Literal) -> dict[Any, Any] | None:
    """A generic or msgpack scalar's dict (how Flyte passes a field of a dataclass), else None."""
    try:
        value = _dec_dict(lit)
    except Mismatch:
        return None
    return typing.cast("dict[Any, Any]", value)


def _dec_struct(lt: types_pb2.LiteralType) -> Decoder:
    if not lt.structure.dataclass_type:
        return _dec_dict
    normalize = _dataclass_normalizer(lt, decoding=True)

    def decode(lit: literals_pb2.Literal) -> Any:
        return normalize(_dec_dict(lit))

    return decode


def _dec_binary(lit: literals_pb2.Literal) -> Any:
    if lit.scalar.WhichOneof("value") != "binary":
        raise Mismatch("binary", _literal_kind(lit))
    binary = lit.scalar.binary
    if binary.tag == MSGPACK:
        return msgpack_loads(binary.value)
    return binary.value


def _dec_collection(item: Decoder) -> Decoder:
    def decode(lit: literals_pb2.Literal) -> Any:
        if lit.WhichOneof("value") != "collection":
            raise Mismatch("list", _literal_kind(lit))
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


_SLOW_FLOAT_LIST_DECODER: Final = _dec_collection(_dec_float)


def _dec_float_list(lit: literals_pb2.Literal) -> Any:
    if lit.WhichOneof("value") == "collection":
        n = len(lit.collection.literals)
        if n >= _FAST_MIN:
            values = _unpack_floats(lit.collection.SerializeToString(), n)
            if values is not None:
                return values
    return _SLOW_FLOAT_LIST_DECODER(lit)


def _dec_map(item: Decoder) -> Decoder:
    def decode(lit: literals_pb2.Literal) -> Any:
        if lit.WhichOneof("value") != "map":
            raise Mismatch("dict", _literal_kind(lit))
        values = {}
        for key, element in lit.map.literals.items():
            try:
                values[key] = item(element)
            except Mismatch as exc:
                exc.path.insert(0, f"[{key!r}]")
                raise
        return values

    return decode


def _dec_enum(lt: types_pb2.LiteralType) -> Decoder:
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
        return _via_msgpack(lit, check, expected)

    return decode


def _dec_union(lt: types_pb2.LiteralType) -> Decoder:
    variants = [_Variant(v) for v in lt.union_type.variants]
    expected = describe(lt)
    by_kinds: dict[tuple[str, ...], list[_Variant]] = {}

    def candidates(lit: literals_pb2.Literal) -> tuple[literals_pb2.Literal, list[_Variant]]:
        if lit.scalar.WhichOneof("value") == "union":
            union = lit.scalar.union
            stored = union.type
            tag = stored.structure.tag
            chosen = [v for v in variants if v.tag == tag] if tag else []
            if len(chosen) != 1:
                shape = _shape(stored)
                chosen = [v for v in chosen or variants if v.shape == shape] or chosen
            inner = union.value
            if chosen:
                return inner, chosen + [v for v in variants if v not in chosen]
            lit = inner
        kinds = _literal_kinds(lit)
        order = by_kinds.get(kinds)
        if order is None:
            order = by_kinds[kinds] = _ordered(variants, kinds)
        return lit, order

    def decode(lit: literals_pb2.Literal) -> Any:
        inner, order = candidates(lit)
        first_error: Mismatch | None = None
        for variant in order:
            try:
                return variant.decode(inner)
            except Mismatch as exc:
                if first_error is None:
                    first_error = exc
        if first_error is not None and first_error.path:
            raise first_error
        raise Mismatch(expected, _literal_kind(inner))

    return decode


_SIMPLE_DECODERS: Final[dict[int, Decoder]] = {
    SimpleType.INTEGER: _dec_int,
    SimpleType.FLOAT: _dec_float,
    SimpleType.STRING: _dec_str,
    SimpleType.BOOLEAN: _dec_bool,
    SimpleType.DATETIME: _dec_datetime,
    SimpleType.DURATION: _dec_duration,
    SimpleType.NONE: _dec_none,
    SimpleType.BINARY: _dec_binary,
}


def decoder_for(lt: types_pb2.LiteralType) -> Decoder:
    """Build the decoder for ``lt``; it checks that each literal has the declared shape."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        if lt.simple == SimpleType.STRUCT:
            return _dec_struct(lt)
        if lt.simple in _SIMPLE_DECODERS:
            return _SIMPLE_DECODERS[lt.simple]
    elif kind == "collection_type":
        item = lt.collection_type
        if item.WhichOneof("type") == "simple" and item.simple == SimpleType.FLOAT:
            return _dec_float_list
        return _dec_collection(decoder_for(item))
    elif kind == "map_value_type":
        return _dec_map(decoder_for(lt.map_value_type))
    elif kind == "union_type":
        return _dec_union(lt)
    elif kind == "enum_type":
        return _dec_enum(lt)
    elif kind == "blob":
        from . import files

        return files.blob_decoder(lt)
    elif kind in ("structured_dataset_type", "schema"):
        from . import datasets

        return datasets.dataset_decoder(lt)
    raise UnsupportedType(describe(lt))


# --- whole interfaces ---------------------------------------------------------------


class _Variable:
    __slots__ = ("decode", "encode", "expected", "fill", "is_dict", "name", "optional")

    def __init__(self, name: str, lt: types_pb2.LiteralType) -> None:
        self.name = name
        self.expected = describe(lt)
        try:
            self.fill = _filler(lt)
            self.decode = decoder_for(lt)
        except UnsupportedType as exc:
            raise UnsupportedType(exc.type_description, variable=name) from None
        self.encode = _encoder_from(self.fill)
        self.optional = _accepts_none(lt)
        self.is_dict = _is_dict_type(lt)


def _encoder_from(fill: Filler) -> Encoder:
    def encode(value: Any) -> literals_pb2.Literal:
        lit = Literal()
        fill(value, lit)
        return lit

    return encode


def _accepts_none(lt: types_pb2.LiteralType) -> bool:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return bool(lt.simple == SimpleType.NONE)
    if kind == "union_type":
        return any(_accepts_none(v) for v in lt.union_type.variants)
    return False


def _is_dict_type(lt: types_pb2.LiteralType) -> bool:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return lt.simple in (SimpleType.STRUCT, SimpleType.BINARY)
    if kind == "map_value_type":
        return True
    if kind == "union_type":
        return any(_is_dict_type(v) for v in lt.union_type.variants)
    return False


def _positional_names(names: list[str]) -> bool:
    return names == [f"o{i}" for i in range(len(names))]


def _variables(variable_map: interface_pb2.VariableMap) -> dict[str, _Variable]:
    return {name: _Variable(name, var.type)
            for name, var in sorted(variable_map.variables.items())}


def _load_offloaded(lit: literals_pb2.Literal) -> literals_pb2.Literal:
    """Flyte stores big literals elsewhere and passes ``offloaded_metadata`` (flytekit >= 1.13)."""
    from . import storage

    loaded = Literal()
    loaded.ParseFromString(storage.read_bytes(lit.offloaded_metadata.uri))
    return loaded


class InterfaceCodec:
    """Converts a template's inputs and outputs, by name, with validation.

    Build one per template and reuse it: every per-type decision is made here,
    once, so a call only runs the prepared fillers and decoders.
    """

    __slots__ = ("_outputs_by_index", "_single_output", "inputs", "outputs")

    def __init__(self, interface: interface_pb2.TypedInterface) -> None:
        self.inputs = _variables(interface.inputs)
        self.outputs = _variables(interface.outputs)
        names = sorted(self.outputs, key=lambda n: int(n[1:]) if n[1:].isdigit() else -1)
        self._outputs_by_index = (
            [self.outputs[n] for n in names] if _positional_names(names) else None
        )
        self._single_output = next(iter(self.outputs.values())) if len(self.outputs) == 1 else None

    # inputs

    def decode_inputs(self, literal_map: literals_pb2.LiteralMap) -> dict[str, Any]:
        """Flyte inputs -> keyword arguments for the executor."""
        literals = literal_map.literals
        values: dict[str, Any] = {}
        given = 0
        for name, var in self.inputs.items():
            if name in literals:
                given += 1
                lit = literals[name]
                if lit.HasField("offloaded_metadata"):
                    lit = _load_offloaded(lit)
                try:
                    values[name] = var.decode(lit)
                except (Mismatch, UnsupportedType) as exc:
                    raise _convert_error(exc, var, "input") from None
            elif var.optional:
                values[name] = None
            else:
                raise MissingInput(name, var.expected)
        if len(literals) > given:
            extra = sorted(n for n in literals if n not in self.inputs)
            raise UnexpectedInput(extra, sorted(self.inputs))
        return values

    def encode_inputs(self, values: Mapping[str, Any]) -> literals_pb2.LiteralMap:
        """Python inputs -> a validated LiteralMap (what Flyte would pass)."""
        extra = sorted(n for n in values if n not in self.inputs)
        if extra:
            raise UnexpectedInput(extra, sorted(self.inputs))
        literal_map = LiteralMap()
        literals = literal_map.literals
        for name, var in self.inputs.items():
            if name in values:
                value = values[name]
            elif var.optional:
                value = None
            else:
                raise MissingInput(name, var.expected)
            _fill_variable(var, value, literals[name], "input")
        return literal_map

    # outputs

    def encode_outputs(self, result: Any) -> literals_pb2.LiteralMap:
        """The executor's return value -> the outputs LiteralMap, mapped by name."""
        literal_map = LiteralMap()
        literals = literal_map.literals
        single = self._single_output
        if single is not None and (single.is_dict or not isinstance(result, Mapping)):
            _fill_variable(single, result, literals[single.name], "output")
            return literal_map
        by_name = self.outputs_by_name(result)
        for name, var in self.outputs.items():
            _fill_variable(var, by_name[name], literals[name], "output")
        return literal_map

    def outputs_by_name(self, result: Any) -> dict[str, Any]:
        """Pair a return value with output names: never by protobuf map order.

        * no outputs: the executor returns ``None``;
        * one output: the value itself (or ``{name: value}`` when the type is not a dict);
        * several: a dict (or NamedTuple) keyed by name; a plain tuple only when the
          names are flytekit's positional ``o0, o1, ...``.
        """
        outputs = self.outputs
        declared = sorted(outputs)
        if not outputs:
            if result is not None:
                raise OutputMismatch(
                    f"the template declares no outputs but the executor returned {got(result)}"
                )
            return {}
        if len(outputs) == 1:
            (name,) = outputs
            if isinstance(result, Mapping) and list(result) == [name] and not outputs[name].is_dict:
                return dict(result)
            return {name: result}
        if isinstance(result, tuple) and hasattr(result, "_asdict"):
            result = result._asdict()
        if isinstance(result, Mapping):
            missing = [n for n in declared if n not in result]
            extra = sorted(str(n) for n in result if n not in outputs)
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"missing {', '.join(map(repr, missing))}")
                if extra:
                    parts.append(f"unknown {', '.join(map(repr, extra))}")
                raise OutputMismatch(
                    f"executor outputs do not match the template: {'; '.join(parts)} "
                    f"(declared: {', '.join(declared)})",
                    declared=declared,
                )
            return dict(result)
        if isinstance(result, (tuple, list)):
            if self._outputs_by_index is None:
                raise OutputMismatch(
                    f"the executor returned a {type(result).__name__} for outputs "
                    f"{', '.join(declared)}; return a dict keyed by output name (a tuple "
                    f"is only accepted for flytekit's positional names o0, o1, ...)",
                    declared=declared,
                )
            if len(result) != len(self._outputs_by_index):
                raise OutputMismatch(
                    f"the executor returned {len(result)} values for "
                    f"{len(self._outputs_by_index)} outputs ({', '.join(declared)})",
                    declared=declared,
                )
            return {var.name: value
                    for var, value in zip(self._outputs_by_index, result, strict=True)}
        raise OutputMismatch(
            f"the template declares outputs {', '.join(declared)}; the executor returned "
            f"{got(result)} instead of a dict keyed by output name",
            declared=declared,
        )

    def decode_outputs(self, literal_map: literals_pb2.LiteralMap) -> dict[str, Any]:
        """An outputs LiteralMap -> Python values by name (for callers of run_template)."""
        literals = literal_map.literals
        values = {}
        for name, var in self.outputs.items():
            if name not in literals:
                raise OutputMismatch(f"output {name!r} is missing", declared=sorted(self.outputs))
            lit = literals[name]
            if lit.HasField("offloaded_metadata"):
                lit = _load_offloaded(lit)
            try:
                values[name] = var.decode(lit)
            except (Mismatch, UnsupportedType) as exc:
                raise _convert_error(exc, var, "output") from None
        return values


def _fill_variable(var: _Variable, value: Any, target: literals_pb2.Literal,
                   direction: str) -> None:
    try:
        var.fill(value, target)
    except (Mismatch, UnsupportedType) as exc:
        raise _convert_error(exc, var, direction) from None


def _convert_error(exc: Exception, var: _Variable, direction: str) -> Exception:
    if isinstance(exc, UnsupportedType):
        return UnsupportedType(exc.type_description, variable=var.name)
    assert isinstance(exc, Mismatch)
    where = var.name + "".join(exc.path)
    return ValueTypeError(where, var.expected if not exc.path else exc.expected, exc.got,
                          direction=direction)
