"""Typed values from text and JSON (``-i name=value``, ``--inputs-json``), and back to JSON.

One reader, by *declared* type, for both ways a user gives inputs:

* text (``-i n=7``): the integer 7 for an INTEGER input, the string ``"7"`` for a
  STRING one; structured values (lists, dicts, dataclasses) are JSON, and a union
  whose text fits exactly one of its variants takes the bare text
  (``-i color=red`` for an ``Optional[Color]``);
* JSON values (``--inputs-json``, and inside ``-i`` JSON), read field by field by
  the declared type: datetimes as ISO 8601 text, durations as seconds or text,
  an integral number (``7.0``) for an integer (JSON has one number type), the
  fields of a dataclass by their own types.

Every value is checked on the way in (int64 range, a finite double, the
datetimes and durations Flyte can hold): a bad one is a :class:`UsageError`
naming the input. Output goes the other way in :func:`to_jsonable`: RFC 8259
JSON, with NaN and infinities written as the strings ``"NaN"``, ``"Infinity"``
and ``"-Infinity"`` (protobuf's JSON mapping for doubles).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from flyteidl.core import types_pb2

from .errors import LimitExceeded, UsageError
from .limits import current
from .literals import INT64_MAX, INT64_MIN, describe, got
from .literals.timetext import duration_from_seconds, parse_datetime, parse_duration
from .literals.types import declares_dataclass

_SIMPLE = types_pb2.SimpleType
#: How a non-finite double is written in JSON (protobuf's JSON mapping), and read back.
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
#: Kinds whose value is given as bare text (never JSON) on the command line.
_TEXT_KINDS = frozenset({"enum_type", "blob", "structured_dataset_type", "schema"})

__all__ = ["NON_FINITE", "loads_json", "parse_datetime", "parse_duration", "parse_json_value",
           "parse_text_value", "to_jsonable"]


class _Bad(ValueError):
    """A value that does not fit, ``path`` inside it (``[2]['when']``)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path

    def inside(self, step: str) -> _Bad:
        self.path = step + self.path
        return self


def parse_text_value(name: str, lt: types_pb2.LiteralType, text: str) -> Any:
    """The Python value that ``text`` (``-i name=text``) denotes for an input of type ``lt``."""
    try:
        return _from_text(lt, text)
    except _Bad as exc:
        raise _usage(name, lt, exc, text) from None
    except LimitExceeded as exc:  # from loads_json: say which input
        raise current().exceeded(exc.limit, f"the JSON nesting of input {name!r}", exc.value,
                                 at_least=exc.at_least) from None


def parse_json_value(name: str, lt: types_pb2.LiteralType, value: Any) -> Any:
    """The Python value a parsed JSON value (``--inputs-json``) denotes for type ``lt``."""
    try:
        return _from_json(lt, value)
    except _Bad as exc:
        raise _usage(name, lt, exc, None) from None


def _usage(name: str, lt: types_pb2.LiteralType, exc: _Bad, text: str | None) -> UsageError:
    where = f"input {name + exc.path!r}" + ("" if exc.path else f" ({describe(lt)})")
    read = f"cannot read {text!r}: " if text is not None and not exc.path else ""
    return UsageError(f"{where}: {read}{exc}")


# --- text ------------------------------------------------------------------------------


def _from_text(lt: types_pb2.LiteralType, text: str) -> Any:
    kind = lt.WhichOneof("type")
    if kind == "simple" and lt.simple in _TEXT_PARSERS:
        try:
            return _TEXT_PARSERS[lt.simple](text)
        except _Bad:
            raise
        except ValueError as exc:
            raise _Bad(str(exc)) from None
    if kind == "simple" and lt.simple == _SIMPLE.NONE:
        if text.strip() not in ("", "null", "None"):
            raise _Bad(f"{text!r} is not null")
        return None
    if kind in _TEXT_KINDS:
        return _from_json(lt, text)  # a value, or a path/URI of a file, directory or dataset
    if kind == "union_type":
        return _union_from_text(lt, text)
    try:
        value = _loads(text)
    except _Bad as exc:  # say how the value is written: `-i xs=1,2,3` is a common first try
        as_dict = kind == "map_value_type" or (kind == "simple" and lt.simple == _SIMPLE.STRUCT)
        shape = ("a list is written as JSON, e.g. [1, 2, 3]" if kind == "collection_type"
                 else 'a dict is written as JSON, e.g. {"a": 1}' if as_dict
                 else "it is written as JSON")
        raise _Bad(f"{exc}; {shape}") from None
    return _from_json(lt, value)


def _union_from_text(lt: types_pb2.LiteralType, text: str) -> Any:
    """JSON that fits a variant, else the bare text when exactly one variant reads it
    (``-i color=red`` for an ``Optional[Color]``, ``-i f=data.csv`` for an ``Optional[File]``)."""
    try:
        return _from_json(lt, _loads(text))
    except _Bad as exc:
        json_error = exc
    variants = [v for v in lt.union_type.variants
                if not (v.WhichOneof("type") == "simple" and v.simple == _SIMPLE.NONE)]
    read, errors = [], []
    for variant in variants:
        try:
            read.append(_from_text(variant, text))
        except _Bad as exc:
            errors.append(exc)
    if len(read) == 1:
        return read[0]
    if read:
        raise _Bad(f"it fits more than one of the types {describe(lt)}; give it as JSON")
    raise errors[0] if len(variants) == 1 else json_error


def loads_json(data: str | bytes, subject: str = "the JSON") -> Any:
    """JSON text as Python values: a number too big for a double is an error (Python's
    own reader makes it infinity); the tokens ``NaN`` and ``Infinity`` are read.

    Nesting deeper than ``SHIMTASK_MAX_DEPTH`` (plus one level: the object that holds
    the inputs) is :class:`~shimtask_core.errors.LimitExceeded` naming ``subject``, the
    limit and its variable: ``json`` recurses once per level, so ``[[[[...`` 100,000
    deep would otherwise be a ``RecursionError``, and every reader after it recurses too.
    """
    limits = current()
    try:
        value = json.loads(data, parse_float=_json_float,
                           parse_constant=NON_FINITE.__getitem__)
    except RecursionError:
        raise limits.exceeded("depth", f"the nesting of {subject}", limits.depth + 2,
                              at_least=True) from None
    depth = _depth(value, limits.depth + 1)
    if depth > limits.depth + 1:
        raise limits.exceeded("depth", f"the nesting of {subject}", depth, at_least=True)
    return value


def _depth(value: Any, limit: int) -> int:
    """How deep lists and objects nest in ``value`` (a scalar is 0), walked without
    recursion and given up past ``limit`` (the result is then ``limit + 1``)."""
    if not isinstance(value, (list, dict)):
        return 0
    deepest = 0
    todo: list[tuple[list[Any] | dict[str, Any], int]] = [(value, 1)]
    while todo:
        item, level = todo.pop()
        if level > limit:
            return level
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item
        todo.extend((child, level + 1) for child in children
                    if isinstance(child, (list, dict)))
    return deepest


def _loads(text: str) -> Any:
    try:
        return loads_json(text)
    except json.JSONDecodeError as exc:
        raise _Bad(f"not JSON ({exc})") from None


def _json_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Bad(f"{text} overflows a double (the largest is about 1.8e308)")
    return value


def _int_text(text: str) -> int:
    stripped = text.strip()
    try:
        number: float = int(stripped)
    except ValueError:
        try:
            number = float(stripped)  # 7.0 and 1e3 are integers too
        except ValueError:
            raise _Bad(f"invalid literal for int() with base 10: {text!r}") from None
        if math.isinf(number) and stripped.lower().lstrip("+-") not in ("inf", "infinity"):
            raise _Bad(f"expected int (64-bit), got {stripped}, which overflows int64") from None
    return _int(number)


def _float_text(text: str) -> float:
    stripped = text.strip()
    if stripped.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        return float(stripped)  # asked for explicitly
    try:
        return _json_float(stripped)
    except _Bad:
        raise
    except ValueError:
        raise _Bad(f"could not convert string to float: {text!r}") from None


def _bool_text(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "y", "on"):
        return True
    if lowered in ("false", "0", "no", "n", "off"):
        return False
    raise _Bad(f"{text!r} is not a boolean (true/false)")


_TEXT_PARSERS: dict[int, Callable[[str], Any]] = {
    _SIMPLE.INTEGER: _int_text,
    _SIMPLE.FLOAT: _float_text,
    _SIMPLE.STRING: str,
    _SIMPLE.BOOLEAN: _bool_text,
    _SIMPLE.DATETIME: parse_datetime,
    _SIMPLE.DURATION: parse_duration,
}


# --- JSON values -----------------------------------------------------------------------


def _from_json(lt: types_pb2.LiteralType, value: Any) -> Any:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        reader = _JSON_READERS.get(lt.simple)
        if reader is not None:
            return reader(value)
        if lt.simple == _SIMPLE.STRUCT and declares_dataclass(lt):
            return _dataclass(lt, value)
        return value  # a generic dict or a binary: the codec checks what it can hold
    if kind == "collection_type":
        if not isinstance(value, list):
            raise _Bad(f"expected {describe(lt)} (a JSON list), got {got(value)}")
        return [_nested(lt.collection_type, item, f"[{i}]") for i, item in enumerate(value)]
    if kind == "map_value_type":
        if not isinstance(value, dict):
            raise _Bad(f"expected {describe(lt)} (a JSON object), got {got(value)}")
        return {k: _nested(lt.map_value_type, v, f"[{k!r}]") for k, v in value.items()}
    if kind == "union_type":
        return _union(lt, value)
    if kind == "enum_type":
        if not isinstance(value, str) or value not in lt.enum_type.values:
            raise _Bad(f"expected {describe(lt)}, got {got(value)}")
        return value
    if kind in _TEXT_KINDS:
        if not isinstance(value, str):
            raise _Bad(f"expected {describe(lt)} (a path or URI), got {got(value)}")
        return value
    return value


def _nested(lt: types_pb2.LiteralType, value: Any, step: str) -> Any:
    try:
        return _from_json(lt, value)
    except _Bad as exc:
        raise exc.inside(step) from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"expected int, got {got(value)}")
    if isinstance(value, float) and not value.is_integer():
        raise _Bad(f"expected int, got {got(value)}")
    number = int(value)  # JSON has one number type: 7.0 is the integer 7
    if not INT64_MIN <= number <= INT64_MAX:
        raise _Bad(f"expected int (64-bit), got {number}, which overflows int64")
    return number


def _float(value: Any) -> float:
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"expected float, got {got(value)}")
    try:
        return float(value)
    except OverflowError:
        raise _Bad(f"expected float, got {value}, which overflows a double") from None


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"expected str, got {got(value)}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"expected bool (true or false), got {got(value)}")
    return value


def _datetime(value: Any) -> _dt.datetime:
    if not isinstance(value, str):
        raise _Bad(f"expected datetime (ISO 8601 text), got {got(value)}")
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise _Bad(str(exc)) from None


def _duration(value: Any) -> _dt.timedelta:
    try:
        if isinstance(value, str):
            return parse_duration(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return duration_from_seconds(value)
    except (ValueError, OverflowError) as exc:
        raise _Bad(str(exc)) from None
    raise _Bad(f"expected timedelta (seconds, or text like 1h30m), got {got(value)}")


def _none(value: Any) -> None:
    if value is not None:
        raise _Bad(f"expected none (null), got {got(value)}")


_JSON_READERS: dict[int, Callable[[Any], Any]] = {
    _SIMPLE.INTEGER: _int,
    _SIMPLE.FLOAT: _float,
    _SIMPLE.STRING: _str,
    _SIMPLE.BOOLEAN: _bool,
    _SIMPLE.DATETIME: _datetime,
    _SIMPLE.DURATION: _duration,
    _SIMPLE.NONE: _none,
}


def _dataclass(lt: types_pb2.LiteralType, value: Any) -> Any:
    """A dataclass's fields read by their declared types; which fields are required or
    unknown is the codec's to say."""
    if not isinstance(value, Mapping):
        raise _Bad(f"expected {describe(lt)} (a JSON object), got {got(value)}")
    from .literals.dataclass_fields import declared_fields  # for a dataclass only

    fields = declared_fields(lt)
    return {key: _nested(fields[key], item, f"[{key!r}]") if key in fields else item
            for key, item in value.items()}


#: JSON value type -> the union variant kinds it means, best first.
_JSON_KINDS: dict[type, tuple[str, ...]] = {
    type(None): ("none",),
    bool: ("bool",),
    int: ("int", "float"),
    float: ("float", "int"),
    str: ("str", "enum", "datetime", "duration", "text", "float"),
    list: ("list",),
    dict: ("struct", "map"),
}


def _variant_kind(lt: types_pb2.LiteralType) -> str:
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return {_SIMPLE.NONE: "none", _SIMPLE.BOOLEAN: "bool", _SIMPLE.INTEGER: "int",
                _SIMPLE.FLOAT: "float", _SIMPLE.STRING: "str", _SIMPLE.DATETIME: "datetime",
                _SIMPLE.DURATION: "duration", _SIMPLE.STRUCT: "struct"}.get(lt.simple, "other")
    return {"collection_type": "list", "map_value_type": "map", "enum_type": "enum",
            "union_type": "union"}.get(kind or "", "text")


def _union(lt: types_pb2.LiteralType, value: Any) -> Any:
    """The first variant that reads the value, the ones of its own kind first (a JSON
    integer goes to an int variant before a float one, as the codec does)."""
    kinds = _JSON_KINDS.get(type(value), ())

    def rank(variant: types_pb2.LiteralType) -> int:
        kind = _variant_kind(variant)
        return kinds.index(kind) if kind in kinds else len(kinds)

    first_error: _Bad | None = None
    for variant in sorted(lt.union_type.variants, key=rank):
        try:
            return _from_json(variant, value)
        except _Bad as exc:
            if first_error is None or (exc.path and not first_error.path):
                first_error = exc
    if first_error is not None and first_error.path:
        raise first_error
    raise _Bad(f"expected {describe(lt)}, got {got(value)}")


# --- output ----------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """A JSON rendering of an output value that ``json.dumps(..., allow_nan=False)`` takes:
    datetimes as ISO 8601, durations as seconds, bytes as base64, non-finite floats as
    ``"NaN"``/``"Infinity"``/``"-Infinity"``, files and directories as their URI."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return to_jsonable(value.total_seconds())
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    to_pylist = getattr(value, "to_pylist", None)  # pyarrow.Table
    if callable(to_pylist):
        return to_jsonable(to_pylist())
    uri = getattr(value, "uri", None)  # files and directories: where they are, not downloaded
    if isinstance(uri, str):
        return uri
    path = getattr(value, "path", None)
    if isinstance(path, str):
        return path
    return str(value)
