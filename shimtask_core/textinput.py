"""Typed values from text (``-i name=value``) and back to JSON for printing.

Text is read according to the *declared* type, so ``-i n=7`` is the integer 7
for an INTEGER input and the string ``"7"`` for a STRING one. Structured types
(lists, dicts, unions) are written as JSON.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import re
from typing import Any

from flyteidl.core import types_pb2

from .errors import UsageError
from .literals import describe

_SIMPLE = types_pb2.SimpleType
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?"
                       r"(?:(\d+(?:\.\d+)?)s)?$")


def parse_datetime(text: str) -> _dt.datetime:
    value = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)


def parse_duration(text: str) -> _dt.timedelta:
    """Seconds (``90``, ``1.5``) or units (``1d2h3m4.5s``)."""
    text = text.strip()
    try:
        return _dt.timedelta(seconds=float(text))
    except ValueError:
        pass
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a duration (seconds, or like 1h30m)")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return _dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "y", "on"):
        return True
    if lowered in ("false", "0", "no", "n", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


_PARSERS: dict[int, Any] = {
    _SIMPLE.INTEGER: int,
    _SIMPLE.FLOAT: float,
    _SIMPLE.STRING: str,
    _SIMPLE.BOOLEAN: _parse_bool,
    _SIMPLE.DATETIME: parse_datetime,
    _SIMPLE.DURATION: parse_duration,
}


def parse_text_value(name: str, lt: types_pb2.LiteralType, text: str) -> Any:
    """The Python value that ``text`` denotes for a variable of type ``lt``."""
    kind = lt.WhichOneof("type")
    try:
        if kind == "simple" and lt.simple in _PARSERS:
            return _PARSERS[lt.simple](text)
        if kind == "simple" and lt.simple == _SIMPLE.NONE:
            if text.strip() not in ("", "null", "None"):
                raise ValueError(f"{text!r} is not null")
            return None
        if kind in ("enum_type", "blob", "structured_dataset_type", "schema"):
            return text  # a value, or a path/URI of a file, directory or parquet dataset
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"input {name!r} ({describe(lt)}): cannot read {text!r}: {exc}") from None


def to_jsonable(value: Any) -> Any:
    """A JSON-serialisable rendering of an output value (datetimes as ISO 8601)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
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
