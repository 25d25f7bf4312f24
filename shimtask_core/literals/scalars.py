"""The simple kinds: checks of Python values, fillers (Python -> Literal) and decoders.

The checks are shared by the fillers, by the decoders of values that arrive as
msgpack (fields of a dataclass resolved by propeller) and by the dataclass
normalizers. ``types.SIMPLE_KINDS`` puts each kind's filler and decoder in its row.
"""

from __future__ import annotations

import datetime as _dt
import typing
from collections.abc import Callable
from typing import Any

from flyteidl.core import literals_pb2

from .base import INT64_MAX, INT64_MIN, MSGPACK, Mismatch, got, literal_kind

# structs (msgpack) and timetext (ISO 8601 text) are imported where a value needs them:
# an execution whose values are plain scalars loads neither (two modules, ~0.2 ms).

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)

# --- checks of Python values -----------------------------------------------------------


def check_int(value: Any) -> int:
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise Mismatch("int", got(value))
        value = value.__index__()  # numpy integers and other exact integers
    if not INT64_MIN <= value <= INT64_MAX:
        raise Mismatch("int (64-bit)", f"{value} which overflows int64")
    return typing.cast(int, value)


def check_float(value: Any) -> float:
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


def check_str(value: Any) -> str:
    if not isinstance(value, str):
        raise Mismatch("str", got(value))
    return value


def check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        # numpy.bool_ (named numpy.bool since numpy 2); numpy is never imported for this
        if type(value).__name__ in ("bool_", "bool") and type(value).__module__ == "numpy":
            return bool(value)
        raise Mismatch("bool", got(value))
    return value


def check_datetime(value: Any) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise Mismatch("datetime", got(value))
    if value.tzinfo is None:
        return value.replace(tzinfo=_UTC)
    try:
        return value.astimezone(_UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise Mismatch("datetime", f"{value.isoformat()}, which is outside the datetimes "
                                   f"Flyte can hold in UTC (years 1 to 9999)") from None


def check_duration(value: Any) -> _dt.timedelta:
    if not isinstance(value, _dt.timedelta):
        raise Mismatch("timedelta", got(value))
    from .timetext import MAX_DURATION_SECONDS

    if abs(value.days) * 86400 > MAX_DURATION_SECONDS:
        raise Mismatch("timedelta", f"{value}, which is beyond the longest duration Flyte "
                                    f"can hold (+-10,000 years)")
    return value


def check_none(value: Any) -> None:
    if value is not None:
        raise Mismatch("None", got(value))


# --- datetimes and timedeltas as mashumaro writes them (msgpack and JSON dataclasses) ---


def iso_datetime(value: Any) -> str:
    return check_datetime(value).isoformat()


def seconds(value: Any) -> float:
    return check_duration(value).total_seconds()


def parse_iso_datetime(value: Any) -> _dt.datetime:
    if isinstance(value, str):
        from .timetext import parse_datetime

        try:
            return parse_datetime(value)
        except ValueError:
            pass
    raise Mismatch("datetime", got(value))


def parse_seconds(value: Any) -> _dt.timedelta:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        from .timetext import duration_from_seconds

        try:
            return duration_from_seconds(value)
        except (ValueError, OverflowError) as exc:
            raise Mismatch("timedelta", str(exc)) from None
    raise Mismatch("timedelta", got(value))


# --- fillers (Python -> Literal, strict) ----------------------------------------------


def fill_int(value: Any, target: literals_pb2.Literal) -> None:
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        value = check_int(value)
    target.scalar.primitive.integer = value


def fill_float(value: Any, target: literals_pb2.Literal) -> None:
    if type(value) is not float:
        value = check_float(value)
    target.scalar.primitive.float_value = value


def fill_str(value: Any, target: literals_pb2.Literal) -> None:
    if type(value) is not str:
        value = check_str(value)
    target.scalar.primitive.string_value = value


def fill_bool(value: Any, target: literals_pb2.Literal) -> None:
    if type(value) is not bool:
        value = check_bool(value)
    target.scalar.primitive.boolean = value


def fill_datetime(value: Any, target: literals_pb2.Literal) -> None:
    target.scalar.primitive.datetime.FromDatetime(check_datetime(value))


def fill_duration(value: Any, target: literals_pb2.Literal) -> None:
    target.scalar.primitive.duration.FromTimedelta(check_duration(value))


def fill_none(value: Any, target: literals_pb2.Literal) -> None:
    if value is not None:
        raise Mismatch("None", got(value))
    target.scalar.none_type.SetInParent()


def fill_binary(value: Any, target: literals_pb2.Literal) -> None:
    binary = target.scalar.binary
    if isinstance(value, (bytes, bytearray, memoryview)):
        binary.value = bytes(value)
        binary.SetInParent()
        return
    from .structs import msgpack_dumps, plain_msgpack

    binary.value = msgpack_dumps(plain_msgpack(value, ""))
    binary.tag = MSGPACK


# --- decoders (Literal -> Python), checking the literal matches its type -------------


def via_msgpack(lit: literals_pb2.Literal, check: Callable[[Any], Any], expected: str) -> Any:
    """Values that propeller resolved out of a msgpack dataclass arrive as msgpack binaries."""
    from .structs import msgpack_literal

    found, value = msgpack_literal(lit)
    if not found:
        raise Mismatch(expected, literal_kind(lit))
    return check(value)


def decode_int(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    which = primitive.WhichOneof("value")
    if which == "integer":
        return primitive.integer
    if which == "float_value" and primitive.float_value.is_integer():
        number = int(primitive.float_value)  # the Flyte console sends numbers as floats
        if not INT64_MIN <= number <= INT64_MAX:
            raise Mismatch("int (64-bit)", f"{primitive.float_value:g}, which overflows int64")
        return number
    return via_msgpack(lit, check_int, "int")


def decode_float(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    which = primitive.WhichOneof("value")
    if which == "float_value":
        return primitive.float_value
    if which == "integer":  # widening, as on the way in
        return float(primitive.integer)
    return via_msgpack(lit, check_float, "float")


def decode_str(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    if primitive.WhichOneof("value") == "string_value":
        return primitive.string_value
    return via_msgpack(lit, check_str, "str")


def decode_bool(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    if primitive.WhichOneof("value") == "boolean":
        return primitive.boolean
    return via_msgpack(lit, check_bool, "bool")


def decode_datetime(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    if primitive.WhichOneof("value") == "datetime":
        ts = primitive.datetime
        try:
            return _EPOCH + _dt.timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)
        except OverflowError:  # a Timestamp holds any int64 of seconds; datetime does not
            raise Mismatch("datetime", f"a timestamp of {ts.seconds} s after 1970, outside "
                                       f"the datetimes Flyte can hold (years 1 to 9999)"
                           ) from None
    return via_msgpack(lit, parse_iso_datetime, "datetime")


def decode_duration(lit: literals_pb2.Literal) -> Any:
    primitive = lit.scalar.primitive
    if primitive.WhichOneof("value") == "duration":
        try:
            return primitive.duration.ToTimedelta()
        except OverflowError:  # a Duration holds any int64 of seconds; timedelta does not
            raise Mismatch("timedelta", f"a duration of {primitive.duration.seconds} s, "
                                        f"beyond the longest Flyte can hold (+-10,000 years)"
                           ) from None
    return via_msgpack(lit, parse_seconds, "timedelta")


def decode_none(lit: literals_pb2.Literal) -> Any:
    if lit.scalar.WhichOneof("value") != "none_type":
        return via_msgpack(lit, check_none, "None")
    return None


def decode_binary(lit: literals_pb2.Literal) -> Any:
    if lit.scalar.WhichOneof("value") != "binary":
        raise Mismatch("binary", literal_kind(lit))
    binary = lit.scalar.binary
    if binary.tag == MSGPACK:
        from .structs import msgpack_loads

        return msgpack_loads(binary.value)
    return binary.value
