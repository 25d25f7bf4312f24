"""The literal codec: Flyte literals <-> Python values, validated against declared types.

It knows nothing about registries, hooks or the CLI. For every ``LiteralType``
it builds, once, an *encoder* (Python value -> ``Literal``, strict) and a
*decoder* (``Literal`` -> Python value); :class:`InterfaceCodec` applies them to
a template's whole interface and maps outputs by **name**, never by protobuf
map order.

Type table (``python_type_of``):

=========================  ==========================================
Flyte type                 Python value
=========================  ==========================================
INTEGER                    ``int`` (int64 range; ``bool`` is rejected)
FLOAT                      ``float`` (``int`` is widened)
STRING                     ``str``
BOOLEAN                    ``bool``
DATETIME                   ``datetime.datetime`` (UTC, aware; naive is taken as UTC)
DURATION                   ``datetime.timedelta``
NONE                       ``None``
STRUCT (generic)           ``dict`` of JSON values (integral numbers read back as ``int``)
collection of T            ``list[T]``
map of T                   ``dict[str, T]``
=========================  ==========================================
"""

from __future__ import annotations

import datetime as _dt
import math
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

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
JSON_SAFE_INT: Final = 2**53
_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)

_Scalar = literals_pb2.Scalar
_Primitive = literals_pb2.Primitive
_Collection = literals_pb2.LiteralCollection


class _Mismatch(Exception):
    """Raised deep inside a nested value; the top level turns it into a ValueTypeError."""

    def __init__(self, expected: str, got: str) -> None:
        self.expected = expected
        self.got = got
        self.path: list[str] = []


def _got(value: Any) -> str:
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
        return _SIMPLE_NAMES.get(lt.simple, f"simple type {lt.simple}")
    if kind == "collection_type":
        return f"list[{describe(lt.collection_type)}]"
    if kind == "map_value_type":
        return f"dict[str, {describe(lt.map_value_type)}]"
    if kind == "union_type":
        return " | ".join(describe(v) for v in lt.union_type.variants)
    if kind == "enum_type":
        return f"enum{list(lt.enum_type.values)}"
    if kind == "blob":
        multi = lt.blob.dimensionality == types_pb2.BlobType.MULTIPART
        return f"{'directory' if multi else 'file'}({lt.blob.format or 'any'})"
    if kind == "structured_dataset_type":
        return f"structured dataset({lt.structured_dataset_type.format or 'any'})"
    if kind == "schema":
        return "schema"
    return "untyped"


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
    raise UnsupportedType(describe(lt))


def _simple(t: int) -> types_pb2.LiteralType:
    return LiteralType(simple=t)  # type: ignore[arg-type]


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
}


def literal_type_of(py_type: Any) -> types_pb2.LiteralType:
    """The Flyte literal type declaring a Python type (``int``, ``list[float]``, ...)."""
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
    raise UnsupportedType(repr(py_type))


def _union_literal_type(args: tuple[Any, ...]) -> types_pb2.LiteralType:
    variants = []
    for arg in args:
        variant = literal_type_of(arg)
        variant.structure.tag = _union_tag(arg)
        variants.append(variant)
    return LiteralType(union_type=types_pb2.UnionType(variants=variants))


def _union_tag(py_type: Any) -> str:
    if py_type is type(None) or py_type is None:
        return "none"
    return getattr(py_type, "__name__", None) or str(py_type)


# --- encoders (Python -> Literal), strict -------------------------------------------


def _enc_int(value: Any) -> literals_pb2.Literal:
    if type(value) is not int:
        if isinstance(value, int) and not isinstance(value, bool):
            value = int(value)
        else:
            raise _Mismatch("int", _got(value))
    if not INT64_MIN <= value <= INT64_MAX:
        raise _Mismatch("int (64-bit)", f"{value} which overflows int64")
    return Literal(scalar=_Scalar(primitive=_Primitive(integer=value)))


def _enc_float(value: Any) -> literals_pb2.Literal:
    if type(value) is not float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Mismatch("float", _got(value))
        try:
            value = float(value)
        except OverflowError:
            raise _Mismatch("float", f"{value} which overflows a double") from None
    return Literal(scalar=_Scalar(primitive=_Primitive(float_value=value)))


def _enc_str(value: Any) -> literals_pb2.Literal:
    if not isinstance(value, str):
        raise _Mismatch("str", _got(value))
    return Literal(scalar=_Scalar(primitive=_Primitive(string_value=value)))


def _enc_bool(value: Any) -> literals_pb2.Literal:
    if not isinstance(value, bool):
        raise _Mismatch("bool", _got(value))
    return Literal(scalar=_Scalar(primitive=_Primitive(boolean=value)))


def _enc_datetime(value: Any) -> literals_pb2.Literal:
    if not isinstance(value, _dt.datetime):
        raise _Mismatch("datetime", _got(value))
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    primitive = _Primitive()
    primitive.datetime.FromDatetime(value.astimezone(_UTC))
    return Literal(scalar=_Scalar(primitive=primitive))


def _enc_duration(value: Any) -> literals_pb2.Literal:
    if not isinstance(value, _dt.timedelta):
        raise _Mismatch("timedelta", _got(value))
    primitive = _Primitive()
    primitive.duration.FromTimedelta(value)
    return Literal(scalar=_Scalar(primitive=primitive))


def _enc_none(value: Any) -> literals_pb2.Literal:
    if value is not None:
        raise _Mismatch("None", _got(value))
    return Literal(scalar=_Scalar(none_type=literals_pb2.Void()))


def _check_json(value: Any, path: str) -> None:
    """Reject what a protobuf Struct cannot hold exactly, naming where it is."""
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > JSON_SAFE_INT:
            raise _Mismatch("dict of JSON values", f"{value} at {path or 'top'} beyond +-2**53")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Mismatch("dict of JSON values", f"{value} at {path or 'top'}")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Mismatch("dict with str keys", f"key {key!r} at {path or 'top'}")
            _check_json(item, f"{path}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]")
        return
    raise _Mismatch("dict of JSON values", f"{_got(value)} at {path or 'top'}")


def _enc_generic(value: Any) -> literals_pb2.Literal:
    if not isinstance(value, Mapping):
        raise _Mismatch("dict", _got(value))
    _check_json(value, "")
    struct = struct_pb2.Struct()
    struct.update(value)
    return Literal(scalar=_Scalar(generic=struct))


def _enc_collection(item: Encoder) -> Encoder:
    def encode(value: Any) -> literals_pb2.Literal:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch("list", _got(value))
        index = 0
        try:
            literals = []
            for index, element in enumerate(value):  # noqa: B007 - index names the failure
                literals.append(item(element))
        except _Mismatch as exc:
            exc.path.insert(0, f"[{index}]")
            raise
        return Literal(collection=_Collection(literals=literals))

    return encode


def _enc_map(item: Encoder) -> Encoder:
    def encode(value: Any) -> literals_pb2.Literal:
        if not isinstance(value, Mapping):
            raise _Mismatch("dict", _got(value))
        literals = {}
        for key, element in value.items():
            if not isinstance(key, str):
                raise _Mismatch("dict with str keys", f"key {key!r}")
            try:
                literals[key] = item(element)
            except _Mismatch as exc:
                exc.path.insert(0, f"[{key!r}]")
                raise
        return Literal(map=LiteralMap(literals=literals))

    return encode


_SIMPLE_ENCODERS: Final[dict[int, Encoder]] = {
    SimpleType.INTEGER: _enc_int,
    SimpleType.FLOAT: _enc_float,
    SimpleType.STRING: _enc_str,
    SimpleType.BOOLEAN: _enc_bool,
    SimpleType.DATETIME: _enc_datetime,
    SimpleType.DURATION: _enc_duration,
    SimpleType.NONE: _enc_none,
    SimpleType.STRUCT: _enc_generic,
}


def encoder_for(lt: types_pb2.LiteralType) -> Encoder:
    """Build the strict encoder for ``lt``; raises UnsupportedType for what it cannot encode."""
    kind = lt.WhichOneof("type")
    if kind == "simple" and lt.simple in _SIMPLE_ENCODERS:
        return _SIMPLE_ENCODERS[lt.simple]
    if kind == "collection_type":
        return _enc_collection(encoder_for(lt.collection_type))
    if kind == "map_value_type":
        return _enc_map(encoder_for(lt.map_value_type))
    raise UnsupportedType(describe(lt))


# --- decoders (Literal -> Python), checking the literal matches its type -------------


def _primitive(lit: literals_pb2.Literal, field: str, expected: str) -> Any:
    primitive = lit.scalar.primitive
    if primitive.WhichOneof("value") != field:
        raise _Mismatch(expected, _literal_kind(lit))
    return getattr(primitive, field)


def _literal_kind(lit: literals_pb2.Literal) -> str:
    kind = lit.WhichOneof("value")
    if kind == "scalar":
        scalar_kind = lit.scalar.WhichOneof("value")
        if scalar_kind == "primitive":
            return f"a {lit.scalar.primitive.WhichOneof('value')} literal"
        return f"a {scalar_kind} literal"
    return f"a {kind} literal"


def _dec_int(lit: literals_pb2.Literal) -> Any:
    return _primitive(lit, "integer", "int")


def _dec_float(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    which = primitive.WhichOneof("value")
    if which == "float_value":
        return primitive.float_value
    if which == "integer":  # widening, as on the way in
        return float(primitive.integer)
    raise _Mismatch("float", _literal_kind(lit))


def _dec_str(lit: literals_pb2.Literal) -> Any:
    return _primitive(lit, "string_value", "str")


def _dec_bool(lit: literals_pb2.Literal) -> Any:
    return _primitive(lit, "boolean", "bool")


def _dec_datetime(lit: literals_pb2.Literal) -> Any:
    ts = _primitive(lit, "datetime", "datetime")
    return _EPOCH + _dt.timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def _dec_duration(lit: literals_pb2.Literal) -> Any:
    return _primitive(lit, "duration", "timedelta").ToTimedelta()


def _dec_none(lit: literals_pb2.Literal) -> Any:
    if lit.scalar.WhichOneof("value") != "none_type":
        raise _Mismatch("None", _literal_kind(lit))
    return None


def struct_to_python(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as a dict, with integral numbers within +-2**53 read back as ``int``.

    protobuf Structs store every number as a double; templates and generic
    values written from Python had ints, so giving them back as ints is the
    faithful reading.
    """
    return {key: _json_value(value) for key, value in struct.fields.items()}


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


def _dec_generic(lit: literals_pb2.Literal) -> Any:
    if lit.scalar.WhichOneof("value") != "generic":
        raise _Mismatch("dict", _literal_kind(lit))
    return struct_to_python(lit.scalar.generic)


def _dec_collection(item: Decoder) -> Decoder:
    def decode(lit: literals_pb2.Literal) -> Any:
        if lit.WhichOneof("value") != "collection":
            raise _Mismatch("list", _literal_kind(lit))
        index = 0
        try:
            values = []
            for index, element in enumerate(lit.collection.literals):  # noqa: B007
                values.append(item(element))
        except _Mismatch as exc:
            exc.path.insert(0, f"[{index}]")
            raise
        return values

    return decode


def _dec_map(item: Decoder) -> Decoder:
    def decode(lit: literals_pb2.Literal) -> Any:
        if lit.WhichOneof("value") != "map":
            raise _Mismatch("dict", _literal_kind(lit))
        values = {}
        for key, element in lit.map.literals.items():
            try:
                values[key] = item(element)
            except _Mismatch as exc:
                exc.path.insert(0, f"[{key!r}]")
                raise
        return values

    return decode


_SIMPLE_DECODERS: Final[dict[int, Decoder]] = {
    SimpleType.INTEGER: _dec_int,
    SimpleType.FLOAT: _dec_float,
    SimpleType.STRING: _dec_str,
    SimpleType.BOOLEAN: _dec_bool,
    SimpleType.DATETIME: _dec_datetime,
    SimpleType.DURATION: _dec_duration,
    SimpleType.NONE: _dec_none,
    SimpleType.STRUCT: _dec_generic,
}


def decoder_for(lt: types_pb2.LiteralType) -> Decoder:
    """Build the decoder for ``lt``; it checks that each literal has the declared shape."""
    kind = lt.WhichOneof("type")
    if kind == "simple" and lt.simple in _SIMPLE_DECODERS:
        return _SIMPLE_DECODERS[lt.simple]
    if kind == "collection_type":
        return _dec_collection(decoder_for(lt.collection_type))
    if kind == "map_value_type":
        return _dec_map(decoder_for(lt.map_value_type))
    raise UnsupportedType(describe(lt))


# --- whole interfaces ---------------------------------------------------------------


class _Variable:
    __slots__ = ("decode", "encode", "expected", "name", "optional")

    def __init__(self, name: str, lt: types_pb2.LiteralType) -> None:
        self.name = name
        self.expected = describe(lt)
        try:
            self.encode = encoder_for(lt)
            self.decode = decoder_for(lt)
        except UnsupportedType as exc:
            raise UnsupportedType(exc.type_description, variable=name) from None
        self.optional = _accepts_none(lt)


def _accepts_none(lt: types_pb2.LiteralType) -> bool:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return lt.simple == SimpleType.NONE
    if kind == "union_type":
        return any(_accepts_none(v) for v in lt.union_type.variants)
    return False


def _positional_names(names: list[str]) -> bool:
    return names == [f"o{i}" for i in range(len(names))]


def _variables(variable_map: interface_pb2.VariableMap) -> dict[str, _Variable]:
    return {name: _Variable(name, var.type) for name, var in variable_map.variables.items()}


class InterfaceCodec:
    """Converts a template's inputs and outputs, by name, with validation.

    Build one per template and reuse it: every per-type decision is made here,
    once, so a call only runs the prepared encoders and decoders.
    """

    __slots__ = ("_outputs_by_index", "inputs", "outputs")

    def __init__(self, interface: interface_pb2.TypedInterface) -> None:
        self.inputs = _variables(interface.inputs)
        self.outputs = _variables(interface.outputs)
        names = sorted(self.outputs, key=lambda n: int(n[1:]) if n[1:].isdigit() else -1)
        self._outputs_by_index = (
            [self.outputs[n] for n in names] if _positional_names(names) else None
        )

    # inputs

    def decode_inputs(self, literal_map: literals_pb2.LiteralMap) -> dict[str, Any]:
        """Flyte inputs -> keyword arguments for the executor."""
        literals = literal_map.literals
        values: dict[str, Any] = {}
        for name, var in self.inputs.items():
            if name in literals:
                values[name] = _run(var.decode, literals[name], var, "input")
            elif var.optional:
                values[name] = None
            else:
                raise MissingInput(name, var.expected)
        if len(literals) > len(values) or any(n not in self.inputs for n in literals):
            extra = sorted(n for n in literals if n not in self.inputs)
            if extra:
                raise UnexpectedInput(extra, sorted(self.inputs))
        return values

    def encode_inputs(self, values: Mapping[str, Any]) -> literals_pb2.LiteralMap:
        """Python inputs -> a validated LiteralMap (what Flyte would pass)."""
        extra = sorted(n for n in values if n not in self.inputs)
        if extra:
            raise UnexpectedInput(extra, sorted(self.inputs))
        literals = {}
        for name, var in self.inputs.items():
            if name in values:
                literals[name] = _run(var.encode, values[name], var, "input")
            elif var.optional:
                literals[name] = _run(var.encode, None, var, "input")
            else:
                raise MissingInput(name, var.expected)
        return LiteralMap(literals=literals)

    # outputs

    def encode_outputs(self, result: Any) -> literals_pb2.LiteralMap:
        """The executor's return value -> the outputs LiteralMap, mapped by name."""
        by_name = self.outputs_by_name(result)
        return LiteralMap(
            literals={
                name: _run(var.encode, by_name[name], var, "output")
                for name, var in self.outputs.items()
            }
        )

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
                    f"the template declares no outputs but the executor returned {_got(result)}"
                )
            return {}
        if len(outputs) == 1:
            (name,) = outputs
            if (
                isinstance(result, Mapping)
                and list(result) == [name]
                and outputs[name].expected != "dict"
                and not outputs[name].expected.startswith("dict[")
            ):
                return dict(result)
            return {name: result}
        if hasattr(result, "_asdict") and isinstance(result, tuple):
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
            return {var.name: value for var, value in zip(self._outputs_by_index, result)}
        raise OutputMismatch(
            f"the template declares outputs {', '.join(declared)}; the executor returned "
            f"{_got(result)} instead of a dict keyed by output name",
            declared=declared,
        )

    def decode_outputs(self, literal_map: literals_pb2.LiteralMap) -> dict[str, Any]:
        """An outputs LiteralMap -> Python values by name (for callers of run_template)."""
        literals = literal_map.literals
        values = {}
        for name, var in self.outputs.items():
            if name not in literals:
                raise OutputMismatch(f"output {name!r} is missing", declared=sorted(self.outputs))
            values[name] = _run(var.decode, literals[name], var, "output")
        return values


def _run(convert: Callable[[Any], Any], value: Any, var: _Variable, direction: str) -> Any:
    try:
        return convert(value)
    except _Mismatch as exc:
        where = var.name + "".join(exc.path)
        raise ValueTypeError(where, var.expected if not exc.path else exc.expected, exc.got,
                             direction=direction) from None
