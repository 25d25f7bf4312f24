"""Untyped dicts on the wire: a generic protobuf ``Struct`` (JSON) or a msgpack ``Binary``.

A STRUCT literal holds a dict in one of these two forms; both are read for every
STRUCT type. msgpack is optional and imported only when a msgpack value is converted.
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Mapping
from typing import Any

from flyteidl.core import literals_pb2
from google.protobuf import struct_pb2

from ..errors import UnsupportedType
from .base import (
    INT64_MIN,
    JSON_SAFE_INT,
    MSGPACK,
    UINT64_MAX,
    LimitMismatch,
    Mismatch,
    got,
    literal_kind,
)

# --- msgpack ------------------------------------------------------------------------


@functools.cache
def _msgpack() -> Any:
    try:
        import msgpack
    except ImportError:
        raise UnsupportedType(
            "binary (msgpack): the msgpack package is not installed; "
            "pip install 'shimtask-core[msgpack]'") from None
    return msgpack


def msgpack_dumps(value: Any) -> bytes:
    """Serialize a value as flytekit does (``use_bin_type``; tuples become lists)."""
    data: bytes = _msgpack().packb(value, use_bin_type=True)
    return data


def msgpack_loads(data: bytes) -> Any:
    """The value msgpack ``data`` holds; data that is not msgpack (truncated, extra bytes,
    nested beyond msgpack's stack, invalid UTF-8, a map keyed by a map) is a Mismatch,
    the sender's fault, not shimtask's."""
    msgpack = _msgpack()
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError) as exc:  # every unpack error is one of these
        name = type(exc).__name__
        reason = str(exc) or {"StackError": "nested too deeply",
                              "FormatError": "a byte that starts no msgpack value"}.get(name, name)
        raise Mismatch("msgpack data", f"{len(data)} bytes that are not msgpack ({reason})"
                       ) from None


def msgpack_literal(lit: literals_pb2.Literal) -> tuple[bool, Any]:
    """``(True, value)`` when ``lit`` is a msgpack binary scalar, else ``(False, None)``."""
    if lit.scalar.WhichOneof("value") == "binary" and lit.scalar.binary.tag == MSGPACK:
        return True, msgpack_loads(lit.scalar.binary.value)
    return False, None


# --- plain values: what each form can carry -------------------------------------------


def instance_fields(value: Any) -> dict[str, Any] | None:
    """A dataclass *instance*'s fields by name (one level: nested ones stay instances),
    else None. flytekit users return dataclass instances for dataclass outputs."""
    if isinstance(value, type) or not hasattr(type(value), "__dataclass_fields__"):
        return None
    import dataclasses  # imported already: the value's class was made with it

    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


def numpy_number(value: Any) -> bool | int | float | None:
    """A numpy bool, integer or float scalar as the Python value (what ``df.iloc[0]
    .to_dict()`` puts in a dict), else None; numpy is never imported for this."""
    if type(value).__module__ != "numpy" or getattr(value, "ndim", None) != 0:
        return None
    item = value.item()
    return item if isinstance(item, (bool, int, float)) else None


def _max_depth() -> int:
    from ..limits import current  # the environment's SHIMTASK_MAX_DEPTH

    return current().depth


def plain_json(value: Any, path: str, depth: int = 1, limit: int | None = None) -> Any:
    """The value as plain JSON (dicts, lists) or a mismatch naming where it cannot be one.

    A protobuf Struct holds doubles: integers beyond +-2**53 and non-finite
    numbers would not come back, so they are refused. ``depth`` is the level of
    ``value`` (the top dict is 1); a dict or list deeper than ``limit`` (default:
    ``SHIMTASK_MAX_DEPTH``) is refused, a cyclic value included, before the recursion
    could exhaust Python's stack.
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
    if isinstance(value, (Mapping, list, tuple)):
        limit = _max_depth() if limit is None else limit
        if depth > limit:
            raise _too_deep(path, limit)
        if isinstance(value, Mapping):
            plain = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise Mismatch("dict with str keys", f"key {key!r} at {path or 'top'}")
                plain[key] = plain_json(item, f"{path}[{key!r}]", depth + 1, limit)
            return plain
        return [plain_json(item, f"{path}[{index}]", depth + 1, limit)
                for index, item in enumerate(value)]
    fields = instance_fields(value)
    if fields is not None:
        return plain_json(fields, path, depth, limit)
    number = numpy_number(value)
    if number is not None:
        return plain_json(number, path, depth, limit)
    raise Mismatch("dict of JSON values", f"{got(value)} at {path or 'top'}")


def _too_deep(path: str, limit: int) -> LimitMismatch:
    exc = LimitMismatch("depth", limit + 1, limit, at_least=True)
    exc.path.append(path)
    return exc


def plain_msgpack(value: Any, path: str, depth: int = 1, limit: int | None = None) -> Any:
    """The value as plain msgpack data, or a mismatch naming what msgpack cannot carry
    (``depth`` and ``limit`` as for :func:`plain_json`)."""
    if value is None or isinstance(value, (bool, str, float, bytes)):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= UINT64_MAX:
            raise Mismatch("msgpack value", f"{value} at {path or 'top'} beyond 64 bits")
        return int(value)
    if isinstance(value, (Mapping, list, tuple)):
        limit = _max_depth() if limit is None else limit
        if depth > limit:
            raise _too_deep(path, limit)
        if isinstance(value, Mapping):
            plain = {}
            for key, item in value.items():
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    raise Mismatch("dict with str or int keys",
                                   f"key {key!r} at {path or 'top'}")
                if isinstance(key, int) and not INT64_MIN <= key <= UINT64_MAX:
                    # keys too: msgpack raises OverflowError for either
                    raise Mismatch("msgpack value", f"key {key} at {path or 'top'} beyond "
                                                    f"64 bits")
                plain[key] = plain_msgpack(item, f"{path}[{key!r}]", depth + 1, limit)
            return plain
        return [plain_msgpack(item, f"{path}[{index}]", depth + 1, limit)
                for index, item in enumerate(value)]
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    fields = instance_fields(value)
    if fields is not None:
        return plain_msgpack(fields, path, depth, limit)
    number = numpy_number(value)
    if number is not None:
        return plain_msgpack(number, path, depth, limit)
    raise Mismatch("msgpack value", f"{got(value)} at {path or 'top'}")


# --- writing ------------------------------------------------------------------------


def fill_generic(value: Any, target: literals_pb2.Literal, max_depth: int | None = None
                 ) -> None:
    """A dict (or a dataclass instance) as a generic Struct, at most ``max_depth`` levels
    deep (default ``SHIMTASK_MAX_DEPTH``)."""
    if not isinstance(value, Mapping):
        value = _mapping(value)
    plain = plain_json(value, "", 1, max_depth)
    generic = target.scalar.generic
    generic.SetInParent()
    if plain:
        generic.update(plain)


def fill_msgpack_dict(value: Any, target: literals_pb2.Literal, max_depth: int | None = None
                      ) -> None:
    """A dict (or a dataclass instance) as a msgpack Binary (as flytekit >= 1.14 writes)."""
    if not isinstance(value, Mapping):
        value = _mapping(value)
    binary = target.scalar.binary
    binary.value = msgpack_dumps(plain_msgpack(value, "", 1, max_depth))
    binary.tag = MSGPACK


def _mapping(value: Any) -> dict[str, Any]:
    fields = instance_fields(value)
    if fields is None:
        raise Mismatch("dict", got(value))
    return fields


# --- reading ------------------------------------------------------------------------


def struct_to_python(struct: struct_pb2.Struct, max_depth: int | None = None
                     ) -> dict[str, Any]:
    """A Struct as a dict, with integral numbers within +-2**53 read back as ``int``.

    protobuf Structs store every number as a double; templates and generic
    values written from Python had ints, so giving them back as ints is the
    faithful reading. Keys come out sorted: a Struct is a protobuf map, whose order
    varies from process to process, and output should not. With ``max_depth``, a
    dict or list nested deeper is a LimitMismatch (protobuf alone allows ~33 levels).
    """
    limit = max_depth if max_depth is not None else 1 << 30
    return {key: _json_value(value, 2, limit) for key, value in sorted(struct.fields.items())}


def _json_value(value: struct_pb2.Value, depth: int, limit: int) -> Any:
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
    if kind in ("struct_value", "list_value"):
        if depth > limit:
            raise _too_deep("", limit)
        if kind == "list_value":
            return [_json_value(item, depth + 1, limit) for item in value.list_value.values]
        return {key: _json_value(item, depth + 1, limit)
                for key, item in sorted(value.struct_value.fields.items())}
    return None


def decode_dict(lit: literals_pb2.Literal, max_depth: int | None = None) -> Any:
    """The dict a generic or msgpack STRUCT literal holds (a generic one at most
    ``max_depth`` levels deep)."""
    scalar_kind = lit.scalar.WhichOneof("value")
    if scalar_kind == "generic":
        return struct_to_python(lit.scalar.generic, max_depth)
    if scalar_kind == "binary" and lit.scalar.binary.tag == MSGPACK:
        value = msgpack_loads(lit.scalar.binary.value)
        if isinstance(value, dict):
            return value
        raise Mismatch("dict", f"msgpack {got(value)}")
    raise Mismatch("dict", literal_kind(lit))


def dict_of(lit: literals_pb2.Literal) -> dict[Any, Any] | None:
    """A generic or msgpack scalar's dict (how Flyte passes a field of a dataclass), else None."""
    try:
        value = decode_dict(lit)
    except LimitMismatch:
        raise
    except Mismatch:
        return None
    return typing.cast("dict[Any, Any]", value)
